//! What reconciliation keeps, on either engine: settlement flows (header, matched lines and the
//! document as received), the settlement of each payment's transfer, treasury movements, and
//! the acquisition's own bookkeeping (where each domain's acquisition got to, flows that
//! failed). Writes go through one atomic [`FdrWrite`]; deciding what to write is the caller's,
//! under an [`super::FdrGuard`] that serialises decisions on one scope across every node.

use super::{Engine, Result, Store, blocking, within};
use crate::domain::Ricevuta;
use crate::domain::fdr::{FlowKey, Flusso, Linea, Riconciliazione, Riscossione};

/// A flow to write: its header always, its lines and raw document when they change.
#[derive(Debug, Clone)]
pub struct StoredFlow {
    /// The header (its key is the flow's).
    pub flusso: Flusso,
    /// The matched lines (None: keep the stored ones).
    pub linee: Option<Vec<Linea>>,
    /// The document as received (None: keep the stored one).
    pub raw: Option<Vec<u8>>,
}

/// The key of a settlement: (dominio, iuv, iur, indice).
pub type RiscossioneKey = (String, String, String, u8);

/// Everything one reconciliation step writes, atomically.
#[derive(Debug, Clone, Default)]
pub struct FdrWrite {
    /// Flows to write.
    pub flows: Vec<StoredFlow>,
    /// Flows to remove (header, lines and document): the retention.
    pub flows_removed: Vec<FlowKey>,
    /// Settlements to write.
    pub riscossioni: Vec<Riscossione>,
    /// Settlements to remove (a line a newer revision of its flow no longer carries).
    pub riscossioni_removed: Vec<RiscossioneKey>,
    /// Treasury movements to write.
    pub riconciliazioni: Vec<Riconciliazione>,
    /// Acquisition bookkeeping: key → value (None removes it).
    pub meta: Vec<(String, Option<Vec<u8>>)>,
}

impl FdrWrite {
    /// Whether it writes nothing.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
            && self.flows_removed.is_empty()
            && self.riscossioni.is_empty()
            && self.riscossioni_removed.is_empty()
            && self.riconciliazioni.is_empty()
            && self.meta.is_empty()
    }
}

/// Where a listing resumes: after this key (None: from the start).
pub type After<K> = Option<K>;

impl Store {
    /// Writes `w` atomically (durable once [`Store::sync`] returns).
    pub async fn fdr_write(&self, w: &FdrWrite) -> Result<()> {
        if w.is_empty() {
            return Ok(());
        }
        // A large flow is a large write: a database engine gets the request budget plus time
        // in proportion (1 ms per settlement, per 10 lines, per 100 KB of document).
        let lines: usize = w
            .flows
            .iter()
            .filter_map(|f| f.linee.as_ref())
            .map(Vec::len)
            .sum();
        let raw: usize = w
            .flows
            .iter()
            .filter_map(|f| f.raw.as_ref())
            .map(Vec::len)
            .sum();
        let extra = w.riscossioni.len() + w.riscossioni_removed.len() + lines / 10 + raw / 100_000;
        on_engine!(self,
            s => blocking(|| s.fdr_write(w)),
            pg => pg.fdr_write(w),
            budget = self.0.budget.saturating_add(std::time::Duration::from_millis(extra as u64)))
    }

    /// Every stored revision of a creditor's flow `id_flusso`, of any PSP.
    pub async fn flussi_by_id(&self, dominio: &str, id_flusso: &str) -> Result<Vec<Flusso>> {
        on_engine!(self,
            s => s.flussi_by_id(dominio, id_flusso),
            pg => pg.flussi_by_id(dominio, id_flusso))
    }

    /// Flow headers in key order after `after`, at most `limit`.
    pub async fn flussi_after(&self, after: After<&FlowKey>, limit: usize) -> Result<Vec<Flusso>> {
        on_engine!(self, s => blocking(|| s.flussi_after(after, limit)), pg => pg.flussi_after(after, limit))
    }

    /// One flow's header.
    pub async fn flusso(&self, key: &FlowKey) -> Result<Option<Flusso>> {
        on_engine!(self, s => s.flusso(key), pg => pg.flusso(key))
    }

    /// One flow's matched lines.
    pub async fn flusso_linee(&self, key: &FlowKey) -> Result<Option<Vec<Linea>>> {
        on_engine!(self, s => s.flusso_linee(key), pg => pg.flusso_linee(key))
    }

    /// One flow's document as received.
    pub async fn flusso_raw(&self, key: &FlowKey) -> Result<Option<Vec<u8>>> {
        on_engine!(self, s => s.flusso_raw(key), pg => pg.flusso_raw(key))
    }

    /// The settlements of a notice's transfers.
    pub async fn riscossioni(&self, dominio: &str, iuv: &str) -> Result<Vec<Riscossione>> {
        on_engine!(self, s => s.riscossioni(dominio, iuv), pg => pg.riscossioni(dominio, iuv))
    }

    /// Settlements in key order after `after`, at most `limit`.
    pub async fn riscossioni_after(
        &self,
        after: After<&RiscossioneKey>,
        limit: usize,
    ) -> Result<Vec<Riscossione>> {
        on_engine!(self,
            s => blocking(|| s.riscossioni_after(after, limit)),
            pg => pg.riscossioni_after(after, limit))
    }

    /// One treasury movement.
    pub async fn riconciliazione(
        &self,
        dominio: &str,
        id: &str,
    ) -> Result<Option<Riconciliazione>> {
        on_engine!(self, s => s.riconciliazione(dominio, id), pg => pg.riconciliazione(dominio, id))
    }

    /// Treasury movements in key order after `after` (dominio, id), at most `limit`.
    pub async fn riconciliazioni_after(
        &self,
        after: After<&(String, String)>,
        limit: usize,
    ) -> Result<Vec<Riconciliazione>> {
        on_engine!(self,
            s => blocking(|| s.riconciliazioni_after(after, limit)),
            pg => pg.riconciliazioni_after(after, limit))
    }

    /// Receipts in key order after `after` (dominio, iuv, receiptId), at most `limit`.
    pub async fn ricevute_after(
        &self,
        after: After<&(String, String, String)>,
        limit: usize,
    ) -> Result<Vec<Ricevuta>> {
        on_engine!(self,
            s => blocking(|| s.ricevute_after(after, limit)),
            pg => pg.ricevute_after(after, limit))
    }

    /// An acquisition bookkeeping value.
    pub async fn fdr_meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        on_engine!(self, s => s.fdr_meta(key), pg => pg.fdr_meta(key))
    }

    /// Every bookkeeping value whose key starts with `prefix`, in key order.
    pub async fn fdr_meta_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        on_engine!(self, s => s.fdr_meta_prefix(prefix), pg => pg.fdr_meta_prefix(prefix))
    }
}
