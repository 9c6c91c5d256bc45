//! Moving a station between engines: every record of a store (positions, receipts, attempts,
//! outbox entries with their state, counters, notices seen, the journal, settlement flows,
//! settlements, treasury movements and the acquisition's bookkeeping) read from one store
//! and written to another, then both read again and compared table by table, by count and by
//! a checksum.
//!
//! The checksum of a table is the wrapping sum of the first 128 bits of the SHA-256 of each
//! record's JSON: independent of the order engines read in. Ids an engine assigns itself are
//! left out of it (an outbox entry's id and an event's id: the embedded engine numbers them
//! again when it is the target); everything else is compared.

use super::{Result, Store, StoreError};
use crate::domain::evento::Evento;
use crate::domain::fdr::{Flusso, Linea, Riconciliazione, Riscossione};
use crate::domain::{Attivazione, OutboxEntry, Pendenza, Ricevuta};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Records read or written per batch.
pub const BATCH: usize = 2000;

/// One record of a store, whichever the engine.
#[derive(Debug, Clone, Serialize)]
pub enum Record {
    /// A position.
    Position(Box<Pendenza>),
    /// A receipt.
    Receipt(Box<Ricevuta>),
    /// An activation attempt of a position.
    Attempt {
        /// Creditor.
        dominio: String,
        /// IUV.
        iuv: String,
        /// The attempt.
        attempt: Box<Attivazione>,
    },
    /// An outbox entry, in its state.
    Outbox(Box<OutboxEntry>),
    /// The last reference a domain's counter handed out for a segregation code.
    Counter {
        /// Creditor.
        dominio: String,
        /// Segregation code.
        segregation: String,
        /// Last reference used.
        last: u64,
    },
    /// A notice known only from a receipt.
    Seen {
        /// Creditor.
        dominio: String,
        /// IUV.
        iuv: String,
    },
    /// A journal event.
    Event(Box<Evento>),
    /// A settlement flow: header, matched lines, the document as received.
    Flow {
        /// Header.
        flusso: Box<Flusso>,
        /// Lines.
        linee: Vec<Linea>,
        /// The document as received.
        raw: Vec<u8>,
    },
    /// The settlement of one transfer.
    Settlement(Box<Riscossione>),
    /// A treasury movement.
    Movement(Box<Riconciliazione>),
    /// The acquisition's bookkeeping (cursors, failed flows, the last run).
    FdrMeta {
        /// Key.
        key: String,
        /// Value.
        value: Vec<u8>,
    },
}

/// The tables, in the order they are copied.
pub const TABLES: [&str; 11] = [
    "positions",
    "receipts",
    "attempts",
    "outbox",
    "counters",
    "seen",
    "journal",
    "fdr_flows",
    "fdr_settlements",
    "fdr_movements",
    "fdr_meta",
];

impl Record {
    /// The table of the record.
    pub fn table(&self) -> &'static str {
        match self {
            Record::Position(_) => "positions",
            Record::Receipt(_) => "receipts",
            Record::Attempt { .. } => "attempts",
            Record::Outbox(_) => "outbox",
            Record::Counter { .. } => "counters",
            Record::Seen { .. } => "seen",
            Record::Event(_) => "journal",
            Record::Flow { .. } => "fdr_flows",
            Record::Settlement(_) => "fdr_settlements",
            Record::Movement(_) => "fdr_movements",
            Record::FdrMeta { .. } => "fdr_meta",
        }
    }

    /// What the checksum covers: the record without the ids an engine assigns.
    fn fingerprint(&self) -> Result<Vec<u8>> {
        let bytes = match self {
            Record::Outbox(e) => {
                let mut e = (**e).clone();
                e.id = 0;
                serde_json::to_vec(&Record::Outbox(Box::new(e)))?
            }
            Record::Event(e) => {
                let mut e = (**e).clone();
                e.id = String::new();
                serde_json::to_vec(&Record::Event(Box::new(e)))?
            }
            other => serde_json::to_vec(other)?,
        };
        Ok(bytes)
    }
}

/// Count and checksum of each table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally(pub BTreeMap<&'static str, (u64, u128)>);

impl Tally {
    /// Adds one record.
    pub fn add(&mut self, r: &Record) -> Result<()> {
        let digest = Sha256::digest(r.fingerprint()?);
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        let entry = self.0.entry(r.table()).or_default();
        entry.0 += 1;
        entry.1 = entry.1.wrapping_add(u128::from_be_bytes(first));
        Ok(())
    }

    /// The records in all.
    pub fn records(&self) -> u64 {
        self.0.values().map(|(n, _)| n).sum()
    }

    /// One line per table: name, count, checksum (hex).
    pub fn lines(&self) -> Vec<String> {
        TABLES
            .iter()
            .map(|t| {
                let (n, sum) = self.0.get(t).copied().unwrap_or_default();
                format!("{t:<15} {n:>10} {sum:032x}")
            })
            .collect()
    }
}

/// What a copy did: the source's tally and the target's, read back after the copy.
#[derive(Debug, Clone)]
pub struct Copied {
    /// Read from the source.
    pub source: Tally,
    /// Read from the target afterwards.
    pub target: Tally,
}

/// What an export answers when the copy stopped taking its batches.
pub(crate) fn reader_gone() -> StoreError {
    StoreError::Invariant("the copy stopped reading".into())
}

impl Store {
    /// Every record, table by table, sent to `tx` in batches (the embedded engine reads on a
    /// blocking thread); reconciliation's records last, through the store's own reads.
    pub async fn export(&self, tx: tokio::sync::mpsc::Sender<Vec<Record>>) -> Result<()> {
        match &self.0.engine {
            super::Engine::Sled(s) => {
                let s = s.clone();
                let tx = tx.clone();
                tokio::task::spawn_blocking(move || {
                    s.export(&mut |batch| tx.blocking_send(batch).map_err(|_| reader_gone()))
                })
                .await
                .map_err(|e| StoreError::Engine(e.to_string()))??
            }
            super::Engine::Postgres(pg) => pg.export(&tx).await?,
        }
        self.export_fdr(&tx).await
    }

    async fn export_fdr(&self, tx: &tokio::sync::mpsc::Sender<Vec<Record>>) -> Result<()> {
        let send = |batch: Vec<Record>| async {
            if batch.is_empty() {
                return Ok(());
            }
            tx.send(batch).await.map_err(|_| reader_gone())
        };
        // Flows carry their lines and documents: a few per batch.
        let mut after = None;
        loop {
            let page = self.flussi_after(after.as_ref(), 16).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.key.clone());
            let mut batch = Vec::with_capacity(page.len());
            for f in page {
                let linee = self.flusso_linee(&f.key).await?.unwrap_or_default();
                let raw = self.flusso_raw(&f.key).await?.unwrap_or_default();
                batch.push(Record::Flow {
                    flusso: Box::new(f),
                    linee,
                    raw,
                });
            }
            send(batch).await?;
        }
        let mut after = None;
        loop {
            let page = self.riscossioni_after(after.as_ref(), BATCH).await?;
            let Some(last) = page.last() else { break };
            after = Some((
                last.dominio.clone(),
                last.iuv.clone(),
                last.iur.clone(),
                last.indice,
            ));
            send(
                page.into_iter()
                    .map(|r| Record::Settlement(Box::new(r)))
                    .collect(),
            )
            .await?;
        }
        let mut after = None;
        loop {
            let page = self.riconciliazioni_after(after.as_ref(), BATCH).await?;
            let Some(last) = page.last() else { break };
            after = Some((last.dominio.clone(), last.id.clone()));
            send(
                page.into_iter()
                    .map(|m| Record::Movement(Box::new(m)))
                    .collect(),
            )
            .await?;
        }
        let meta = self.fdr_meta_prefix("").await?;
        send(
            meta.into_iter()
                .map(|(key, value)| Record::FdrMeta { key, value })
                .collect(),
        )
        .await
    }

    /// Writes `batch` as it is (ids an engine assigns may be assigned again).
    pub async fn import(&self, batch: Vec<Record>) -> Result<()> {
        let (fdr, rest): (Vec<Record>, Vec<Record>) = batch
            .into_iter()
            .partition(|r| r.table().starts_with("fdr_"));
        if !rest.is_empty() {
            match &self.0.engine {
                super::Engine::Sled(s) => super::blocking(|| s.import(rest))?,
                super::Engine::Postgres(pg) => pg.import(rest).await?,
            }
        }
        let mut w = super::fdr::FdrWrite::default();
        for r in fdr {
            match r {
                Record::Flow { flusso, linee, raw } => w.flows.push(super::fdr::StoredFlow {
                    flusso: *flusso,
                    linee: Some(linee),
                    raw: Some(raw),
                }),
                Record::Settlement(r) => w.riscossioni.push(*r),
                Record::Movement(m) => w.riconciliazioni.push(*m),
                Record::FdrMeta { key, value } => w.meta.push((key, Some(value))),
                _ => {}
            }
        }
        self.fdr_write(&w).await
    }

    /// Whether the store holds any record (positions, receipts or outbox entries).
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.count_pendenze().await? == 0 && self.outbox_len().await? == 0)
    }

    /// The tally of every table.
    pub async fn tally(&self) -> Result<Tally> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let reader = self.clone();
        let export = tokio::spawn(async move { reader.export(tx).await });
        let mut tally = Tally::default();
        while let Some(batch) = rx.recv().await {
            for r in &batch {
                tally.add(r)?;
            }
        }
        export
            .await
            .map_err(|e| StoreError::Engine(e.to_string()))??;
        Ok(tally)
    }
}

/// Copies everything from `source` to `target` and reads both back. `target` must be empty
/// unless `into_non_empty`.
pub async fn copy(source: &Store, target: &Store, into_non_empty: bool) -> Result<Copied> {
    if !into_non_empty && !target.is_empty().await? {
        return Err(StoreError::Invariant(
            "the target store is not empty (pass --force to copy into it anyway)".into(),
        ));
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let reader = source.clone();
    let export = tokio::spawn(async move { reader.export(tx).await });
    let mut source_tally = Tally::default();
    while let Some(batch) = rx.recv().await {
        for r in &batch {
            source_tally.add(r)?;
        }
        target.import(batch).await?;
    }
    export
        .await
        .map_err(|e| StoreError::Engine(e.to_string()))??;
    target.sync().await?;
    target.flush_blocking()?;
    let target_tally = target.tally().await?;
    Ok(Copied {
        source: source_tally,
        target: target_tally,
    })
}
