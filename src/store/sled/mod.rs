//! The embedded engine, sled: the only module that knows it.
//!
//! The receipt path is one multi-tree transaction (receipt + position + outbox entry) followed
//! by a group-commit flush, so an acknowledged receipt survives `kill -9`. sled is pinned
//! (`=0.34.7`) and stays behind [`crate::store::Store`] so the engine can be replaced on
//! evidence.

pub mod commit;
mod copy;
pub mod fdr;
pub mod index;
pub mod journal;
pub mod keys;
mod migrate;
pub mod outbox;
pub mod position;
pub mod segments;

use crate::domain::{Attivazione, Pendenza, ReceiptStatus, Ricevuta};
use crate::store::{
    Planned, ReceiptApplied, ReceiptRule, Refused, Result, StoreError, UpsertItem, Upserted,
    planned_mismatch, same_key,
};
pub(crate) use crate::store::{decode, encode};
use chrono::{DateTime, Utc};
use commit::GroupCommit;
pub use position::{decode_position, encode_position};
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::TransactionalTree;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use std::path::Path;
use std::sync::Arc;

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

/// A finished transaction's result in the store's error type.
fn finish<T>(outcome: std::result::Result<T, TransactionError<StoreError>>) -> Result<T> {
    outcome.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    })
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

fn abort(e: impl Into<StoreError>) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e.into())
}

/// The directory of the event journal's segment files, inside the store's.
const JOURNAL_DIR: &str = "journal";

/// Cheap-to-clone handle to the store: one reference count, however many trees it holds
/// (a profile under verify load showed cloning and dropping a handle of a dozen `Arc`s at
/// 3.8 % of the server's CPU, as every request clones the router state).
#[derive(Debug, Clone)]
pub struct Sled(Arc<SledInner>);

impl std::ops::Deref for Sled {
    type Target = SledInner;
    fn deref(&self) -> &SledInner {
        &self.0
    }
}

/// The trees and helpers behind a [`Sled`] handle.
#[derive(Debug)]
pub struct SledInner {
    db: sled::Db,
    by_app: sled::Tree,
    counters: sled::Tree,
    positions: sled::Tree,
    receipts: sled::Tree,
    attempts: sled::Tree,
    outbox: sled::Tree,
    outbox_due: sled::Tree,
    app_recent: sled::Tree,
    app_counts: sled::Tree,
    debtors: sled::Tree,
    seen: sled::Tree,
    documents: sled::Tree,
    /// The event journal's segment files (`<dir>/journal/`).
    segments: segments::SegmentLog,
    fdr: fdr::FdrTrees,
    commit: GroupCommit,
    positions_count: Arc<PositionCount>,
}

/// The number of positions, counted once (on the first [`Sled::count_pendenze`]) and then
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

/// Every value of `tree` under `prefix`, decoded, in key order.
fn decode_prefix<T: DeserializeOwned>(tree: &sled::Tree, prefix: Vec<u8>) -> Result<Vec<T>> {
    tree.scan_prefix(prefix)
        .values()
        .map(|v| decode(&v?))
        .collect()
}

impl Sled {
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
            Some(v)
                if [
                    keys::SCHEMA_VERSION_1,
                    keys::SCHEMA_VERSION_2,
                    keys::SCHEMA_VERSION_3,
                ]
                .contains(&v.as_ref()) =>
            {
                if v.as_ref() == keys::SCHEMA_VERSION_1 {
                    migrate::v1_to_v2(&db)?;
                }
                if v.as_ref() != keys::SCHEMA_VERSION_3 {
                    migrate::v2_to_v3(&db)?;
                }
                migrate::v3_to_v4(&db)?;
                meta.insert(keys::META_SCHEMA, keys::SCHEMA_VERSION)?;
                db.flush()?;
            }
            Some(v) => return Err(StoreError::Layout(String::from_utf8_lossy(&v).into_owned())),
        }
        let segments = segments::SegmentLog::open(&dir.join(JOURNAL_DIR), segments::SEGMENT_BYTES)?;
        journal::migrate(&db.open_tree(keys::JOURNAL)?, &segments)?;
        // sled keeps its log in the file `db` of the directory (see commit.rs for why it is
        // synced again).
        let data_file = match std::fs::File::open(dir.join("db")) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(error = %e, "sled's log file cannot be opened: receipts are flushed but not fdatasynced");
                None
            }
        };
        let commit = GroupCommit::start(db.clone(), data_file)
            .map_err(|e| StoreError::Open(e.to_string()))?;
        Ok(Self(Arc::new(SledInner {
            positions: db.open_tree(keys::POSITIONS)?,
            by_app: db.open_tree(keys::BY_APP)?,
            counters: db.open_tree(keys::COUNTERS)?,
            receipts: db.open_tree(keys::RECEIPTS)?,
            attempts: db.open_tree(keys::ATTEMPTS)?,
            outbox: db.open_tree(keys::OUTBOX)?,
            outbox_due: db.open_tree(keys::OUTBOX_DUE)?,
            app_recent: db.open_tree(keys::APP_RECENT)?,
            app_counts: db.open_tree(keys::APP_COUNTS)?,
            debtors: db.open_tree(keys::DEBTORS)?,
            seen: db.open_tree(keys::SEEN)?,
            documents: db.open_tree(keys::DOCUMENTS)?,
            segments,
            fdr: fdr::FdrTrees::open(&db)?,
            db,
            commit,
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
        self.segments.sync()?;
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
        Ok(self.db.size_on_disk()? + self.segments.size_on_disk())
    }

    /// A position.
    pub fn pendenza(&self, dominio: &str, iuv: &str) -> Result<Option<Pendenza>> {
        self.positions
            .get(keys::position(dominio, iuv))?
            .map(|v| decode_position(&v))
            .transpose()
    }

    /// Writes a position over whatever is stored under its key (tools and tests; the request
    /// paths use the conditional writes). Not yet durable: call [`Sled::sync`].
    pub fn put_pendenza(&self, p: &Pendenza) -> Result<()> {
        let pkey = keys::position(&p.dominio, &p.iuv);
        let outcome = (
            &self.positions,
            &self.app_recent,
            &self.app_counts,
            &self.debtors,
            &self.documents,
        )
            .transaction(|(positions, recent, counts, debtors, documents)| {
                let old: Option<Pendenza> = positions
                    .get(&pkey)?
                    .map(|v| decode_position(&v))
                    .transpose()
                    .map_err(abort)?;
                let derived = index::Derived {
                    recent,
                    counts: Some(counts),
                    debtors,
                    documents: Some(documents),
                };
                index::write_position(positions, &derived, old.as_ref(), p)?;
                Ok(old.is_none())
            });
        let created = finish(outcome)?;
        self.positions_count.add(u64::from(created));
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
        let outcome = (
            &self.positions,
            &self.by_app,
            &self.app_recent,
            &self.app_counts,
            &self.debtors,
            &self.documents,
        )
            .transaction(|(positions, by_app, recent, counts, debtors, documents)| {
                if positions.get(&pkey)?.is_some() {
                    return Ok(false);
                }
                if let Some(akey) = &akey {
                    if by_app.get(akey)?.is_some() {
                        return Ok(false);
                    }
                    by_app.insert(akey.as_slice(), pkey.as_slice())?;
                }
                let derived = index::Derived {
                    recent,
                    counts: Some(counts),
                    debtors,
                    documents: Some(documents),
                };
                index::write_position(positions, &derived, None, p)?;
                Ok(true)
            });
        let written = finish(outcome)?;
        self.positions_count.add(u64::from(written));
        Ok(written)
    }

    /// The options of a document, by IUV.
    pub fn documento(&self, dominio: &str, identificativo: &str) -> Result<Vec<Pendenza>> {
        let Some(v) = self
            .documents
            .get(keys::document(dominio, identificativo))?
        else {
            return Ok(Vec::new());
        };
        let iuvs: Vec<String> = decode(&v)?;
        let mut options = Vec::with_capacity(iuvs.len());
        for iuv in iuvs {
            options.extend(self.pendenza(dominio, &iuv)?);
        }
        Ok(options)
    }

    /// A position by its owning application's id.
    pub fn pendenza_of_app(&self, id_a2a: &str, id_pendenza: &str) -> Result<Option<Pendenza>> {
        match self.by_app.get(keys::app_position(id_a2a, id_pendenza))? {
            Some(pkey) => self
                .positions
                .get(pkey)?
                .map(|v| decode_position(&v))
                .transpose(),
            None => Ok(None),
        }
    }

    /// Creates or updates positions of applications, atomically for the whole batch. Each
    /// item's rule sees the stored position (or an earlier item's write in the same batch);
    /// refusals are per item and do not abort the batch. Not durable until [`Sled::sync`].
    pub fn upsert_batch<E: Clone>(
        &self,
        items: &[UpsertItem<'_, E>],
    ) -> Result<Vec<std::result::Result<Upserted, Refused<E>>>> {
        let outcome = (
            &self.positions,
            &self.by_app,
            &self.counters,
            &self.app_recent,
            &self.app_counts,
            &self.seen,
            &self.debtors,
            &self.documents,
        )
            .transaction(
                |(positions, by_app, counters, recent, counts, seen, debtors, documents)| {
                    let t = UpsertTrees {
                        positions,
                        by_app,
                        counters,
                        derived: index::Derived {
                            recent,
                            counts: Some(counts),
                            debtors,
                            documents: Some(documents),
                        },
                        seen,
                    };
                    items
                        .iter()
                        .map(|item| upsert_one(&t, item))
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
        let trees = (&self.positions, &self.app_recent, &self.debtors);
        let outcome = trees.transaction(|(positions, recent, debtors)| {
            let Some(bytes) = positions.get(&key)? else {
                return Ok(None);
            };
            let current = decode_position(&bytes).map_err(abort)?;
            match change(&current) {
                Ok(Some(next)) => {
                    same_key(&current, &next).map_err(abort)?;
                    let derived = index::Derived {
                        recent,
                        counts: None,
                        debtors,
                        documents: None,
                    };
                    index::write_position(positions, &derived, Some(&current), &next)?;
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

    /// A position's activation attempts, oldest first (a full read: tools and tests).
    pub fn attempts(&self, dominio: &str, iuv: &str) -> Result<Vec<Attivazione>> {
        decode_prefix(&self.attempts, keys::position_children(dominio, iuv))
    }

    /// A page of a position's activation attempts, newest first: `skip` passed over, at most
    /// `take` returned, and whether more follow.
    pub fn attempts_page(
        &self,
        dominio: &str,
        iuv: &str,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<Attivazione>, bool)> {
        let mut newest_first = self
            .attempts
            .scan_prefix(keys::position_children(dominio, iuv))
            .values()
            .rev()
            .skip(skip);
        let mut page = Vec::with_capacity(take.min(64));
        for v in newest_first.by_ref().take(take) {
            page.push(decode(&v?)?);
        }
        Ok((page, newest_first.next().is_some()))
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
        decode_prefix(&self.receipts, keys::position_children(dominio, iuv))
    }

    /// Stores a receipt, updates its position and queues it for the gestionale, atomically.
    ///
    /// `rule` decides the position's new content and the receipt's status from what is
    /// stored: it is shown the position only when it holds the receipt's notice number (a
    /// position under the same IUV with another aux digit is another notice). A receipt whose
    /// receiptId is already stored changes nothing. `undeliverable` says why the owning
    /// application (if any) cannot receive it: such an entry is written already parked (dead,
    /// with the reason) instead of queued. A receipt for a notice Varco holds no position of is
    /// remembered in `seen`, so no counter hands that number out later. The write is not
    /// durable until [`Sled::sync`] returns.
    pub fn apply_receipt(
        &self,
        ricevuta: Ricevuta,
        rule: ReceiptRule<'_>,
        undeliverable: &dyn Fn(Option<&str>) -> Option<String>,
        now: DateTime<Utc>,
    ) -> Result<ReceiptApplied> {
        let rkey = keys::receipt(&ricevuta.dominio, &ricevuta.iuv, &ricevuta.receipt_id);
        let pkey = keys::position(&ricevuta.dominio, &ricevuta.iuv);
        let outcome = (
            &self.receipts,
            &self.positions,
            &self.outbox,
            &self.outbox_due,
            &self.app_recent,
            &self.seen,
            &self.debtors,
            &self.documents,
        )
            .transaction(
                |(receipts, positions, outbox, outbox_due, recent, seen, debtors, documents)| {
                    let stored: Option<Pendenza> = positions
                        .get(&pkey)?
                        .map(|v| decode_position(&v))
                        .transpose()
                        .map_err(abort)?;
                    let pendenza = stored
                        .as_ref()
                        .filter(|p| p.numero_avviso == ricevuta.numero_avviso);
                    let owner = pendenza.map(Pendenza::owner);
                    if let Some(existing) = receipts.get(&rkey)? {
                        let existing: Ricevuta = decode(&existing).map_err(abort)?;
                        return Ok(ReceiptApplied {
                            status: existing.stato,
                            repeated: true,
                            owner,
                        });
                    }
                    // The other options of its document, read inside the transaction: sled runs
                    // transactions one at a time, so two receipts of one document never both
                    // see it unpaid.
                    let mut siblings = Vec::new();
                    if let Some(d) = pendenza.and_then(|p| p.dettagli.documento.as_ref()) {
                        let key = keys::document(&ricevuta.dominio, &d.identificativo);
                        for iuv in index::document_members(documents, &key)? {
                            if iuv == ricevuta.iuv {
                                continue;
                            }
                            if let Some(v) =
                                positions.get(keys::position(&ricevuta.dominio, &iuv))?
                            {
                                siblings.push(decode_position(&v).map_err(abort)?);
                            }
                        }
                    }
                    let (updated, status) = rule(pendenza, &siblings, &ricevuta);
                    let mut receipt = ricevuta.clone();
                    receipt.stato = status.clone();
                    receipts.insert(rkey.as_slice(), encode(&receipt).map_err(abort)?)?;
                    match (&updated, pendenza) {
                        (Some(next), Some(old)) => {
                            let derived = index::Derived {
                                recent,
                                counts: None,
                                debtors,
                                documents: None,
                            };
                            index::write_position(positions, &derived, Some(old), next)?;
                        }
                        (Some(_), None) => {
                            return Err(abort(StoreError::Invariant(
                                "a receipt rule may only change the position of its own notice"
                                    .into(),
                            )));
                        }
                        (None, _) => {}
                    }
                    if stored.is_none() {
                        seen.insert(pkey.as_slice(), &[])?;
                    }
                    if !matches!(status, ReceiptStatus::Rifiutata { .. }) {
                        let id = outbox.generate_id()?;
                        let entry = crate::store::receipt_entry(
                            id,
                            &receipt,
                            pendenza.and_then(|p| p.id_a2a.clone()),
                            undeliverable,
                            now,
                        );
                        outbox::write_entry(outbox, outbox_due, None, Some(&entry))?;
                    }
                    Ok(ReceiptApplied {
                        status,
                        repeated: false,
                        owner,
                    })
                },
            );
        finish(outcome)
    }
}

impl Sled {
    /// A new outbox id (ids only grow).
    fn outbox_id(&self) -> Result<u64> {
        Ok(self.db.generate_id()?)
    }

    /// Sets the last reference a domain's counter handed out (a copy; tests: an exhausted
    /// counter).
    pub(crate) fn set_counter(&self, dominio: &str, segregation: &str, last: u64) -> Result<()> {
        self.counters
            .insert(keys::counter(dominio, segregation), &last.to_be_bytes())?;
        Ok(())
    }
}

/// The trees an upsert writes, inside one transaction.
struct UpsertTrees<'a> {
    positions: &'a TransactionalTree,
    by_app: &'a TransactionalTree,
    counters: &'a TransactionalTree,
    derived: index::Derived<'a>,
    seen: &'a TransactionalTree,
}

/// One upsert inside a batch transaction.
fn upsert_one<E: Clone>(
    t: &UpsertTrees<'_>,
    item: &UpsertItem<'_, E>,
) -> TxResult<std::result::Result<Upserted, Refused<E>>> {
    let UpsertTrees {
        positions,
        by_app,
        counters,
        derived,
        seen,
    } = t;
    let app_key = keys::app_position(item.id_a2a, item.id_pendenza);
    let existing: Option<Pendenza> = match by_app.get(&app_key)? {
        Some(pkey) => positions
            .get(pkey)?
            .map(|v| decode_position(&v))
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
            same_key(&old, &p).map_err(abort)?;
            index::write_position(positions, derived, Some(&old), &p)?;
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
                // Skip every number Varco has seen: references a gestionale already used with
                // its own numbers, and notices known only from a receipt (stand-in, broadcast).
                let nav = loop {
                    next += 1;
                    if next >= 10u64.pow(13) {
                        return Err(abort(StoreError::Invariant(format!(
                            "IUV references exhausted for {}/{seg}",
                            pendenza.dominio
                        ))));
                    }
                    let nav = crate::domain::NoticeNumber::aux3(&seg, next);
                    let key = keys::position(&pendenza.dominio, nav.iuv());
                    if positions.get(&key)?.is_none() && seen.get(&key)?.is_none() {
                        break nav;
                    }
                };
                counters.insert(ckey, &next.to_be_bytes())?;
                pendenza.iuv = nav.iuv().to_owned();
                pendenza.numero_avviso = nav.as_str().to_owned();
            } else if let Some(held) =
                positions.get(keys::position(&pendenza.dominio, &pendenza.iuv))?
            {
                let holder = decode_position(&held).map_err(abort)?;
                return Ok(Err(Refused::NoticeTaken {
                    numero_avviso: pendenza.numero_avviso,
                    holder: holder.owner(),
                }));
            }
            let pkey = keys::position(&pendenza.dominio, &pendenza.iuv);
            index::write_position(positions, derived, None, &pendenza)?;
            by_app.insert(app_key, pkey)?;
            Ok(Ok(Upserted::Created(pendenza)))
        }
        // A rule that planned against a different state than the one it was shown.
        (planned, existing) => Err(abort(planned_mismatch(&planned, existing.is_some()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{OutboxState, ReceiptVersion, Stato};

    pub(crate) fn sample_pendenza() -> Pendenza {
        let config = crate::config::Config::demo();
        let nav = crate::domain::NoticeNumber::aux3("01", 1);
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
            esito_pagamento: crate::domain::EsitoPagamento::Ok,
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
            versante: None,
            received_at: Utc::now(),
            stato: ReceiptStatus::Accettata,
            xml: "<x/>".into(),
        }
    }

    fn close(
        p: Option<&Pendenza>,
        _: &[Pendenza],
        _r: &Ricevuta,
    ) -> (Option<Pendenza>, ReceiptStatus) {
        let mut p = p.cloned();
        if let Some(p) = &mut p {
            p.stato = Stato::Eseguita;
        }
        (p, ReceiptStatus::Accettata)
    }

    #[tokio::test]
    async fn a_receipt_is_stored_once_with_its_outbox_entry() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path(), 16).unwrap();
        store.put_pendenza(&sample_pendenza()).unwrap();
        let now = Utc::now();
        let first = store
            .apply_receipt(sample_ricevuta("r1"), &close, &|_| None, now)
            .unwrap();
        let owner = Some(sample_pendenza().owner());
        assert_eq!(
            first,
            ReceiptApplied {
                status: ReceiptStatus::Accettata,
                repeated: false,
                owner: owner.clone()
            }
        );
        let again = store
            .apply_receipt(sample_ricevuta("r1"), &close, &|_| None, now)
            .unwrap();
        assert_eq!(
            again,
            ReceiptApplied {
                status: ReceiptStatus::Accettata,
                repeated: true,
                owner
            }
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
        let store = Sled::open(dir.path(), 16).unwrap();
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
            Err(Refused::NoticeTaken {
                numero_avviso: "301000000000000144".into(),
                holder: sample_pendenza().owner(),
            })
        );
        assert_eq!(
            store
                .pendenza_of_app("demo", "b")
                .unwrap()
                .unwrap()
                .numero_avviso,
            "301000000000000346"
        );
        let listed = |app: &str| {
            store
                .list_pendenze(
                    app,
                    &crate::store::index::Filter::default(),
                    Utc::now(),
                    0,
                    10,
                    true,
                )
                .unwrap()
        };
        // The two created, and the one written with put_pendenza.
        assert_eq!(listed("demo").total, Some(3));
        assert_eq!(listed("dem").total, Some(0));
    }

    #[test]
    fn the_position_count_follows_the_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path(), 16).unwrap();
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
            let store = Sled::open(dir.path(), 16).unwrap();
            store.put_pendenza(&sample_pendenza()).unwrap();
            store.sync().await.unwrap();
        }
        let store = Sled::open(dir.path(), 16).unwrap();
        assert!(
            store
                .pendenza("77777777777", "01000000000000144")
                .unwrap()
                .is_some()
        );
        assert!(!store.insert_pendenza(&sample_pendenza()).unwrap());
    }

    fn created(id: &str, reference: u64, at: DateTime<Utc>) -> Pendenza {
        let mut p = sample_pendenza();
        let nav = crate::domain::NoticeNumber::aux3("01", reference);
        p.iuv = nav.iuv().to_owned();
        p.numero_avviso = nav.as_str().to_owned();
        p.id_pendenza = Some(id.into());
        p.created_at = at;
        p
    }

    #[test]
    fn listings_walk_the_index_newest_first_and_follow_every_write() {
        use chrono::TimeZone;
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path(), 16).unwrap();
        let day = |d: u32| Utc.with_ymd_and_hms(2026, 5, d, 10, 0, 0).unwrap();
        for d in 1..=9u32 {
            let mut p = created(&format!("p{d}"), u64::from(d), day(d));
            if d % 3 == 0 {
                p.soggetto.identificativo = "VRDGPP70B02F205X".into();
            }
            assert!(store.insert_pendenza(&p).unwrap());
        }
        let now = day(20);
        let ids = |page: &crate::store::index::Page| -> Vec<String> {
            page.pendenze
                .iter()
                .map(|p| p.id_pendenza.clone().unwrap())
                .collect()
        };
        let all = crate::store::index::Filter::default();
        let first = store.list_pendenze("demo", &all, now, 0, 4, true).unwrap();
        assert_eq!(ids(&first), ["p9", "p8", "p7", "p6"]);
        assert_eq!((first.total, first.more), (Some(9), true));
        let last = store.list_pendenze("demo", &all, now, 8, 4, false).unwrap();
        assert_eq!(
            (ids(&last), last.total, last.more),
            (vec!["p1".to_string()], None, false)
        );
        // Days bound the walk; the debtor is matched in any case.
        let window = crate::store::index::Filter {
            da: Some(day(3)),
            a: Some(day(6)),
            debitore: Some("vrdgpp70b02f205x".into()),
            ..Default::default()
        };
        let found = store
            .list_pendenze("demo", &window, now, 0, 10, true)
            .unwrap();
        assert_eq!(
            (ids(&found), found.total),
            (vec!["p6".to_string(), "p3".to_string()], Some(2))
        );
        // A receipt and a state change are seen by the next listing.
        store
            .apply_receipt(
                {
                    let mut r = sample_ricevuta("r-p2");
                    let p2 = store.pendenza_of_app("demo", "p2").unwrap().unwrap();
                    r.iuv = p2.iuv.clone();
                    r.numero_avviso = p2.numero_avviso.clone();
                    r
                },
                &close,
                &|_| None,
                now,
            )
            .unwrap();
        let p5 = store.pendenza_of_app("demo", "p5").unwrap().unwrap();
        store
            .update_pendenza(&p5.dominio, &p5.iuv, &|p| -> std::result::Result<_, ()> {
                let mut next = p.clone();
                next.stato = Stato::Annullata;
                Ok(Some(next))
            })
            .unwrap();
        let state = |s| crate::store::index::Filter {
            stato: Some(crate::store::index::StatoFiltro::Stato(s)),
            ..Default::default()
        };
        use crate::domain::StatoEffettivo as S;
        let paid = store
            .list_pendenze("demo", &state(S::Eseguita), now, 0, 10, true)
            .unwrap();
        assert_eq!(ids(&paid), ["p2"]);
        let cancelled = store
            .list_pendenze("demo", &state(S::Annullata), now, 0, 10, true)
            .unwrap();
        assert_eq!(ids(&cancelled), ["p5"]);
        let open = store
            .list_pendenze("demo", &state(S::NonEseguita), now, 0, 10, true)
            .unwrap();
        assert_eq!(open.total, Some(7));
        assert_eq!(store.app_recent.len(), 9);
    }

    #[test]
    fn the_debtor_index_follows_every_write() {
        use crate::store::index::{DebtorTerm, Filter, StatoFiltro};
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path(), 16).unwrap();
        let now = Utc::now();
        let total = |term: DebtorTerm, filter: &Filter| {
            store
                .search_debtor(&term, filter, now, 0, 10, true)
                .unwrap()
                .total
        };
        let all = Filter::default();
        let rossi = || DebtorTerm::Fiscale("RSSMRA80A01H501U".into());
        let verdi = || DebtorTerm::Fiscale("VRDGPP70B02F205X".into());
        assert!(store.insert_pendenza(&sample_pendenza()).unwrap());
        assert_eq!(total(rossi(), &all), Some(1));
        assert_eq!(store.debtors.len(), 3, "the code, mario, rossi");
        // An upsert that changes the debtor.
        let to_verdi = |stored: Option<&Pendenza>| -> std::result::Result<Planned, String> {
            let mut p = stored.unwrap().clone();
            p.soggetto.identificativo = "VRDGPP70B02F205X".into();
            p.soggetto.anagrafica = "Giuseppe Verdi".into();
            Ok(Planned::Write(p))
        };
        store
            .upsert_batch(&[UpsertItem {
                id_a2a: "demo",
                id_pendenza: "p1",
                rule: &to_verdi,
            }])
            .unwrap()
            .remove(0)
            .unwrap();
        assert_eq!(total(rossi(), &all), Some(0));
        assert_eq!(total(DebtorTerm::Nome("mario".into()), &all), Some(0));
        assert_eq!(total(verdi(), &all), Some(1));
        assert_eq!(store.debtors.len(), 3);
        // A receipt that pays it: the entries carry the new state.
        store
            .apply_receipt(sample_ricevuta("r1"), &close, &|_| None, now)
            .unwrap();
        let paid = Filter {
            stato: Some(StatoFiltro::Stato(crate::domain::StatoEffettivo::Eseguita)),
            ..Filter::default()
        };
        assert_eq!(total(verdi(), &paid), Some(1));
        assert_eq!(total(DebtorTerm::Nome("giuseppe".into()), &paid), Some(1));
        // A creation by upsert.
        let create = |_: Option<&Pendenza>| -> std::result::Result<Planned, String> {
            Ok(Planned::Create {
                pendenza: sample_pendenza(),
                generate: Some("01".into()),
            })
        };
        store
            .upsert_batch(&[UpsertItem {
                id_a2a: "demo",
                id_pendenza: "nuova",
                rule: &create,
            }])
            .unwrap();
        assert_eq!(total(rossi(), &all), Some(1));
        assert_eq!(total(rossi(), &paid), Some(0));
        assert_eq!(store.debtors.len(), 6);
    }

    #[test]
    fn generated_numbers_skip_notices_known_only_from_a_receipt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path(), 16).unwrap();
        // A stand-in receipt for reference 1 of segregation code 01, a notice Varco never held.
        let mut r = sample_ricevuta("stand-in");
        let nav = crate::domain::NoticeNumber::aux3("01", 1);
        r.iuv = nav.iuv().to_owned();
        r.numero_avviso = nav.as_str().to_owned();
        let applied = store
            .apply_receipt(r, &close, &|_| None, Utc::now())
            .unwrap();
        assert!(!applied.repeated);
        let create = |_: Option<&Pendenza>| -> std::result::Result<Planned, String> {
            Ok(Planned::Create {
                pendenza: sample_pendenza(),
                generate: Some("01".into()),
            })
        };
        let out = store
            .upsert_batch(&[UpsertItem {
                id_a2a: "demo",
                id_pendenza: "nuova",
                rule: &create,
            }])
            .unwrap();
        let Ok(Upserted::Created(p)) = &out[0] else {
            panic!("{out:?}")
        };
        assert_ne!(p.numero_avviso, nav.as_str());
        assert_eq!(
            p.numero_avviso,
            crate::domain::NoticeNumber::aux3("01", 2).as_str()
        );
    }

    #[test]
    fn a_receipt_goes_to_the_owner_of_its_own_notice_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path(), 16).unwrap();
        let p = sample_pendenza();
        store.put_pendenza(&p).unwrap();
        // Same IUV, other aux digit: another notice.
        let mut r = sample_ricevuta("other-aux");
        r.numero_avviso = format!("1{}", &p.numero_avviso[1..]);
        let owner_seen = std::cell::Cell::new(Some("unset".to_string()));
        let rule = |stored: Option<&Pendenza>, _: &[Pendenza], _: &Ricevuta| {
            assert!(
                stored.is_none(),
                "the rule must not be shown another notice's position"
            );
            (None, ReceiptStatus::Anomala { motivo: "x".into() })
        };
        store
            .apply_receipt(
                r,
                &rule,
                &|app| {
                    owner_seen.set(app.map(str::to_owned));
                    None
                },
                Utc::now(),
            )
            .unwrap();
        assert_eq!(owner_seen.take(), None);
        let entry = &store.outbox().unwrap()[0];
        assert_eq!(entry.id_a2a, None);
        assert_eq!(entry.stato, OutboxState::Dead);
        // The position of the other notice is untouched.
        assert_eq!(store.pendenza(&p.dominio, &p.iuv).unwrap().unwrap(), p);
    }

    #[test]
    fn a_failed_attempt_does_not_undo_a_resend_made_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path(), 16).unwrap();
        store.put_pendenza(&sample_pendenza()).unwrap();
        let now = Utc::now();
        store
            .apply_receipt(sample_ricevuta("r1"), &close, &|_| None, now)
            .unwrap();
        let started = store.outbox().unwrap().remove(0);
        assert_eq!(started.stato, OutboxState::Pending);
        // An operator re-sends it while the attempt is in flight.
        let later = now + chrono::Duration::seconds(5);
        store
            .update_outbox(started.id, &|e| {
                let mut e = e.clone();
                e.requeued_at = Some(later);
                e.next_attempt_at = later;
                Some(e)
            })
            .unwrap();
        let mut failed = started.clone();
        failed.tentativi += 1;
        failed.next_attempt_at = now + chrono::Duration::hours(1);
        assert!(!store.finish_delivery(&started, Some(&failed)).unwrap());
        let current = store.outbox_entry(started.id).unwrap().unwrap();
        assert_eq!((current.requeued_at, current.tentativi), (Some(later), 0));
        let due = store.outbox_due("demo", later, 10).unwrap();
        assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), [started.id]);
        // A delivery removes it even so.
        assert!(store.finish_delivery(&started, None).unwrap());
        assert!(store.outbox().unwrap().is_empty());
        assert!(store.outbox_due("demo", later, 10).unwrap().is_empty());
    }

    #[test]
    fn each_application_has_its_own_due_queue() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path(), 16).unwrap();
        let now = Utc::now();
        for (i, app) in ["lento", "lento", "lento", "svelto"].iter().enumerate() {
            let mut p = created(&format!("q{i}"), i as u64 + 1, now);
            p.id_a2a = Some(app.to_string());
            store.put_pendenza(&p).unwrap();
            let mut r = sample_ricevuta(&format!("r{i}"));
            r.iuv = p.iuv.clone();
            r.numero_avviso = p.numero_avviso.clone();
            store.apply_receipt(r, &close, &|_| None, now).unwrap();
        }
        assert_eq!(store.outbox_due("lento", now, 10).unwrap().len(), 3);
        assert_eq!(store.outbox_due("svelto", now, 10).unwrap().len(), 1);
        let queues = store.outbox_queues().unwrap();
        let names: Vec<&str> = queues.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(names, ["lento", "svelto"]);
        assert_eq!(
            queues.iter().map(|q| q.1).min(),
            Some(now.timestamp_millis())
        );
    }

    #[tokio::test]
    async fn a_layout_1_store_is_migrated_when_opened() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        {
            let store = Sled::open(dir.path(), 16).unwrap();
            store.insert_pendenza(&created("m1", 2, now)).unwrap();
            store.put_pendenza(&sample_pendenza()).unwrap();
            // A receipt of the held notice, queued; one of a notice never held.
            let p = sample_pendenza();
            let mut r = sample_ricevuta("held");
            r.iuv = p.iuv.clone();
            r.numero_avviso = p.numero_avviso.clone();
            store.apply_receipt(r, &close, &|_| None, now).unwrap();
            let mut r = sample_ricevuta("never-held");
            let nav = crate::domain::NoticeNumber::aux3("01", 40);
            r.iuv = nav.iuv().to_owned();
            r.numero_avviso = nav.as_str().to_owned();
            store.apply_receipt(r, &close, &|_| None, now).unwrap();
            // Back to layout 1: no indexes, no seen, the due index keyed by time alone.
            store.app_recent.clear().unwrap();
            store.debtors.clear().unwrap();
            store.seen.clear().unwrap();
            store.outbox_due.clear().unwrap();
            let entry = &store.outbox().unwrap()[0];
            let mut old_key = ((now.timestamp_millis() as u64) ^ (1 << 63))
                .to_be_bytes()
                .to_vec();
            old_key.extend_from_slice(&entry.id.to_be_bytes());
            store.outbox_due.insert(old_key, &[]).unwrap();
            let meta = store.db.open_tree(keys::META).unwrap();
            meta.insert(keys::META_SCHEMA, keys::SCHEMA_VERSION_1)
                .unwrap();
            store.sync().await.unwrap();
        }
        let store = Sled::open(dir.path(), 16).unwrap();
        let listed = store
            .list_pendenze(
                "demo",
                &crate::store::index::Filter::default(),
                now,
                0,
                10,
                true,
            )
            .unwrap();
        assert_eq!(listed.total, Some(2));
        let debtor = crate::store::index::DebtorTerm::Fiscale(
            sample_pendenza().soggetto.identificativo.to_lowercase(),
        );
        let found = store
            .search_debtor(
                &debtor,
                &crate::store::index::Filter::default(),
                now,
                0,
                10,
                true,
            )
            .unwrap();
        assert_eq!(found.total, Some(2));
        assert_eq!(store.seen.len(), 1);
        let queued = store.outbox_due("demo", now, 10).unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(store.outbox_due.len(), 1);
        let meta = store.db.open_tree(keys::META).unwrap();
        assert_eq!(
            meta.get(keys::META_SCHEMA).unwrap().as_deref(),
            Some(keys::SCHEMA_VERSION)
        );
    }

    #[tokio::test]
    async fn a_layout_2_store_gets_its_documents_index_and_positions_follow_their_document() {
        use crate::domain::documento::Documento;
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let option = |id: &str, n: u64, doc: &str| {
            let mut p = created(id, n, now);
            p.dettagli.documento = Some(Documento {
                identificativo: doc.into(),
                descrizione: "TARI".into(),
                rata: Some(n as u32),
                soglia: None,
                piano: None,
            });
            p
        };
        let (a, b, c) = (
            option("d1", 7, "DOC-1"),
            option("d2", 5, "DOC-1"),
            option("d3", 6, "DOC-2"),
        );
        {
            let store = Sled::open(dir.path(), 16).unwrap();
            for p in [&a, &b, &c] {
                assert!(store.insert_pendenza(p).unwrap());
            }
            let iuvs = |doc: &str| -> Vec<String> {
                store
                    .documento("77777777777", doc)
                    .unwrap()
                    .into_iter()
                    .map(|p| p.iuv)
                    .collect()
            };
            assert_eq!(iuvs("DOC-1"), [b.iuv.clone(), a.iuv.clone()], "by IUV");
            // Moving an option to another document, and out of any.
            let mut moved = b.clone();
            moved.dettagli.documento.as_mut().unwrap().identificativo = "DOC-2".into();
            store.put_pendenza(&moved).unwrap();
            assert_eq!(iuvs("DOC-1"), vec![a.iuv.clone()]);
            assert_eq!(iuvs("DOC-2"), [b.iuv.clone(), c.iuv.clone()]);
            moved.dettagli.documento = None;
            store.put_pendenza(&moved).unwrap();
            assert_eq!(iuvs("DOC-2"), vec![c.iuv.clone()]);
            // A write that may not change documents refuses to.
            let err = store
                .update_pendenza::<()>(&a.dominio, &a.iuv, &|p| {
                    let mut q = p.clone();
                    q.dettagli.documento = None;
                    Ok(Some(q))
                })
                .unwrap_err();
            assert!(err.to_string().contains("documents"), "{err}");
            // Back to layout 2: no documents tree.
            store.documents.clear().unwrap();
            let meta = store.db.open_tree(keys::META).unwrap();
            meta.insert(keys::META_SCHEMA, keys::SCHEMA_VERSION_2)
                .unwrap();
            store.sync().await.unwrap();
        }
        let store = Sled::open(dir.path(), 16).unwrap();
        let docs: Vec<Vec<String>> = ["DOC-1", "DOC-2"]
            .iter()
            .map(|d| {
                store
                    .documento("77777777777", d)
                    .unwrap()
                    .into_iter()
                    .map(|p| p.iuv)
                    .collect()
            })
            .collect();
        assert_eq!(docs, [vec![a.iuv.clone()], vec![c.iuv.clone()]]);
        assert_eq!(store.documents.len(), 2);
        let meta = store.db.open_tree(keys::META).unwrap();
        assert_eq!(
            meta.get(keys::META_SCHEMA).unwrap().as_deref(),
            Some(keys::SCHEMA_VERSION)
        );
    }
}
