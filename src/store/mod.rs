//! The store: one interface ([`Store`]) over two engines with the same semantics, the embedded
//! [`sled`] (the default: nothing to install) and [`postgres`] (several nodes on one database).
//! Everything above this module talks to [`Store`] and its domain types only.
//!
//! The promises every engine keeps: a receipt, its position's change and its outbox entry are
//! one transaction, and [`Store::sync`] returns only once it is durable; a receipt id is stored
//! once and a position is paid once, whoever races; a notice number is handed out once and
//! never one Varco has seen in a receipt; the outbox is delivered by claims, so two workers
//! never send the same entry at the same time.
//!
//! Rules (what to write given what is stored) are closures run inside the engine's
//! transaction; an engine may run them again when it retries a transaction, so they are pure.

pub mod copy;
pub mod index;
pub mod journal;
pub mod postgres;
pub mod settings;
pub mod sled;

use crate::domain::{Attivazione, OutboxEntry, Owner, Pendenza, ReceiptStatus, Ricevuta};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use settings::{StoreConfig, StoreEngine};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine failed.
    #[error("store engine error: {0}")]
    Engine(String),
    /// The database did not answer within the request budget, or cannot be reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A transaction lost a race with another node's (a unique key taken meanwhile, a
    /// serialization failure, a deadlock): it is run again, never reported to a caller.
    #[error("store conflict: {0}")]
    Conflict(String),
    /// A record could not be encoded or decoded.
    #[error("store record error: {0}")]
    Codec(#[from] serde_json::Error),
    /// A record in a binary format (a position in the sled store) could not be encoded or
    /// decoded.
    #[error("store record error: {0}")]
    Record(String),
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
pub struct ReceiptApplied {
    /// The verdict: the new one, or the earlier one when `repeated`.
    pub status: ReceiptStatus,
    /// The same receiptId was already stored: nothing was written.
    pub repeated: bool,
    /// The owner of the position of the receipt's notice, when Varco holds it.
    pub owner: Option<Owner>,
}

/// The verdict a receipt rule gives: the position's new content (if any) and the receipt's
/// status. It is a pure function of what is stored, because the transaction may run it again.
/// Besides the position, it is shown the other options of the position's document (none when
/// it is in no document), read in the same transaction.
pub type ReceiptRule<'a> = &'a (
        dyn Fn(Option<&Pendenza>, &[Pendenza], &Ricevuta) -> (Option<Pendenza>, ReceiptStatus)
            + Sync
    );

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
    /// Another position of the domain already holds this notice number (its owner, when a
    /// gestionale loaded it).
    NoticeTaken {
        /// The notice number.
        numero_avviso: String,
        /// The position holding it.
        holder: crate::domain::Owner,
    },
}

/// One item of [`Store::upsert_batch`].
pub struct UpsertItem<'a, E> {
    /// Owning application.
    pub id_a2a: &'a str,
    /// The application's id for the position.
    pub id_pendenza: &'a str,
    /// Decides from the stored position (if any).
    pub rule: &'a (dyn Fn(Option<&Pendenza>) -> std::result::Result<Planned, E> + Sync),
}

/// An update never moves a position: its domain and IUV stay.
pub(crate) fn same_key(old: &Pendenza, new: &Pendenza) -> Result<()> {
    if (&new.dominio, &new.iuv) == (&old.dominio, &old.iuv) {
        Ok(())
    } else {
        Err(StoreError::Invariant(
            "an update may not move a position to another key".into(),
        ))
    }
}

/// The invariant an upsert rule broke when it planned against another state than the one it
/// was shown (an update of nothing, a creation over a stored position).
pub(crate) fn planned_mismatch(planned: &Planned, exists: bool) -> StoreError {
    StoreError::Invariant(format!(
        "upsert rule returned {} for a position that {}",
        match planned {
            Planned::Unchanged => "Unchanged",
            Planned::Write(_) => "Write",
            Planned::Create { .. } => "Create",
        },
        if exists { "exists" } else { "does not exist" }
    ))
}

/// A record as every engine stores it (JSON).
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value)?)
}

/// A stored record back.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    Ok(serde_json::from_slice(bytes)?)
}

/// The outbox entry of a receipt just stored (`id` drawn by the engine): queued for its
/// application now, or parked (dead, with the reason) when `undeliverable` says it cannot be
/// delivered or no application owns its notice.
pub(crate) fn receipt_entry(
    id: u64,
    receipt: &Ricevuta,
    id_a2a: Option<String>,
    undeliverable: &dyn Fn(Option<&str>) -> Option<String>,
    now: DateTime<Utc>,
) -> OutboxEntry {
    let parked = undeliverable(id_a2a.as_deref()).or_else(|| {
        id_a2a
            .is_none()
            .then(|| "the receipt belongs to no application".to_owned())
    });
    OutboxEntry {
        id,
        dominio: receipt.dominio.clone(),
        iuv: receipt.iuv.clone(),
        receipt_id: receipt.receipt_id.clone(),
        id_a2a,
        stato: if parked.is_some() {
            crate::domain::OutboxState::Dead
        } else {
            crate::domain::OutboxState::Pending
        },
        tentativi: 0,
        created_at: now,
        next_attempt_at: now,
        last_error: parked,
        requeued_at: None,
    }
}

/// The engine behind a [`Store`].
#[derive(Debug)]
enum Engine {
    Sled(sled::Sled),
    Postgres(postgres::Pg),
}

/// Cheap-to-clone handle to the store, whichever the engine (one reference count: every
/// request clones the router state that holds it).
#[derive(Debug, Clone)]
pub struct Store(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    engine: Engine,
    /// Woken after a receipt (and its outbox entry) is durable, and on a manual retry.
    outbox_signal: Arc<tokio::sync::Notify>,
    /// Longest a call to a database engine may take (the Nodo's caller gives up at 7 s).
    budget: Duration,
}

/// Runs a blocking engine call: off the async worker when on a multi-threaded runtime (sled's
/// long scans and batches), inline otherwise.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// One engine call, each engine its own way: sled inline, PostgreSQL within the budget.
macro_rules! on_engine {
    (@budget $self:ident) => { $self.0.budget };
    (@budget $self:ident, $budget:expr) => { $budget };
    ($self:ident, $sled:ident => $on_sled:expr, $pg:ident => $on_pg:expr $(, budget = $budget:expr)?) => {
        match &$self.0.engine {
            Engine::Sled($sled) => $on_sled,
            Engine::Postgres($pg) => {
                within(on_engine!(@budget $self $(, $budget)?), $on_pg).await
            }
        }
    };
}

pub mod fdr;

/// `work`, or [`StoreError::Unavailable`] once `budget` has passed (a frozen server never
/// answers, whatever its `statement_timeout`).
pub(crate) async fn within<T>(
    budget: Duration,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(budget, work).await {
        Ok(outcome) => outcome,
        Err(_) => Err(StoreError::Unavailable(format!(
            "no answer from the database within {} ms",
            budget.as_millis()
        ))),
    }
}

impl Store {
    fn with(engine: Engine, budget: Duration) -> Self {
        Self(Arc::new(Inner {
            engine,
            outbox_signal: Arc::new(tokio::sync::Notify::new()),
            budget,
        }))
    }

    /// Opens (or creates) an embedded store in `dir`, with a page cache of `cache_mb` MiB.
    pub fn open(dir: &Path, cache_mb: u64) -> Result<Self> {
        Ok(Self::with(
            Engine::Sled(sled::Sled::open(dir, cache_mb)?),
            Duration::MAX,
        ))
    }

    /// The store `config` names: the embedded one in its directory (opened off the async
    /// workers: sled reads its log), or a pool on PostgreSQL with the schema migrated.
    pub async fn connect(config: &StoreConfig) -> Result<Self> {
        match config.engine {
            StoreEngine::Sled => {
                let (dir, cache) = (config.data_dir.clone(), config.cache_mb);
                tokio::task::spawn_blocking(move || Self::open(&dir, cache))
                    .await
                    .map_err(|e| StoreError::Open(e.to_string()))?
            }
            StoreEngine::Postgres => Ok(Self::with(
                Engine::Postgres(postgres::Pg::connect(config).await?),
                Duration::from_millis(config.request_budget_ms.max(1)),
            )),
        }
    }

    /// The engine's name, as the configuration spells it.
    pub fn engine_name(&self) -> &'static str {
        match &self.0.engine {
            Engine::Sled(_) => "sled",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Whether the engine answers (a database engine is probed in the background; the embedded
    /// one always does).
    pub fn healthy(&self) -> bool {
        match &self.0.engine {
            Engine::Sled(_) => true,
            Engine::Postgres(pg) => pg.healthy(),
        }
    }

    /// Waits until every write made so far is durable (sled: the shared flush; PostgreSQL's
    /// writes are durable when their transaction commits).
    pub async fn sync(&self) -> Result<()> {
        match &self.0.engine {
            Engine::Sled(s) => s.sync().await,
            Engine::Postgres(_) => Ok(()),
        }
    }

    /// Flushes now, blocking (startup and shutdown).
    pub fn flush_blocking(&self) -> Result<()> {
        match &self.0.engine {
            Engine::Sled(s) => s.flush_blocking(),
            Engine::Postgres(_) => Ok(()),
        }
    }

    /// (flushes, waiters) served by the embedded engine's group commit so far.
    pub fn commit_stats(&self) -> (u64, u64) {
        match &self.0.engine {
            Engine::Sled(s) => s.commit_stats(),
            Engine::Postgres(_) => (0, 0),
        }
    }

    /// Bytes the store occupies on disk.
    pub async fn size_on_disk(&self) -> Result<u64> {
        on_engine!(self, s => s.size_on_disk(), pg => pg.size_on_disk())
    }

    /// A position.
    pub async fn pendenza(&self, dominio: &str, iuv: &str) -> Result<Option<Pendenza>> {
        on_engine!(self, s => s.pendenza(dominio, iuv), pg => pg.pendenza(dominio, iuv))
    }

    /// Writes a position over whatever is stored under its key (tools and tests; the request
    /// paths use the conditional writes). Not yet durable: call [`Store::sync`].
    pub async fn put_pendenza(&self, p: &Pendenza) -> Result<()> {
        on_engine!(self, s => s.put_pendenza(p), pg => pg.put_pendenza(p))
    }

    /// Writes a position only if none is stored under its key (and, when it names its
    /// application, under that application's id); true when written.
    pub async fn insert_pendenza(&self, p: &Pendenza) -> Result<bool> {
        on_engine!(self, s => s.insert_pendenza(p), pg => pg.insert_pendenza(p))
    }

    /// The options of the document `identificativo` of `dominio` (every position whose
    /// `documento` names it), ordered by IUV; empty when there is none.
    pub async fn documento(&self, dominio: &str, identificativo: &str) -> Result<Vec<Pendenza>> {
        on_engine!(self,
            s => s.documento(dominio, identificativo),
            pg => pg.documento(dominio, identificativo))
    }

    /// A position by its owning application's id.
    pub async fn pendenza_of_app(
        &self,
        id_a2a: &str,
        id_pendenza: &str,
    ) -> Result<Option<Pendenza>> {
        on_engine!(self,
            s => s.pendenza_of_app(id_a2a, id_pendenza),
            pg => pg.pendenza_of_app(id_a2a, id_pendenza))
    }

    /// Creates or updates positions of applications, atomically for the whole batch. Each
    /// item's rule sees the stored position (or an earlier item's write in the same batch);
    /// refusals are per item and do not abort the batch. Not durable until [`Store::sync`].
    /// A database engine gets the request budget plus 2 ms per item.
    pub async fn upsert_batch<E: Clone + Send + Sync>(
        &self,
        items: &[UpsertItem<'_, E>],
    ) -> Result<Vec<std::result::Result<Upserted, Refused<E>>>> {
        on_engine!(self,
            s => blocking(|| s.upsert_batch(items)),
            pg => pg.upsert_batch(items),
            budget = self.0.budget.saturating_add(Duration::from_millis(2 * items.len() as u64)))
    }

    /// Changes a stored position with `change` (None = leave it), atomically.
    pub async fn update_pendenza<E: Clone + Send>(
        &self,
        dominio: &str,
        iuv: &str,
        change: &(dyn Fn(&Pendenza) -> std::result::Result<Option<Pendenza>, E> + Sync),
    ) -> Result<Option<std::result::Result<Pendenza, E>>> {
        on_engine!(self,
            s => s.update_pendenza(dominio, iuv, change),
            pg => pg.update_pendenza(dominio, iuv, change))
    }

    /// Number of stored positions.
    pub async fn count_pendenze(&self) -> Result<usize> {
        on_engine!(self, s => Ok(blocking(|| s.count_pendenze())), pg => pg.count_pendenze())
    }

    /// Records an activation attempt (kept for operators; not acknowledged as durable).
    pub async fn record_attempt(&self, dominio: &str, iuv: &str, a: &Attivazione) -> Result<()> {
        on_engine!(self, s => s.record_attempt(dominio, iuv, a), pg => pg.record_attempt(dominio, iuv, a))
    }

    /// A position's activation attempts, oldest first (a full read: tools and tests).
    pub async fn attempts(&self, dominio: &str, iuv: &str) -> Result<Vec<Attivazione>> {
        on_engine!(self, s => s.attempts(dominio, iuv), pg => pg.attempts(dominio, iuv))
    }

    /// A page of a position's activation attempts, newest first: `skip` passed over, at most
    /// `take` returned, and whether more follow.
    pub async fn attempts_page(
        &self,
        dominio: &str,
        iuv: &str,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<Attivazione>, bool)> {
        on_engine!(self,
            s => s.attempts_page(dominio, iuv, skip, take),
            pg => pg.attempts_page(dominio, iuv, skip, take))
    }

    /// One receipt.
    pub async fn ricevuta(
        &self,
        dominio: &str,
        iuv: &str,
        receipt_id: &str,
    ) -> Result<Option<Ricevuta>> {
        on_engine!(self,
            s => s.ricevuta(dominio, iuv, receipt_id),
            pg => pg.ricevuta(dominio, iuv, receipt_id))
    }

    /// A position's receipts (including ones stored without a position).
    pub async fn ricevute(&self, dominio: &str, iuv: &str) -> Result<Vec<Ricevuta>> {
        on_engine!(self, s => s.ricevute(dominio, iuv), pg => pg.ricevute(dominio, iuv))
    }

    /// Stores a receipt, updates its position and queues it for the gestionale, atomically.
    ///
    /// `rule` decides the position's new content and the receipt's status from what is
    /// stored: it is shown the position only when it holds the receipt's notice number (a
    /// position under the same IUV with another aux digit is another notice). A receipt whose
    /// receiptId is already stored changes nothing. `undeliverable` says why the owning
    /// application (if any) cannot receive it: such an entry is written already parked (dead,
    /// with the reason) instead of queued. A receipt for a notice Varco holds no position of is
    /// remembered, so no counter hands that number out later. The write is durable once
    /// [`Store::sync`] returns.
    pub async fn apply_receipt(
        &self,
        ricevuta: Ricevuta,
        rule: ReceiptRule<'_>,
        undeliverable: &(dyn Fn(Option<&str>) -> Option<String> + Sync),
        now: DateTime<Utc>,
    ) -> Result<ReceiptApplied> {
        on_engine!(self,
            s => blocking(|| s.apply_receipt(ricevuta, rule, undeliverable, now)),
            pg => pg.apply_receipt(&ricevuta, rule, undeliverable, now))
    }

    /// The positions of `id_a2a` that match `filter`, newest first: `skip` of them passed over,
    /// at most `take` returned; with `count`, how many match in all (see [`index::Page`]).
    pub async fn list_pendenze(
        &self,
        id_a2a: &str,
        filter: &index::Filter,
        now: DateTime<Utc>,
        skip: usize,
        take: usize,
        count: bool,
    ) -> Result<index::Page> {
        on_engine!(self,
            s => blocking(|| s.list_pendenze(id_a2a, filter, now, skip, take, count)),
            pg => pg.list_pendenze(id_a2a, filter, now, (skip, take), count))
    }

    /// Positions whose debtor matches `term` (any application, or none) and `filter`, newest
    /// first: `skip` passed over, at most `take` returned; with `count`, the total when the
    /// walk stayed within [`index::COUNT_WALK_LIMIT`]. Both engines walk an index of the term
    /// (never every position) and match with the same [`index::Walk`].
    pub async fn search_debtor(
        &self,
        term: &index::DebtorTerm,
        filter: &index::Filter,
        now: DateTime<Utc>,
        skip: usize,
        take: usize,
        count: bool,
    ) -> Result<index::Page> {
        on_engine!(self,
            s => blocking(|| s.search_debtor(term, filter, now, skip, take, count)),
            pg => pg.search_debtor(term, filter, now, (skip, take), count))
    }

    /// How many positions of `id_a2a` match `filter`, walking at most `walk_limit` index
    /// entries: the count and whether it is exact (else a lower bound). For figures that
    /// must come quickly whatever the store's size (the console's dashboard).
    pub async fn count_pendenze_upto(
        &self,
        id_a2a: &str,
        filter: &index::Filter,
        now: DateTime<Utc>,
        walk_limit: usize,
    ) -> Result<(usize, bool)> {
        let page = on_engine!(self,
            s => blocking(|| s.list_walking(id_a2a, filter, now, (0, 0), true, walk_limit)),
            pg => pg.list_walking(id_a2a, filter, now, (0, 0), true, walk_limit))?;
        Ok(match page.total {
            Some(n) => (n, true),
            None => (page.counted, false),
        })
    }

    /// Every outbox entry, oldest first (a full read: tools and tests; the API pages).
    pub async fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        on_engine!(self, s => s.outbox(), pg => pg.outbox())
    }

    /// Entries matching `keep`, oldest first: `skip` of them passed over, at most `take`
    /// returned, and whether more follow.
    pub async fn outbox_page(
        &self,
        keep: &(dyn Fn(&OutboxEntry) -> bool + Sync),
        skip: usize,
        take: usize,
    ) -> Result<(Vec<OutboxEntry>, bool)> {
        on_engine!(self,
            s => blocking(|| s.outbox_page(keep, skip, take)),
            pg => pg.outbox_page(keep, skip, take))
    }

    /// One outbox entry.
    pub async fn outbox_entry(&self, id: u64) -> Result<Option<OutboxEntry>> {
        on_engine!(self, s => s.outbox_entry(id), pg => pg.outbox_entry(id))
    }

    /// Changes an entry with `change` (None: leave it), atomically; returns the entry as stored
    /// afterwards (None when there is no such entry). A change releases any claim on it.
    pub async fn update_outbox(
        &self,
        id: u64,
        change: &(dyn Fn(&OutboxEntry) -> Option<OutboxEntry> + Sync),
    ) -> Result<Option<OutboxEntry>> {
        on_engine!(self, s => s.update_outbox(id, change), pg => pg.update_outbox(id, change))
    }

    /// Claims a pending entry for one delivery attempt of `lease`: the entry when this worker
    /// may send it now, None when it is gone, not pending, or claimed by another worker whose
    /// lease has not run out. [`Store::finish_delivery`] releases the claim.
    pub async fn claim_outbox(&self, id: u64, lease: Duration) -> Result<Option<OutboxEntry>> {
        on_engine!(self, s => s.claim_outbox(id), pg => pg.claim_outbox(id, lease))
    }

    /// Records the end of a delivery attempt that started from `started`: `None` when it was
    /// delivered (the entry goes), else the entry to store (retry later, or parked). A failed
    /// attempt is written only if the entry is still as the attempt found it: an operator's
    /// re-send in the meantime wins. True when something was written.
    pub async fn finish_delivery(
        &self,
        started: &OutboxEntry,
        next: Option<&OutboxEntry>,
    ) -> Result<bool> {
        on_engine!(self,
            s => s.finish_delivery(started, next),
            pg => pg.finish_delivery(started, next))
    }

    /// Pending, unclaimed entries of `id_a2a`'s queue due at or before `until`, earliest
    /// first, at most `limit`.
    pub async fn outbox_due(
        &self,
        id_a2a: &str,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Due>> {
        on_engine!(self,
            s => s.outbox_due(id_a2a, until, limit),
            pg => pg.outbox_due(id_a2a, until, limit))
    }

    /// Each application that has pending entries, with its earliest due time (Unix ms).
    pub async fn outbox_queues(&self) -> Result<Vec<(String, i64)>> {
        on_engine!(self, s => s.outbox_queues(), pg => pg.outbox_queues())
    }

    /// When the earliest pending entry of any queue is due.
    pub async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>> {
        Ok(self
            .outbox_queues()
            .await?
            .into_iter()
            .map(|(_, ms)| ms)
            .min()
            .and_then(DateTime::from_timestamp_millis))
    }

    /// Number of outbox entries (pending and dead).
    pub async fn outbox_len(&self) -> Result<usize> {
        on_engine!(self, s => Ok(blocking(|| s.outbox_len())), pg => pg.outbox_len())
    }

    /// The signal [`Store::wake_outbox`] fires.
    pub fn outbox_signal(&self) -> Arc<tokio::sync::Notify> {
        self.0.outbox_signal.clone()
    }

    /// How often outbox workers look at their queues without being woken: on a shared
    /// database other nodes queue entries too (None: every change wakes them).
    pub fn outbox_poll(&self) -> Option<Duration> {
        match &self.0.engine {
            Engine::Sled(_) => None,
            Engine::Postgres(_) => Some(Duration::from_secs(1)),
        }
    }

    /// Wakes every connector's worker (each rescans its own queue).
    pub fn wake_outbox(&self) {
        self.0.outbox_signal.notify_waiters();
    }

    /// Events matching `filter`, newest first: page `pagina` (from 1) of `per_pagina`, or,
    /// with a cursor, the `per_pagina` after it (see [`journal::Pagina`]).
    pub async fn eventi(
        &self,
        filter: &journal::Filtro,
        pagina: usize,
        per_pagina: usize,
    ) -> Result<journal::Pagina> {
        on_engine!(self,
            s => blocking(|| s.eventi(filter, pagina, per_pagina)),
            pg => pg.eventi(filter, pagina, per_pagina))
    }

    /// One event by its id.
    pub async fn evento(&self, id: &str) -> Result<Option<crate::domain::evento::Evento>> {
        on_engine!(self, s => s.evento(id), pg => pg.evento(id))
    }

    /// The journal as an append-only log, for the recorder's thread.
    pub fn journal_log(&self) -> JournalLog {
        match &self.0.engine {
            Engine::Sled(s) => JournalLog::Sled(sled::journal::SledJournal::open(s)),
            Engine::Postgres(pg) => JournalLog::Postgres(Box::new(pg.journal())),
        }
    }

    /// Sets the last reference a domain's counter handed out (tests: an exhausted counter).
    #[cfg(test)]
    pub(crate) fn set_counter(&self, dominio: &str, segregation: &str, last: u64) -> Result<()> {
        self.as_sled()
            .ok_or_else(|| StoreError::Invariant("set_counter: sled only".into()))?
            .set_counter(dominio, segregation, last)
    }

    /// Takes `scope` (waiting for it with `wait`, else `None` when another holds it).
    pub async fn fdr_lock(&self, scope: &str, wait: bool) -> Result<Option<FdrGuard>> {
        let inner = match &self.0.engine {
            Engine::Sled(s) => {
                let mutex = s.fdr_scope(scope);
                let guard = if wait {
                    Some(mutex.lock_owned().await)
                } else {
                    mutex.try_lock_owned().ok()
                };
                guard.map(GuardInner::Sled)
            }
            Engine::Postgres(pg) => pg
                .advisory(scope, wait)
                .await?
                .map(|g| GuardInner::Postgres(Box::new(g))),
        };
        Ok(inner.map(|inner| FdrGuard { inner }))
    }

    /// The embedded engine, when it is the one (tools that read its files).
    pub fn as_sled(&self) -> Option<&sled::Sled> {
        match &self.0.engine {
            Engine::Sled(s) => Some(s),
            Engine::Postgres(_) => None,
        }
    }
}

/// Held while a caller decides and writes on a scope (a domain's flows and movements, a whole
/// acquisition run): no other holder of the same scope, on any node, runs meanwhile. Release
/// it with [`FdrGuard::release`]; dropping it also releases it (on PostgreSQL by closing its
/// connection).
#[derive(Debug)]
pub struct FdrGuard {
    inner: GuardInner,
}

#[derive(Debug)]
enum GuardInner {
    Sled(#[allow(dead_code)] tokio::sync::OwnedMutexGuard<()>),
    Postgres(Box<postgres::fdr::AdvisoryGuard>),
}

impl FdrGuard {
    /// Releases the scope.
    pub async fn release(self) {
        match self.inner {
            GuardInner::Sled(_) => {}
            GuardInner::Postgres(g) => (*g).release().await,
        }
    }
}

/// A pending entry's place in its application's queue: when it is due, and its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Next attempt (Unix ms).
    pub at_millis: i64,
    /// The entry.
    pub id: u64,
}

/// The journal as an append-only log (blocking calls, for the recorder's own thread): where
/// the next event goes, how many events it holds, appending, purging.
#[derive(Debug)]
pub enum JournalLog {
    /// In the embedded store's segment files.
    Sled(sled::journal::SledJournal),
    /// In PostgreSQL.
    Postgres(Box<postgres::PgJournal>),
}

impl JournalLog {
    /// Events held.
    pub fn count(&self) -> u64 {
        match self {
            JournalLog::Sled(j) => j.count(),
            JournalLog::Postgres(j) => j.count(),
        }
    }

    /// Writes `batch` (not yet durable) and empties it; the number of events written.
    pub fn append(&mut self, batch: &mut Vec<crate::domain::evento::Evento>) -> Result<u64> {
        match self {
            JournalLog::Sled(j) => j.append(batch),
            JournalLog::Postgres(j) => j.append(batch),
        }
    }

    /// Makes the events appended so far durable (the embedded store's segment files are
    /// written without a sync; PostgreSQL commits each batch).
    pub fn sync(&mut self) -> Result<()> {
        match self {
            JournalLog::Sled(j) => j.sync(),
            JournalLog::Postgres(_) => Ok(()),
        }
    }

    /// Removes a bounded number of the oldest events that break a bound: older than
    /// `cutoff_ms`, or beyond the newest `max_events`. Returns (removed, more may remain).
    pub fn purge_step(
        &mut self,
        cutoff_ms: Option<i64>,
        max_events: Option<u64>,
    ) -> Result<(u64, bool)> {
        match self {
            JournalLog::Sled(j) => j.purge_step(cutoff_ms, max_events),
            JournalLog::Postgres(j) => j.purge_step(cutoff_ms, max_events),
        }
    }
}
