//! Disturbances run against Varco's api listener while `disturb` measures verify: a
//! wrong-password flood, or concurrent listings.
//!
//! * **Flood.** Each worker sends `GET <path>` with `Authorization: Basic` of a user name
//!   never used before (`flood-<worker>-<n>`) and a wrong password: every request is a new
//!   pair, so none is answered from the remembered failures and each would cost an argon2
//!   if the server did not hold it back.
//! * **Listings.** Each worker sends `GET <path>` (by default the first page of the caller's
//!   positions with their total count) with the right credentials.
//! * **Probes.** The control: the flood's connections sending `GET /healthz`, the cheapest
//!   request the api listener answers. What the flood costs verify beyond this is what the
//!   password checks cost; up to it, it is what any traffic of that rate costs on these cores.
//!
//! Like `load`, each worker owns one keep-alive HTTP/1.1 connection (re-opened when the
//! server closes it) and sends its next request once the previous response is read: a closed
//! loop, at most N requests in flight. The connections are opened by [`start`], which
//! returns once the workers run; [`Disturber::stop`] stops them (a request in flight is
//! abandoned and not counted) and reports every request completed in between — the
//! whole span, warm-up of the measured load included — by HTTP status, plus transport
//! failures (I/O, protocol, per-request timeout, failed re-connect) and latencies.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use hyper::header::HeaderValue;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use crate::client::{Conn, Target, basic_auth};
use crate::load::MAX_TRACKABLE_US;

/// What a disturber sends.
#[derive(Clone, Debug)]
pub enum Kind {
    /// A new user name and a wrong password per request.
    Flood,
    /// Requests with these (right) credentials.
    Listings(HeaderValue),
    /// Requests without credentials (to `/healthz`).
    Probes,
}

impl Kind {
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Flood => "flood",
            Kind::Listings(_) => "listings",
            Kind::Probes => "probes",
        }
    }
}

/// What to run.
#[derive(Debug)]
pub struct DisturbConfig {
    pub kind: Kind,
    pub target: Target,
    pub connections: usize,
    pub timeout: Duration,
}

/// Counters of one worker (and, merged, of the whole disturbance).
#[derive(Debug)]
struct Stats {
    hist: Histogram<u64>,
    requests: u64,
    statuses: BTreeMap<u16, u64>,
    transport: u64,
    reconnects: u64,
    last_error: Option<String>,
}

impl Stats {
    fn new() -> Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3)
                .context("creating histogram")?,
            requests: 0,
            statuses: BTreeMap::new(),
            transport: 0,
            reconnects: 0,
            last_error: None,
        })
    }

    fn merge(&mut self, other: Stats) -> Result<()> {
        self.hist.add(&other.hist).context("merging histograms")?;
        self.requests += other.requests;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.transport += other.transport;
        self.reconnects += other.reconnects;
        if other.last_error.is_some() {
            self.last_error = other.last_error;
        }
        Ok(())
    }
}

/// A running disturbance.
pub struct Disturber {
    kind: Kind,
    connections: usize,
    stop: watch::Sender<bool>,
    workers: Vec<JoinHandle<Result<Stats>>>,
    started: Instant,
}

/// What a disturbance did.
#[derive(Debug)]
pub struct DisturbReport {
    kind: &'static str,
    connections: usize,
    stats: Stats,
    elapsed: Duration,
}

/// Opens the connections and starts the workers.
pub async fn start(config: DisturbConfig) -> Result<Disturber> {
    let mut conns = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        conns.push(Conn::open(&config.target).await?);
    }
    let (stop, stopped) = watch::channel(false);
    let started = Instant::now();
    let workers = conns
        .into_iter()
        .enumerate()
        .map(|(id, conn)| {
            let worker = Worker {
                id,
                kind: config.kind.clone(),
                target: config.target.clone(),
                timeout: config.timeout,
            };
            tokio::spawn(worker.run(conn, stopped.clone()))
        })
        .collect();
    Ok(Disturber {
        kind: config.kind,
        connections: config.connections,
        stop,
        workers,
        started,
    })
}

impl Disturber {
    /// Stops the workers and merges what they saw.
    pub async fn stop(self) -> Result<DisturbReport> {
        self.stop.send_replace(true);
        let elapsed = self.started.elapsed();
        let mut total = Stats::new()?;
        for worker in self.workers {
            total.merge(worker.await.context("disturbance worker panicked")??)?;
        }
        Ok(DisturbReport {
            kind: self.kind.name(),
            connections: self.connections,
            stats: total,
            elapsed,
        })
    }
}

impl DisturbReport {
    pub fn rps(&self) -> f64 {
        self.stats.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn pct(&self, q: f64) -> u64 {
        self.stats.hist.value_at_quantile(q)
    }

    /// `{401:12,429:34567}`
    fn statuses(&self) -> String {
        let mut s = String::from("{");
        for (i, (status, n)) in self.stats.statuses.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{status}:{n}");
        }
        s.push('}');
        s
    }

    /// `conns=N requests=R rps=X statuses={..} transport_errors=T p50_us=.. p99_us=.. max_us=..`
    pub fn line(&self) -> String {
        format!(
            "conns={} requests={} rps={:.1} statuses={} transport_errors={} p50_us={} p99_us={} max_us={}",
            self.connections,
            self.stats.requests,
            self.rps(),
            self.statuses(),
            self.stats.transport,
            self.pct(0.5),
            self.pct(0.99),
            self.stats.hist.max(),
        )
    }

    pub fn to_json(&self) -> serde_json::Value {
        let statuses: serde_json::Map<String, serde_json::Value> = self
            .stats
            .statuses
            .iter()
            .map(|(status, n)| (status.to_string(), (*n).into()))
            .collect();
        json!({
            "kind": self.kind,
            "conns": self.connections,
            "requests": self.stats.requests,
            "statuses": statuses,
            "errors_transport": self.stats.transport,
            "reconnects": self.stats.reconnects,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "rps": self.rps(),
            "p50_us": self.pct(0.5),
            "p99_us": self.pct(0.99),
            "max_us": self.stats.hist.max(),
        })
    }

    /// Warns on stderr about what the disturbance should not have seen: transport failures,
    /// a flood request let in, a listing refused.
    pub fn warn_errors(&self) {
        let s = &self.stats;
        if s.transport > 0 {
            eprintln!(
                "warning: {}: {} transport errors{}",
                self.kind,
                s.transport,
                s.last_error
                    .as_deref()
                    .map(|e| format!("; last: {e}"))
                    .unwrap_or_default()
            );
        }
        let unexpected: u64 = s
            .statuses
            .iter()
            .filter(|(status, _)| match self.kind {
                "flood" => (200..300).contains(*status),
                _ => **status != 200,
            })
            .map(|(_, n)| n)
            .sum();
        if unexpected > 0 {
            eprintln!(
                "warning: {}: {unexpected} unexpected statuses {}",
                self.kind,
                self.statuses()
            );
        }
    }
}

/// One closed-loop disturbance worker on one connection.
struct Worker {
    id: usize,
    kind: Kind,
    target: Target,
    timeout: Duration,
}

impl Worker {
    async fn run(self, conn: Conn, mut stop: watch::Receiver<bool>) -> Result<Stats> {
        let mut stats = Stats::new()?;
        let mut conn = Some(conn);
        let mut n = 0u64;
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stopped| *stopped) => break,
                result = self.step(&mut conn, &mut stats, n) => result?,
            }
            n += 1;
        }
        Ok(stats)
    }

    /// One request (re-opening the connection first if the server closed it).
    async fn step(&self, conn: &mut Option<Conn>, stats: &mut Stats, n: u64) -> Result<()> {
        let mut current = match Conn::kept_or_open(conn, &self.target, &mut stats.reconnects).await
        {
            Ok(c) => c,
            Err(e) => {
                stats.transport += 1;
                stats.last_error = Some(format!("{e:#}"));
                sleep(Duration::from_millis(50)).await;
                return Ok(());
            }
        };
        if current.ready().await.is_err() {
            // Closed by the server between requests: re-open, no error.
            return Ok(());
        }
        let auth = match &self.kind {
            Kind::Flood => Some(basic_auth(
                &format!("flood-{}-{n}", self.id),
                "not-the-password",
            )?),
            Kind::Listings(auth) => Some(auth.clone()),
            Kind::Probes => None,
        };
        let headers: Vec<(&'static str, HeaderValue)> =
            auth.map(|a| ("Authorization", a)).into_iter().collect();
        let started = Instant::now();
        let result = timeout(self.timeout, current.get(&self.target, &headers)).await;
        match result {
            Ok(Ok((status, _body))) => {
                *conn = Some(current);
                stats.requests += 1;
                *stats.statuses.entry(status.as_u16()).or_default() += 1;
                let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                stats.hist.saturating_record(us.clamp(1, MAX_TRACKABLE_US));
            }
            Ok(Err(e)) => {
                stats.requests += 1;
                stats.transport += 1;
                stats.last_error = Some(format!("{e:#}"));
            }
            Err(_elapsed) => {
                stats.requests += 1;
                stats.transport += 1;
                stats.last_error = Some(format!("timeout after {:?}", self.timeout));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_counted_and_merged() {
        let mut a = Stats::new().unwrap();
        let mut b = Stats::new().unwrap();
        a.statuses.insert(429, 3);
        b.statuses.insert(429, 2);
        b.statuses.insert(401, 1);
        a.merge(b).unwrap();
        let report = DisturbReport {
            kind: "flood",
            connections: 2,
            stats: a,
            elapsed: Duration::from_secs(1),
        };
        assert_eq!(report.statuses(), "{401:1,429:5}");
        assert_eq!(report.to_json()["statuses"]["429"], 5);
    }
}
