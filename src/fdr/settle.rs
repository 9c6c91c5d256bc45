//! Storing a settlement flow: matched line by line to the receipts Varco holds, checked against
//! its header, its revision weighed against the ones stored, and each matched transfer given
//! its settlement, all written at once under the creditor's reconciliation scope.

use crate::config::Config;
use crate::domain::fdr::{
    self, FlowKey, Flusso, Known, Linea, Riscossione, StatoLinea, StatoRiscossione,
};
use crate::domain::{EsitoPagamento, Ricevuta};
use crate::store::fdr::{FdrWrite, StoredFlow};
use crate::store::{Store, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Why a flow was not stored.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    /// The receiving creditor is not one Varco serves.
    #[error("the flow is addressed to {0}, a creditor this station does not serve")]
    UnknownDomain(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of a flow handed to [`store_flow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Stored now (obsolete from the start when a later revision was already stored).
    Stored(Flusso),
    /// The same (domain, flow, PSP, revision) was already stored: nothing written.
    AlreadyStored(Flusso),
}

impl Settled {
    /// The flow's header as stored.
    pub fn flusso(&self) -> &Flusso {
        match self {
            Settled::Stored(f) | Settled::AlreadyStored(f) => f,
        }
    }
}

/// The reconciliation scope of a creditor (flows and treasury movements decide under it).
pub fn scope(dominio: &str) -> String {
    format!("dominio/{dominio}")
}

/// Everything stored about the IUVs of a flow: positions' transfers, positive receipts,
/// settlements.
struct Evidence {
    positions: HashMap<String, Vec<(u8, crate::domain::Cents)>>,
    receipts: HashMap<String, Vec<Ricevuta>>,
    settlements: HashMap<String, Vec<Riscossione>>,
}

async fn evidence(
    store: &Store,
    dominio: &str,
    iuvs: &BTreeSet<&str>,
) -> Result<Evidence, StoreError> {
    let mut ev = Evidence {
        positions: HashMap::new(),
        receipts: HashMap::new(),
        settlements: HashMap::new(),
    };
    for iuv in iuvs {
        if let Some(p) = store.pendenza(dominio, iuv).await? {
            let voci = p
                .voci
                .iter()
                .enumerate()
                .map(|(i, v)| (u8::try_from(i + 1).unwrap_or(u8::MAX), v.importo))
                .collect();
            ev.positions.insert((*iuv).to_owned(), voci);
        }
        let ok: Vec<Ricevuta> = store
            .ricevute(dominio, iuv)
            .await?
            .into_iter()
            .filter(|r| r.esito_pagamento == EsitoPagamento::Ok)
            .collect();
        if !ok.is_empty() {
            ev.receipts.insert((*iuv).to_owned(), ok);
        }
        let settled = store.riscossioni(dominio, iuv).await?;
        if !settled.is_empty() {
            ev.settlements.insert((*iuv).to_owned(), settled);
        }
    }
    Ok(ev)
}

/// Matches `linee` against the store and writes the flow (header, lines, `raw`), marking the
/// earlier revisions of the same flow obsolete and moving their settlements to it. A flow
/// already stored under its key is left as it is.
pub async fn store_flow(
    store: &Store,
    config: &Config,
    flusso: Flusso,
    linee: Vec<Linea>,
    raw: Vec<u8>,
) -> Result<Settled, SettleError> {
    let dominio = flusso.key.dominio.clone();
    if config.dominio(&dominio).is_none() {
        return Err(SettleError::UnknownDomain(dominio));
    }
    let guard = store
        .fdr_lock(&scope(&dominio), true)
        .await?
        .ok_or_else(|| StoreError::Unavailable("reconciliation scope not granted".into()))?;
    let outcome = settle_locked(store, flusso, linee, raw).await;
    guard.release().await;
    outcome
}

async fn settle_locked(
    store: &Store,
    mut flusso: Flusso,
    mut linee: Vec<Linea>,
    raw: Vec<u8>,
) -> Result<Settled, SettleError> {
    if let Some(stored) = store.flusso(&flusso.key).await? {
        return Ok(Settled::AlreadyStored(stored));
    }
    let key = flusso.key.clone();
    let siblings: Vec<Flusso> = store
        .flussi_by_id(&key.dominio, &key.id_flusso)
        .await?
        .into_iter()
        .filter(|f| f.key.psp == key.psp)
        .collect();
    let superseded = siblings.iter().any(|f| f.key.revisione > key.revisione);
    let older: Vec<Flusso> = siblings
        .into_iter()
        .filter(|f| f.key.revisione < key.revisione && !f.obsoleto)
        .collect();
    let mut iuvs: BTreeSet<&str> = linee.iter().map(|l| l.iuv.as_str()).collect();
    let mut older_lines = Vec::new();
    if !superseded {
        for f in &older {
            older_lines.push(store.flusso_linee(&f.key).await?.unwrap_or_default());
        }
    }
    let older_iuvs: Vec<String> = older_lines
        .iter()
        .flatten()
        .map(|l| l.iuv.clone())
        .collect();
    iuvs.extend(older_iuvs.iter().map(String::as_str));
    let ev = evidence(store, &key.dominio, &iuvs).await?;
    fdr::reconcile(&mut flusso, &mut linee, &|iuv| Known {
        posizione: ev.positions.contains_key(iuv),
        voci: ev.positions.get(iuv).cloned().unwrap_or_default(),
        ricevute: ev
            .receipts
            .get(iuv)
            .map(|r| r.iter().collect())
            .unwrap_or_default(),
    });
    flusso.obsoleto = superseded;
    let mut write = FdrWrite::default();
    if !superseded {
        let existing: BTreeMap<_, &Riscossione> = ev
            .settlements
            .values()
            .flatten()
            .map(|r| (owned_key(r), r))
            .collect();
        let older_keys: BTreeSet<&FlowKey> = older.iter().map(|f| &f.key).collect();
        let mut written = BTreeSet::new();
        for linea in &linee {
            let Some(r) = settlement(&flusso, linea, &existing) else {
                continue;
            };
            // A transfer another flow (not an earlier revision of this one) already settled
            // keeps that settlement: the first report of a payment is the one the treasury
            // will see (the second shows in its flow's lines all the same).
            let elsewhere = existing.get(&owned_key(&r)).and_then(|e| e.flusso.as_ref());
            if elsewhere.is_some_and(|k| !older_keys.contains(k)) {
                continue;
            }
            written.insert(owned_key(&r));
            write.riscossioni.push(r);
        }
        for (k, r) in &existing {
            let from_older = r.flusso.as_ref().is_some_and(|f| older_keys.contains(f));
            if from_older && !written.contains(k) {
                write.riscossioni_removed.push(k.clone());
            }
        }
        for mut f in older {
            f.obsoleto = true;
            write.flows.push(StoredFlow {
                flusso: f,
                linee: None,
                raw: None,
            });
        }
    }
    let missing = linee
        .iter()
        .filter(|l| {
            l.segnalazioni
                .iter()
                .any(|s| s.codice == fdr::Anomalia::RicevutaAssente.codice())
        })
        .count();
    write.flows.push(StoredFlow {
        flusso: flusso.clone(),
        linee: Some(linee),
        raw: Some(raw),
    });
    store.fdr_write(&write).await?;
    store.sync().await?;
    if missing > 0 && !flusso.obsoleto {
        tracing::warn!(
            dominio = %key.dominio,
            flusso = %key.id_flusso,
            missing,
            "a settlement flow names payments Varco holds no receipt of (GET /api/ragioneria/v3/rendicontazioni?codice=007101)"
        );
    }
    Ok(Settled::Stored(flusso))
}

fn owned_key(r: &Riscossione) -> (String, String, String, u8) {
    (r.dominio.clone(), r.iuv.clone(), r.iur.clone(), r.indice)
}

/// The settlement a line gives its transfer: a line matched to a receipt, or one settled
/// without a receipt by nature for a position Varco holds. The treasury's verdict on an
/// earlier settlement of the same transfer is kept.
fn settlement(
    flusso: &Flusso,
    linea: &Linea,
    existing: &BTreeMap<(String, String, String, u8), &Riscossione>,
) -> Option<Riscossione> {
    let duplicate = linea
        .segnalazioni
        .iter()
        .any(|s| s.codice == fdr::Anomalia::LineaDuplicata.codice());
    let settles = !duplicate
        && (linea.ricevuta.is_some()
            || (linea.esito.without_receipt() && linea.stato == StatoLinea::Ok));
    if !settles {
        return None;
    }
    let key = (
        flusso.key.dominio.clone(),
        linea.iuv.clone(),
        linea.ricevuta.clone().unwrap_or_else(|| linea.iur.clone()),
        linea.transfer(),
    );
    let before = existing.get(&key);
    Some(Riscossione {
        dominio: key.0,
        iuv: key.1,
        iur: key.2,
        indice: key.3,
        importo: linea.importo,
        ricevuta: linea.ricevuta.clone(),
        esito: Some(linea.esito),
        flusso: Some(flusso.key.clone()),
        data_flusso: Some(flusso.data_ora_flusso),
        data: linea.data,
        stato: before.map_or(StatoRiscossione::Riscossa, |b| b.stato),
        incasso: before.and_then(|b| b.incasso.clone()),
    })
}
