//! The event journal on PostgreSQL, as the recorder's thread writes it: one row per event,
//! keyed by its time and a sequence every node draws from (`journal_seq`), so ids never
//! collide across nodes. Appends are one multi-row insert per drain of the recorder's queue;
//! retention deletes the oldest rows in batches (no long lock: each batch is its own
//! statement on the primary key's order).
//!
//! The recorder's thread has a connection and a small runtime of its own: it never waits on
//! the request runtime's workers (which may be the ones waiting for it, at shutdown).

use crate::domain::evento::Evento;
use crate::store::{Result, StoreError};
use std::time::Duration;

/// Most events removed by one purge statement.
const PURGE_BATCH: i64 = 2048;

/// Longest a journal write may wait for the database (the recorder's thread is off the request
/// path; a full queue drops events and counts them).
const WRITE_BUDGET: Duration = Duration::from_secs(10);

/// The journal of one node on PostgreSQL (blocking calls, run on the recorder's thread).
#[derive(Debug)]
pub struct PgJournal {
    config: tokio_postgres::Config,
    /// Created on the recorder's thread at its first call.
    runtime: Option<tokio::runtime::Runtime>,
    client: Option<tokio_postgres::Client>,
    count: u64,
    /// Whether `count` was read from the database (on the recorder's thread, at its first
    /// write or purge: opening happens on the async runtime, which must not block).
    counted: bool,
    /// The last event's time (ms) written by this node: no later event is stamped before it.
    last_ms: i64,
}

impl PgJournal {
    pub(super) fn open(config: tokio_postgres::Config) -> Self {
        Self {
            config,
            runtime: None,
            client: None,
            count: 0,
            counted: false,
            last_ms: i64::MIN,
        }
    }

    fn ensure_counted(&mut self) -> Result<()> {
        if !self.counted {
            self.count = self.recount()?;
            self.counted = true;
        }
        Ok(())
    }

    /// Runs one statement on the journal's own connection (made, or made again after a
    /// failure, first), within the write budget; the rows it changed or returned.
    fn run(
        &mut self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<i64> {
        if self.runtime.is_none() {
            self.runtime = Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| StoreError::Open(e.to_string()))?,
            );
        }
        let (runtime, config, slot) = match &self.runtime {
            Some(rt) => (rt, &self.config, &mut self.client),
            None => return Err(StoreError::Open("no journal runtime".into())),
        };
        let outcome = runtime.block_on(crate::store::within(WRITE_BUDGET, async {
            if slot.as_ref().is_none_or(|c| c.is_closed()) {
                let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                *slot = Some(client);
            }
            let client = slot
                .as_ref()
                .ok_or_else(|| StoreError::Unavailable("no journal connection".into()))?;
            if sql.trim_start().starts_with("SELECT") {
                Ok(client.query_one(sql, params).await?.get::<_, i64>(0))
            } else {
                Ok(client.execute(sql, params).await? as i64)
            }
        }));
        if outcome.is_err() {
            self.client = None;
        }
        outcome
    }

    fn recount(&mut self) -> Result<u64> {
        Ok(self.run("SELECT count(*) FROM journal", &[])?.max(0) as u64)
    }

    /// Deletes up to `limit` of the oldest events stamped before `bound` (ms).
    fn delete_oldest(&mut self, bound: i64, limit: i64) -> Result<u64> {
        Ok(self
            .run(
                "DELETE FROM journal WHERE (ms, seq) IN (
                     SELECT ms, seq FROM journal WHERE ms < $1 ORDER BY ms, seq LIMIT $2)",
                &[&bound, &limit],
            )?
            .max(0) as u64)
    }

    /// Events held (as this node counted them).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes `batch` in one statement and empties it; the number of events written.
    pub fn append(&mut self, batch: &mut Vec<Evento>) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        self.ensure_counted()?;
        let mut times = Vec::with_capacity(batch.len());
        let mut bodies = Vec::with_capacity(batch.len());
        let mut last_ms = self.last_ms;
        for mut e in batch.drain(..) {
            let ms = crate::store::journal::monotonic(&mut e, last_ms);
            last_ms = ms;
            times.push(ms);
            bodies.push(serde_json::to_vec(&e)?);
        }
        let n = self
            .run(
                "INSERT INTO journal (ms, seq, body)
                 SELECT t.ms, nextval('journal_seq'), t.body
                 FROM unnest($1::bigint[], $2::bytea[]) WITH ORDINALITY AS t(ms, body, n)
                 ORDER BY t.n",
                &[&times, &bodies],
            )?
            .max(0) as u64;
        self.last_ms = last_ms;
        self.count += n;
        Ok(n)
    }

    /// Removes up to a batch of the oldest events that break a bound: older than `cutoff_ms`,
    /// or beyond the newest `max_events` (counted again first: other nodes write too).
    /// Returns (removed, more may remain).
    pub fn purge_step(
        &mut self,
        cutoff_ms: Option<i64>,
        max_events: Option<u64>,
    ) -> Result<(u64, bool)> {
        self.ensure_counted()?;
        let mut removed = 0u64;
        if let Some(cutoff) = cutoff_ms {
            let n = self.delete_oldest(cutoff, PURGE_BATCH)?;
            self.count = self.count.saturating_sub(n);
            removed += n;
            if n as i64 == PURGE_BATCH {
                return Ok((removed, true));
            }
        }
        let mut more = false;
        if let Some(max) = max_events {
            self.count = self.recount()?;
            let excess = self.count.saturating_sub(max);
            if excess > 0 {
                let limit = i64::try_from(excess).unwrap_or(i64::MAX).min(PURGE_BATCH);
                let n = self.delete_oldest(i64::MAX, limit)?;
                self.count = self.count.saturating_sub(n);
                removed += n;
                more = n > 0 && excess > n;
            }
        }
        Ok((removed, more))
    }
}
