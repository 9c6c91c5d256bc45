//! Reconciliation's tables on PostgreSQL (see [`crate::store::fdr`]; schema version 3).

use super::{Pg, body, exec, row, rows};
use crate::domain::Ricevuta;
use crate::domain::fdr::{FlowKey, Flusso, Linea, Riconciliazione, Riscossione};
use crate::store::fdr::{FdrWrite, RiscossioneKey};
use crate::store::{Result, StoreError, encode};
use std::time::{Duration, Instant};

/// The advisory lock of a scope: the first 8 bytes of SHA-256 of its name.
fn scope_lock(scope: &str) -> i64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("varco-fdr/{scope}"));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Longest [`Pg::advisory`] waits for a scope another node holds.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// A session-level advisory lock and the connection that holds it. Released explicitly, the
/// connection goes back to the pool; dropped, the connection is closed (so the lock ends with
/// its session and no pooled connection ever keeps one).
pub struct AdvisoryGuard {
    client: Option<deadpool_postgres::Object>,
    key: i64,
}

impl std::fmt::Debug for AdvisoryGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvisoryGuard")
            .field("key", &self.key)
            .finish()
    }
}

impl AdvisoryGuard {
    /// Unlocks and gives the connection back (closes it when unlocking fails).
    pub async fn release(mut self) {
        if let Some(client) = self.client.take() {
            let unlocked = client
                .query_one("SELECT pg_advisory_unlock($1)", &[&self.key])
                .await
                .map(|r| r.get::<_, bool>(0));
            if !matches!(unlocked, Ok(true)) {
                drop(deadpool_postgres::Object::take(client));
            }
        }
    }
}

impl Drop for AdvisoryGuard {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

fn flow_params(k: &FlowKey) -> (&str, &str, &str, i32) {
    (
        &k.dominio,
        &k.id_flusso,
        &k.psp,
        i32::try_from(k.revisione).unwrap_or(i32::MAX),
    )
}

fn decode_all<T: serde::de::DeserializeOwned>(found: &[tokio_postgres::Row]) -> Result<Vec<T>> {
    found.iter().map(body).collect()
}

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

impl Pg {
    /// See [`crate::store::Store::fdr_lock`]: a session-level advisory lock, tried again every
    /// 20 ms when `wait` (never a blocking wait a cancelled call could leave granted).
    pub async fn advisory(&self, scope: &str, wait: bool) -> Result<Option<AdvisoryGuard>> {
        let key = scope_lock(scope);
        let client = self.client().await?;
        let started = Instant::now();
        loop {
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .await
                .map_err(StoreError::from)?
                .get(0);
            if got {
                return Ok(Some(AdvisoryGuard {
                    client: Some(client),
                    key,
                }));
            }
            if !wait {
                return Ok(None);
            }
            if started.elapsed() > LOCK_WAIT {
                return Err(StoreError::Unavailable(format!(
                    "{scope} is held by another node for more than {} s",
                    LOCK_WAIT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// See [`crate::store::Store::fdr_write`]: one transaction; settlements in one statement.
    pub async fn fdr_write(&self, w: &FdrWrite) -> Result<()> {
        transact!(self, tx => {
            for f in &w.flows {
                let (d, id, psp, rev) = flow_params(&f.flusso.key);
                let header = encode(&f.flusso)?;
                let lines = f.linee.as_ref().map(encode).transpose()?;
                exec(&tx,
                    "INSERT INTO fdr_flows (dominio, id_flusso, psp, revisione, body, lines, raw)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (dominio, id_flusso, psp, revisione) DO UPDATE SET
                       body = EXCLUDED.body,
                       lines = coalesce(EXCLUDED.lines, fdr_flows.lines),
                       raw = coalesce(EXCLUDED.raw, fdr_flows.raw)",
                    &[&d, &id, &psp, &rev, &header, &lines, &f.raw]).await?;
            }
            for k in &w.flows_removed {
                let (d, id, psp, rev) = flow_params(k);
                exec(&tx,
                    "DELETE FROM fdr_flows
                     WHERE dominio = $1 AND id_flusso = $2 AND psp = $3 AND revisione = $4",
                    &[&d, &id, &psp, &rev]).await?;
            }
            if !w.riscossioni_removed.is_empty() {
                let (d, i, u, n) = columns(w.riscossioni_removed.iter().map(|(d, i, u, n)| (d.as_str(), i.as_str(), u.as_str(), *n)));
                exec(&tx,
                    "DELETE FROM fdr_settlements s USING
                       unnest($1::text[], $2::text[], $3::text[], $4::int2[]) AS g(d, i, u, n)
                     WHERE s.dominio = g.d AND s.iuv = g.i AND s.iur = g.u AND s.indice = g.n",
                    &[&d, &i, &u, &n]).await?;
            }
            if !w.riscossioni.is_empty() {
                let (d, i, u, n) = columns(w.riscossioni.iter().map(Riscossione::key));
                let bodies = w.riscossioni.iter().map(encode).collect::<Result<Vec<_>>>()?;
                exec(&tx,
                    "INSERT INTO fdr_settlements (dominio, iuv, iur, indice, body)
                     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int2[], $5::bytea[])
                     ON CONFLICT (dominio, iuv, iur, indice) DO UPDATE SET body = EXCLUDED.body",
                    &[&d, &i, &u, &n, &bodies]).await?;
            }
            for m in &w.riconciliazioni {
                exec(&tx,
                    "INSERT INTO fdr_movements (dominio, id, body) VALUES ($1, $2, $3)
                     ON CONFLICT (dominio, id) DO UPDATE SET body = EXCLUDED.body",
                    &[&m.dominio, &m.id, &encode(m)?]).await?;
            }
            for (key, value) in &w.meta {
                match value {
                    Some(v) => exec(&tx,
                        "INSERT INTO fdr_meta (key, value) VALUES ($1, $2)
                         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        &[key, v]).await?,
                    None => exec(&tx, "DELETE FROM fdr_meta WHERE key = $1", &[key]).await?,
                };
            }
            Ok(())
        })
    }

    /// See [`crate::store::Store::flussi_by_id`].
    pub async fn flussi_by_id(&self, dominio: &str, id_flusso: &str) -> Result<Vec<Flusso>> {
        let c = self.client().await?;
        decode_all(
            &rows(
                &c,
                "SELECT body FROM fdr_flows WHERE dominio = $1 AND id_flusso = $2
                 ORDER BY psp, revisione",
                &[&dominio, &id_flusso],
            )
            .await?,
        )
    }

    /// See [`crate::store::Store::flussi_after`].
    pub async fn flussi_after(&self, after: Option<&FlowKey>, limit: usize) -> Result<Vec<Flusso>> {
        let c = self.client().await?;
        let found = match after.map(flow_params) {
            Some((d, id, psp, rev)) => {
                rows(
                    &c,
                    "SELECT body FROM fdr_flows
                     WHERE (dominio, id_flusso, psp, revisione) > ($1, $2, $3, $4)
                     ORDER BY dominio, id_flusso, psp, revisione LIMIT $5",
                    &[&d, &id, &psp, &rev, &limit_of(limit)],
                )
                .await?
            }
            None => rows(
                &c,
                "SELECT body FROM fdr_flows ORDER BY dominio, id_flusso, psp, revisione LIMIT $1",
                &[&limit_of(limit)],
            )
            .await?,
        };
        decode_all(&found)
    }

    async fn flow_column(&self, key: &FlowKey, column: &str) -> Result<Option<Vec<u8>>> {
        let c = self.client().await?;
        let (d, id, psp, rev) = flow_params(key);
        let sql = format!(
            "SELECT {column} FROM fdr_flows
             WHERE dominio = $1 AND id_flusso = $2 AND psp = $3 AND revisione = $4"
        );
        Ok(row(&c, &sql, &[&d, &id, &psp, &rev])
            .await?
            .and_then(|r| r.get::<_, Option<Vec<u8>>>(0)))
    }

    /// See [`crate::store::Store::flusso`].
    pub async fn flusso(&self, key: &FlowKey) -> Result<Option<Flusso>> {
        self.flow_column(key, "body")
            .await?
            .map(|b| crate::store::decode(&b))
            .transpose()
    }

    /// See [`crate::store::Store::flusso_linee`].
    pub async fn flusso_linee(&self, key: &FlowKey) -> Result<Option<Vec<Linea>>> {
        self.flow_column(key, "lines")
            .await?
            .map(|b| crate::store::decode(&b))
            .transpose()
    }

    /// See [`crate::store::Store::flusso_raw`].
    pub async fn flusso_raw(&self, key: &FlowKey) -> Result<Option<Vec<u8>>> {
        self.flow_column(key, "raw").await
    }

    /// See [`crate::store::Store::riscossioni`].
    pub async fn riscossioni(&self, dominio: &str, iuv: &str) -> Result<Vec<Riscossione>> {
        let c = self.client().await?;
        decode_all(
            &rows(
                &c,
                "SELECT body FROM fdr_settlements WHERE dominio = $1 AND iuv = $2
                 ORDER BY iur, indice",
                &[&dominio, &iuv],
            )
            .await?,
        )
    }

    /// See [`crate::store::Store::riscossioni_after`].
    pub async fn riscossioni_after(
        &self,
        after: Option<&RiscossioneKey>,
        limit: usize,
    ) -> Result<Vec<Riscossione>> {
        let c = self.client().await?;
        let found =
            match after {
                Some((d, i, u, n)) => {
                    rows(
                        &c,
                        "SELECT body FROM fdr_settlements
                     WHERE (dominio, iuv, iur, indice) > ($1, $2, $3, $4)
                     ORDER BY dominio, iuv, iur, indice LIMIT $5",
                        &[d, i, u, &i16::from(*n), &limit_of(limit)],
                    )
                    .await?
                }
                None => rows(
                    &c,
                    "SELECT body FROM fdr_settlements ORDER BY dominio, iuv, iur, indice LIMIT $1",
                    &[&limit_of(limit)],
                )
                .await?,
            };
        decode_all(&found)
    }

    /// See [`crate::store::Store::riconciliazione`].
    pub async fn riconciliazione(
        &self,
        dominio: &str,
        id: &str,
    ) -> Result<Option<Riconciliazione>> {
        let c = self.client().await?;
        row(
            &c,
            "SELECT body FROM fdr_movements WHERE dominio = $1 AND id = $2",
            &[&dominio, &id],
        )
        .await?
        .map(|r| body(&r))
        .transpose()
    }

    /// See [`crate::store::Store::riconciliazioni_after`].
    pub async fn riconciliazioni_after(
        &self,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> Result<Vec<Riconciliazione>> {
        let c = self.client().await?;
        let found = match after {
            Some((d, id)) => {
                rows(
                    &c,
                    "SELECT body FROM fdr_movements WHERE (dominio, id) > ($1, $2)
                     ORDER BY dominio, id LIMIT $3",
                    &[d, id, &limit_of(limit)],
                )
                .await?
            }
            None => {
                rows(
                    &c,
                    "SELECT body FROM fdr_movements ORDER BY dominio, id LIMIT $1",
                    &[&limit_of(limit)],
                )
                .await?
            }
        };
        decode_all(&found)
    }

    /// See [`crate::store::Store::ricevute_after`].
    pub async fn ricevute_after(
        &self,
        after: Option<&(String, String, String)>,
        limit: usize,
    ) -> Result<Vec<Ricevuta>> {
        let c = self.client().await?;
        let found = match after {
            Some((d, i, r)) => {
                rows(
                    &c,
                    "SELECT body FROM receipts WHERE (dominio, iuv, receipt_id) > ($1, $2, $3)
                     ORDER BY dominio, iuv, receipt_id LIMIT $4",
                    &[d, i, r, &limit_of(limit)],
                )
                .await?
            }
            None => {
                rows(
                    &c,
                    "SELECT body FROM receipts ORDER BY dominio, iuv, receipt_id LIMIT $1",
                    &[&limit_of(limit)],
                )
                .await?
            }
        };
        decode_all(&found)
    }

    /// See [`crate::store::Store::fdr_meta`].
    pub async fn fdr_meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let c = self.client().await?;
        Ok(
            row(&c, "SELECT value FROM fdr_meta WHERE key = $1", &[&key])
                .await?
                .map(|r| r.get::<_, Vec<u8>>(0)),
        )
    }

    /// See [`crate::store::Store::fdr_meta_prefix`].
    pub async fn fdr_meta_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let c = self.client().await?;
        let found = rows(
            &c,
            "SELECT key, value FROM fdr_meta WHERE key >= $1 ORDER BY key",
            &[&prefix],
        )
        .await?;
        Ok(found
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, Vec<u8>>(1)))
            .take_while(|(k, _)| k.starts_with(prefix))
            .collect())
    }
}

/// Key parts as the four arrays `unnest` takes.
fn columns<'a>(
    keys: impl Iterator<Item = (&'a str, &'a str, &'a str, u8)>,
) -> (Vec<&'a str>, Vec<&'a str>, Vec<&'a str>, Vec<i16>) {
    let mut out = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (d, i, u, n) in keys {
        out.0.push(d);
        out.1.push(i);
        out.2.push(u);
        out.3.push(i16::from(n));
    }
    out
}
