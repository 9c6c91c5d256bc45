//! The event journal's recorder (GovPay's *giornale degli eventi*): every SOAP call, REST call
//! and outbound receipt delivery is recorded as an [`Evento`] (`crate::domain::evento`), with its
//! time, operation, ids, outcome and duration and (only when `[journal] payloads = true`) the
//! payloads.
//!
//! Recording never blocks a request and never adds a flush: [`Journal::record`] hands a boxed
//! event to a bounded channel with `try_send`; one writer thread drains it and appends batches
//! to the store's log ([`crate::store::JournalLog`]). When the channel is full the event
//! is dropped and counted (`varco_journal_dropped_total`). Under traffic the writer polls the
//! channel every 10 ms instead of being woken per event (a wake-up is a futex call on the
//! request path; it cost a third of verify throughput when measured). On the embedded engine
//! events are written to the journal's segment files without an fsync per batch (the page
//! cache keeps them through `kill -9`); the writer syncs them at most [`SYNC_EVERY`] after they
//! were written, idle or not, and on [`Journal::close`], so a power cut loses at most the last
//! second of events; receipts never are lost (they have their own synced transaction).
//!
//! The same thread purges, in steps between batches: events older than `max_age_days` and the
//! oldest beyond `max_events`, exactly, at startup, every minute and whenever a write goes over
//! the count bound. Reading is the store's ([`crate::store::Store::eventi`]).

pub use crate::domain::evento::*;
pub use crate::store::journal::{Filtro, MAX_PAGE, Pagina, parse_id};

use crate::config::JournalConfig;
use crate::domain::Clock;
use crate::store::JournalLog;
use crate::store::Store;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest payload kept per direction; longer ones are cut with [`TRUNCATED`].
pub const PAYLOAD_CAP: usize = 64 * 1024;
/// Appended to a payload cut at [`PAYLOAD_CAP`].
pub const TRUNCATED: &str = "…[truncated]";
/// Most events written in one batch.
const BATCH: usize = 1024;
/// Under traffic, how often the writer looks at the queue.
const TICK: Duration = Duration::from_millis(10);
/// How often the bounds are enforced when nothing else triggers it.
const PURGE_EVERY: Duration = Duration::from_secs(60);
/// How long written events may wait for a sync (a power cut loses at most this much).
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// A payload as text, cut at [`PAYLOAD_CAP`] bytes (on a character boundary) with a marker.
pub fn payload(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(PAYLOAD_CAP + 4)]);
    if bytes.len() <= PAYLOAD_CAP && text.len() <= PAYLOAD_CAP {
        return text.into_owned();
    }
    let mut end = PAYLOAD_CAP.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED}", &text[..end])
}

/// Counters of one journal.
#[derive(Debug, Default)]
pub struct JournalStats {
    /// Events written.
    pub written: std::sync::atomic::AtomicU64,
    /// Events dropped (queue full or closed).
    pub dropped: std::sync::atomic::AtomicU64,
    /// Events removed by the purge.
    pub purged: std::sync::atomic::AtomicU64,
    /// Events in the tree (as the writer counts them).
    pub entries: std::sync::atomic::AtomicU64,
}

enum Msg {
    Event(Box<Evento>),
    /// Answered once everything queued before it is written.
    Barrier(mpsc::Sender<()>),
    /// Answered with the number removed once both bounds hold.
    Purge(mpsc::Sender<u64>),
    /// Write what is queued, answer, stop.
    Close(mpsc::Sender<()>),
}

struct Inner {
    tx: Option<SyncSender<Msg>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer drains what is queued, then sees the channel closed and ends; waiting for
        // it releases its handle on the database before the store can be reopened.
        drop(self.tx.take());
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// Cheap-to-clone handle to the journal's recorder (reading is [`Store::eventi`]).
#[derive(Clone)]
pub struct Journal {
    payloads: bool,
    inner: Option<Arc<Inner>>,
    /// Counters.
    pub stats: Arc<JournalStats>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("enabled", &self.enabled())
            .field("payloads", &self.payloads)
            .finish()
    }
}

impl Journal {
    /// The journal of `store` per `config`: with `enabled`, a writer thread is started (it
    /// stops when the last handle is dropped or on [`Journal::close`]). `clock` dates the purge.
    pub fn start(store: &Store, config: &JournalConfig, clock: Clock) -> Self {
        let off = Self::disabled();
        if !config.enabled {
            return off;
        }
        let stats = off.stats.clone();
        let (tx, rx) = mpsc::sync_channel(config.queue.max(1));
        let writer = Writer {
            log: store.journal_log(),
            clock,
            max_age: (config.max_age_days > 0)
                .then(|| chrono::Duration::days(config.max_age_days.min(1 << 40) as i64)),
            max_events: (config.max_events > 0).then_some(config.max_events),
            stats: stats.clone(),
            unsynced: false,
        };
        let spawned = std::thread::Builder::new()
            .name("varco-journal".into())
            .spawn(move || writer.run(rx));
        match spawned {
            Ok(thread) => Self {
                payloads: config.payloads,
                inner: Some(Arc::new(Inner {
                    tx: Some(tx),
                    thread: Mutex::new(Some(thread)),
                })),
                stats,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot start the journal writer; events are not recorded");
                off
            }
        }
    }

    /// A journal that records nothing.
    pub fn disabled() -> Self {
        Self {
            payloads: false,
            inner: None,
            stats: Arc::new(JournalStats::default()),
        }
    }

    /// True when events are recorded.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// True when payloads are recorded (and the journal is enabled).
    pub fn payloads(&self) -> bool {
        self.payloads && self.enabled()
    }

    /// Queues an event; never blocks. A full (or closed) queue drops it and counts it.
    pub fn record(&self, event: Evento) {
        let Some(tx) = self.inner.as_ref().and_then(|i| i.tx.as_ref()) else {
            return;
        };
        match tx.try_send(Msg::Event(Box::new(event))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                crate::metrics::journal_dropped();
            }
        }
    }

    /// Sends a control message and waits for its answer (blocking; not for the request path).
    fn control<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Msg) -> Option<T> {
        let tx = self.inner.as_ref()?.tx.as_ref()?;
        let (ack, answer) = mpsc::channel();
        tx.send(make(ack)).ok()?;
        answer.recv().ok()
    }

    /// Waits until every event recorded before this call is written (blocking).
    pub fn barrier(&self) {
        self.control(Msg::Barrier);
    }

    /// Enforces both bounds now, to the end (blocking); the number of events removed.
    pub fn purge_now(&self) -> u64 {
        self.control(Msg::Purge).unwrap_or(0)
    }

    /// Writes everything queued and stops the writer (blocking); later events are dropped.
    /// Call before the store's final flush.
    pub fn close(&self) {
        self.control(Msg::Close);
        if let Some(t) = self
            .inner
            .as_ref()
            .and_then(|i| i.thread.lock().ok().and_then(|mut t| t.take()))
        {
            let _ = t.join();
        }
    }

    /// Events in the tree as the writer counts them (0 until it has counted at startup).
    pub fn len(&self) -> u64 {
        self.stats
            .entries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True when [`Journal::len`] is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The writer thread: drains the queue into the log, purges, publishes its counts.
struct Writer {
    log: JournalLog,
    clock: Clock,
    max_age: Option<chrono::Duration>,
    max_events: Option<u64>,
    stats: Arc<JournalStats>,
    /// Events were written since the last sync.
    unsynced: bool,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        self.publish();
        let mut purge_pending = true;
        let mut next_purge = Instant::now() + PURGE_EVERY;
        let mut batch: Vec<Evento> = Vec::with_capacity(BATCH);
        // Idle, the writer blocks on the queue (the first event wakes it). Under traffic it
        // polls every TICK instead, so that recording an event never has to wake a thread
        // (a futex call on the request path).
        let mut polling = false;
        let mut backlog = false;
        let mut synced = Instant::now();
        loop {
            let first = if polling {
                if !backlog && !purge_pending {
                    std::thread::sleep(TICK);
                }
                match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(mpsc::TryRecvError::Empty) => None,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            } else {
                let wait = if purge_pending {
                    Duration::ZERO
                } else if self.unsynced {
                    next_purge
                        .saturating_duration_since(Instant::now())
                        .min(SYNC_EVERY)
                } else {
                    next_purge.saturating_duration_since(Instant::now())
                };
                match rx.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            polling = first.is_some();
            let mut next = first;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Event(e) => batch.push(*e),
                    Msg::Barrier(ack) => {
                        self.write(&mut batch);
                        let _ = ack.send(());
                    }
                    Msg::Purge(ack) => {
                        self.write(&mut batch);
                        let mut removed = 0;
                        loop {
                            let (n, more) = self.purge_step();
                            removed += n;
                            if !more {
                                break;
                            }
                        }
                        let _ = ack.send(removed);
                    }
                    Msg::Close(ack) => {
                        self.write(&mut batch);
                        self.sync();
                        let _ = ack.send(());
                        return;
                    }
                }
                if batch.len() < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            backlog = batch.len() >= BATCH;
            self.write(&mut batch);
            if self.unsynced && synced.elapsed() >= SYNC_EVERY {
                self.sync();
                synced = Instant::now();
            }
            if self.max_events.is_some_and(|m| self.log.count() > m) {
                purge_pending = true;
            }
            if Instant::now() >= next_purge {
                purge_pending = true;
                next_purge = Instant::now() + PURGE_EVERY;
            }
            if purge_pending {
                purge_pending = self.purge_step().1;
            }
        }
    }

    /// Appends `batch` to the log (not flushed) and empties it.
    fn write(&mut self, batch: &mut Vec<Evento>) {
        if batch.is_empty() {
            return;
        }
        self.unsynced = true;
        match self.log.append(batch) {
            Ok(n) => {
                self.stats
                    .written
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                crate::metrics::journal_written(n);
            }
            Err(err) => tracing::error!(error = %err, "journal write failed"),
        }
        batch.clear();
        self.publish();
    }

    /// Syncs what was written (see [`JournalLog::sync`]).
    fn sync(&mut self) {
        if !std::mem::take(&mut self.unsynced) {
            return;
        }
        if let Err(err) = self.log.sync() {
            tracing::error!(error = %err, "journal sync failed");
        }
    }

    /// One purge step (see [`JournalLog::purge_step`]); (removed, more may remain).
    fn purge_step(&mut self) -> (u64, bool) {
        let cutoff = self
            .max_age
            .map(|age| ((self.clock)() - age).timestamp_millis());
        match self.log.purge_step(cutoff, self.max_events) {
            Ok((0, more)) => (0, more),
            Ok((n, more)) => {
                self.stats
                    .purged
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                crate::metrics::journal_purged(n);
                self.publish();
                (n, more)
            }
            Err(err) => {
                tracing::error!(error = %err, "journal purge failed");
                (0, false)
            }
        }
    }

    fn publish(&self) {
        let count = self.log.count();
        self.stats
            .entries
            .store(count, std::sync::atomic::Ordering::Relaxed);
        crate::metrics::journal_entries(count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_cut_on_a_character_boundary() {
        assert_eq!(payload(b"<a/>"), "<a/>");
        let long = "è".repeat(PAYLOAD_CAP); // two bytes each
        let cut = payload(long.as_bytes());
        assert!(cut.ends_with(TRUNCATED));
        assert!(cut.len() <= PAYLOAD_CAP + TRUNCATED.len());
        assert_eq!(payload(&vec![b'x'; PAYLOAD_CAP]).len(), PAYLOAD_CAP);
    }
}
