//! The embedded store: the only module that knows sled.
//!
//! Callers see domain types and a handful of operations; the receipt path is one multi-tree
//! transaction (receipt + position + outbox entry) followed by a group-commit flush, so an
//! acknowledged receipt survives `kill -9`. sled is pinned (`=0.34.7`) and stays behind this
//! interface so the engine can be replaced on evidence.

pub mod commit;
pub mod journal;
pub mod keys;

use crate::domain::{Attivazione, OutboxEntry, OutboxState, Pendenza, ReceiptStatus, Ricevuta};
use chrono::{DateTime, Utc};
use commit::GroupCommit;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use std::sync::Arc;

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
    /// A write that would break an invariant of the store (exhausted counter, a rule that
    /// planned against a state it was not shown).
    #[error("store invariant: {0}")]
    Invariant(String),
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

/// What an upsert rule decides for a position given what is stored.
#[derive(Debug, Clone)]
pub enum Planned {
    /// Nothing to write (an identical request).
    Unchanged,
    /// Write this position (an update keeps its domain and IUV).
    Write(Pendenza),
    /// Create this position. With `generate` set, the IUV and notice number are drawn from the
    /// domain's counter for that segregation code; otherwise the position's own are used.
    Create {
        /// The position (iuv / numero_avviso ignored when generating).
        pendenza: Pendenza,
        /// Segregation code to generate an aux-3 notice number with.
        generate: Option<String>,
    },
}

/// The result of an accepted upsert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted {
    /// A new position.
    Created(Pendenza),
    /// An existing position changed.
    Updated(Pendenza),
    /// The request matched what is stored.
    Unchanged(Pendenza),
}

/// Why an upsert was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused<E> {
    /// The rule refused it.
    Rule(E),
    /// Another position of the domain already holds this notice number.
    NoticeTaken(String),
}

/// One item of [`Store::upsert_batch`].
pub struct UpsertItem<'a, E> {
    /// Owning application.
    pub id_a2a: &'a str,
    /// The application's id for the position.
    pub id_pendenza: &'a str,
    /// Decides from the stored position (if any).
    pub rule: &'a dyn Fn(Option<&Pendenza>) -> std::result::Result<Planned, E>,
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

/// A finished transaction's result in the store's error type.
fn finish<T>(outcome: std::result::Result<T, TransactionError<StoreError>>) -> Result<T> {
    outcome.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Engine(e),
    })
}

fn abort(e: impl Into<StoreError>) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e.into())
}

/// Cheap-to-clone handle to the store: one reference count, however many trees it holds
/// (a profile under verify load showed cloning and dropping a handle of a dozen `Arc`s at
/// 3.8 % of the server's CPU, as every request clones the router state).
#[derive(Debug, Clone)]
pub struct Store(Arc<StoreInner>);

impl std::ops::Deref for Store {
    type Target = StoreInner;
    fn deref(&self) -> &StoreInner {
        &self.0
    }
}

/// The trees and helpers behind a [`Store`] handle.
#[derive(Debug)]
pub struct StoreInner {
    db: sled::Db,
    by_app: sled::Tree,
    counters: sled::Tree,
    positions: sled::Tree,
    receipts: sled::Tree,
    attempts: sled::Tree,
    outbox: sled::Tree,
    outbox_due: sled::Tree,
    journal: sled::Tree,
    commit: GroupCommit,
    outbox_signal: Arc<tokio::sync::Notify>,
    positions_count: Arc<PositionCount>,
}

/// The number of positions, counted once (on the first [`Store::count_pendenze`]) and then
/// kept up to date by the writes that create positions, so `GET /metrics` does not scan the
/// whole tree on every scrape (a full scan took 2.6 s at 1M positions: BENCHMARKS.md).
/// Positions are never removed. A position created while the first count is scanning may be
/// counted twice: the figure is a gauge, exact whenever no write races the first count.
#[derive(Debug, Default)]
struct PositionCount {
    known: std::sync::atomic::AtomicBool,
    count: std::sync::atomic::AtomicU64,
    init: std::sync::Mutex<()>,
}

impl PositionCount {
    fn add(&self, n: u64) {
        use std::sync::atomic::Ordering::{AcqRel, Acquire};
        if n > 0 && self.known.load(Acquire) {
            self.count.fetch_add(n, AcqRel);
        }
    }
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
        Ok(Self(Arc::new(StoreInner {
            positions: db.open_tree(keys::POSITIONS)?,
            by_app: db.open_tree(keys::BY_APP)?,
            counters: db.open_tree(keys::COUNTERS)?,
            receipts: db.open_tree(keys::RECEIPTS)?,
            attempts: db.open_tree(keys::ATTEMPTS)?,
            outbox: db.open_tree(keys::OUTBOX)?,
            outbox_due: db.open_tree(keys::OUTBOX_DUE)?,
            journal: db.open_tree(keys::JOURNAL)?,
            db,
            commit,
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
            positions_count: Arc::new(PositionCount::default()),
        })))
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
        let old = self
            .positions
            .insert(keys::position(&p.dominio, &p.iuv), encode(p)?)?;
        self.positions_count.add(u64::from(old.is_none()));
        Ok(())
    }

    /// Writes a position only if none is stored under its key (and, when it names its
    /// application, under that application's id); true when written.
    pub fn insert_pendenza(&self, p: &Pendenza) -> Result<bool> {
        let pkey = keys::position(&p.dominio, &p.iuv);
        let akey = match (&p.id_a2a, &p.id_pendenza) {
            (Some(a), Some(id)) => Some(keys::app_position(a, id)),
            _ => None,
        };
        let value = encode(p)?;
        let outcome = (&self.positions, &self.by_app).transaction(|(positions, by_app)| {
            if positions.get(&pkey)?.is_some() {
                return Ok(false);
            }
            if let Some(akey) = &akey {
                if by_app.get(akey)?.is_some() {
                    return Ok(false);
                }
                by_app.insert(akey.as_slice(), pkey.as_slice())?;
            }
            positions.insert(pkey.as_slice(), value.as_slice())?;
            Ok(true)
        });
        let written = finish(outcome)?;
        self.positions_count.add(u64::from(written));
        Ok(written)
    }

    /// A position by its owning application's id.
    pub fn pendenza_of_app(&self, id_a2a: &str, id_pendenza: &str) -> Result<Option<Pendenza>> {
        match self.by_app.get(keys::app_position(id_a2a, id_pendenza))? {
            Some(pkey) => self.positions.get(pkey)?.map(|v| decode(&v)).transpose(),
            None => Ok(None),
        }
    }

    /// Every position of an application (in idPendenza byte order).
    pub fn pendenze_of_app(&self, id_a2a: &str) -> Result<Vec<Pendenza>> {
        let mut out = Vec::new();
        for entry in self.by_app.scan_prefix(keys::app_prefix(id_a2a)).values() {
            if let Some(v) = self.positions.get(entry?)? {
                out.push(decode(&v)?);
            }
        }
        Ok(out)
    }

    /// Creates or updates positions of applications, atomically for the whole batch. Each
    /// item's rule sees the stored position (or an earlier item's write in the same batch);
    /// refusals are per item and do not abort the batch. Not durable until [`Store::sync`].
    pub fn upsert_batch<E: Clone>(
        &self,
        items: &[UpsertItem<'_, E>],
    ) -> Result<Vec<std::result::Result<Upserted, Refused<E>>>> {
        let outcome = (&self.positions, &self.by_app, &self.counters).transaction(
            |(positions, by_app, counters)| {
                items
                    .iter()
                    .map(|item| upsert_one(positions, by_app, counters, item))
                    .collect::<TxResult<Vec<_>>>()
            },
        );
        let results = finish(outcome)?;
        self.positions_count.add(
            results
                .iter()
                .filter(|r| matches!(r, Ok(Upserted::Created(_))))
                .count() as u64,
        );
        Ok(results)
    }

    /// Changes a stored position with `change` (None = leave it), atomically.
    pub fn update_pendenza<E: Clone>(
        &self,
        dominio: &str,
        iuv: &str,
        change: &dyn Fn(&Pendenza) -> std::result::Result<Option<Pendenza>, E>,
    ) -> Result<Option<std::result::Result<Pendenza, E>>> {
        let key = keys::position(dominio, iuv);
        let outcome = self.positions.transaction(|positions| {
            let Some(bytes) = positions.get(&key)? else {
                return Ok(None);
            };
            let current: Pendenza = decode(&bytes).map_err(abort)?;
            match change(&current) {
                Ok(Some(next)) => {
                    positions.insert(key.as_slice(), encode(&next).map_err(abort)?)?;
                    Ok(Some(Ok(next)))
                }
                Ok(None) => Ok(Some(Ok(current))),
                Err(e) => Ok(Some(Err(e))),
            }
        });
        finish(outcome)
    }

    /// Number of stored positions: a full scan the first time, then kept by the writes (see
    /// [`PositionCount`]).
    pub fn count_pendenze(&self) -> usize {
        use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};
        let c = &self.positions_count;
        if !c.known.load(Acquire) {
            let _first = c.init.lock().unwrap_or_else(|e| e.into_inner());
            if !c.known.load(Acquire) {
                c.count.store(self.positions.len() as u64, Release);
                c.known.store(true, Release);
            }
        }
        c.count.fetch_add(0, AcqRel) as usize
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
    /// stored. A receipt whose receiptId is already stored changes nothing. `undeliverable`
    /// says why the owning application (if any) cannot receive it: such an entry is written
    /// already parked (dead, with the reason) instead of queued. The write is not durable until
    /// [`Store::sync`] returns.
    pub fn apply_receipt(
        &self,
        ricevuta: Ricevuta,
        rule: ReceiptRule<'_>,
        undeliverable: &dyn Fn(Option<&str>) -> Option<String>,
        now: DateTime<Utc>,
    ) -> Result<ReceiptApplied> {
        let rkey = keys::receipt(&ricevuta.dominio, &ricevuta.iuv, &ricevuta.receipt_id);
        let pkey = keys::position(&ricevuta.dominio, &ricevuta.iuv);
        // Whether the committed run of the transaction wrote a position where none was.
        let created = std::cell::Cell::new(false);
        let outcome = (
            &self.receipts,
            &self.positions,
            &self.outbox,
            &self.outbox_due,
        )
            .transaction(|(receipts, positions, outbox, outbox_due)| {
                created.set(false);
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
                created.set(pendenza.is_none() && updated.is_some());
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
                    let id_a2a = updated
                        .as_ref()
                        .or(pendenza.as_ref())
                        .and_then(|p| p.id_a2a.clone());
                    let parked = undeliverable(id_a2a.as_deref());
                    let entry = OutboxEntry {
                        id,
                        dominio: stored.dominio.clone(),
                        iuv: stored.iuv.clone(),
                        receipt_id: stored.receipt_id.clone(),
                        id_a2a,
                        stato: if parked.is_some() {
                            OutboxState::Dead
                        } else {
                            OutboxState::Pending
                        },
                        tentativi: 0,
                        created_at: now,
                        next_attempt_at: now,
                        last_error: parked,
                        requeued_at: None,
                    };
                    outbox.insert(
                        &keys::outbox(id),
                        encode(&entry).map_err(ConflictableTransactionError::Abort)?,
                    )?;
                    if entry.stato == OutboxState::Pending {
                        outbox_due.insert(&keys::outbox_due(now.timestamp_millis(), id), &[])?;
                    }
                }
                Ok(ReceiptApplied::Stored(status))
            });
        let applied = finish(outcome)?;
        self.positions_count.add(u64::from(created.get()));
        Ok(applied)
    }

    /// Outbox entries, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.outbox.iter().values().map(|v| decode(&v?)).collect()
    }

    /// One outbox entry.
    pub fn outbox_entry(&self, id: u64) -> Result<Option<OutboxEntry>> {
        self.outbox
            .get(keys::outbox(id))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Rewrites an outbox entry (delivery attempt recorded, parked, re-queued), keeping the
    /// due index in step: only pending entries are in it, under their next attempt time.
    pub fn put_outbox(&self, entry: &OutboxEntry) -> Result<()> {
        let value = encode(entry)?;
        let key = keys::outbox(entry.id);
        let outcome = (&self.outbox, &self.outbox_due).transaction(|(outbox, due)| {
            if let Some(old) = outbox.get(key)? {
                let old: OutboxEntry = decode(&old).map_err(abort)?;
                due.remove(&keys::outbox_due(
                    old.next_attempt_at.timestamp_millis(),
                    old.id,
                ))?;
            }
            outbox.insert(&key, value.as_slice())?;
            if entry.stato == OutboxState::Pending {
                due.insert(
                    &keys::outbox_due(entry.next_attempt_at.timestamp_millis(), entry.id),
                    &[],
                )?;
            }
            Ok(())
        });
        finish(outcome)
    }

    /// Removes a delivered entry.
    pub fn remove_outbox(&self, id: u64) -> Result<()> {
        let key = keys::outbox(id);
        let outcome = (&self.outbox, &self.outbox_due).transaction(|(outbox, due)| {
            if let Some(old) = outbox.remove(&key)? {
                let old: OutboxEntry = decode(&old).map_err(abort)?;
                due.remove(&keys::outbox_due(
                    old.next_attempt_at.timestamp_millis(),
                    old.id,
                ))?;
            }
            Ok(())
        });
        finish(outcome)
    }

    /// Pending entries due at `now`, earliest due first (then oldest), at most `limit`:
    /// a range scan of the due index, so dead and future entries cost nothing.
    pub fn outbox_due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxEntry>> {
        let end = keys::outbox_due(now.timestamp_millis(), u64::MAX);
        let mut out = Vec::new();
        for key in self.outbox_due.range(..=end.as_slice()).keys().take(limit) {
            let id = keys::outbox_due_id(&key?);
            if let Some(v) = self.outbox.get(keys::outbox(id))? {
                out.push(decode(&v)?);
            }
        }
        Ok(out)
    }

    /// When the earliest pending entry is due.
    pub fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .outbox_due
            .first()?
            .and_then(|(k, _)| DateTime::from_timestamp_millis(keys::outbox_due_millis(&k))))
    }

    /// Number of outbox entries (pending and dead).
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    /// Woken after a receipt (and its outbox entry) is durable, and on a manual retry.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.outbox_signal.clone()
    }
}

/// One upsert inside a batch transaction.
fn upsert_one<E: Clone>(
    positions: &sled::transaction::TransactionalTree,
    by_app: &sled::transaction::TransactionalTree,
    counters: &sled::transaction::TransactionalTree,
    item: &UpsertItem<'_, E>,
) -> TxResult<std::result::Result<Upserted, Refused<E>>> {
    let app_key = keys::app_position(item.id_a2a, item.id_pendenza);
    let existing: Option<Pendenza> = match by_app.get(&app_key)? {
        Some(pkey) => positions
            .get(pkey)?
            .map(|v| decode(&v))
            .transpose()
            .map_err(abort)?,
        None => None,
    };
    let planned = match (item.rule)(existing.as_ref()) {
        Ok(p) => p,
        Err(e) => return Ok(Err(Refused::Rule(e))),
    };
    match (planned, existing) {
        (Planned::Unchanged, Some(p)) => Ok(Ok(Upserted::Unchanged(p))),
        (Planned::Write(p), Some(old)) => {
            // An update never moves a position: its key stays.
            debug_assert_eq!((&p.dominio, &p.iuv), (&old.dominio, &old.iuv));
            positions.insert(
                keys::position(&old.dominio, &old.iuv),
                encode(&p).map_err(abort)?,
            )?;
            Ok(Ok(Upserted::Updated(p)))
        }
        (
            Planned::Create {
                mut pendenza,
                generate,
            },
            None,
        ) => {
            if let Some(seg) = generate {
                let ckey = keys::counter(&pendenza.dominio, &seg);
                let mut next = match counters.get(&ckey)? {
                    Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
                        abort(StoreError::Invariant("a counter is not 8 bytes".into()))
                    })?),
                    None => 0,
                };
                // Skip references a gestionale already used with its own numbers.
                let nav = loop {
                    next += 1;
                    if next >= 10u64.pow(13) {
                        return Err(abort(StoreError::Invariant(format!(
                            "IUV references exhausted for {}/{seg}",
                            pendenza.dominio
                        ))));
                    }
                    let nav = crate::notice::NoticeNumber::aux3(&seg, next);
                    if positions
                        .get(keys::position(&pendenza.dominio, nav.iuv()))?
                        .is_none()
                    {
                        break nav;
                    }
                };
                counters.insert(ckey, &next.to_be_bytes())?;
                pendenza.iuv = nav.iuv().to_owned();
                pendenza.numero_avviso = nav.as_str().to_owned();
            } else if positions
                .get(keys::position(&pendenza.dominio, &pendenza.iuv))?
                .is_some()
            {
                return Ok(Err(Refused::NoticeTaken(pendenza.numero_avviso)));
            }
            let pkey = keys::position(&pendenza.dominio, &pendenza.iuv);
            positions.insert(pkey.as_slice(), encode(&pendenza).map_err(abort)?)?;
            by_app.insert(app_key, pkey)?;
            Ok(Ok(Upserted::Created(pendenza)))
        }
        // A rule that planned against a different state than the one it was shown.
        (planned, existing) => Err(abort(StoreError::Invariant(format!(
            "upsert rule returned {} for a position that {}",
            match planned {
                Planned::Unchanged => "Unchanged",
                Planned::Write(_) => "Write",
                Planned::Create { .. } => "Create",
            },
            if existing.is_some() {
                "exists"
            } else {
                "does not exist"
            }
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ReceiptVersion, Stato};

    pub(crate) fn sample_pendenza() -> Pendenza {
        let config = crate::config::Config::demo();
        let nav = crate::notice::NoticeNumber::aux3("01", 1);
        let mut p = crate::demo::sample(&config, &nav, Utc::now());
        p.id_a2a = Some("demo".into());
        p.id_pendenza = Some("p1".into());
        p
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
            .apply_receipt(sample_ricevuta("r1"), &close, &|_| None, now)
            .unwrap();
        assert_eq!(first, ReceiptApplied::Stored(ReceiptStatus::Accettata));
        let again = store
            .apply_receipt(sample_ricevuta("r1"), &close, &|_| None, now)
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

    #[test]
    fn upserts_generate_unique_notice_numbers_and_refuse_taken_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16).unwrap();
        let create = |_: Option<&Pendenza>| -> std::result::Result<Planned, String> {
            Ok(Planned::Create {
                pendenza: sample_pendenza(),
                generate: Some("01".into()),
            })
        };
        // Reference 1 is taken by a position with a supplied number.
        store.put_pendenza(&sample_pendenza()).unwrap();
        let items = [
            UpsertItem {
                id_a2a: "demo",
                id_pendenza: "a",
                rule: &create,
            },
            UpsertItem {
                id_a2a: "demo",
                id_pendenza: "b",
                rule: &create,
            },
        ];
        let out = store.upsert_batch(&items).unwrap();
        let navs: Vec<String> = out
            .into_iter()
            .map(|r| match r.unwrap() {
                Upserted::Created(p) => p.numero_avviso,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(navs, ["301000000000000245", "301000000000000346"]);
        let supplied = |_: Option<&Pendenza>| -> std::result::Result<Planned, String> {
            Ok(Planned::Create {
                pendenza: sample_pendenza(),
                generate: None,
            })
        };
        let out = store
            .upsert_batch(&[UpsertItem {
                id_a2a: "demo",
                id_pendenza: "c",
                rule: &supplied,
            }])
            .unwrap();
        assert_eq!(
            out[0],
            Err(Refused::NoticeTaken("301000000000000144".into()))
        );
        assert_eq!(
            store
                .pendenza_of_app("demo", "b")
                .unwrap()
                .unwrap()
                .numero_avviso,
            "301000000000000346"
        );
        assert_eq!(store.pendenze_of_app("demo").unwrap().len(), 2);
        assert!(store.pendenze_of_app("dem").unwrap().is_empty());
    }

    #[test]
    fn the_position_count_follows_the_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16).unwrap();
        store.put_pendenza(&sample_pendenza()).unwrap();
        assert_eq!(store.count_pendenze(), 1);
        // The same key again is an update.
        store.put_pendenza(&sample_pendenza()).unwrap();
        assert!(!store.insert_pendenza(&sample_pendenza()).unwrap());
        assert_eq!(store.count_pendenze(), 1);
        let create = |_: Option<&Pendenza>| -> std::result::Result<Planned, String> {
            Ok(Planned::Create {
                pendenza: sample_pendenza(),
                generate: Some("01".into()),
            })
        };
        let items = [
            UpsertItem {
                id_a2a: "demo",
                id_pendenza: "a",
                rule: &create,
            },
            UpsertItem {
                id_a2a: "demo",
                id_pendenza: "b",
                rule: &create,
            },
        ];
        store.upsert_batch(&items).unwrap();
        // A rule planning a creation for a stored id aborts the whole batch: nothing counted.
        store.upsert_batch(&items[..1]).unwrap_err();
        let clone = store.clone();
        assert_eq!(clone.count_pendenze(), 3);
        assert_eq!(store.count_pendenze(), store.positions.len());
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
