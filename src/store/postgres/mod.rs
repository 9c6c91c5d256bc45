//! The PostgreSQL engine: several Varco nodes on one database.
//!
//! Every write is one transaction at READ COMMITTED that locks what it reads (`FOR UPDATE` on
//! the position, the counter, the outbox entry), so two nodes serialise on the rows they
//! share; unique keys catch the rest (the same receipt id, a position created on two nodes
//! at once). A transaction that loses such a race ([`StoreError::Conflict`]) is run again
//! from the start, its rules included, and then sees the winner's rows: a repeated receipt,
//! an existing position. A commit is durable as `synchronous_commit` says (README).
//!
//! The schema is embedded (`schema.sql`, and later versions after it) and applied at startup
//! under an advisory lock, so nodes starting together migrate once.

mod batch;
mod copy;
mod journal;

pub use journal::PgJournal;

use crate::domain::{Attivazione, OutboxEntry, OutboxState, Pendenza, ReceiptStatus, Ricevuta};
use crate::store::index::{DebtorTerm, Filter, Page, Summary, Walk};
use crate::store::journal::{Filtro, MAX_SCAN, Pagina, Paging, event_id, key_parts};
use crate::store::settings::StoreConfig;
use crate::store::{
    Due, ReceiptApplied, ReceiptRule, Refused, Result, StoreError, UpsertItem, Upserted, decode,
    encode, same_key,
};
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// The schema versions, in order: (version, SQL). A node applies the ones the database lacks.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("schema-2-documents.sql")),
    (3, include_str!("schema-3-fdr.sql")),
    (4, include_str!("schema-4-debtors.sql")),
];

/// The advisory lock migrations run under ("varco" in ASCII).
const MIGRATION_LOCK: i64 = 0x0076_6172_636f;

/// Rows a listing or a journal scan reads per round trip.
const SCAN_BATCH: i64 = 512;

/// How often the background probe asks the database whether it answers.
const PROBE_EVERY: Duration = Duration::from_millis(400);

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let Some(code) = e.code() else {
            // No SQLSTATE: the connection failed or closed, or (a bug) a value did not fit.
            // tokio-postgres does not expose its error kinds; a failed connection has an I/O
            // source or says "error connecting" (no host accepted writes, a timeout).
            let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
            return if e.is_closed() || io || e.to_string().contains("connect") {
                StoreError::Unavailable(e.to_string())
            } else {
                StoreError::Engine(e.to_string())
            };
        };
        let what = e
            .as_db_error()
            .map_or_else(|| e.to_string(), |d| d.message().to_owned());
        if [
            SqlState::T_R_SERIALIZATION_FAILURE,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::UNIQUE_VIOLATION,
        ]
        .contains(code)
        {
            StoreError::Conflict(what)
        } else if [
            SqlState::QUERY_CANCELED,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::READ_ONLY_SQL_TRANSACTION,
            SqlState::TOO_MANY_CONNECTIONS,
        ]
        .contains(code)
        {
            StoreError::Unavailable(what)
        } else {
            StoreError::Engine(what)
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// Runs `$body` (an expression using the transaction `$tx`) in a transaction, committing when
/// it returns `Ok`; a [`StoreError::Conflict`] (in the body or at commit) runs it again.
macro_rules! transact {
    ($pg:expr, $tx:ident => $body:expr) => {{
        let mut tries = 0u32;
        loop {
            let mut client = $pg.client().await?;
            let $tx = client.transaction().await.map_err(StoreError::from)?;
            let outcome: Result<_> = async { $body }.await;
            let outcome = match outcome {
                Ok(value) => $tx.commit().await.map(|()| value).map_err(StoreError::from),
                Err(e) => Err(e),
            };
            match outcome {
                Err(StoreError::Conflict(why)) if tries < 50 => {
                    tries += 1;
                    tracing::debug!(tries, %why, "transaction lost a race; running it again");
                    tokio::time::sleep(Duration::from_millis(u64::from(tries.min(20)))).await;
                }
                other => break other,
            }
        }
    }};
}

pub mod fdr;

type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

async fn rows<C: GenericClient + Sync>(c: &C, sql: &str, params: Params<'_>) -> Result<Vec<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query(&statement, params).await?)
}

async fn row<C: GenericClient + Sync>(c: &C, sql: &str, params: Params<'_>) -> Result<Option<Row>> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&statement, params).await?)
}

async fn exec<C: GenericClient + Sync>(c: &C, sql: &str, params: Params<'_>) -> Result<u64> {
    let statement = c.prepare_cached(sql).await?;
    Ok(c.execute(&statement, params).await?)
}

async fn count<C: GenericClient + Sync>(c: &C, sql: &str, params: Params<'_>) -> Result<usize> {
    let found = row(c, sql, params).await?;
    Ok(found.map_or(0, |r| r.get::<_, i64>(0).max(0) as usize))
}

/// The decoded `body` (first column) of a row.
fn body<T: serde::de::DeserializeOwned>(r: &Row) -> Result<T> {
    decode(r.get::<_, &[u8]>(0))
}

fn id_i64(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

/// Handle to the engine: a connection pool and the probe's verdict.
#[derive(Debug, Clone)]
pub struct Pg(Arc<PgInner>);

#[derive(Debug)]
pub struct PgInner {
    pool: Pool,
    healthy: Arc<AtomicBool>,
    /// This node's name in outbox claims.
    node: String,
    /// The connection settings (the journal's recorder makes its own connection).
    connection: tokio_postgres::Config,
}

impl std::ops::Deref for Pg {
    type Target = PgInner;
    fn deref(&self) -> &PgInner {
        &self.0
    }
}

/// The connection settings of `config`: its URL, the password from the file or the
/// environment when the URL has none, and the server settings every session runs with.
pub fn connection_config(config: &StoreConfig) -> Result<tokio_postgres::Config> {
    let url = config
        .url
        .as_ref()
        .ok_or_else(|| StoreError::Open("store.url: required with engine = \"postgres\"".into()))?;
    let mut pg: tokio_postgres::Config = url
        .expose()
        .parse()
        .map_err(|e| StoreError::Open(format!("store.url: {e}")))?;
    if pg.get_password().is_none() {
        if let Some(file) = &config.password_file {
            let secret = std::fs::read_to_string(file).map_err(|e| {
                StoreError::Open(format!("store.password_file {}: {e}", file.display()))
            })?;
            pg.password(secret.trim_end_matches(['\n', '\r']));
        } else if let Ok(secret) = std::env::var(crate::store::settings::STORE_PASSWORD_ENV) {
            pg.password(secret);
        }
    }
    if pg.get_application_name().is_none() {
        pg.application_name("varco");
    }
    // Notices (such as "relation already exists, skipping" at startup) are not worth a log line.
    let mut options = format!(
        "-c statement_timeout={} -c client_min_messages=warning",
        config.statement_timeout_ms
    );
    if let Some(sc) = &config.synchronous_commit {
        options.push_str(&format!(" -c synchronous_commit={sc}"));
    }
    pg.options(&options);
    pg.connect_timeout(Duration::from_millis(config.request_budget_ms.max(1)));
    Ok(pg)
}

impl Pg {
    /// A pool on the database of `config`, with the schema migrated and the probe started.
    pub async fn connect(config: &StoreConfig) -> Result<Self> {
        let pg = connection_config(config)?;
        let manager = Manager::from_config(
            pg.clone(),
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let budget = Duration::from_millis(config.request_budget_ms.max(1));
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .wait_timeout(Some(budget))
            .create_timeout(Some(budget))
            .recycle_timeout(Some(budget))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Open(e.to_string()))?;
        let inner = PgInner {
            pool,
            healthy: Arc::new(AtomicBool::new(true)),
            node: format!(
                "{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4()
                    .simple()
                    .to_string()
                    .get(..8)
                    .unwrap_or("")
            ),
            connection: pg,
        };
        let store = Self(Arc::new(inner));
        store.migrate().await?;
        store.start_probe();
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// Applies the schema versions the database lacks, under an advisory lock.
    async fn migrate(&self) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS varco_schema (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
        let current: i32 = tx
            .query_one("SELECT coalesce(max(version), 0) FROM varco_schema", &[])
            .await?
            .get(0);
        let latest = MIGRATIONS.last().map_or(0, |m| m.0);
        if current > latest {
            // A newer binary migrated first (a rolling upgrade): its migrations only add what
            // older binaries ignore.
            tracing::warn!(
                current,
                latest,
                "the database schema is newer than this binary's"
            );
        }
        for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
            tx.batch_execute(sql).await?;
            tx.execute("INSERT INTO varco_schema (version) VALUES ($1)", &[version])
                .await?;
            tracing::info!(version, "database schema migrated");
        }
        tx.commit().await?;
        Ok(())
    }

    /// Starts the probe that keeps [`Pg::healthy`]: a `SELECT 1` every 400 ms, given up
    /// after a second. It ends with the last handle.
    fn start_probe(&self) {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let pool = inner.pool.clone();
                let ok = tokio::time::timeout(Duration::from_secs(1), async move {
                    let c = pool.get().await.ok()?;
                    c.simple_query("SELECT 1").await.ok()
                })
                .await
                .ok()
                .flatten()
                .is_some();
                let was = inner.healthy.swap(ok, Ordering::AcqRel);
                if was != ok {
                    if ok {
                        tracing::info!("the database answers again");
                    } else {
                        tracing::error!("the database does not answer");
                    }
                }
            }
        });
    }

    /// The probe's last verdict.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    /// Bytes of the database.
    pub async fn size_on_disk(&self) -> Result<u64> {
        let c = self.client().await?;
        let n = count(&c, "SELECT pg_database_size(current_database())", &[]).await?;
        Ok(n as u64)
    }

    /// A position.
    pub async fn pendenza(&self, dominio: &str, iuv: &str) -> Result<Option<Pendenza>> {
        let c = self.client().await?;
        position_at(&c, dominio, iuv, false).await
    }

    /// See [`crate::store::Store::put_pendenza`].
    pub async fn put_pendenza(&self, p: &Pendenza) -> Result<()> {
        transact!(self, tx => {
            let old = position_at(&tx, &p.dominio, &p.iuv, true).await?;
            write_position(&tx, p, old.is_some()).await
        })
    }

    /// See [`crate::store::Store::insert_pendenza`].
    pub async fn insert_pendenza(&self, p: &Pendenza) -> Result<bool> {
        let c = self.client().await?;
        let inserted = exec(
            &c,
            "INSERT INTO positions (dominio, iuv, id_a2a, id_pendenza, created_ms, summary, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            &[
                &p.dominio,
                &p.iuv,
                &p.id_a2a,
                &p.id_pendenza,
                &p.created_at.timestamp_millis(),
                &Summary::of(p).encode(),
                &encode(p)?,
            ],
        )
        .await?;
        Ok(inserted == 1)
    }

    /// The options of a document, by IUV.
    pub async fn documento(&self, dominio: &str, identificativo: &str) -> Result<Vec<Pendenza>> {
        let c = self.client().await?;
        document_at(&c, dominio, identificativo).await
    }

    /// A position by its owning application's id.
    pub async fn pendenza_of_app(
        &self,
        id_a2a: &str,
        id_pendenza: &str,
    ) -> Result<Option<Pendenza>> {
        let c = self.client().await?;
        row(
            &c,
            "SELECT body FROM positions WHERE id_a2a = $1 AND id_pendenza = $2",
            &[&id_a2a, &id_pendenza],
        )
        .await?
        .map(|r| body(&r))
        .transpose()
    }

    /// See [`crate::store::Store::upsert_batch`].
    pub async fn upsert_batch<E: Clone + Send + Sync>(
        &self,
        items: &[UpsertItem<'_, E>],
    ) -> Result<Vec<std::result::Result<Upserted, Refused<E>>>> {
        transact!(self, tx => {
            batch::upsert_batch(&tx, items).await
        })
    }

    /// See [`crate::store::Store::update_pendenza`].
    pub async fn update_pendenza<E: Clone + Send>(
        &self,
        dominio: &str,
        iuv: &str,
        change: &(dyn Fn(&Pendenza) -> std::result::Result<Option<Pendenza>, E> + Sync),
    ) -> Result<Option<std::result::Result<Pendenza, E>>> {
        transact!(self, tx => {
            let Some(current) = position_at(&tx, dominio, iuv, true).await? else {
                return Ok(None);
            };
            match change(&current) {
                Ok(Some(next)) => {
                    same_key(&current, &next)?;
                    write_position(&tx, &next, true).await?;
                    Ok(Some(Ok(next)))
                }
                Ok(None) => Ok(Some(Ok(current))),
                Err(e) => Ok(Some(Err(e))),
            }
        })
    }

    /// Number of stored positions.
    pub async fn count_pendenze(&self) -> Result<usize> {
        let c = self.client().await?;
        count(&c, "SELECT count(*) FROM positions", &[]).await
    }

    /// Records an activation attempt.
    pub async fn record_attempt(&self, dominio: &str, iuv: &str, a: &Attivazione) -> Result<()> {
        let c = self.client().await?;
        exec(
            &c,
            "INSERT INTO attempts (dominio, iuv, body) VALUES ($1, $2, $3)",
            &[&dominio, &iuv, &encode(a)?],
        )
        .await?;
        Ok(())
    }

    /// A position's activation attempts, oldest first.
    pub async fn attempts(&self, dominio: &str, iuv: &str) -> Result<Vec<Attivazione>> {
        let c = self.client().await?;
        rows(
            &c,
            "SELECT body FROM attempts WHERE dominio = $1 AND iuv = $2 ORDER BY id",
            &[&dominio, &iuv],
        )
        .await?
        .iter()
        .map(body)
        .collect()
    }

    /// A page of a position's activation attempts, newest first, and whether more follow.
    pub async fn attempts_page(
        &self,
        dominio: &str,
        iuv: &str,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<Attivazione>, bool)> {
        let c = self.client().await?;
        let found = rows(
            &c,
            "SELECT body FROM attempts WHERE dominio = $1 AND iuv = $2
             ORDER BY id DESC OFFSET $3 LIMIT $4",
            &[
                &dominio,
                &iuv,
                &(skip.min(i64::MAX as usize) as i64),
                &(take.saturating_add(1).min(i64::MAX as usize) as i64),
            ],
        )
        .await?;
        let more = found.len() > take;
        let page = found.iter().take(take).map(body).collect::<Result<_>>()?;
        Ok((page, more))
    }

    /// One receipt.
    pub async fn ricevuta(
        &self,
        dominio: &str,
        iuv: &str,
        receipt_id: &str,
    ) -> Result<Option<Ricevuta>> {
        let c = self.client().await?;
        row(
            &c,
            "SELECT body FROM receipts WHERE dominio = $1 AND iuv = $2 AND receipt_id = $3",
            &[&dominio, &iuv, &receipt_id],
        )
        .await?
        .map(|r| body(&r))
        .transpose()
    }

    /// A position's receipts.
    pub async fn ricevute(&self, dominio: &str, iuv: &str) -> Result<Vec<Ricevuta>> {
        let c = self.client().await?;
        rows(
            &c,
            "SELECT body FROM receipts WHERE dominio = $1 AND iuv = $2 ORDER BY receipt_id",
            &[&dominio, &iuv],
        )
        .await?
        .iter()
        .map(body)
        .collect()
    }

    /// See [`crate::store::Store::apply_receipt`]: the position is locked first, so two
    /// receipts of one notice on two nodes run one after the other; the same receipt id on two
    /// nodes at once collides on the key, and the loser runs again and finds it stored.
    pub async fn apply_receipt(
        &self,
        ricevuta: &Ricevuta,
        rule: ReceiptRule<'_>,
        undeliverable: &(dyn Fn(Option<&str>) -> Option<String> + Sync),
        now: DateTime<Utc>,
    ) -> Result<ReceiptApplied> {
        let (dominio, iuv) = (&ricevuta.dominio, &ricevuta.iuv);
        transact!(self, tx => {
            let (stored, siblings) = position_with_document(&tx, dominio, iuv).await?;
            let pendenza = stored
                .as_ref()
                .filter(|p| p.numero_avviso == ricevuta.numero_avviso);
            let owner = pendenza.map(Pendenza::owner);
            if let Some(existing) = row(
                &tx,
                "SELECT body FROM receipts WHERE dominio = $1 AND iuv = $2 AND receipt_id = $3",
                &[dominio, iuv, &ricevuta.receipt_id],
            )
            .await?
            {
                let existing: Ricevuta = body(&existing)?;
                return Ok(ReceiptApplied {
                    status: existing.stato,
                    repeated: true,
                    owner,
                });
            }
            let siblings: &[Pendenza] = if pendenza.is_some() { &siblings } else { &[] };
            let (updated, status) = rule(pendenza, siblings, ricevuta);
            let mut receipt = ricevuta.clone();
            receipt.stato = status.clone();
            exec(
                &tx,
                "INSERT INTO receipts (dominio, iuv, receipt_id, body) VALUES ($1, $2, $3, $4)",
                &[dominio, iuv, &receipt.receipt_id, &encode(&receipt)?],
            )
            .await?;
            match (&updated, pendenza) {
                (Some(next), Some(_)) => write_position(&tx, next, true).await?,
                (Some(_), None) => {
                    return Err(StoreError::Invariant(
                        "a receipt rule may only change the position of its own notice".into(),
                    ));
                }
                (None, _) => {}
            }
            if stored.is_none() {
                exec(
                    &tx,
                    "INSERT INTO seen (dominio, iuv) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[dominio, iuv],
                )
                .await?;
            }
            if !matches!(status, ReceiptStatus::Rifiutata { .. }) {
                let id: i64 = tx
                    .query_one("SELECT nextval('outbox_ids')", &[])
                    .await?
                    .get(0);
                let entry = crate::store::receipt_entry(
                    id as u64,
                    &receipt,
                    pendenza.and_then(|p| p.id_a2a.clone()),
                    undeliverable,
                    now,
                );
                write_entry(&tx, &entry, false).await?;
            }
            Ok(ReceiptApplied {
                status,
                repeated: false,
                owner,
            })
        })
    }

    /// See [`crate::store::Store::list_pendenze`]: the listing index read newest first in
    /// batches, each batch continuing after the last entry of the one before.
    pub async fn list_pendenze(
        &self,
        id_a2a: &str,
        filter: &Filter,
        now: DateTime<Utc>,
        page: (usize, usize),
        want_count: bool,
    ) -> Result<Page> {
        self.list_walking(
            id_a2a,
            filter,
            now,
            page,
            want_count,
            crate::store::index::COUNT_WALK_LIMIT,
        )
        .await
    }

    /// [`Postgres::list_pendenze`] with the walk limit of the count as a parameter.
    pub async fn list_walking(
        &self,
        id_a2a: &str,
        filter: &Filter,
        now: DateTime<Utc>,
        page: (usize, usize),
        want_count: bool,
        walk_limit: usize,
    ) -> Result<Page> {
        let c = self.client().await?;
        let kept_total = if want_count && filter.is_empty() {
            Some(
                count(
                    &c,
                    "SELECT count(*) FROM positions WHERE id_a2a = $1",
                    &[&id_a2a],
                )
                .await?,
            )
        } else {
            None
        };
        let mut walk: Walk<'_, (String, String)> = Walk::new(
            filter,
            now,
            page,
            want_count,
            kept_total.is_some(),
            walk_limit,
        );
        walk_rows(
            &c,
            "SELECT created_ms, dominio, iuv, summary FROM positions
             WHERE id_a2a = $1 AND (created_ms < $2 OR (created_ms = $2 AND ($5 OR (dominio, iuv) > ($3, $4))))
             ORDER BY created_ms DESC, dominio, iuv LIMIT $6",
            id_a2a,
            filter,
            &mut walk,
        )
        .await?;
        page_of(&c, &walk, kept_total).await
    }

    /// See [`crate::store::Store::search_debtor`]: the positions of the term read newest
    /// first in batches, from the index on the debtor's identifier (`varco_debtor(summary)`)
    /// or the GIN index on the words of the name (`varco_name_tokens(body)`), both in
    /// schema-4-debtors.sql.
    pub async fn search_debtor(
        &self,
        term: &DebtorTerm,
        filter: &Filter,
        now: DateTime<Utc>,
        page: (usize, usize),
        want_count: bool,
    ) -> Result<Page> {
        let Some(term) = term.normalized() else {
            return Ok(Page::nothing(want_count));
        };
        let mut walk: Walk<'_, (String, String)> = Walk::new(
            filter,
            now,
            page,
            want_count,
            false,
            crate::store::index::COUNT_WALK_LIMIT,
        );
        match &term {
            // A debtor's positions come off the index in order: batches that each continue
            // after the last entry of the one before.
            DebtorTerm::Fiscale(f) => {
                let c = self.client().await?;
                walk_rows(
                    &c,
                    "SELECT created_ms, dominio, iuv, summary FROM positions
                     WHERE varco_debtor(summary) = $1
                       AND (created_ms < $2 OR (created_ms = $2 AND ($5 OR (dominio, iuv) > ($3, $4))))
                     ORDER BY created_ms DESC, dominio, iuv LIMIT $6",
                    f,
                    filter,
                    &mut walk,
                )
                .await?;
                page_of(&c, &walk, None).await
            }
            // A word's come off the GIN index unordered: one query sorts them once, and the walk
            // fetches them from its portal a batch at a time, as far as it goes.
            DebtorTerm::Nome(n) => {
                let mut c = self.client().await?;
                let tx = c.transaction().await?;
                let statement = tx
                    .prepare_cached(
                        "SELECT created_ms, dominio, iuv, summary FROM positions
                         WHERE varco_name_tokens(body) @> ARRAY[$1::text] AND created_ms <= $2
                         ORDER BY created_ms DESC, dominio, iuv",
                    )
                    .await?;
                let until = filter.a.map_or(i64::MAX, |a| a.timestamp_millis());
                let portal = tx.bind(&statement, &[&n.as_str(), &until]).await?;
                'batches: loop {
                    let batch = tx.query_portal(&portal, SCAN_BATCH as i32).await?;
                    for r in &batch {
                        if !offer_row(&mut walk, r)? {
                            break 'batches;
                        }
                    }
                    if (batch.len() as i64) < SCAN_BATCH {
                        break;
                    }
                }
                let found = page_of(&tx, &walk, None).await?;
                tx.commit().await?;
                Ok(found)
            }
        }
    }

    /// Every outbox entry, oldest first.
    pub async fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        let c = self.client().await?;
        rows(&c, "SELECT body FROM outbox ORDER BY id", &[])
            .await?
            .iter()
            .map(body)
            .collect()
    }

    /// Entries matching `keep`, oldest first, a page of them, and whether more follow.
    pub async fn outbox_page(
        &self,
        keep: &(dyn Fn(&OutboxEntry) -> bool + Sync),
        skip: usize,
        take: usize,
    ) -> Result<(Vec<OutboxEntry>, bool)> {
        let c = self.client().await?;
        let mut matched = 0usize;
        let mut page = Vec::new();
        let mut after = -1i64;
        loop {
            let batch = rows(
                &c,
                "SELECT body, id FROM outbox WHERE id > $1 ORDER BY id LIMIT $2",
                &[&after, &SCAN_BATCH],
            )
            .await?;
            for r in &batch {
                after = r.get(1);
                let entry: OutboxEntry = body(r)?;
                if !keep(&entry) {
                    continue;
                }
                matched += 1;
                if matched <= skip {
                    continue;
                }
                if page.len() == take {
                    return Ok((page, true));
                }
                page.push(entry);
            }
            if (batch.len() as i64) < SCAN_BATCH {
                return Ok((page, false));
            }
        }
    }

    /// One outbox entry.
    pub async fn outbox_entry(&self, id: u64) -> Result<Option<OutboxEntry>> {
        let c = self.client().await?;
        row(&c, "SELECT body FROM outbox WHERE id = $1", &[&id_i64(id)])
            .await?
            .map(|r| body(&r))
            .transpose()
    }

    /// See [`crate::store::Store::update_outbox`].
    pub async fn update_outbox(
        &self,
        id: u64,
        change: &(dyn Fn(&OutboxEntry) -> Option<OutboxEntry> + Sync),
    ) -> Result<Option<OutboxEntry>> {
        transact!(self, tx => {
            let Some(current) = entry_at(&tx, id).await? else {
                return Ok(None);
            };
            match change(&current) {
                Some(next) => {
                    write_entry(&tx, &next, true).await?;
                    Ok(Some(next))
                }
                None => Ok(Some(current)),
            }
        })
    }

    /// See [`crate::store::Store::claim_outbox`]: one conditional update, so of two nodes
    /// claiming at once the second finds the lease taken; a row another node is claiming or
    /// finishing right now is skipped (`FOR UPDATE SKIP LOCKED`), not waited for.
    pub async fn claim_outbox(&self, id: u64, lease: Duration) -> Result<Option<OutboxEntry>> {
        let c = self.client().await?;
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        row(
            &c,
            "UPDATE outbox SET lease_until = now() + $2::bigint * interval '1 millisecond', lease_node = $3
             WHERE id = (SELECT id FROM outbox
                         WHERE id = $1 AND queue IS NOT NULL
                           AND (lease_until IS NULL OR lease_until < now())
                         FOR UPDATE SKIP LOCKED)
             RETURNING body",
            &[&id_i64(id), &lease_ms, &self.node],
        )
        .await?
        .map(|r| body(&r))
        .transpose()
    }

    /// See [`crate::store::Store::finish_delivery`].
    pub async fn finish_delivery(
        &self,
        started: &OutboxEntry,
        next: Option<&OutboxEntry>,
    ) -> Result<bool> {
        transact!(self, tx => {
            let Some(current) = entry_at(&tx, started.id).await? else {
                return Ok(false);
            };
            if next.is_some() && current != *started {
                return Ok(false);
            }
            match next {
                Some(next) => write_entry(&tx, next, true).await?,
                None => {
                    exec(&tx, "DELETE FROM outbox WHERE id = $1", &[&id_i64(started.id)]).await?;
                }
            }
            Ok(true)
        })
    }

    /// Pending, unclaimed entries of `id_a2a`'s queue due by `until`, earliest first.
    pub async fn outbox_due(
        &self,
        id_a2a: &str,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Due>> {
        let c = self.client().await?;
        let found = rows(
            &c,
            "SELECT due_ms, id FROM outbox
             WHERE queue = $1 AND due_ms <= $2 AND (lease_until IS NULL OR lease_until < now())
             ORDER BY due_ms, id LIMIT $3",
            &[
                &id_a2a,
                &until.timestamp_millis(),
                &(limit.min(i64::MAX as usize) as i64),
            ],
        )
        .await?;
        Ok(found
            .iter()
            .map(|r| Due {
                at_millis: r.get(0),
                id: r.get::<_, i64>(1) as u64,
            })
            .collect())
    }

    /// Each application with pending entries and its earliest due time (an entry claimed by a
    /// worker counts as due when its lease ends).
    pub async fn outbox_queues(&self) -> Result<Vec<(String, i64)>> {
        let c = self.client().await?;
        let found = rows(
            &c,
            "SELECT queue, min(greatest(due_ms,
                 coalesce((extract(epoch FROM lease_until) * 1000)::bigint, due_ms)))::bigint
             FROM outbox WHERE queue IS NOT NULL GROUP BY queue ORDER BY queue",
            &[],
        )
        .await?;
        Ok(found.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Number of outbox entries.
    pub async fn outbox_len(&self) -> Result<usize> {
        let c = self.client().await?;
        count(&c, "SELECT count(*) FROM outbox", &[]).await
    }

    /// See [`crate::store::Store::eventi`]: the journal read newest first in batches, as the
    /// embedded engine reads its chunks, with the same page, cursor and scan limit.
    pub async fn eventi(
        &self,
        filter: &Filtro,
        pagina: usize,
        per_pagina: usize,
    ) -> Result<Pagina> {
        let lo_ms = filter.da.map_or(i64::MIN, |d| d.timestamp_millis());
        let mut hi = (
            filter.a.map_or(i64::MAX, |d| d.timestamp_millis()),
            i64::MAX,
        );
        if let Some(c) = filter.cursore {
            let (ms, seq) = key_parts(&c);
            hi = hi.min((ms, i64::try_from(seq).unwrap_or(i64::MAX)));
        }
        let mut paging = Paging::new(filter, pagina, per_pagina);
        let c = self.client().await?;
        let mut scanned = 0usize;
        'batches: loop {
            let batch = rows(
                &c,
                "SELECT body, ms, seq FROM journal WHERE ms >= $1 AND (ms, seq) < ($2, $3)
                 ORDER BY ms DESC, seq DESC LIMIT $4",
                &[&lo_ms, &hi.0, &hi.1, &SCAN_BATCH],
            )
            .await?;
            for r in &batch {
                let (line, ms, seq): (&[u8], i64, i64) = (r.get(0), r.get(1), r.get(2));
                hi = (ms, seq);
                scanned += 1;
                if scanned > MAX_SCAN {
                    // Continue from this event, itself included.
                    paging.out.cursore = Some(event_id(ms, seq as u64 + 1));
                    break 'batches;
                }
                if !paging.offer(line, |_| event_id(ms, seq as u64))? {
                    break 'batches;
                }
            }
            if (batch.len() as i64) < SCAN_BATCH {
                break;
            }
        }
        Ok(paging.out)
    }

    /// One event by its id.
    pub async fn evento(&self, id: &str) -> Result<Option<crate::domain::evento::Evento>> {
        let Some(key) = crate::store::journal::parse_id(id) else {
            return Ok(None);
        };
        let (ms, seq) = key_parts(&key);
        let Ok(seq_i) = i64::try_from(seq) else {
            return Ok(None);
        };
        let c = self.client().await?;
        let found = row(
            &c,
            "SELECT body FROM journal WHERE ms = $1 AND seq = $2",
            &[&ms, &seq_i],
        )
        .await?;
        found
            .map(|r| {
                let mut e: crate::domain::evento::Evento = body(&r)?;
                e.id = event_id(ms, seq);
                Ok(e)
            })
            .transpose()
    }

    /// The journal as a log for the recorder's thread.
    pub fn journal(&self) -> PgJournal {
        PgJournal::open(self.connection.clone())
    }
}

/// Feeds `walk` with the index entries `sql` selects for `key` ($1), newest first, in batches
/// of [`SCAN_BATCH`]: `sql` selects `created_ms, dominio, iuv, summary` created at or before $2
/// (the first batch, $5) or after the entry ($2, $3, $4) that ended the batch before, ordered
/// by `created_ms DESC, dominio, iuv`, at most $6 rows.
async fn walk_rows<C: GenericClient + Sync>(
    c: &C,
    sql: &str,
    key: &str,
    filter: &Filter,
    walk: &mut Walk<'_, (String, String)>,
) -> Result<()> {
    let mut after: (i64, String, String) = (
        filter.a.map_or(i64::MAX, |a| a.timestamp_millis()),
        String::new(),
        String::new(),
    );
    let mut first = true;
    loop {
        let batch = rows(
            c,
            sql,
            &[&key, &after.0, &after.1, &after.2, &first, &SCAN_BATCH],
        )
        .await?;
        first = false;
        for r in &batch {
            if !offer_row(walk, r)? {
                return Ok(());
            }
            after = (r.get(0), r.get(1), r.get(2));
        }
        if (batch.len() as i64) < SCAN_BATCH {
            return Ok(());
        }
    }
}

/// Offers `walk` a row of `created_ms, dominio, iuv, summary`; false when the walk is over.
fn offer_row(walk: &mut Walk<'_, (String, String)>, r: &Row) -> Result<bool> {
    let created: i64 = r.get(0);
    let dominio: &str = r.get(1);
    let summary = Summary::decode(r.get::<_, &[u8]>(3))
        .ok_or_else(|| StoreError::Invariant("an unreadable position summary".into()))?;
    Ok(walk.offer(created, dominio.as_bytes(), &summary, || {
        (dominio.to_owned(), r.get::<_, String>(2))
    }))
}

/// The page `walk` chose: its positions read in one round trip, in its order.
async fn page_of<C: GenericClient + Sync>(
    c: &C,
    walk: &Walk<'_, (String, String)>,
    kept_total: Option<usize>,
) -> Result<Page> {
    let (domini, iuvs): (Vec<&str>, Vec<&str>) = walk
        .page
        .iter()
        .map(|(d, i)| (d.as_str(), i.as_str()))
        .unzip();
    let pendenze = rows(
        c,
        "SELECT p.body FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(d, i, n)
         JOIN positions p ON p.dominio = k.d AND p.iuv = k.i ORDER BY k.n",
        &[&domini, &iuvs],
    )
    .await?
    .iter()
    .map(body)
    .collect::<Result<Vec<Pendenza>>>()?;
    Ok(Page {
        pendenze,
        total: walk.total(kept_total),
        more: walk.more(),
        counted: walk.counted(),
    })
}

/// The position under (`dominio`, `iuv`), locked for the transaction with `lock`.
async fn position_at<C: GenericClient + Sync>(
    c: &C,
    dominio: &str,
    iuv: &str,
    lock: bool,
) -> Result<Option<Pendenza>> {
    let sql = if lock {
        "SELECT body FROM positions WHERE dominio = $1 AND iuv = $2 FOR UPDATE"
    } else {
        "SELECT body FROM positions WHERE dominio = $1 AND iuv = $2"
    };
    row(c, sql, &[&dominio, &iuv])
        .await?
        .map(|r| body(&r))
        .transpose()
}

/// Writes a position (an update when `exists`), with its listing columns.
async fn write_position<C: GenericClient + Sync>(c: &C, p: &Pendenza, exists: bool) -> Result<()> {
    let sql = if exists {
        "UPDATE positions SET id_a2a = $3, id_pendenza = $4, created_ms = $5, summary = $6, body = $7,
                documento = $8
         WHERE dominio = $1 AND iuv = $2"
    } else {
        "INSERT INTO positions (dominio, iuv, id_a2a, id_pendenza, created_ms, summary, body, documento)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    };
    exec(
        c,
        sql,
        &[
            &p.dominio,
            &p.iuv,
            &p.id_a2a,
            &p.id_pendenza,
            &p.created_at.timestamp_millis(),
            &Summary::of(p).encode(),
            &encode(p)?,
            &document_of(p),
        ],
    )
    .await?;
    Ok(())
}

/// The `documento` column of a position: the document it is an option of.
pub(crate) fn document_of(p: &Pendenza) -> Option<String> {
    p.dettagli
        .documento
        .as_ref()
        .map(|d| d.identificativo.clone())
}

/// The position under (`dominio`, `iuv`), locked, and the other options of its document read
/// under the document's advisory lock: two receipts of one document (on any nodes) decide one
/// after the other, and the second reads what the first committed (each statement of a
/// READ COMMITTED transaction sees every commit before it). A position in no document costs
/// nothing more than its own lock.
async fn position_with_document<C: GenericClient + Sync>(
    c: &C,
    dominio: &str,
    iuv: &str,
) -> Result<(Option<Pendenza>, Vec<Pendenza>)> {
    let Some(me) = position_at(c, dominio, iuv, true).await? else {
        return Ok((None, Vec::new()));
    };
    let Some(document) = document_of(&me) else {
        return Ok((Some(me), Vec::new()));
    };
    c.execute(
        "SELECT pg_advisory_xact_lock($1)",
        &[&document_lock(dominio, &document)],
    )
    .await?;
    let siblings = document_at(c, dominio, &document)
        .await?
        .into_iter()
        .filter(|o| o.iuv != iuv)
        .collect();
    Ok((Some(me), siblings))
}

/// The advisory lock of a document: the first 8 bytes of SHA-256 of `dominio/documento` (a
/// collision only makes two documents' receipts wait for each other).
fn document_lock(dominio: &str, documento: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("varco-document/{dominio}/{documento}"));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// The options of a document, ordered by IUV.
async fn document_at<C: GenericClient + Sync>(
    c: &C,
    dominio: &str,
    identificativo: &str,
) -> Result<Vec<Pendenza>> {
    rows(
        c,
        "SELECT body FROM positions WHERE dominio = $1 AND documento = $2 ORDER BY iuv",
        &[&dominio, &identificativo],
    )
    .await?
    .iter()
    .map(body)
    .collect()
}

/// The outbox entry `id`, locked for the transaction.
async fn entry_at<C: GenericClient + Sync>(c: &C, id: u64) -> Result<Option<OutboxEntry>> {
    row(
        c,
        "SELECT body FROM outbox WHERE id = $1 FOR UPDATE",
        &[&id_i64(id)],
    )
    .await?
    .map(|r| body(&r))
    .transpose()
}

/// Writes an outbox entry (an update when `exists`, which also releases any claim), with its
/// queue and due time while it is pending.
async fn write_entry<C: GenericClient + Sync>(c: &C, e: &OutboxEntry, exists: bool) -> Result<()> {
    let pending = e.stato == OutboxState::Pending;
    let queue = pending.then(|| e.id_a2a.clone().unwrap_or_default());
    let due = pending.then(|| e.next_attempt_at.timestamp_millis());
    let sql = if exists {
        "UPDATE outbox SET queue = $2, due_ms = $3, body = $4, lease_until = NULL, lease_node = NULL
         WHERE id = $1"
    } else {
        "INSERT INTO outbox (id, queue, due_ms, body) VALUES ($1, $2, $3, $4)"
    };
    exec(c, sql, &[&id_i64(e.id), &queue, &due, &encode(e)?]).await?;
    Ok(())
}
