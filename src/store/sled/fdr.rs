//! Reconciliation's trees in the embedded store (see [`crate::store::fdr`]). Keys join their
//! parts with NUL, which none of them may hold (flow ids, fiscal codes, IUVs and receipt ids
//! are printable text), so key order is the order of the parts. New trees: a store of an
//! earlier layout simply has them empty, no migration is needed.

use super::{Sled, TxResult, decode_prefix, finish};
use crate::domain::Ricevuta;
use crate::domain::fdr::{FlowKey, Flusso, Linea, Riconciliazione, Riscossione};
use crate::store::fdr::{FdrWrite, RiscossioneKey};
use crate::store::{Result, decode, encode};
use sled::Transactional;
use std::sync::Arc;

/// Header of each flow: `<dominio>\0<idFlusso>\0<psp>\0<revision, 10 digits>`.
pub const FLOWS: &str = "fdr_flows";
/// Lines of each flow, one value, under the flow's key.
pub const FLOW_LINES: &str = "fdr_flow_lines";
/// Each flow's document as received, under the flow's key.
pub const FLOW_RAW: &str = "fdr_flow_raw";
/// Settlements: `<dominio>\0<iuv>\0<iur>\0<indice>`.
pub const SETTLEMENTS: &str = "fdr_settlements";
/// Treasury movements: `<dominio>\0<id>`.
pub const MOVEMENTS: &str = "fdr_movements";
/// Acquisition bookkeeping.
pub const META: &str = "fdr_meta";

/// The trees.
#[derive(Debug)]
pub struct FdrTrees {
    flows: sled::Tree,
    lines: sled::Tree,
    raw: sled::Tree,
    settlements: sled::Tree,
    movements: sled::Tree,
    meta: sled::Tree,
    /// The scopes of [`crate::store::Store::fdr_lock`]: one process owns the directory.
    scopes: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl FdrTrees {
    /// Opens (or creates) the trees.
    pub fn open(db: &sled::Db) -> Result<Self> {
        Ok(Self {
            flows: db.open_tree(FLOWS)?,
            lines: db.open_tree(FLOW_LINES)?,
            raw: db.open_tree(FLOW_RAW)?,
            settlements: db.open_tree(SETTLEMENTS)?,
            movements: db.open_tree(MOVEMENTS)?,
            meta: db.open_tree(META)?,
            scopes: Default::default(),
        })
    }
}

fn joined(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

fn flow_key(k: &FlowKey) -> Vec<u8> {
    joined(&[
        &k.dominio,
        &k.id_flusso,
        &k.psp,
        &format!("{:010}", k.revisione),
    ])
}

fn settlement_key(dominio: &str, iuv: &str, iur: &str, indice: u8) -> Vec<u8> {
    joined(&[dominio, iuv, iur, &format!("{indice:03}")])
}

/// Values after `after` (exclusive; from the start with None), at most `limit`, decoded.
fn page<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    after: Option<Vec<u8>>,
    limit: usize,
) -> Result<Vec<T>> {
    let range = match after {
        Some(k) => tree.range((std::ops::Bound::Excluded(k), std::ops::Bound::Unbounded)),
        None => tree.iter(),
    };
    range.values().take(limit).map(|v| decode(&v?)).collect()
}

impl Sled {
    fn fdr(&self) -> &FdrTrees {
        &self.fdr
    }

    /// The mutex of a lock scope.
    pub(crate) fn fdr_scope(&self, scope: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut scopes = self
            .fdr()
            .scopes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        scopes.entry(scope.to_owned()).or_default().clone()
    }

    /// See [`crate::store::Store::fdr_write`].
    pub fn fdr_write(&self, w: &FdrWrite) -> Result<()> {
        let mut encoded_flows = Vec::with_capacity(w.flows.len());
        for f in &w.flows {
            let lines = f.linee.as_ref().map(encode).transpose()?;
            encoded_flows.push((
                flow_key(&f.flusso.key),
                encode(&f.flusso)?,
                lines,
                f.raw.clone(),
            ));
        }
        let flows_removed: Vec<Vec<u8>> = w.flows_removed.iter().map(flow_key).collect();
        let settlements_new = w
            .riscossioni
            .iter()
            .map(|r| {
                let (d, i, u, n) = r.key();
                Ok((settlement_key(d, i, u, n), encode(r)?))
            })
            .collect::<Result<Vec<_>>>()?;
        let removed: Vec<Vec<u8>> = w
            .riscossioni_removed
            .iter()
            .map(|(d, i, u, n)| settlement_key(d, i, u, *n))
            .collect();
        let movements_new = w
            .riconciliazioni
            .iter()
            .map(|m| Ok((joined(&[&m.dominio, &m.id]), encode(m)?)))
            .collect::<Result<Vec<_>>>()?;
        let t = self.fdr();
        finish(
            (
                &t.flows,
                &t.lines,
                &t.raw,
                &t.settlements,
                &t.movements,
                &t.meta,
            )
                .transaction(
                    |(flows, lines, raw, settlements, movements, meta)| -> TxResult<()> {
                        for (key, header, body, document) in &encoded_flows {
                            flows.insert(key.as_slice(), header.as_slice())?;
                            if let Some(body) = body {
                                lines.insert(key.as_slice(), body.as_slice())?;
                            }
                            if let Some(document) = document {
                                raw.insert(key.as_slice(), document.as_slice())?;
                            }
                        }
                        for key in &flows_removed {
                            flows.remove(key.as_slice())?;
                            lines.remove(key.as_slice())?;
                            raw.remove(key.as_slice())?;
                        }
                        for key in &removed {
                            settlements.remove(key.as_slice())?;
                        }
                        for (key, value) in &settlements_new {
                            settlements.insert(key.as_slice(), value.as_slice())?;
                        }
                        for (key, value) in &movements_new {
                            movements.insert(key.as_slice(), value.as_slice())?;
                        }
                        for (key, value) in &w.meta {
                            match value {
                                Some(v) => meta.insert(key.as_bytes(), v.as_slice())?,
                                None => meta.remove(key.as_bytes())?,
                            };
                        }
                        Ok(())
                    },
                ),
        )
    }

    /// See [`crate::store::Store::flussi_by_id`].
    pub fn flussi_by_id(&self, dominio: &str, id_flusso: &str) -> Result<Vec<Flusso>> {
        let mut prefix = joined(&[dominio, id_flusso]);
        prefix.push(0);
        decode_prefix(&self.fdr().flows, prefix)
    }

    /// See [`crate::store::Store::flussi_after`].
    pub fn flussi_after(&self, after: Option<&FlowKey>, limit: usize) -> Result<Vec<Flusso>> {
        page(&self.fdr().flows, after.map(flow_key), limit)
    }

    /// See [`crate::store::Store::flusso`].
    pub fn flusso(&self, key: &FlowKey) -> Result<Option<Flusso>> {
        self.fdr()
            .flows
            .get(flow_key(key))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// See [`crate::store::Store::flusso_linee`].
    pub fn flusso_linee(&self, key: &FlowKey) -> Result<Option<Vec<Linea>>> {
        self.fdr()
            .lines
            .get(flow_key(key))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// See [`crate::store::Store::flusso_raw`].
    pub fn flusso_raw(&self, key: &FlowKey) -> Result<Option<Vec<u8>>> {
        Ok(self.fdr().raw.get(flow_key(key))?.map(|v| v.to_vec()))
    }

    /// See [`crate::store::Store::riscossioni`].
    pub fn riscossioni(&self, dominio: &str, iuv: &str) -> Result<Vec<Riscossione>> {
        let mut prefix = joined(&[dominio, iuv]);
        prefix.push(0);
        decode_prefix(&self.fdr().settlements, prefix)
    }

    /// See [`crate::store::Store::riscossioni_after`].
    pub fn riscossioni_after(
        &self,
        after: Option<&RiscossioneKey>,
        limit: usize,
    ) -> Result<Vec<Riscossione>> {
        let after = after.map(|(d, i, u, n)| settlement_key(d, i, u, *n));
        page(&self.fdr().settlements, after, limit)
    }

    /// See [`crate::store::Store::riconciliazione`].
    pub fn riconciliazione(&self, dominio: &str, id: &str) -> Result<Option<Riconciliazione>> {
        self.fdr()
            .movements
            .get(joined(&[dominio, id]))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// See [`crate::store::Store::riconciliazioni_after`].
    pub fn riconciliazioni_after(
        &self,
        after: Option<&(String, String)>,
        limit: usize,
    ) -> Result<Vec<Riconciliazione>> {
        let after = after.map(|(d, id)| joined(&[d, id]));
        page(&self.fdr().movements, after, limit)
    }

    /// See [`crate::store::Store::ricevute_after`].
    pub fn ricevute_after(
        &self,
        after: Option<&(String, String, String)>,
        limit: usize,
    ) -> Result<Vec<Ricevuta>> {
        let after = after.map(|(d, i, r)| super::keys::receipt(d, i, r));
        page(&self.receipts, after, limit)
    }

    /// See [`crate::store::Store::fdr_meta`].
    pub fn fdr_meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.fdr().meta.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    /// See [`crate::store::Store::fdr_meta_prefix`].
    pub fn fdr_meta_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.fdr()
            .meta
            .scan_prefix(prefix.as_bytes())
            .map(|kv| {
                let (k, v) = kv?;
                Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
            })
            .collect()
    }
}
