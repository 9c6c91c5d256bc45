//! Closed-loop keep-alive load generator.
//!
//! # Method
//!
//! * **Connections first.** All N connections are opened (TCP + HTTP/1.1
//!   handshake) before the clock starts; connecting is not measured. If any
//!   of them cannot be opened the run fails: the server is not up.
//! * **Closed loop.** Each of the N workers owns one connection and sends its
//!   next request only after the previous response body has been read in
//!   full, so there are at most N requests in flight and the request rate is
//!   whatever the server sustains. (Being closed-loop, a server stall delays
//!   the following requests instead of piling them up: latencies under a
//!   stall are under-reported — "coordinated omission". Use p99/p999 and
//!   max together with rps, and compare runs at the same N.)
//! * **Keep-alive.** A connection is reused for every request. If the server
//!   closes it (or it breaks) the worker re-opens one; re-opening after a
//!   clean close is not an error, a failed re-connect is.
//! * **Windows.** The run lasts `warmup + duration`. Requests *started*
//!   during the warm-up are discarded; requests started in the measurement
//!   window are counted even if they complete a little after it ends. The
//!   measured time runs from the end of the warm-up to the completion of the
//!   last counted request, and `rps = requests / measured time`.
//! * **Latency.** Per request, from just before the request is handed to the
//!   connection to just after the last response byte is read, recorded in an
//!   HdrHistogram in microseconds with 3 significant figures (one histogram
//!   per worker, merged at the end, so recording takes no lock).
//! * **Errors** (counted, never fatal; `requests` includes them):
//!   `http_status` — a status other than 200; `ko` — a 200 whose body
//!   contains `<outcome>KO</outcome>` (paForNode reports business errors
//!   in-band); `transport` — I/O or protocol failure, per-request timeout, or
//!   a failed re-connect. Latencies of `http_status` and `ko` responses are
//!   recorded; those of transport errors are not.

use std::time::Duration;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use hyper::StatusCode;
use serde_json::json;
use tokio::time::{Instant, sleep, timeout};

use crate::client::{Conn, Target, soap_action_header};
use crate::template::BodySource;

/// Highest latency the histogram tracks exactly (60 s in µs); larger values
/// are clamped to it.
pub const MAX_TRACKABLE_US: u64 = 60_000_000;

/// What to run.
#[derive(Debug)]
pub struct LoadConfig {
    pub target: Target,
    pub soap_action: String,
    pub body: BodySource,
    pub connections: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub timeout: Duration,
}

/// Counters of one worker (and, merged, of the whole run).
#[derive(Debug)]
struct Stats {
    hist: Histogram<u64>,
    requests: u64,
    http_status: u64,
    ko: u64,
    transport: u64,
    reconnects: u64,
    last_error: Option<String>,
    finished: Instant,
}

impl Stats {
    fn new(now: Instant) -> Result<Self> {
        Ok(Self {
            hist: Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3)
                .context("creating histogram")?,
            requests: 0,
            http_status: 0,
            ko: 0,
            transport: 0,
            reconnects: 0,
            last_error: None,
            finished: now,
        })
    }

    fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.hist.saturating_record(us.clamp(1, MAX_TRACKABLE_US));
    }

    fn merge(&mut self, other: Stats) -> Result<()> {
        self.hist.add(&other.hist).context("merging histograms")?;
        self.requests += other.requests;
        self.http_status += other.http_status;
        self.ko += other.ko;
        self.transport += other.transport;
        self.reconnects += other.reconnects;
        if other.last_error.is_some() {
            self.last_error = other.last_error;
        }
        self.finished = self.finished.max(other.finished);
        Ok(())
    }
}

/// The result of one `load` run.
#[derive(Debug)]
pub struct LoadReport {
    op: String,
    url: String,
    connections: usize,
    stats: Stats,
    elapsed: Duration,
}

impl LoadReport {
    pub fn errors(&self) -> u64 {
        self.stats.http_status + self.stats.ko + self.stats.transport
    }

    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.stats.requests as f64 / secs
        } else {
            0.0
        }
    }

    fn pct(&self, q: f64) -> u64 {
        self.stats.hist.value_at_quantile(q)
    }

    /// The 99th percentile latency, µs.
    pub fn p99_us(&self) -> u64 {
        self.pct(0.99)
    }

    /// `op=... conns=N requests=... errors=... rps=... p50_us=... p99_us=... p999_us=... max_us=...`
    pub fn line(&self) -> String {
        format!(
            "op={} conns={} requests={} errors={} rps={:.1} p50_us={} p99_us={} p999_us={} max_us={}",
            self.op,
            self.connections,
            self.stats.requests,
            self.errors(),
            self.rps(),
            self.pct(0.5),
            self.pct(0.99),
            self.pct(0.999),
            self.stats.hist.max(),
        )
    }

    /// The same numbers plus the error breakdown, as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        let h = &self.stats.hist;
        json!({
            "op": self.op,
            "url": self.url,
            "conns": self.connections,
            "requests": self.stats.requests,
            "errors": self.errors(),
            "errors_http_status": self.stats.http_status,
            "errors_ko": self.stats.ko,
            "errors_transport": self.stats.transport,
            "reconnects": self.stats.reconnects,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "rps": self.rps(),
            "min_us": h.min(),
            "mean_us": h.mean(),
            "p50_us": self.pct(0.5),
            "p90_us": self.pct(0.9),
            "p99_us": self.pct(0.99),
            "p999_us": self.pct(0.999),
            "max_us": h.max(),
        })
    }

    /// Prints the error breakdown on stderr when there were errors.
    pub fn warn_errors(&self) {
        if self.errors() > 0 {
            eprintln!(
                "warning: {} {}: {} errors (http_status={} ko={} transport={}){}",
                self.op,
                self.url,
                self.errors(),
                self.stats.http_status,
                self.stats.ko,
                self.stats.transport,
                self.stats
                    .last_error
                    .as_deref()
                    .map(|e| format!("; last: {e}"))
                    .unwrap_or_default(),
            );
        }
    }
}

/// True if a response body reports a paForNode business error.
pub fn is_ko(body: &[u8]) -> bool {
    const NEEDLE: &[u8] = b"<outcome>KO</outcome>";
    body.windows(NEEDLE.len()).any(|w| w == NEEDLE)
}

/// Runs the load test described by `config` (see the module docs).
pub async fn run(config: LoadConfig) -> Result<LoadReport> {
    let action = soap_action_header(&config.soap_action)?;

    let mut conns = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        conns.push(Conn::open(&config.target).await?);
    }

    let start = Instant::now();
    let measure_from = start + config.warmup;
    let until = measure_from + config.duration;

    let mut workers = Vec::with_capacity(conns.len());
    for conn in conns {
        let worker = Worker {
            target: config.target.clone(),
            action: action.clone(),
            body: config.body.clone(),
            timeout: config.timeout,
            measure_from,
            until,
        };
        workers.push(tokio::spawn(worker.run(conn)));
    }

    let mut total = Stats::new(measure_from)?;
    for worker in workers {
        total.merge(worker.await.context("worker panicked")??)?;
    }
    let elapsed = total.finished.saturating_duration_since(measure_from);
    Ok(LoadReport {
        op: config.soap_action,
        url: format!("http://{}", config.target.authority()),
        connections: config.connections,
        stats: total,
        elapsed,
    })
}

/// One closed-loop worker on one connection.
struct Worker {
    target: Target,
    action: hyper::header::HeaderValue,
    body: BodySource,
    timeout: Duration,
    measure_from: Instant,
    until: Instant,
}

impl Worker {
    async fn run(self, conn: Conn) -> Result<Stats> {
        let mut stats = Stats::new(self.measure_from)?;
        let mut conn = Some(conn);
        while Instant::now() < self.until {
            // Get a usable connection (not timed: a keep-alive connection is
            // ready immediately).
            let kept = Conn::kept_or_open(&mut conn, &self.target, &mut stats.reconnects).await;
            let mut current = match kept {
                Ok(c) => c,
                Err(e) => {
                    let now = Instant::now();
                    if now >= self.measure_from {
                        stats.requests += 1;
                        stats.transport += 1;
                        stats.finished = now;
                    }
                    stats.last_error = Some(format!("{e:#}"));
                    sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if current.ready().await.is_err() {
                // Closed by the server between requests: re-open, no error.
                continue;
            }

            let started = Instant::now();
            if started >= self.until {
                break;
            }
            let counted = started >= self.measure_from;
            let body = self.body.next_body();
            let result = timeout(
                self.timeout,
                current.exchange(&self.target, &self.action, body),
            )
            .await;
            let done = Instant::now();
            match result {
                Ok(Ok((status, response))) => {
                    conn = Some(current);
                    if counted {
                        stats.requests += 1;
                        stats.record(done - started);
                        stats.finished = done;
                        if status != StatusCode::OK {
                            stats.http_status += 1;
                            stats.last_error = Some(format!("HTTP status {status}"));
                        } else if is_ko(&response) {
                            stats.ko += 1;
                            stats.last_error = Some(ko_summary(&response));
                        }
                    }
                }
                Ok(Err(e)) => {
                    if counted {
                        stats.requests += 1;
                        stats.transport += 1;
                        stats.finished = done;
                    }
                    stats.last_error = Some(format!("{e:#}"));
                }
                Err(_elapsed) => {
                    if counted {
                        stats.requests += 1;
                        stats.transport += 1;
                        stats.finished = done;
                    }
                    stats.last_error = Some(format!("timeout after {:?}", self.timeout));
                }
            }
        }
        Ok(stats)
    }
}

/// `KO <faultCode>` extracted from a KO body, for the error summary.
fn ko_summary(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let code = text
        .split_once("<faultCode>")
        .and_then(|(_, rest)| rest.split_once("</faultCode>"))
        .map_or("(no faultCode)", |(code, _)| code);
    format!("outcome KO {code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_ko_outcome() {
        assert!(is_ko(
            b"<r><outcome>KO</outcome><fault><faultCode>PAA_X</faultCode></fault></r>"
        ));
        assert!(!is_ko(b"<r><outcome>OK</outcome></r>"));
        assert!(!is_ko(b""));
        assert_eq!(
            ko_summary(b"<outcome>KO</outcome><fault><faultCode>PAA_SEMANTICA</faultCode>"),
            "outcome KO PAA_SEMANTICA"
        );
    }

    #[test]
    fn stats_merge_and_clamp() {
        let now = Instant::now();
        let mut a = Stats::new(now).unwrap();
        let mut b = Stats::new(now).unwrap();
        a.record(Duration::from_micros(100));
        b.record(Duration::from_secs(3600));
        b.requests = 2;
        b.ko = 1;
        a.merge(b).unwrap();
        assert_eq!(a.hist.len(), 2);
        assert_eq!(a.requests, 2);
        assert_eq!(a.ko, 1);
        assert!(a.hist.max() <= MAX_TRACKABLE_US + MAX_TRACKABLE_US / 1000);
    }
}
