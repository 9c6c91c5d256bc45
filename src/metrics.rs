//! Prometheus metrics: requests by operation and outcome, latency histograms, the event
//! journal (events written, dropped, purged, held), and, computed at scrape time, the outbox
//! depth, its oldest pending entry's age and the store's size.

use crate::store::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Latency buckets in seconds: the Nodo's 2 s SLA and 7 s timeout sit on bucket edges.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 7.0,
];

/// Installs the process-wide recorder once (later calls reuse it, as tests start many servers).
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .expect("static, non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed by an embedding program: then ours stays
        // detached and /metrics shows only the gauges computed at scrape time.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// One SOAP request answered.
pub fn soap_request(operation: &'static str, outcome: &'static str, fault: &str, seconds: f64) {
    metrics::counter!("varco_soap_requests_total", "operation" => operation, "outcome" => outcome, "fault" => fault.to_owned()).increment(1);
    metrics::histogram!("varco_soap_request_duration_seconds", "operation" => operation)
        .record(seconds);
}

/// One REST request answered.
pub fn rest_request(method: &str, status: u16, seconds: f64) {
    metrics::counter!("varco_rest_requests_total", "method" => method.to_owned(), "status" => status.to_string()).increment(1);
    metrics::histogram!("varco_rest_request_duration_seconds", "method" => method.to_owned())
        .record(seconds);
}

/// A TLS certificate reload (SIGHUP) that took effect or failed.
pub fn tls_reload(listener: &'static str, ok: bool) {
    let result = if ok { "ok" } else { "failed" };
    metrics::counter!("varco_tls_reloads_total", "listener" => listener, "result" => result)
        .increment(1);
}

/// A connection or request refused at a listener's edge (allowlist, client certificate).
pub fn edge_refused(listener: &'static str, reason: &'static str) {
    metrics::counter!("varco_edge_refused_total", "listener" => listener, "reason" => reason)
        .increment(1);
}

/// A password check: `argon2` (a verification ran), `remembered_wrong` (a known-wrong pair,
/// no verification), `limited` (429: too many failures or too many checks waiting).
pub fn auth_check(kind: &'static str) {
    metrics::counter!("varco_auth_checks_total", "kind" => kind).increment(1);
}

/// Journal events written to the store.
pub fn journal_written(n: u64) {
    metrics::counter!("varco_journal_events_total").increment(n);
}

/// A journal event dropped because the queue was full (or the journal closed).
pub fn journal_dropped() {
    metrics::counter!("varco_journal_dropped_total").increment(1);
}

/// Journal events removed by the purge (age or count bound).
pub fn journal_purged(n: u64) {
    metrics::counter!("varco_journal_purged_total").increment(n);
}

/// Events held in the journal.
pub fn journal_entries(n: u64) {
    metrics::gauge!("varco_journal_entries").set(n as f64);
}

/// The text of `GET /metrics`.
pub async fn render(store: &Store, now: chrono::DateTime<chrono::Utc>) -> String {
    let mut out = install().render();
    let (flushes, waiters) = store.commit_stats();
    let oldest = store
        .outbox_next_due()
        .await
        .ok()
        .flatten()
        .map(|t| (now - t).num_milliseconds().max(0) as f64 / 1000.0)
        .unwrap_or(0.0);
    let gauges = [
        (
            "varco_outbox_entries",
            "Outbox entries (pending and dead).",
            store.outbox_len().await.unwrap_or(0) as f64,
        ),
        (
            "varco_outbox_oldest_due_seconds",
            "How long the most overdue pending entry has waited.",
            oldest,
        ),
        (
            "varco_store_positions",
            "Stored positions.",
            store.count_pendenze().await.unwrap_or(0) as f64,
        ),
        (
            "varco_store_disk_bytes",
            "Bytes the store occupies on disk.",
            store.size_on_disk().await.unwrap_or(0) as f64,
        ),
        (
            "varco_store_flushes_total",
            "Group-commit flushes.",
            flushes as f64,
        ),
        (
            "varco_store_flush_waiters_total",
            "Writes acknowledged through a group-commit flush.",
            waiters as f64,
        ),
    ];
    for (name, help, value) in gauges {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    }
    out
}
