//! Reading every record out of PostgreSQL, and writing records into it, for
//! [`crate::store::copy`]: each table read in key order as a stream, each batch written in one
//! transaction. Outbox ids are kept and the sequences moved past what was written.

use super::{Pg, body, exec, write_entry, write_position};
use crate::domain::evento::Evento;
use crate::store::copy::{BATCH, Record};
use crate::store::{Result, decode};
use futures_util::TryStreamExt;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

type Sender = tokio::sync::mpsc::Sender<Vec<Record>>;

async fn send(tx: &Sender, batch: &mut Vec<Record>) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    tx.send(std::mem::take(batch))
        .await
        .map_err(|_| crate::store::copy::reader_gone())
}

impl Pg {
    /// Streams the rows of `sql`, each turned into a record, to `tx` in batches.
    async fn export_table(
        &self,
        tx: &Sender,
        sql: &str,
        record: impl Fn(&Row) -> Result<Record>,
    ) -> Result<()> {
        let c = self.client().await?;
        let statement = c.prepare(sql).await?;
        let no_params: [&(dyn ToSql + Sync); 0] = [];
        let rows = c.query_raw(&statement, no_params).await?;
        futures_util::pin_mut!(rows);
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(row) = rows.try_next().await? {
            batch.push(record(&row)?);
            if batch.len() == BATCH {
                send(tx, &mut batch).await?;
            }
        }
        send(tx, &mut batch).await
    }

    /// Every record, table by table.
    pub async fn export(&self, tx: &Sender) -> Result<()> {
        self.export_table(
            tx,
            "SELECT body FROM positions ORDER BY dominio, iuv",
            |r| Ok(Record::Position(Box::new(body(r)?))),
        )
        .await?;
        self.export_table(
            tx,
            "SELECT body FROM receipts ORDER BY dominio, iuv, receipt_id",
            |r| Ok(Record::Receipt(Box::new(body(r)?))),
        )
        .await?;
        self.export_table(
            tx,
            "SELECT body, dominio, iuv FROM attempts ORDER BY id",
            |r| {
                Ok(Record::Attempt {
                    attempt: Box::new(body(r)?),
                    dominio: r.get(1),
                    iuv: r.get(2),
                })
            },
        )
        .await?;
        self.export_table(tx, "SELECT body FROM outbox ORDER BY id", |r| {
            Ok(Record::Outbox(Box::new(body(r)?)))
        })
        .await?;
        self.export_table(
            tx,
            "SELECT dominio, segregation, last FROM counters ORDER BY dominio, segregation",
            |r| {
                Ok(Record::Counter {
                    dominio: r.get(0),
                    segregation: r.get(1),
                    last: r.get::<_, i64>(2).max(0) as u64,
                })
            },
        )
        .await?;
        self.export_table(
            tx,
            "SELECT dominio, iuv FROM seen ORDER BY dominio, iuv",
            |r| {
                Ok(Record::Seen {
                    dominio: r.get(0),
                    iuv: r.get(1),
                })
            },
        )
        .await?;
        self.export_table(
            tx,
            "SELECT body, ms, seq FROM journal ORDER BY ms, seq",
            |r| {
                let mut e: Evento = decode(r.get::<_, &[u8]>(0))?;
                e.id = crate::store::journal::event_id(r.get(1), r.get::<_, i64>(2) as u64);
                Ok(Record::Event(Box::new(e)))
            },
        )
        .await
    }

    /// Writes `batch` in one transaction.
    pub async fn import(&self, batch: Vec<Record>) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut outbox_max = 0i64;
        for r in &batch {
            match r {
                Record::Position(p) => write_position(&tx, p, false).await?,
                Record::Receipt(r) => {
                    exec(
                        &tx,
                        "INSERT INTO receipts (dominio, iuv, receipt_id, body) VALUES ($1, $2, $3, $4)",
                        &[&r.dominio, &r.iuv, &r.receipt_id, &crate::store::encode(&**r)?],
                    )
                    .await?;
                }
                Record::Attempt {
                    dominio,
                    iuv,
                    attempt,
                } => {
                    exec(
                        &tx,
                        "INSERT INTO attempts (dominio, iuv, body) VALUES ($1, $2, $3)",
                        &[dominio, iuv, &crate::store::encode(&**attempt)?],
                    )
                    .await?;
                }
                Record::Outbox(e) => {
                    outbox_max = outbox_max.max(super::id_i64(e.id));
                    write_entry(&tx, e, false).await?;
                }
                Record::Counter {
                    dominio,
                    segregation,
                    last,
                } => {
                    exec(
                        &tx,
                        "INSERT INTO counters (dominio, segregation, last) VALUES ($1, $2, $3)
                         ON CONFLICT (dominio, segregation) DO UPDATE SET last = excluded.last",
                        &[dominio, segregation, &(*last as i64)],
                    )
                    .await?;
                }
                Record::Seen { dominio, iuv } => {
                    exec(
                        &tx,
                        "INSERT INTO seen (dominio, iuv) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[dominio, iuv],
                    )
                    .await?;
                }
                Record::Event(e) => {
                    exec(
                        &tx,
                        "INSERT INTO journal (ms, seq, body) VALUES ($1, nextval('journal_seq'), $2)",
                        &[&e.data.timestamp_millis(), &serde_json::to_vec(&**e)?],
                    )
                    .await?;
                }
                // Reconciliation's records are written by `Store::import` through `fdr_write`.
                Record::Flow { .. }
                | Record::Settlement(_)
                | Record::Movement(_)
                | Record::FdrMeta { .. } => {}
            }
        }
        if outbox_max > 0 {
            tx.execute(
                "SELECT setval('outbox_ids', greatest($1, (SELECT last_value FROM outbox_ids)))",
                &[&outbox_max],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
