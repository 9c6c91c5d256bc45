//! The embedded store: the only module that knows sled.
//!
//! Callers see domain types and a handful of operations; the receipt path is one multi-tree
//! transaction (receipt + position + outbox entry) followed by a group-commit flush, so an
//! acknowledged receipt survives `kill -9`. sled is pinned (`=0.34.7`) and stays behind this
//! interface so the engine can be replaced on evidence.

pub mod commit;
pub mod keys;

use crate::domain::{Attivazione, OutboxEntry, OutboxState, Pendenza, ReceiptStatus, Ricevuta};
use chrono::{DateTime, Utc};
use commit::GroupCommit;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine failed.
    #[error("store engine error: {0}")]
    Engine(#[from] sled::Error),
    /// A record could not be encoded or decoded.
    #[error("store record error: {0}")]
    Codec(#[from] serde_json::Error),
    /// The flush that makes writes durable failed.
    #[error("store flush failed: {0}")]
    Flush(String),
    /// The data directory holds a layout this version does not know.
    #[error("store layout version {0:?} is not supported")]
    Layout(String),
    /// Opening failed for another reason.
    #[error("cannot open the store: {0}")]
    Open(String),
}

/// Result alias.
pub type Result<T> = std::result::Result<T, StoreError>;

/// What happened to a receipt handed to [`Store::apply_receipt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptApplied {
    /// Newly stored with this verdict.
    Stored(ReceiptStatus),
    /// The same receiptId was already stored: nothing written; its earlier verdict.
    AlreadyStored(ReceiptStatus),
}

/// The verdict a receipt rule gives: the position's new content (if any) and the receipt's
/// status. It is a pure function of what is stored, because the transaction may run it again.
pub type ReceiptRule<'a> =
    &'a dyn Fn(Option<&Pendenza>, &Ricevuta) -> (Option<Pendenza>, ReceiptStatus);

/// Cheap-to-clone handle to the store.
#[derive(Debug, Clone)]
pub struct Store {
    db: sled::Db,
    positions: sled::Tree,
    receipts: sled::Tree,
    attempts: sled::Tree,
    outbox: sled::Tree,
    commit: GroupCommit,
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(bytes)?)
}

impl Store {
    /// Opens (or creates) the store in `dir`, with a page cache of `cache_mb` MiB.
    pub fn open(dir: &Path, cache_mb: u64) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
        let config = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_mb.saturating_mul(1024 * 1024))
            // Durability comes from our explicit flushes; the background flusher only
            // bounds how much unacknowledged work is pending.
            .flush_every_ms(Some(500));
        // sled's background threads release the directory lock shortly after the last handle
        // is dropped; a reopen within the same process waits for that instead of failing.
        let mut tries = 0;
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock") && tries < 50 =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(40));
                }
                other => break other?,
            }
        };
        let meta = db.open_tree(keys::META)?;
        match meta.get(keys::META_SCHEMA)? {
            None => {
                meta.insert(keys::META_SCHEMA, keys::SCHEMA_VERSION)?;
                db.flush()?;
            }
            Some(v) if v.as_ref() == keys::SCHEMA_VERSION => {}
            Some(v) => return Err(StoreError::Layout(String::from_utf8_lossy(&v).into_owned())),
        }
        let commit = GroupCommit::start(db.clone()).map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(Self {
            positions: db.open_tree(keys::POSITIONS)?,
            receipts: db.open_tree(keys::RECEIPTS)?,
            attempts: db.open_tree(keys::ATTEMPTS)?,
            outbox: db.open_tree(keys::OUTBOX)?,
            db,
            commit,
        })
    }

    /// Waits until every write made so far is on disk (shared flush).
    pub async fn sync(&self) -> Result<()> {
        self.commit.sync().await.map_err(StoreError::Flush)
    }

    /// Flushes now, blocking (startup and shutdown).
    pub fn flush_blocking(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// (flushes, waiters) served by the group commit so far.
    pub fn commit_stats(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (
            self.commit.stats.flushes.load(Relaxed),
            self.commit.stats.waiters.load(Relaxed),
        )
    }

    /// Bytes the store occupies on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.db.size_on_disk()?)
    }

    /// A position.
    pub fn pendenza(&self, dominio: &str, iuv: &str) -> Result<Option<Pendenza>> {
        self.positions
            .get(keys::position(dominio, iuv))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Writes a position (not yet durable: call [`Store::sync`] before acknowledging).
    pub fn put_pendenza(&self, p: &Pendenza) -> Result<()> {
        self.positions
            .insert(keys::position(&p.dominio, &p.iuv), encode(p)?)?;
        Ok(())
    }

    /// Writes a position only if none is stored under its key; true when written.
    pub fn insert_pendenza(&self, p: &Pendenza) -> Result<bool> {
        let swapped = self.positions.compare_and_swap(
            keys::position(&p.dominio, &p.iuv),
            None as Option<&[u8]>,
            Some(encode(p)?),
        )?;
        Ok(swapped.is_ok())
    }

    /// Number of stored positions.
    pub fn count_pendenze(&self) -> usize {
        self.positions.len()
    }

    /// Records an activation attempt (kept for operators; not acknowledged as durable).
    pub fn record_attempt(&self, dominio: &str, iuv: &str, a: &Attivazione) -> Result<()> {
        let id = self.db.generate_id()?;
        self.attempts
            .insert(keys::attempt(dominio, iuv, id), encode(a)?)?;
        Ok(())
    }

    /// A position's activation attempts, oldest first.
    pub fn attempts(&self, dominio: &str, iuv: &str) -> Result<Vec<Attivazione>> {
        self.attempts
            .scan_prefix(keys::position_children(dominio, iuv))
            .values()
            .map(|v| decode(&v?))
            .collect()
    }

    /// One receipt.
    pub fn ricevuta(&self, dominio: &str, iuv: &str, receipt_id: &str) -> Result<Option<Ricevuta>> {
        self.receipts
            .get(keys::receipt(dominio, iuv, receipt_id))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// A position's receipts (including ones stored without a position).
    pub fn ricevute(&self, dominio: &str, iuv: &str) -> Result<Vec<Ricevuta>> {
        self.receipts
            .scan_prefix(keys::position_children(dominio, iuv))
            .values()
            .map(|v| decode(&v?))
            .collect()
    }

    /// Stores a receipt, updates its position and queues it for the gestionale, atomically.
    ///
    /// `rule` decides the position's new content and the receipt's status from what is
    /// stored. A receipt whose receiptId is already stored changes nothing. The write is not
    /// durable until [`Store::sync`] returns.
    pub fn apply_receipt(
        &self,
        ricevuta: Ricevuta,
        rule: ReceiptRule<'_>,
        now: DateTime<Utc>,
    ) -> Result<ReceiptApplied> {
        let rkey = keys::receipt(&ricevuta.dominio, &ricevuta.iuv, &ricevuta.receipt_id);
        let pkey = keys::position(&ricevuta.dominio, &ricevuta.iuv);
        let outcome = (&self.receipts, &self.positions, &self.outbox).transaction(
            |(receipts, positions, outbox)| {
                if let Some(existing) = receipts.get(&rkey)? {
                    let existing: Ricevuta =
                        decode(&existing).map_err(ConflictableTransactionError::Abort)?;
                    return Ok(ReceiptApplied::AlreadyStored(existing.stato));
                }
                let pendenza: Option<Pendenza> = positions
                    .get(&pkey)?
                    .map(|v| decode(&v))
                    .transpose()
                    .map_err(ConflictableTransactionError::Abort)?;
                let (updated, status) = rule(pendenza.as_ref(), &ricevuta);
                let mut stored = ricevuta.clone();
                stored.stato = status.clone();
                receipts.insert(
                    rkey.as_slice(),
                    encode(&stored).map_err(ConflictableTransactionError::Abort)?,
                )?;
                if let Some(p) = &updated {
                    positions.insert(
                        pkey.as_slice(),
                        encode(p).map_err(ConflictableTransactionError::Abort)?,
                    )?;
                }
                if !matches!(status, ReceiptStatus::Rifiutata { .. }) {
                    let id = outbox.generate_id()?;
                    let entry = OutboxEntry {
                        id,
                        dominio: stored.dominio.clone(),
                        iuv: stored.iuv.clone(),
                        receipt_id: stored.receipt_id.clone(),
                        id_a2a: updated
                            .as_ref()
                            .or(pendenza.as_ref())
                            .and_then(|p| p.id_a2a.clone()),
                        stato: OutboxState::Pending,
                        tentativi: 0,
                        created_at: now,
                        next_attempt_at: now,
                        last_error: None,
                    };
                    outbox.insert(
                        &keys::outbox(id),
                        encode(&entry).map_err(ConflictableTransactionError::Abort)?,
                    )?;
                }
                Ok(ReceiptApplied::Stored(status))
            },
        );
        match outcome {
            Ok(v) => Ok(v),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Engine(e)),
        }
    }

    /// Outbox entries, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.outbox.iter().values().map(|v| decode(&v?)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ReceiptVersion, Soggetto, Stato};

    pub(crate) fn sample_pendenza() -> Pendenza {
        let now = Utc::now();
        Pendenza {
            dominio: "77777777777".into(),
            iuv: "01000000000000144".into(),
            numero_avviso: "301000000000000144".into(),
            id_a2a: Some("demo".into()),
            id_pendenza: Some("p1".into()),
            id_tipo_pendenza: "LIBERO".into(),
            causale: "Test".into(),
            soggetto: Soggetto {
                tipo: "F".into(),
                identificativo: "ANONIMO".into(),
                anagrafica: "Anon".into(),
                indirizzo: None,
                civico: None,
                cap: None,
                localita: None,
                provincia: None,
                nazione: None,
                email: None,
                cellulare: None,
            },
            importo: 100,
            data_validita: None,
            data_scadenza: None,
            voci: vec![],
            stato: Stato::NonEseguita,
            anomala: false,
            anomalie: vec![],
            ricevute: vec![],
            created_at: now,
            updated_at: now,
        }
    }

    fn sample_ricevuta(id: &str) -> Ricevuta {
        Ricevuta {
            dominio: "77777777777".into(),
            iuv: "01000000000000144".into(),
            receipt_id: id.into(),
            numero_avviso: "301000000000000144".into(),
            creditor_reference_id: "01000000000000144".into(),
            versione: ReceiptVersion::V2,
            esito_pagamento: "OK".into(),
            importo: 100,
            id_psp: "PSP".into(),
            psp_denominazione: "PSP".into(),
            id_canale: "C".into(),
            descrizione_canale: "C".into(),
            metodo_pagamento: None,
            data_pagamento: None,
            commissioni: None,
            stand_in: false,
            transfers: vec![],
            id_stazione: "77777777777_01".into(),
            received_at: Utc::now(),
            stato: ReceiptStatus::Accettata,
            xml: "<x/>".into(),
        }
    }

    fn close(p: Option<&Pendenza>, _r: &Ricevuta) -> (Option<Pendenza>, ReceiptStatus) {
        let mut p = p.cloned();
        if let Some(p) = &mut p {
            p.stato = Stato::Eseguita;
        }
        (p, ReceiptStatus::Accettata)
    }

    #[tokio::test]
    async fn a_receipt_is_stored_once_with_its_outbox_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16).unwrap();
        store.put_pendenza(&sample_pendenza()).unwrap();
        let now = Utc::now();
        let first = store
            .apply_receipt(sample_ricevuta("r1"), &close, now)
            .unwrap();
        assert_eq!(first, ReceiptApplied::Stored(ReceiptStatus::Accettata));
        let again = store
            .apply_receipt(sample_ricevuta("r1"), &close, now)
            .unwrap();
        assert_eq!(
            again,
            ReceiptApplied::AlreadyStored(ReceiptStatus::Accettata)
        );
        store.sync().await.unwrap();
        assert_eq!(store.outbox().unwrap().len(), 1);
        assert_eq!(store.outbox().unwrap()[0].id_a2a.as_deref(), Some("demo"));
        let p = store
            .pendenza("77777777777", "01000000000000144")
            .unwrap()
            .unwrap();
        assert_eq!(p.stato, Stato::Eseguita);
        assert_eq!(
            store
                .ricevute("77777777777", "01000000000000144")
                .unwrap()
                .len(),
            1
        );
        let (flushes, waiters) = store.commit_stats();
        assert!(flushes >= 1 && waiters >= 1);
    }

    #[tokio::test]
    async fn data_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), 16).unwrap();
            store.put_pendenza(&sample_pendenza()).unwrap();
            store.sync().await.unwrap();
        }
        let store = Store::open(dir.path(), 16).unwrap();
        assert!(
            store
                .pendenza("77777777777", "01000000000000144")
                .unwrap()
                .is_some()
        );
        assert!(!store.insert_pendenza(&sample_pendenza()).unwrap());
    }
}
