//! Acquisition from pagoPA's FdR 3 API: for each creditor, the flows published after the last
//! one taken (within the API's one-month window), every one fetched and stored once; a flow
//! that fails is recorded with its error and tried again on the next runs, never stopping the
//! others. One run at a time across every node (the `acquisition` scope), on a schedule and on
//! demand.

use super::client::{FdrClient, FlowEntry, ListQuery, Retry};
use super::settle::{self, Settled};
use crate::config::Config;
use crate::domain::clock::Clock;
use crate::store::fdr::FdrWrite;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Duration as Days, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How far back `publishedGt` may go (pagoPA refuses older dates with FDR-1000), less a
/// margin for clocks that disagree.
const WINDOW: Days = Days::days(29);

/// A flow that failed, kept until it is acquired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedFlow {
    /// Creditor.
    pub dominio: String,
    /// Flow id.
    pub fdr: String,
    /// PSP.
    pub psp_id: String,
    /// Revision.
    pub revision: u32,
    /// When pagoPA published it.
    pub published: DateTime<Utc>,
    /// The flow's date, when listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow_date: Option<DateTime<Utc>>,
    /// The last error.
    pub error: String,
    /// Runs it failed in.
    pub failures: u32,
    /// When it last failed.
    pub last: DateTime<Utc>,
}

impl FailedFlow {
    fn entry(&self) -> FlowEntry {
        FlowEntry {
            fdr: self.fdr.clone(),
            psp_id: self.psp_id.clone(),
            revision: self.revision,
            published: self.published,
            flow_date: self.flow_date,
        }
    }

    fn meta_key(dominio: &str, e: &FlowEntry) -> String {
        format!("failed/{dominio}/{}/{}/{:010}", e.fdr, e.psp_id, e.revision)
    }
}

/// What one creditor's part of a run did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DomainReport {
    /// Creditor.
    pub dominio: String,
    /// The `publishedGt` asked (none: every flow pagoPA still lists).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_gt: Option<DateTime<Utc>>,
    /// Flows listed.
    pub listed: usize,
    /// Flows stored now.
    pub acquired: usize,
    /// Flows already stored.
    pub already: usize,
    /// Earlier failures acquired now.
    pub recovered: usize,
    /// Flows that failed (now or before, not yet acquired).
    pub failed: Vec<FailedFlow>,
    /// Why the listing itself failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Started at.
    pub started: DateTime<Utc>,
    /// Ended at.
    pub ended: DateTime<Utc>,
    /// Set when the run did not happen (another run holds the scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Flows removed by the retention.
    pub purged: usize,
    /// Per creditor.
    pub domini: Vec<DomainReport>,
}

/// The acquisition: the store, the configuration and the API client.
#[derive(Clone)]
pub struct Acquisition {
    store: Store,
    config: Arc<Config>,
    client: FdrClient,
    clock: Clock,
}

/// Key of the last run's report.
pub const LAST_RUN: &str = "run/last";

fn cursor_key(dominio: &str) -> String {
    format!("cursor/{dominio}")
}

impl Acquisition {
    /// The acquisition `config.fdr` describes; None when no API URL is configured.
    pub fn new(store: Store, config: Arc<Config>, clock: Clock) -> anyhow::Result<Option<Self>> {
        let f = &config.fdr;
        let Some(url) = &f.url else {
            return Ok(None);
        };
        let retry = Retry {
            attempts: f.attempts,
            base: Duration::from_millis(f.retry_base_ms),
            max: Duration::from_millis(f.retry_max_ms.max(f.retry_base_ms)),
        };
        let client = FdrClient::new(
            url,
            &f.subscription_key,
            Duration::from_millis(f.timeout_ms),
            retry,
        )?;
        Ok(Some(Self {
            store,
            config,
            client,
            clock,
        }))
    }

    /// One run over every creditor (skipped when another node's run is going on).
    pub async fn run(&self) -> Result<Report, StoreError> {
        let started = (self.clock)();
        let Some(guard) = self.store.fdr_lock("acquisition", false).await? else {
            return Ok(Report {
                started,
                ended: (self.clock)(),
                skipped: Some("another acquisition is running".into()),
                purged: 0,
                domini: Vec::new(),
            });
        };
        let outcome = self.run_locked(started).await;
        guard.release().await;
        outcome
    }

    async fn run_locked(&self, started: DateTime<Utc>) -> Result<Report, StoreError> {
        let mut domini = Vec::new();
        for d in &self.config.domini {
            domini.push(self.domain(&d.id).await?);
        }
        let purged = self.purge().await?;
        let report = Report {
            started,
            ended: (self.clock)(),
            skipped: None,
            purged,
            domini,
        };
        let write = FdrWrite {
            meta: vec![(LAST_RUN.into(), Some(serde_json::to_vec(&report)?))],
            ..FdrWrite::default()
        };
        self.store.fdr_write(&write).await?;
        self.store.sync().await?;
        let failed: usize = report.domini.iter().map(|d| d.failed.len()).sum();
        let acquired: usize = report.domini.iter().map(|d| d.acquired + d.recovered).sum();
        tracing::info!(acquired, failed, purged, "settlement flows acquired");
        Ok(report)
    }

    async fn domain(&self, dominio: &str) -> Result<DomainReport, StoreError> {
        let mut report = DomainReport {
            dominio: dominio.to_owned(),
            ..DomainReport::default()
        };
        // Earlier failures first: they are not listed again once the cursor passed them.
        let mut handled = std::collections::HashSet::new();
        for (key, value) in self
            .store
            .fdr_meta_prefix(&format!("failed/{dominio}/"))
            .await?
        {
            let Ok(failed) = serde_json::from_slice::<FailedFlow>(&value) else {
                continue;
            };
            handled.insert(key);
            if failed.failures >= self.config.fdr.max_flow_failures {
                report.failed.push(failed);
                continue;
            }
            match self
                .take(dominio, &failed.entry(), Some(failed.clone()))
                .await?
            {
                Ok(_) => report.recovered += 1,
                Err(again) => report.failed.push(again),
            }
        }
        let now = (self.clock)();
        let cursor: Option<DateTime<Utc>> = self
            .store
            .fdr_meta(&cursor_key(dominio))
            .await?
            .and_then(|v| serde_json::from_slice(&v).ok());
        let mut query = ListQuery {
            published_gt: cursor.filter(|c| *c > now - WINDOW),
            psp_id: None,
            flow_date: None,
            size: self.config.fdr.page_size,
        };
        let entries = match self.list_all(dominio, &query).await {
            Err(e) if e.is_old_published_gt() => {
                tracing::warn!(
                    dominio,
                    "publishedGt refused as too old: listing every flow"
                );
                query.published_gt = None;
                self.list_all(dominio, &query).await
            }
            other => other,
        };
        report.published_gt = query.published_gt;
        let entries = match entries {
            Ok(entries) => entries,
            Err(e) => {
                tracing::warn!(dominio, error = %e, "listing settlement flows failed");
                report.error = Some(e.to_string());
                return Ok(report);
            }
        };
        report.listed = entries.len();
        let mut newest = cursor;
        for entry in &entries {
            newest = newest.max(Some(entry.published));
            if handled.contains(&FailedFlow::meta_key(dominio, entry)) {
                continue;
            }
            let key = crate::domain::fdr::FlowKey {
                dominio: dominio.to_owned(),
                id_flusso: entry.fdr.clone(),
                psp: entry.psp_id.clone(),
                revisione: entry.revision,
            };
            if self.store.flusso(&key).await?.is_some() {
                report.already += 1;
                continue;
            }
            match self.take(dominio, entry, None).await? {
                Ok(Settled::Stored(_)) => report.acquired += 1,
                Ok(Settled::AlreadyStored(_)) => report.already += 1,
                Err(failed) => report.failed.push(failed),
            }
        }
        if newest != cursor
            && let Some(newest) = newest
        {
            let write = FdrWrite {
                meta: vec![(cursor_key(dominio), Some(serde_json::to_vec(&newest)?))],
                ..FdrWrite::default()
            };
            self.store.fdr_write(&write).await?;
        }
        Ok(report)
    }

    async fn list_all(
        &self,
        dominio: &str,
        query: &ListQuery,
    ) -> Result<Vec<FlowEntry>, super::client::FdrError> {
        let mut entries = Vec::new();
        let mut page = 1;
        loop {
            let found = self.client.list(dominio, query, page).await?;
            let last = found.page >= found.total_pages || found.entries.is_empty();
            entries.extend(found.entries);
            if last {
                return Ok(entries);
            }
            page += 1;
        }
    }

    /// Fetches and stores one flow; a failure is recorded (its count raised) and returned.
    async fn take(
        &self,
        dominio: &str,
        entry: &FlowEntry,
        before: Option<FailedFlow>,
    ) -> Result<Result<Settled, FailedFlow>, StoreError> {
        let key = FailedFlow::meta_key(dominio, entry);
        let fetched = self.client.fetch(dominio, entry, (self.clock)()).await;
        // Whatever stops this flow (the API, its content, the store) is recorded against it and
        // the run goes on; only failing to record it stops the run.
        let outcome: Result<Settled, String> = match fetched {
            Ok((flusso, linee, raw)) => {
                settle::store_flow(&self.store, &self.config, flusso, linee, raw)
                    .await
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(settled) => {
                if before.is_some() {
                    let write = FdrWrite {
                        meta: vec![(key, None)],
                        ..FdrWrite::default()
                    };
                    self.store.fdr_write(&write).await?;
                }
                Ok(Ok(settled))
            }
            Err(error) => {
                tracing::warn!(dominio, fdr = %entry.fdr, psp = %entry.psp_id, %error, "settlement flow not acquired");
                let failed = FailedFlow {
                    dominio: dominio.to_owned(),
                    fdr: entry.fdr.clone(),
                    psp_id: entry.psp_id.clone(),
                    revision: entry.revision,
                    published: entry.published,
                    flow_date: entry.flow_date,
                    error,
                    failures: before.map_or(0, |b| b.failures) + 1,
                    last: (self.clock)(),
                };
                let write = FdrWrite {
                    meta: vec![(key, Some(serde_json::to_vec(&failed)?))],
                    ..FdrWrite::default()
                };
                self.store.fdr_write(&write).await?;
                self.store.sync().await?;
                Ok(Err(failed))
            }
        }
    }

    /// Removes the flows acquired before the retention (their settlements stay).
    async fn purge(&self) -> Result<usize, StoreError> {
        let days = self.config.fdr.retention_days;
        if days == 0 {
            return Ok(0);
        }
        purge_before(&self.store, (self.clock)() - Days::days(days as i64)).await
    }

    /// Runs every `every` until `stop` says so (the first run shortly after start).
    pub async fn schedule(self, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut wait = Duration::from_secs(5).min(every);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            if let Err(e) = self.run().await {
                tracing::warn!(error = %e, "settlement flow acquisition failed");
            }
            wait = every;
        }
    }
}

/// The failed flows an operator should look at, every creditor.
pub async fn failed_flows(store: &Store) -> Result<Vec<FailedFlow>, StoreError> {
    Ok(store
        .fdr_meta_prefix("failed/")
        .await?
        .into_iter()
        .filter_map(|(_, v)| serde_json::from_slice(&v).ok())
        .collect())
}

/// The last run's report.
pub async fn last_run(store: &Store) -> Result<Option<Report>, StoreError> {
    Ok(store
        .fdr_meta(LAST_RUN)
        .await?
        .and_then(|v| serde_json::from_slice(&v).ok()))
}

/// Removes flows acquired before `cutoff`; their settlements stay with the receipts.
pub async fn purge_before(store: &Store, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
    let mut after = None;
    let mut old = Vec::new();
    loop {
        let page = store.flussi_after(after.as_ref(), 500).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        old.extend(
            page.into_iter()
                .filter(|f| f.acquisito < cutoff)
                .map(|f| f.key),
        );
    }
    let n = old.len();
    for chunk in old.chunks(200) {
        let write = FdrWrite {
            flows_removed: chunk.to_vec(),
            ..FdrWrite::default()
        };
        store.fdr_write(&write).await?;
    }
    Ok(n)
}
