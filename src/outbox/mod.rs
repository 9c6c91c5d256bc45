//! Receipt forwarding: every stored receipt has an outbox entry (written in the receipt's own
//! transaction); this worker delivers it to the owning application's gestionale with
//! `PUT {url}/ricevute/{idDominio}/{iuv}/{idRicevuta}` until a 2xx, retrying with capped
//! exponential backoff and jitter, oldest first, a bounded number in flight per connector.
//! After the horizon an entry is parked as dead, never dropped; an operator re-sends it.
//!
//! The worker arms its wake-up before it scans, so a receipt stored during a scan is not
//! missed, and sleeps until the next entry is due: no busy polling. Deliveries are idempotent
//! from the gestionale's side (the receipt's identity is sent as `Idempotency-Key`).

pub mod backoff;
pub mod sender;

use crate::config::{Config, Connettore};
use crate::domain::Clock;
use crate::domain::{OutboxEntry, OutboxState};
use crate::journal::{self, Categoria, Esito, Evento, Journal, Parametri};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How much longer than a delivery's timeout a worker's claim on an entry lasts: past it,
/// another worker (on another node, when this one died) may send the entry.
const DELIVERY_LEASE_MARGIN: Duration = Duration::from_secs(30);

/// Delivers one receipt body to one connector; `Err` holds the reason (always retried).
pub trait Deliver: Send + Sync + 'static {
    /// Sends `body` for `entry` to `connettore` of application `id_a2a`.
    fn deliver(
        &self,
        id_a2a: &str,
        connettore: &Connettore,
        entry: &OutboxEntry,
        body: Vec<u8>,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// The worker: one lane per connector, each with its own queue and its own bound.
pub struct Worker<D> {
    store: Store,
    config: Arc<Config>,
    deliver: Arc<D>,
    clock: Clock,
    journal: Journal,
}

impl<D: Deliver> Worker<D> {
    /// A worker over `store` using `deliver`.
    pub fn new(store: Store, config: Arc<Config>, deliver: D, clock: Clock) -> Self {
        Self {
            store,
            config,
            deliver: Arc::new(deliver),
            clock,
            journal: Journal::disabled(),
        }
    }

    /// Records every delivery attempt in `journal`.
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = journal;
        self
    }

    /// Runs until `shutdown` turns true; then waits for deliveries in flight up to the grace.
    /// Each connector is a lane of its own: a gestionale that hangs or fails holds back only
    /// its own receipts, never another's.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let worker = Arc::new(self);
        worker.park_orphans().await;
        let mut lanes = JoinSet::new();
        for a in &worker.config.applicazioni {
            if a.connettore.is_some() {
                lanes.spawn(worker.clone().lane(a.id_a2a.clone(), shutdown.clone()));
            }
        }
        while lanes.join_next().await.is_some() {}
    }

    /// One pass, for tests and tools: parks what no connector would deliver, then makes one
    /// delivery attempt of every entry due now (by the worker's clock), one at a time, in due
    /// order. Returns how many attempts were made. Nothing is left running afterwards.
    pub async fn drain_once(&self) -> usize {
        self.park_orphans().await;
        let now = (self.clock)();
        let mut attempts = 0;
        for a in self
            .config
            .applicazioni
            .iter()
            .filter(|a| a.connettore.is_some())
        {
            let due = match self.store.outbox_due(&a.id_a2a, now, usize::MAX).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::error!(id_a2a = %a.id_a2a, error = %e, "outbox scan failed");
                    continue;
                }
            };
            for d in due {
                self.job(d.id).await;
                attempts += 1;
            }
        }
        attempts
    }

    /// Parks the pending entries of applications that have no connector (any more): nothing
    /// would ever deliver them, and an operator should see them.
    async fn park_orphans(&self) {
        let queues = match self.store.outbox_queues().await {
            Ok(q) => q,
            Err(e) => {
                tracing::error!(error = %e, "outbox scan failed");
                return;
            }
        };
        for (app, _) in queues {
            let Err(why) = self
                .config
                .connettore(Some(app.as_str()).filter(|a| !a.is_empty()))
            else {
                continue;
            };
            let due = self
                .store
                .outbox_due(&app, DateTime::<Utc>::MAX_UTC, usize::MAX)
                .await;
            for d in due.into_iter().flatten() {
                let now = (self.clock)();
                let parked = self
                    .store
                    .update_outbox(d.id, &|e| {
                        (e.stato == OutboxState::Pending).then(|| park(e.clone(), now, why.clone()))
                    })
                    .await;
                if let Err(e) = parked {
                    tracing::error!(error = %e, "cannot park an outbox entry");
                }
            }
        }
    }

    /// One connector's lane: starts what is due, up to `outbox.parallel` in flight, and wakes
    /// when a delivery ends, a receipt is stored, an entry comes due, or shutdown is asked for.
    async fn lane(self: Arc<Self>, id_a2a: String, mut shutdown: watch::Receiver<bool>) {
        let signal = self.store.outbox_signal();
        let parallel = self.config.outbox.parallel.max(1);
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, u64> = HashMap::new();
        loop {
            if *shutdown.borrow() {
                break;
            }
            // Arm the wake-up first: a receipt stored while we scan still wakes us.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let now = (self.clock)();
            let busy: HashSet<u64> = in_flight.values().copied().collect();
            let mut free = parallel.saturating_sub(busy.len());
            let mut wake_at = None;
            // In due order: start what is due while there is room; the first entry not started
            // says when to look again. Entries in flight are still in the index (skipped).
            let scan = self
                .store
                .outbox_due(&id_a2a, DateTime::<Utc>::MAX_UTC, busy.len() + free + 1)
                .await;
            match scan {
                Ok(queue) => {
                    for d in queue.into_iter().filter(|d| !busy.contains(&d.id)) {
                        if free > 0 && d.at_millis <= now.timestamp_millis() {
                            let worker = self.clone();
                            let handle = tasks.spawn(async move { worker.job(d.id).await });
                            in_flight.insert(handle.id(), d.id);
                            free -= 1;
                        } else {
                            if free > 0 {
                                wake_at = DateTime::from_timestamp_millis(d.at_millis);
                            }
                            break;
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(id_a2a = %id_a2a, error = %e, "outbox scan failed");
                    wake_at = Some(now + chrono::Duration::seconds(1));
                }
            }
            let mut sleep = wake_at.map(|t| (t - (self.clock)()).to_std().unwrap_or_default());
            // Other nodes on a shared database queue entries without waking this one, and a
            // claim of a node that died runs out without a signal: look again now and then.
            if let Some(poll) = self.store.outbox_poll() {
                sleep = Some(sleep.map_or(poll, |s| s.min(poll)));
            }
            tokio::select! {
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let id = match &done {
                        Ok((id, ())) => *id,
                        Err(e) => e.id(),
                    };
                    in_flight.remove(&id);
                }
                () = &mut notified => {}
                () = async { match sleep { Some(d) => tokio::time::sleep(d).await, None => std::future::pending().await } } => {}
                () = stopped(&mut shutdown) => break,
            }
        }
        let grace = Duration::from_millis(self.config.outbox.shutdown_grace_ms);
        let _ =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    }

    /// One delivery attempt of entry `id`.
    async fn job(&self, id: u64) {
        let lease = Duration::from_millis(self.config.outbox.timeout_ms) + DELIVERY_LEASE_MARGIN;
        let entry = match self.store.claim_outbox(id, lease).await {
            Ok(Some(e)) => e,
            Ok(_) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot read an outbox entry");
                return;
            }
        };
        let journal = &self.journal;
        let started = std::time::Instant::now();
        let mut sent = journal.payloads().then(Vec::new);
        let result = attempt(
            &self.store,
            &self.config,
            self.deliver.as_ref(),
            &entry,
            sent.as_mut(),
        )
        .await;
        let elapsed = started.elapsed();
        let now = (self.clock)();
        let mut event = journal
            .enabled()
            .then(|| delivery_event(&entry, now, elapsed, sent.as_deref()));
        let next = match result {
            Ok(()) => {
                tracing::info!(outbox_id = entry.id, notice_iuv = %entry.iuv, attempts = entry.tentativi + 1, "receipt delivered to the gestionale");
                None
            }
            Err(Failure::NoConnector(why)) => {
                if let Some(e) = &mut event {
                    e.esito = Esito::Ko;
                    e.sottotipo_esito = Some("dead".into());
                    e.dettaglio_esito = Some(why.clone());
                }
                Some(park(entry.clone(), now, why))
            }
            Err(Failure::Retry(why)) => {
                let next = failed(&self.config, entry.clone(), now, why, fastrand::f64());
                if let Some(e) = &mut event {
                    e.esito = Esito::Fail;
                    e.sottotipo_esito = Some(
                        if next.stato == OutboxState::Dead {
                            "dead"
                        } else {
                            "failing"
                        }
                        .into(),
                    );
                    e.dettaglio_esito = next.last_error.clone();
                }
                Some(next)
            }
        };
        if let Some(e) = event {
            journal.record(e);
        }
        match self.store.finish_delivery(&entry, next.as_ref()).await {
            Ok(true) => {}
            // An operator re-sent it meanwhile: their request stands, and it is tried again.
            Ok(false) => self.store.wake_outbox(),
            Err(e) => tracing::error!(error = %e, "cannot record an outbox delivery"),
        }
    }
}

/// Resolves when shutdown is asked for (the watch guard never lives across an await).
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _closed_or_stopped = rx.wait_for(|s| *s).await.is_ok();
}

enum Failure {
    NoConnector(String),
    Retry(String),
}

/// The journal's record of one delivery attempt, as if it succeeded (the caller adjusts it).
fn delivery_event(
    entry: &OutboxEntry,
    at: DateTime<Utc>,
    elapsed: Duration,
    sent: Option<&[u8]>,
) -> Evento {
    let mut e = Evento::new(
        Categoria::Outbox,
        "PUT /ricevute/{idDominio}/{iuv}/{idRicevuta}",
        at,
        elapsed,
        Esito::Ok,
    );
    e.sottotipo_esito = Some("delivered".into());
    e.id_dominio = Some(entry.dominio.clone());
    e.iuv = Some(entry.iuv.clone());
    e.id_ricevuta = Some(entry.receipt_id.clone());
    e.id_a2a = entry.id_a2a.clone();
    e.id_outbox = Some(entry.id);
    e.tentativo = Some(entry.tentativi + 1);
    e.parametri_richiesta = Some(Parametri {
        metodo: Some("PUT".into()),
        payload: sent.map(journal::payload),
        ..Parametri::default()
    });
    e
}

/// One delivery; the body sent is copied into `sent` when given (the journal's payload).
async fn attempt<D: Deliver>(
    store: &Store,
    config: &Config,
    deliver: &D,
    entry: &OutboxEntry,
    sent: Option<&mut Vec<u8>>,
) -> Result<(), Failure> {
    let (app, connettore) = config
        .connettore(entry.id_a2a.as_deref())
        .map_err(Failure::NoConnector)?;
    let id_a2a = app.id_a2a.as_str();
    let receipt = store
        .ricevuta(&entry.dominio, &entry.iuv, &entry.receipt_id)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?
        .ok_or_else(|| Failure::Retry("the receipt is missing from the store".into()))?;
    let position = store
        .pendenza(&entry.dominio, &entry.iuv)
        .await
        .map_err(|e| Failure::Retry(e.to_string()))?
        .filter(|p| p.numero_avviso == receipt.numero_avviso);
    let name = config
        .dominio(&entry.dominio)
        .map(|d| d.ragione_sociale.clone());
    let body = serde_json::to_vec(&crate::govpay::ricevuta::build(
        &receipt,
        position.as_ref(),
        name,
    ))
    .map_err(|e| Failure::Retry(e.to_string()))?;
    if let Some(copy) = sent {
        copy.clone_from(&body);
    }
    let budget = Duration::from_millis(config.outbox.timeout_ms);
    match tokio::time::timeout(budget, deliver.deliver(id_a2a, connettore, entry, body)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(why)) => Err(Failure::Retry(why)),
        Err(_) => Err(Failure::Retry(format!(
            "no answer within {} ms",
            budget.as_millis()
        ))),
    }
}

/// The entry after a failed attempt: retried later, or dead past the horizon.
pub fn failed(
    config: &Config,
    mut entry: OutboxEntry,
    now: DateTime<Utc>,
    why: String,
    random: f64,
) -> OutboxEntry {
    entry.tentativi += 1;
    entry.last_error = Some(why);
    let since = entry.requeued_at.unwrap_or(entry.created_at);
    let horizon = chrono::Duration::seconds(config.outbox.horizon_secs.min(i64::MAX as u64) as i64);
    if now - since >= horizon {
        entry.stato = OutboxState::Dead;
        tracing::warn!(
            outbox_id = entry.id,
            attempts = entry.tentativi,
            "receipt delivery given up: parked as dead"
        );
        return entry;
    }
    let o = &config.outbox;
    let delay = backoff::delay(
        entry.tentativi,
        Duration::from_millis(o.base_delay_ms),
        Duration::from_millis(o.max_delay_ms),
        o.jitter,
        random,
    );
    entry.next_attempt_at =
        now + chrono::Duration::from_std(delay).unwrap_or_else(|_| chrono::Duration::hours(1));
    tracing::info!(
        outbox_id = entry.id,
        attempts = entry.tentativi,
        retry_in_ms = delay.as_millis() as u64,
        "receipt delivery failed; will retry"
    );
    entry
}

fn park(mut entry: OutboxEntry, now: DateTime<Utc>, why: String) -> OutboxEntry {
    entry.stato = OutboxState::Dead;
    entry.last_error = Some(why);
    entry.next_attempt_at = now;
    entry
}

/// Puts an entry back in the queue now (manual re-send); None when there is no such entry.
/// A delivery attempt of it already in flight does not undo this (see
/// [`Store::finish_delivery`]).
pub async fn requeue(
    store: &Store,
    id: u64,
    now: DateTime<Utc>,
) -> crate::store::Result<Option<OutboxEntry>> {
    let entry = store
        .update_outbox(id, &|current| {
            let mut entry = current.clone();
            entry.stato = OutboxState::Pending;
            entry.next_attempt_at = now;
            entry.requeued_at = Some(now);
            Some(entry)
        })
        .await?;
    if entry.is_some() {
        store.wake_outbox();
    }
    Ok(entry)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::NoticeNumber;
    use std::sync::Mutex;

    /// Fails the first `fail` deliveries, then accepts; counts the calls.
    struct Flaky {
        fail: Mutex<u32>,
        calls: Mutex<u32>,
    }

    impl Deliver for Flaky {
        async fn deliver(
            &self,
            _: &str,
            _: &Connettore,
            _: &OutboxEntry,
            _: Vec<u8>,
        ) -> Result<(), String> {
            *self.calls.lock().unwrap() += 1;
            let mut fail = self.fail.lock().unwrap();
            if *fail == 0 {
                return Ok(());
            }
            *fail -= 1;
            Err("HTTP 503".into())
        }
    }

    #[tokio::test]
    async fn drain_once_attempts_what_is_due_and_waits_for_the_backoff() {
        let toml = crate::config::DEMO_TOML.replace(
            "base_delay_ms = 30000\nmax_delay_ms = 3600000\njitter = 0.2",
            "base_delay_ms = 60000\nmax_delay_ms = 60000\njitter = 0.0",
        ) + "\n[[applicazioni]]\nid_a2a = \"gest\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$txpmaUcaTJLfScRpnxpbJQ$83oRsvtEd0uMh5d96ffq7JASWGM73E7HtN7QfM5X3DI\"\ndomini = [\"*\"]\n\
             tipi_pendenza = [\"*\"]\n[applicazioni.connettore]\nurl = \"http://127.0.0.1:9/\"\n";
        let config = Arc::new(Config::parse(&toml, "test").unwrap());
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16).unwrap();
        let start = Utc::now();
        let now = Arc::new(Mutex::new(start));
        let at = now.clone();
        let clock: Clock = Arc::new(move || *at.lock().unwrap());
        // A paid position of `gest`: its receipt is queued for delivery.
        let nav = NoticeNumber::parse("301000000000001053").unwrap();
        let mut p = crate::demo::sample(&config, &nav, start);
        p.id_a2a = Some("gest".into());
        p.id_pendenza = Some("g-1".into());
        assert!(store.insert_pendenza(&p).await.unwrap());
        let receipt = include_str!("../../fixtures/demo/send-rt-v2.xml");
        let request = crate::soap::decode(Some("paSendRTV2"), receipt.as_bytes()).unwrap();
        let nodo = crate::nodo::Nodo::new(config.clone(), store.clone(), clock.clone());
        let handled = nodo.handle(request, receipt.as_bytes()).await;
        assert_eq!(handled.owner.unwrap().id_a2a.as_deref(), Some("gest"));
        assert_eq!(store.outbox().await.unwrap().len(), 1);

        let flaky = Flaky {
            fail: Mutex::new(1),
            calls: Mutex::new(0),
        };
        let worker = Worker::new(store.clone(), config, flaky, clock);
        assert_eq!(worker.drain_once().await, 1, "due at once");
        assert_eq!(store.outbox().await.unwrap()[0].tentativi, 1);
        assert_eq!(worker.drain_once().await, 0, "not due before the backoff");
        *now.lock().unwrap() = start + chrono::Duration::seconds(61);
        assert_eq!(worker.drain_once().await, 1, "due after the backoff");
        assert!(store.outbox().await.unwrap().is_empty(), "delivered");
        assert_eq!(*worker.deliver.calls.lock().unwrap(), 2);
        assert_eq!(worker.drain_once().await, 0);
    }
}
