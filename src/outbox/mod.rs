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
pub mod ricevuta;
pub mod sender;

use crate::config::{Config, Connettore};
use crate::domain::{OutboxEntry, OutboxState};
use crate::nodo::Clock;
use crate::store::Store;
use crate::store::journal::{self, Categoria, Esito, Evento, Journal, Parametri};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

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

/// Most deliveries started in one round.
const ROUND: usize = 256;

/// The worker.
pub struct Worker<D> {
    store: Store,
    config: Arc<Config>,
    deliver: Arc<D>,
    clock: Clock,
    permits: HashMap<String, Arc<Semaphore>>,
    journal: Journal,
}

impl<D: Deliver> Worker<D> {
    /// A worker over `store` using `deliver`.
    pub fn new(store: Store, config: Arc<Config>, deliver: D, clock: Clock) -> Self {
        let permits = config
            .applicazioni
            .iter()
            .map(|a| {
                (
                    a.id_a2a.clone(),
                    Arc::new(Semaphore::new(config.outbox.parallel)),
                )
            })
            .collect();
        Self {
            store,
            config,
            deliver: Arc::new(deliver),
            clock,
            permits,
            journal: Journal::disabled(),
        }
    }

    /// Records every delivery attempt in `journal`.
    pub fn with_journal(mut self, journal: Journal) -> Self {
        self.journal = journal;
        self
    }

    /// Runs until `shutdown` turns true; then waits for deliveries in flight up to the grace.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let signal = self.store.outbox_signal();
        loop {
            if *shutdown.borrow() {
                return;
            }
            // Arm the wake-up first: a receipt stored while we scan still wakes us.
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let now = (self.clock)();
            let due = match self.store.outbox_due(now, ROUND) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(error = %e, "outbox scan failed");
                    Vec::new()
                }
            };
            if !due.is_empty() {
                let mut round = JoinSet::new();
                for entry in due {
                    let job = self.job(entry);
                    round.spawn(job);
                }
                let drained = async { while round.join_next().await.is_some() {} };
                tokio::select! {
                    () = drained => continue,
                    () = stopped(&mut shutdown) => {
                        let grace = Duration::from_millis(self.config.outbox.shutdown_grace_ms);
                        let _ = tokio::time::timeout(grace, async { while round.join_next().await.is_some() {} }).await;
                        return;
                    }
                }
            }
            let sleep = match self.store.outbox_next_due() {
                Ok(next) => next.map(|t| (t - (self.clock)()).to_std().unwrap_or_default()),
                Err(e) => {
                    tracing::error!(error = %e, "outbox scan failed");
                    Some(Duration::from_secs(1))
                }
            };
            tokio::select! {
                () = &mut notified => {}
                () = async { match sleep { Some(d) => tokio::time::sleep(d).await, None => std::future::pending().await } } => {}
                () = stopped(&mut shutdown) => return,
            }
        }
    }

    /// One delivery attempt, as a task.
    fn job(&self, entry: OutboxEntry) -> impl Future<Output = ()> + Send + 'static {
        let store = self.store.clone();
        let config = self.config.clone();
        let deliver = self.deliver.clone();
        let clock = self.clock.clone();
        let journal = self.journal.clone();
        let permit = entry
            .id_a2a
            .as_ref()
            .and_then(|a| self.permits.get(a))
            .cloned();
        async move {
            let _permit = match &permit {
                Some(p) => p.clone().acquire_owned().await.ok(),
                None => None,
            };
            let started = std::time::Instant::now();
            let mut sent = journal.payloads().then(Vec::new);
            let result = attempt(&store, &config, deliver.as_ref(), &entry, sent.as_mut()).await;
            let elapsed = started.elapsed();
            let now = clock();
            let mut event = journal
                .enabled()
                .then(|| delivery_event(&entry, now, elapsed, sent.as_deref()));
            let outcome = match result {
                Ok(()) => {
                    tracing::info!(outbox_id = entry.id, notice_iuv = %entry.iuv, attempts = entry.tentativi + 1, "receipt delivered to the gestionale");
                    store.remove_outbox(entry.id)
                }
                Err(Failure::NoConnector(why)) => {
                    if let Some(e) = &mut event {
                        e.esito = Esito::Ko;
                        e.sottotipo_esito = Some("dead".into());
                        e.dettaglio_esito = Some(why.clone());
                    }
                    store.put_outbox(&park(entry, now, why))
                }
                Err(Failure::Retry(why)) => {
                    let next = failed(&config, entry, now, why, fastrand::f64());
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
                    store.put_outbox(&next)
                }
            };
            if let Some(e) = event {
                journal.record(e);
            }
            if let Err(e) = outcome {
                tracing::error!(error = %e, "cannot record an outbox delivery");
            }
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

/// Why a receipt of application `id_a2a` cannot be delivered (None: it can).
pub fn undeliverable(config: &Config, id_a2a: Option<&str>) -> Option<String> {
    connector(config, id_a2a).err()
}

/// The connector of application `id_a2a`, or why there is none.
fn connector<'c>(
    config: &'c Config,
    id_a2a: Option<&str>,
) -> Result<(&'c str, &'c Connettore), String> {
    let Some(id) = id_a2a else {
        return Err("the receipt belongs to no application (unknown notice)".into());
    };
    match config.applicazioni.iter().find(|a| a.id_a2a == id) {
        Some(a) => match &a.connettore {
            Some(c) => Ok((&a.id_a2a, c)),
            None => Err(format!("application {id} has no connettore")),
        },
        None => Err(format!("application {id} is not configured")),
    }
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
    let (id_a2a, connettore) =
        connector(config, entry.id_a2a.as_deref()).map_err(Failure::NoConnector)?;
    let receipt = store
        .ricevuta(&entry.dominio, &entry.iuv, &entry.receipt_id)
        .map_err(|e| Failure::Retry(e.to_string()))?
        .ok_or_else(|| Failure::Retry("the receipt is missing from the store".into()))?;
    let position = store
        .pendenza(&entry.dominio, &entry.iuv)
        .map_err(|e| Failure::Retry(e.to_string()))?
        .filter(|p| p.numero_avviso == receipt.numero_avviso);
    let name = config
        .dominio(&entry.dominio)
        .map(|d| d.ragione_sociale.clone());
    let body = serde_json::to_vec(&ricevuta::build(&receipt, position.as_ref(), name))
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

/// Puts an entry back in the queue now (manual re-send); true when it exists.
pub fn requeue(
    store: &Store,
    id: u64,
    now: DateTime<Utc>,
) -> crate::store::Result<Option<OutboxEntry>> {
    let Some(mut entry) = store.outbox_entry(id)? else {
        return Ok(None);
    };
    entry.stato = OutboxState::Pending;
    entry.next_attempt_at = now;
    entry.requeued_at = Some(now);
    store.put_outbox(&entry)?;
    store.outbox_signal().notify_one();
    Ok(Some(entry))
}
