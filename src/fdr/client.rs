//! The client of pagoPA's FdR 3 REST API for creditors (`fdr-org`, base
//! `https://api.platform.pagopa.it/fdr-org/service/v1`): the published flows of a creditor
//! (`GET /organizations/{org}/fdrs`, only each flow's latest revision), one flow's header
//! (`…/fdrs/{fdr}/revisions/{revision}/psps/{pspId}`) and its payments (`…/payments`), both
//! paged. Every call carries the APIM subscription key (`Ocp-Apim-Subscription-Key`), has a
//! timeout, and is retried with capped exponential backoff when the failure may pass
//! (connection errors, timeouts, 429, 5xx), never on another 4xx.
//!
//! What comes back is checked before it becomes domain data: flow ids, transfer indexes,
//! amounts (read from the JSON number's text, never through a float), outcome names, dates,
//! and that the flow is the one asked for, of the creditor asked for. A failed check is an
//! [`FdrError::Decode`] naming the field.

use crate::domain::fdr::{Esito, FlowKey, Flusso, Fonte, Linea, Mittente, StatoFlusso, flow_id_ok};
use crate::domain::money::{self, Cents};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Europe::Rome;
use reqwest::Url;
use reqwest::header::{ACCEPT, HeaderValue};
use serde::de::Deserialize;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;

/// The header that carries the APIM subscription key.
const KEY_HEADER: &str = "Ocp-Apim-Subscription-Key";

/// The largest answer read (a page of 1000 payments is a few hundred KB).
const MAX_BODY: usize = 32 << 20;

/// The payments page size [`FdrClient::fetch`] asks for by default (the API's default and
/// the list's maximum).
pub const DEFAULT_PAGE_SIZE: u32 = 1000;

/// Why a call to FdR 3 gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FdrError {
    /// FdR (or the APIM gateway in front of it) answered with an error status.
    #[error("FdR answered HTTP {status}{}: {message}", code_suffix(.app_error_code.as_deref()))]
    Http {
        /// The HTTP status.
        status: u16,
        /// The `appErrorCode` of the `ErrorResponse` (`FDR-1000`, ...), when there is one.
        app_error_code: Option<String>,
        /// The `errors` of the `ErrorResponse` as `path: message` joined by `; ` (or the
        /// gateway's `message`, or the start of the body).
        message: String,
    },
    /// No answer: connection refused or dropped, timeout.
    #[error("FdR unreachable: {0}")]
    Transport(String),
    /// An answer that is not what the API promises: malformed JSON, a field out of its rules,
    /// another flow or creditor than the one asked for. Names the field.
    #[error("FdR answer refused: {0}")]
    Decode(String),
    /// The client cannot be built: a base URL that is not http(s), a key that cannot be a
    /// header value, a TLS stack that does not start.
    #[error("FdR client configuration: {0}")]
    Config(String),
}

fn code_suffix(code: Option<&str>) -> String {
    code.map(|c| format!(" ({c})")).unwrap_or_default()
}

impl FdrError {
    /// Whether trying again may succeed: no answer at all, 429 or a 5xx.
    pub fn retryable(&self) -> bool {
        match self {
            FdrError::Http { status, .. } => *status == 429 || *status >= 500,
            FdrError::Transport(_) => true,
            FdrError::Decode(_) | FdrError::Config(_) => false,
        }
    }

    /// Whether this is the list's refusal of a `publishedGt` older than the API's window
    /// (30 days): a 400 whose errors name `publishedGt`, or a 400 `FDR-1000` that names no
    /// other parameter of the list (`FDR-1000` is pagoPA's generic "bad request", also
    /// given for a bad `page`, `size` or `flowDate`).
    pub fn is_old_published_gt(&self) -> bool {
        let FdrError::Http {
            status: 400,
            app_error_code,
            message,
        } = self
        else {
            return false;
        };
        if message.contains("publishedGt") {
            return true;
        }
        app_error_code.as_deref() == Some("FDR-1000")
            && !["flowDate", "pspId", "page", "size"]
                .iter()
                .any(|p| message.contains(p))
    }
}

/// How failed calls are tried again: at most `attempts` tries in all, waiting
/// `base · 2^n` (capped at `max`) before the retry that follows the `n+1`-th failure. Only
/// failures that may pass are retried ([`FdrError::retryable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Tries in all, the first included (0 counts as 1).
    pub attempts: u32,
    /// The wait after the first failure.
    pub base: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Retry {
    /// The wait before try `failures + 1`, after `failures` (≥ 1) failed ones.
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(31);
        self.base.saturating_mul(1u32 << exp).min(self.max)
    }
}

impl Default for Retry {
    /// Four tries, waiting 2, 4 and 8 s (GovPay's acquisition retries three times with
    /// the same waits).
    fn default() -> Self {
        Self {
            attempts: 4,
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        }
    }
}

/// The filters of a list call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Only flows published strictly after this instant (`publishedGt`; at most 30 days
    /// back, else the API answers 400, see [`FdrError::is_old_published_gt`]). Without it
    /// the API starts from the first day of the previous month.
    pub published_gt: Option<DateTime<Utc>>,
    /// Only flows of this PSP (`pspId`).
    pub psp_id: Option<String>,
    /// Only flows dated after this instant (`flowDate`; the same window and default as
    /// `published_gt`).
    pub flow_date: Option<DateTime<Utc>>,
    /// Flows per page (`size`, 1..=1000).
    pub size: u32,
}

impl Default for ListQuery {
    /// No filter, pages of 1000.
    fn default() -> Self {
        Self {
            published_gt: None,
            psp_id: None,
            flow_date: None,
            size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// One flow of a list: the latest published revision of (creditor, flow id, PSP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowEntry {
    /// The flow id (`fdr`, pagoPA's `[a-zA-Z0-9\-_]{1,35}`).
    pub fdr: String,
    /// The PSP that sent it (`pspId`).
    pub psp_id: String,
    /// Its revision (1 for the first publication).
    pub revision: u32,
    /// When this revision was published.
    pub published: DateTime<Utc>,
    /// The flow's date (`flowDate`), when given.
    pub flow_date: Option<DateTime<Utc>>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowPage {
    /// The flows of the page, in the API's order (flow date, then flow id).
    pub entries: Vec<FlowEntry>,
    /// This page's number (from 1).
    pub page: u32,
    /// The number of pages (`metadata.totPage`; 0 when nothing matches).
    pub total_pages: u32,
    /// `count`: the flows that match (all pages).
    pub count: u64,
}

/// A flow's header as FdR 3 gives it (`SingleFlowResponse`), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowHeader {
    /// The flow id.
    pub fdr: String,
    /// The revision.
    pub revision: u32,
    /// `fdrDate`: when the PSP wrote the flow (`dataOraFlusso`).
    pub fdr_date: DateTime<Utc>,
    /// When it was published, when given.
    pub published: Option<DateTime<Utc>>,
    /// `regulation`: the settlement transfer's id (TRN).
    pub regulation: String,
    /// `regulationDate`: the settlement's day.
    pub regulation_date: NaiveDate,
    /// `bicCodePouringBank`.
    pub bic_code_pouring_bank: Option<String>,
    /// `sender.pspId`.
    pub psp_id: String,
    /// The sender: type (`G`, `A`, `B`), its id and the PSP's name.
    pub mittente: Mittente,
    /// `receiver.organizationId`.
    pub organization_id: String,
    /// `receiver.organizationName`.
    pub organization_name: Option<String>,
    /// `totPayments`: the number of payments the PSP declares.
    pub tot_payments: u64,
    /// `sumPayments`: the total the PSP declares, in cents.
    pub sum_payments: Cents,
}

/// One page of a flow's payments, as domain lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentPage {
    /// The page's payments, in the API's order, not yet matched.
    pub lines: Vec<Linea>,
    /// This page's number (from 1).
    pub page: u32,
    /// The number of pages.
    pub total_pages: u32,
    /// `count`: the flow's payments (all pages).
    pub count: u64,
}

/// A client of FdR 3 for creditors. Cheap to clone: clones share the connection pool.
#[derive(Debug, Clone)]
pub struct FdrClient {
    http: reqwest::Client,
    base: Arc<Url>,
    key: HeaderValue,
    retry: Retry,
    payments_page_size: u32,
}

impl FdrClient {
    /// A client of the API at `base_url` (e.g.
    /// `https://api.platform.pagopa.it/fdr-org/service/v1`) with the APIM subscription key
    /// enabled for the creditors it will ask about; each try has `timeout` to answer.
    pub fn new(
        base_url: &str,
        subscription_key: &str,
        timeout: Duration,
        retry: Retry,
    ) -> Result<Self, FdrError> {
        let base = Url::parse(base_url)
            .map_err(|e| FdrError::Config(format!("base URL {base_url}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(FdrError::Config(format!(
                "base URL {base_url}: not an http(s) URL"
            )));
        }
        let mut key = HeaderValue::from_str(subscription_key).map_err(|_| {
            FdrError::Config("the subscription key is not a valid header value".into())
        })?;
        key.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent(concat!("varco/", env!("CARGO_PKG_VERSION")))
            // The API does not redirect; following one would hand the subscription key
            // (a plain header, which reqwest keeps across hosts) to whoever it names.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| FdrError::Config(error_chain(&e)))?;
        Ok(Self {
            http,
            base: Arc::new(base),
            key,
            retry,
            payments_page_size: DEFAULT_PAGE_SIZE,
        })
    }

    /// The same client asking [`fetch`](Self::fetch) for pages of `size` payments (at
    /// least 1; the default is 1000).
    pub fn with_payments_page_size(mut self, size: u32) -> Self {
        self.payments_page_size = size.max(1);
        self
    }

    /// One page (from 1) of the flows published for `org`:
    /// `GET {base}/organizations/{org}/fdrs?page=&size=&publishedGt=&pspId=&flowDate=`.
    pub async fn list(
        &self,
        org: &str,
        query: &ListQuery,
        page: u32,
    ) -> Result<FlowPage, FdrError> {
        let mut url = self.url(&["organizations", org, "fdrs"]);
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("page", &page.to_string());
            pairs.append_pair("size", &query.size.to_string());
            if let Some(at) = query.published_gt {
                pairs.append_pair("publishedGt", &instant_param(at));
            }
            if let Some(psp) = &query.psp_id {
                pairs.append_pair("pspId", psp);
            }
            if let Some(at) = query.flow_date {
                pairs.append_pair("flowDate", &instant_param(at));
            }
        }
        let body = self.get(url).await?;
        decode_list(&body, page)
    }

    /// The header of the flow `entry` of `org`, checked, and the answer's body as received:
    /// `GET {base}/organizations/{org}/fdrs/{fdr}/revisions/{revision}/psps/{pspId}`.
    pub async fn flow(
        &self,
        org: &str,
        entry: &FlowEntry,
    ) -> Result<(FlowHeader, Vec<u8>), FdrError> {
        let body = self.get(self.flow_url(org, entry, false)).await?;
        let header = decode_flow(&body, org, entry)?;
        Ok((header, body))
    }

    /// One page (from 1) of `size` payments of the flow `entry` of `org`, checked, and the
    /// answer's body as received: `GET …/psps/{pspId}/payments?page=&size=`.
    pub async fn payments(
        &self,
        org: &str,
        entry: &FlowEntry,
        page: u32,
        size: u32,
    ) -> Result<(PaymentPage, Vec<u8>), FdrError> {
        let body = self.payments_body(org, entry, page, size).await?;
        let (payments, _) = decode_payments(&body, page)?;
        Ok((payments, body))
    }

    /// The whole flow `entry` of `org` in the domain's terms: its header as a [`Flusso`]
    /// (acquired at `now`, not yet reconciled), every payment page as [`Linea`]s in the API's
    /// order, and the raw document `{"flow": <the header as received>, "payments": [<every
    /// payment object as received, in order>]}` (what the store keeps as the original).
    pub async fn fetch(
        &self,
        org: &str,
        entry: &FlowEntry,
        now: DateTime<Utc>,
    ) -> Result<(Flusso, Vec<Linea>, Vec<u8>), FdrError> {
        let (header, flow_body) = self.flow(org, entry).await?;
        let size = self.payments_page_size;
        let mut items = Vec::new();
        let mut lines = Vec::new();
        let mut page = 1;
        loop {
            let body = self.payments_body(org, entry, page, size).await?;
            let (payments, raw) = decode_payments(&body, page)?;
            let (total, empty) = (payments.total_pages, payments.lines.is_empty());
            lines.extend(payments.lines);
            items.extend(raw.into_iter().map(ToOwned::to_owned));
            // An empty page ends the walk even if totPage says otherwise: a flow cannot
            // make the client loop.
            if page >= total || empty {
                break;
            }
            page += 1;
        }
        let raw = raw_document(&flow_body, &items)?;
        let flusso = flusso(org, entry, header, now);
        Ok((flusso, lines, raw))
    }

    async fn payments_body(
        &self,
        org: &str,
        entry: &FlowEntry,
        page: u32,
        size: u32,
    ) -> Result<Vec<u8>, FdrError> {
        let mut url = self.flow_url(org, entry, true);
        url.query_pairs_mut()
            .append_pair("page", &page.to_string())
            .append_pair("size", &size.to_string());
        self.get(url).await
    }

    /// `{base}/organizations/{org}/fdrs/{fdr}/revisions/{revision}/psps/{pspId}[/payments]`.
    fn flow_url(&self, org: &str, entry: &FlowEntry, payments: bool) -> Url {
        let revision = entry.revision.to_string();
        let mut segments = vec![
            "organizations",
            org,
            "fdrs",
            &entry.fdr,
            "revisions",
            &revision,
            "psps",
            &entry.psp_id,
        ];
        if payments {
            segments.push("payments");
        }
        self.url(&segments)
    }

    /// The base URL with `segments` appended, each percent-encoded as one path segment.
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = (*self.base).clone();
        url.path_segments_mut()
            .expect("checked in new: an http(s) URL can be a base")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// GET `url` with the subscription key, tried again per the retry policy; the body of
    /// the 2xx answer.
    async fn get(&self, url: Url) -> Result<Vec<u8>, FdrError> {
        let attempts = self.retry.attempts.max(1);
        let mut failures = 0;
        loop {
            tracing::debug!(%url, attempt = failures + 1, "FdR request");
            match self.get_once(&url).await {
                Ok(body) => return Ok(body),
                Err(e) if e.retryable() && failures + 1 < attempts => {
                    failures += 1;
                    let wait = self.retry.delay(failures);
                    tracing::debug!(%url, error = %e, wait_ms = wait.as_millis() as u64, "FdR request failed, trying again");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn get_once(&self, url: &Url) -> Result<Vec<u8>, FdrError> {
        let resp = self
            .http
            .get(url.clone())
            .header(KEY_HEADER, self.key.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let body = read_body(resp).await?;
        if status.is_success() {
            return Ok(body);
        }
        let (app_error_code, message) = error_details(&body);
        Err(FdrError::Http {
            status: status.as_u16(),
            app_error_code,
            message,
        })
    }
}

/// The body of `resp`, up to [`MAX_BODY`].
async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, FdrError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(FdrError::Decode(format!(
                "an answer larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn transport(e: reqwest::Error) -> FdrError {
    if e.is_timeout() {
        FdrError::Transport(format!("timed out: {}", error_chain(&e)))
    } else {
        FdrError::Transport(error_chain(&e))
    }
}

/// An error and its sources, `: `-separated (reqwest's own text says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `appErrorCode` and a message from an error answer: the `ErrorResponse`'s errors as
/// `path: message`, else the APIM gateway's `message`, else the start of the body.
fn error_details(body: &[u8]) -> (Option<String>, String) {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ErrorBody {
        app_error_code: Option<String>,
        http_status_description: Option<String>,
        #[serde(default)]
        errors: Vec<ErrorItem>,
        message: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        path: Option<String>,
        message: Option<String>,
    }
    let Ok(e) = serde_json::from_slice::<ErrorBody>(body) else {
        let text = String::from_utf8_lossy(body);
        let text: String = text.trim().chars().take(200).collect();
        return (
            None,
            if text.is_empty() {
                "(no body)".into()
            } else {
                text
            },
        );
    };
    let errors: Vec<String> = e
        .errors
        .iter()
        .filter_map(|i| match (&i.path, &i.message) {
            (Some(p), Some(m)) => Some(format!("{p}: {m}")),
            (None, Some(m)) => Some(m.clone()),
            (Some(p), None) => Some(p.clone()),
            (None, None) => None,
        })
        .collect();
    let message = if errors.is_empty() {
        e.message
            .or(e.http_status_description)
            .unwrap_or_else(|| "(no message)".into())
    } else {
        errors.join("; ")
    };
    (e.app_error_code, message)
}

/// An instant as the API's query parameters take it: RFC 3339, UTC, with the fraction the
/// instant has (a `publishedGt` cut to milliseconds would list again the flows published within
/// the last millisecond taken; the API reads up to nanoseconds).
fn instant_param(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

// ---- decoding --------------------------------------------------------------------------

/// Deserializes `body` as `T`; a failure names the path of the offending field.
fn decode<'a, T: Deserialize<'a>>(what: &str, body: &'a [u8]) -> Result<T, FdrError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." {
            String::new()
        } else {
            format!(" {path}")
        };
        FdrError::Decode(format!("{what}{at}: {}", e.inner()))
    })?;
    de.end()
        .map_err(|e| FdrError::Decode(format!("{what}: {e}")))?;
    Ok(value)
}

fn bad(field: impl std::fmt::Display, why: impl std::fmt::Display) -> FdrError {
    FdrError::Decode(format!("{field}: {why}"))
}

/// `metadata` of a paged answer.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMetadata {
    page_number: Option<u32>,
    tot_page: u32,
}

/// A paged answer with items `T`.
#[derive(serde::Deserialize)]
struct WirePage<T> {
    metadata: WireMetadata,
    count: Option<u64>,
    #[serde(default = "Vec::new")]
    data: Vec<T>,
}

/// `FlowByPSP`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEntry {
    fdr: String,
    psp_id: String,
    revision: u64,
    published: String,
    flow_date: Option<String>,
}

fn decode_list(body: &[u8], page: u32) -> Result<FlowPage, FdrError> {
    let wire: WirePage<WireEntry> = decode("flow list", body)?;
    let mut entries = Vec::with_capacity(wire.data.len());
    for (i, e) in wire.data.into_iter().enumerate() {
        let field = |name: &str| format!("flow list data[{i}].{name}");
        if !flow_id_ok(&e.fdr) {
            return Err(bad(field("fdr"), format!("{:?} is not a flow id", e.fdr)));
        }
        if !text_ok(&e.psp_id, 1) {
            return Err(bad(field("pspId"), "not 1 to 35 characters"));
        }
        let revision = revision(e.revision).ok_or_else(|| bad(field("revision"), e.revision))?;
        let published = instant(&e.published)
            .ok_or_else(|| bad(field("published"), not_an_instant(&e.published)))?;
        let flow_date = match e.flow_date {
            Some(text) => {
                Some(instant(&text).ok_or_else(|| bad(field("flowDate"), not_an_instant(&text)))?)
            }
            None => None,
        };
        entries.push(FlowEntry {
            fdr: e.fdr,
            psp_id: e.psp_id,
            revision,
            published,
            flow_date,
        });
    }
    Ok(FlowPage {
        page: wire.metadata.page_number.unwrap_or(page),
        total_pages: wire.metadata.tot_page,
        count: wire.count.unwrap_or(entries.len() as u64),
        entries,
    })
}

/// `SingleFlowResponse` (the fields Varco keeps; `created`, `updated` and the `computed…`
/// totals are only in the raw document).
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireFlow<'a> {
    status: Option<String>,
    revision: u64,
    fdr: String,
    fdr_date: String,
    published: Option<String>,
    regulation: String,
    regulation_date: String,
    bic_code_pouring_bank: Option<String>,
    sender: WireSender,
    receiver: WireReceiver,
    tot_payments: u64,
    #[serde(borrow)]
    sum_payments: &'a RawValue,
}

/// `Sender`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSender {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    psp_id: String,
    psp_name: Option<String>,
}

/// `Receiver`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireReceiver {
    organization_id: String,
    organization_name: Option<String>,
}

fn decode_flow(body: &[u8], org: &str, entry: &FlowEntry) -> Result<FlowHeader, FdrError> {
    let w: WireFlow = decode("flow", body)?;
    let field = |name: &str| format!("flow {name}");
    if !flow_id_ok(&w.fdr) {
        return Err(bad(field("fdr"), format!("{:?} is not a flow id", w.fdr)));
    }
    if w.fdr != entry.fdr {
        return Err(bad(
            field("fdr"),
            format!("{} is not the flow asked for, {}", w.fdr, entry.fdr),
        ));
    }
    let revision = revision(w.revision).ok_or_else(|| bad(field("revision"), w.revision))?;
    if revision != entry.revision {
        return Err(bad(
            field("revision"),
            format!(
                "{revision} is not the revision asked for, {}",
                entry.revision
            ),
        ));
    }
    if let Some(status) = w.status.as_deref().filter(|s| *s != "PUBLISHED") {
        return Err(bad(field("status"), format!("{status} is not PUBLISHED")));
    }
    if w.receiver.organization_id != org {
        return Err(bad(
            field("receiver.organizationId"),
            format!(
                "{} is not the creditor asked for, {org}",
                w.receiver.organization_id
            ),
        ));
    }
    if w.sender.psp_id != entry.psp_id {
        return Err(bad(
            field("sender.pspId"),
            format!(
                "{} is not the PSP asked for, {}",
                w.sender.psp_id, entry.psp_id
            ),
        ));
    }
    let tipo = match w.sender.kind.as_str() {
        "LEGAL_PERSON" => "G",
        "ABI_CODE" => "A",
        "BIC_CODE" => "B",
        other => {
            return Err(bad(
                field("sender.type"),
                format!("{other} is not LEGAL_PERSON, ABI_CODE or BIC_CODE"),
            ));
        }
    };
    if !text_ok(&w.sender.id, 1) {
        return Err(bad(field("sender.id"), "not 1 to 35 characters"));
    }
    if !text_ok(&w.regulation, 1) {
        return Err(bad(field("regulation"), "not 1 to 35 characters"));
    }
    let fdr_date =
        instant(&w.fdr_date).ok_or_else(|| bad(field("fdrDate"), not_an_instant(&w.fdr_date)))?;
    let published = match &w.published {
        Some(text) => {
            Some(instant(text).ok_or_else(|| bad(field("published"), not_an_instant(text)))?)
        }
        None => None,
    };
    let regulation_date = calendar_day(&w.regulation_date)
        .ok_or_else(|| bad(field("regulationDate"), not_a_day(&w.regulation_date)))?;
    let sum_payments = amount(w.sum_payments.get())
        .ok_or_else(|| bad(field("sumPayments"), not_an_amount(w.sum_payments.get())))?;
    Ok(FlowHeader {
        fdr: w.fdr,
        revision,
        fdr_date,
        published,
        regulation: w.regulation,
        regulation_date,
        bic_code_pouring_bank: w.bic_code_pouring_bank.filter(|b| !b.is_empty()),
        psp_id: w.sender.psp_id,
        mittente: Mittente {
            tipo: tipo.to_owned(),
            codice: w.sender.id,
            denominazione: w.sender.psp_name.filter(|n| !n.is_empty()),
        },
        organization_id: w.receiver.organization_id,
        organization_name: w.receiver.organization_name.filter(|n| !n.is_empty()),
        tot_payments: w.tot_payments,
        sum_payments,
    })
}

/// `Payment`.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct WirePayment<'a> {
    iuv: String,
    #[serde(default)]
    iur: String,
    id_transfer: Option<i64>,
    #[serde(borrow)]
    pay: &'a RawValue,
    pay_status: String,
    pay_date: String,
}

/// A payments page: the page as domain lines, and each payment object as received.
fn decode_payments(body: &[u8], page: u32) -> Result<(PaymentPage, Vec<&RawValue>), FdrError> {
    let what = format!("payments page {page}");
    let wire: WirePage<&RawValue> = decode(&what, body)?;
    let mut lines = Vec::with_capacity(wire.data.len());
    for (i, raw) in wire.data.iter().enumerate() {
        let item = format!("{what} data[{i}]");
        let p: WirePayment = decode(&item, raw.get().as_bytes())?;
        let field = |name: &str| format!("{item}.{name}");
        if !text_ok(&p.iuv, 1) {
            return Err(bad(field("iuv"), "not 1 to 35 characters"));
        }
        // The schema wants 1 to 35 characters; an empty IUR is kept (reconciliation then
        // matches on the IUV alone) rather than losing the flow.
        if !text_ok(&p.iur, 0) {
            return Err(bad(field("iur"), "more than 35 characters"));
        }
        let indice = match p.id_transfer {
            None => None,
            Some(n @ 1..=5) => Some(n as u8),
            Some(n) => return Err(bad(field("idTransfer"), format!("{n} is not 1 to 5"))),
        };
        let importo =
            amount(p.pay.get()).ok_or_else(|| bad(field("pay"), not_an_amount(p.pay.get())))?;
        let esito = Esito::from_name(&p.pay_status).ok_or_else(|| {
            bad(
                field("payStatus"),
                format!("{:?} is not an outcome", p.pay_status),
            )
        })?;
        let data = calendar_day(&p.pay_date)
            .ok_or_else(|| bad(field("payDate"), not_a_day(&p.pay_date)))?;
        lines.push(Linea::new(p.iuv, p.iur, indice, importo, esito, data));
    }
    let page = PaymentPage {
        page: wire.metadata.page_number.unwrap_or(page),
        total_pages: wire.metadata.tot_page,
        count: wire.count.unwrap_or(lines.len() as u64),
        lines,
    };
    Ok((page, wire.data))
}

/// `{"flow": <flow body>, "payments": [<each payment object, in order>]}`.
fn raw_document(flow: &[u8], payments: &[Box<RawValue>]) -> Result<Vec<u8>, FdrError> {
    #[derive(serde::Serialize)]
    struct Document<'a> {
        flow: &'a RawValue,
        payments: &'a [Box<RawValue>],
    }
    let flow: &RawValue = decode("flow", flow)?;
    serde_json::to_vec(&Document { flow, payments })
        .map_err(|e| FdrError::Decode(format!("raw document: {e}")))
}

/// The domain's flow: `header` of `entry` of `org`, acquired at `now`, not yet reconciled.
fn flusso(org: &str, entry: &FlowEntry, header: FlowHeader, now: DateTime<Utc>) -> Flusso {
    Flusso {
        key: FlowKey {
            dominio: org.to_owned(),
            id_flusso: entry.fdr.clone(),
            psp: entry.psp_id.clone(),
            revisione: entry.revision,
        },
        data_ora_flusso: header.fdr_date,
        pubblicato: Some(entry.published),
        trn: header.regulation,
        data_regolamento: header.regulation_date,
        bic_riversamento: header.bic_code_pouring_bank,
        mittente: header.mittente,
        denominazione_ricevente: header.organization_name,
        numero_pagamenti: header.tot_payments,
        importo_totale: header.sum_payments,
        fonte: Fonte::Fdr3,
        acquisito: now,
        obsoleto: false,
        stato: StatoFlusso::Acquisito,
        segnalazioni: Vec::new(),
        conteggi: [0; 3],
        incasso: None,
    }
}

/// A revision: 1 or more, within `u32`.
fn revision(n: u64) -> Option<u32> {
    u32::try_from(n).ok().filter(|r| *r >= 1)
}

/// `min` to 35 characters, none of them a control character.
fn text_ok(text: &str, min: usize) -> bool {
    let n = text.chars().count();
    (min..=35).contains(&n) && !text.chars().any(char::is_control)
}

fn not_an_instant(text: &str) -> String {
    let shown: String = text.chars().take(40).collect();
    format!("{shown:?} is not an ISO-8601 instant")
}

fn not_a_day(text: &str) -> String {
    let shown: String = text.chars().take(40).collect();
    format!("{shown:?} is not an ISO-8601 date or instant")
}

fn not_an_amount(text: &str) -> String {
    let shown: String = text.chars().take(40).collect();
    format!("{shown} is not an amount in euro, non-negative, with at most two decimals")
}

/// The cents of a JSON number's text, exactly: read digit by digit, never through a float.
/// Plain decimals are what the API sends; an exponent (`1.0E7`, as Java writes large
/// doubles) is shifted into the digits first. The value must be non-negative, with at most
/// two decimals once trailing zeros are dropped, and within pagoPA's maximum; the rule itself
/// is [`money::parse_decimal`]'s.
fn amount(text: &str) -> Option<Cents> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (units, decimals) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if units.is_empty()
        || !digits_only(units)
        || !digits_only(decimals)
        || (mantissa.contains('.') && decimals.is_empty())
        || !(-40..=40).contains(&exponent)
    {
        return None;
    }
    // The digits with the decimal point `point` places from their start.
    let digits = format!("{units}{decimals}");
    let point = units.len() as i64 + exponent;
    let plain = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        let (u, d) = digits.split_at(point as usize);
        format!("{u}.{d}")
    };
    let plain = match plain.split_once('.') {
        Some((u, d)) => match d.trim_end_matches('0') {
            "" => u.to_owned(),
            d => format!("{u}.{d}"),
        },
        None => plain,
    };
    money::parse_decimal(&plain)
}

/// An instant as FdR sends it, read leniently: `YYYY-MM-DDTHH:MM:SS`, then 0 to 9
/// fractional digits, then `Z`, `±HH:MM`, `±HHMM`, `±HH` or nothing. Without an offset
/// the time is taken as UTC: the API documents UTC instants but its examples vary, and
/// GovPay's acquisition reads 1 to 9 fractional digits with or without an offset
/// (CAPABILITIES.md, "Gaps"), so Varco reads what GovPay reads.
fn instant(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', 't'])?;
    let date = iso_date(date)?;
    // The time is 8 characters, then fractional digits, then the offset.
    let (hms, rest) = (rest.get(..8)?, rest.get(8..)?);
    let b = hms.as_bytes();
    if b[2] != b':' || b[5] != b':' {
        return None;
    }
    let (h, m, s) = (number(&hms[..2])?, number(&hms[3..5])?, number(&hms[6..])?);
    let (fraction, offset) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            if !(1..=9).contains(&end) {
                return None;
            }
            (&r[..end], &r[end..])
        }
        None => ("", rest),
    };
    let nanos = if fraction.is_empty() {
        0
    } else {
        format!("{fraction:0<9}").parse().ok()?
    };
    let local = date.and_time(NaiveTime::from_hms_nano_opt(h, m, s, nanos)?);
    let offset = match offset {
        "" | "Z" | "z" => FixedOffset::east_opt(0)?,
        o => {
            let sign = match o.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let o = &o[1..];
            if !o.is_ascii() {
                return None;
            }
            let (oh, om) = match o.len() {
                2 => (number(o)?, 0),
                4 => (number(&o[..2])?, number(&o[2..])?),
                5 if o.as_bytes()[2] == b':' => (number(&o[..2])?, number(&o[3..])?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            FixedOffset::east_opt(sign * (oh as i32 * 3600 + om as i32 * 60))?
        }
    };
    offset
        .from_local_datetime(&local)
        .single()
        .map(|at| at.with_timezone(&Utc))
}

/// A calendar day: `YYYY-MM-DD`, or an instant ([`instant`]) taken as its Europe/Rome day
/// (pagoPA's days are Italian ones; midnight UTC and midnight in Rome both fall on the day
/// meant).
fn calendar_day(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if text.len() == 10 {
        return iso_date(text);
    }
    instant(text).map(|at| at.with_timezone(&Rome).date_naive())
}

/// Exactly `YYYY-MM-DD`.
fn iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    NaiveDate::from_ymd_opt(
        number(&text[..4])? as i32,
        number(&text[5..7])?,
        number(&text[8..])?,
    )
}

/// ASCII digits only (no sign), as a number.
fn number(text: &str) -> Option<u32> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap()
    }

    fn entry() -> FlowEntry {
        FlowEntry {
            fdr: "2026-11-30PSPTEST01-0001".into(),
            psp_id: "PSPTEST01".into(),
            revision: 2,
            published: utc(2026, 12, 1, 8, 0, 0),
            flow_date: Some(utc(2026, 11, 30, 10, 0, 0)),
        }
    }

    /// A flow answer for [`entry`] of creditor 77777777777, `sumPayments` written as `sum`.
    fn flow_body(sum: &str) -> String {
        format!(
            r#"{{"status":"PUBLISHED","revision":2,"created":"2026-11-30T10:00:00Z",
            "updated":"2026-12-01T08:00:00Z","fdr":"2026-11-30PSPTEST01-0001",
            "fdrDate":"2026-11-30T10:00:00.1234567+01:00","regulation":"SEPA - Bonifico 1",
            "regulationDate":"2026-12-01","bicCodePouringBank":"UNCRITMMXXX",
            "sender":{{"type":"ABI_CODE","id":"03069","pspId":"PSPTEST01","pspName":"PSP di prova",
            "pspBrokerId":"PSPTEST01","channelId":"PSPTEST01_01"}},
            "receiver":{{"id":"77777777777","organizationId":"77777777777",
            "organizationName":"Comune di prova"}},"published":"2026-12-01T08:00:00Z",
            "computedTotPayments":2,"computedSumPayments":13.5,"totPayments":2,"sumPayments":{sum}}}"#
        )
    }

    fn payments_body(data: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "metadata": {"pageSize": 1000, "pageNumber": 1, "totPage": 1},
            "count": data.as_array().map_or(0, Vec::len),
            "data": data,
        }))
        .unwrap()
    }

    fn payment(pay: &str, status: &str, id_transfer: i64, date: &str) -> String {
        format!(
            r#"{{"index":1,"iuv":"01000000000001053","iur":"r1","idTransfer":{id_transfer},"pay":{pay},"payStatus":"{status}","payDate":"{date}"}}"#
        )
    }

    /// A payments page whose single payment is `payment`, written as text.
    fn one_payment(payment: &str) -> Vec<u8> {
        format!(
            r#"{{"metadata":{{"pageSize":1000,"pageNumber":1,"totPage":1}},"count":1,"data":[{payment}]}}"#
        )
        .into_bytes()
    }

    #[test]
    fn amounts_are_read_from_the_number_text() {
        for (text, cents) in [
            ("12.5", 1250),
            ("12.50", 1250),
            ("0", 0),
            ("0.01", 1),
            ("120.499999999999999", -1),
            ("1.10", 110),
            ("12.5000", 1250),
            ("1.0E7", 1_000_000_000),
            ("1.2345678E7", 1_234_567_800),
            ("1.23456789E7", 1_234_567_890),
            ("5E-2", 5),
            ("999999999.99", money::MAX_CENTS),
        ] {
            let expected = (cents >= 0).then_some(cents);
            assert_eq!(amount(text), expected, "{text}");
        }
        for bad in [
            "-1",
            "1.234",
            "1e-3",
            "1000000000",
            ".5",
            "5.",
            "1E",
            "\"12.50\"",
            "null",
            "1E999",
        ] {
            assert_eq!(amount(bad), None, "{bad}");
        }
    }

    #[test]
    fn instants_are_read_leniently() {
        let at = utc(2026, 11, 30, 10, 0, 0);
        for text in [
            "2026-11-30T10:00:00Z",
            "2026-11-30T10:00:00",
            "2026-11-30T10:00:00.000Z",
            "2026-11-30T11:00:00+01:00",
            "2026-11-30T11:00:00+0100",
            "2026-11-30T11:00:00+01",
            "2026-11-30T09:00:00.000000000-01:00",
            "2026-11-30t10:00:00z",
        ] {
            assert_eq!(instant(text), Some(at), "{text}");
        }
        assert_eq!(
            instant("2025-01-01T12:00:00.1234567+00:00"),
            Some(utc(2025, 1, 1, 12, 0, 0) + chrono::Duration::nanoseconds(123_456_700))
        );
        for bad in [
            "2026-11-30",
            "2026-11-30T10:00:00+aé1",
            "2026-11-30T10:00",
            "2026-11-30T10:00:00.",
            "2026-11-30T10:00:00.1234567890Z",
            "2026-11-30T25:00:00Z",
            "2026-02-30T10:00:00Z",
            "2026-11-30T10:00:00+1",
            "2026-11-30T10:00:00 UTC",
            "30/11/2026T10:00:00",
        ] {
            assert_eq!(instant(bad), None, "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn readers_never_panic(text in "\\PC{0,40}") {
            let _ = (amount(&text), instant(&text), calendar_day(&text));
        }

        #[test]
        fn readers_never_panic_on_near_misses(
            text in "20[0-9]{2}-[01][0-9]-[0-3][0-9][Tt][0-9:.]{0,14}[-+Zzé0-9:]{0,7}|[0-9.eE+-]{0,12}",
        ) {
            let _ = (amount(&text), instant(&text), calendar_day(&text));
        }

        #[test]
        fn cents_and_instants_read_back(cents in 0..=money::MAX_CENTS, ms in 0i64..4_102_444_800_000) {
            proptest::prop_assert_eq!(amount(&money::format(cents)), Some(cents));
            let at = DateTime::from_timestamp_millis(ms).unwrap();
            proptest::prop_assert_eq!(instant(&instant_param(at)), Some(at));
        }
    }

    #[test]
    fn days_are_italian_days() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        for text in [
            "2026-11-30",
            "2026-11-30T00:00:00Z",
            "2026-11-29T23:00:00Z",
            "2026-11-30T00:00:00",
            "2026-11-30T22:59:59Z",
        ] {
            assert_eq!(calendar_day(text), Some(day), "{text}");
        }
        assert_eq!(calendar_day("2026-11-30T23:00:00Z"), day.succ_opt());
    }

    #[test]
    fn published_gt_goes_out_in_utc_with_its_whole_fraction() {
        let at = DateTime::parse_from_rfc3339("2026-12-01T09:00:00.123456+01:00").unwrap();
        assert_eq!(
            instant_param(at.with_timezone(&Utc)),
            "2026-12-01T08:00:00.123456Z"
        );
    }

    #[test]
    fn a_list_page_is_decoded_and_checked() {
        let body = json!({
            "metadata": {"pageSize": 2, "pageNumber": 2, "totPage": 3},
            "count": 5,
            "data": [
                {"fdr": "2026-11-30PSPTEST01-0001", "pspId": "PSPTEST01", "revision": 1,
                 "published": "2026-12-01T08:00:00.5Z", "flowDate": "2026-11-30T10:00:00"},
                {"fdr": "2026-11-30PSPTEST02-0001", "pspId": "PSPTEST02", "revision": 3,
                 "published": "2026-12-01T09:00:00+01:00"},
            ]
        });
        let page = decode_list(&serde_json::to_vec(&body).unwrap(), 2).unwrap();
        assert_eq!((page.page, page.total_pages, page.count), (2, 3, 5));
        assert_eq!(page.entries.len(), 2);
        assert_eq!(
            page.entries[0].published,
            utc(2026, 12, 1, 8, 0, 0) + chrono::Duration::milliseconds(500)
        );
        assert_eq!(page.entries[0].flow_date, Some(utc(2026, 11, 30, 10, 0, 0)));
        assert_eq!(page.entries[1].revision, 3);
        assert_eq!(page.entries[1].published, utc(2026, 12, 1, 8, 0, 0));
        assert_eq!(page.entries[1].flow_date, None);

        let refused = |data: serde_json::Value| {
            let body = json!({"metadata": {"totPage": 1}, "count": 1, "data": [data]});
            match decode_list(&serde_json::to_vec(&body).unwrap(), 1) {
                Err(FdrError::Decode(m)) => m,
                other => panic!("{other:?}"),
            }
        };
        let m = refused(json!({"fdr": "has space", "pspId": "P", "revision": 1,
            "published": "2026-12-01T08:00:00Z"}));
        assert!(m.contains("data[0].fdr"), "{m}");
        let m = refused(json!({"fdr": "F1", "pspId": "P", "revision": 0,
            "published": "2026-12-01T08:00:00Z"}));
        assert!(m.contains("data[0].revision"), "{m}");
        let m = refused(json!({"fdr": "F1", "pspId": "P", "revision": 1, "published": "ieri"}));
        assert!(m.contains("data[0].published"), "{m}");
        let m = refused(json!({"fdr": "F1", "revision": 1, "published": "2026-12-01T08:00:00Z"}));
        assert!(m.contains("data[0]") && m.contains("pspId"), "{m}");
        let m = match decode_list(br#"{"count": 0, "data": []}"#, 1) {
            Err(FdrError::Decode(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(m.contains("metadata"), "{m}");
    }

    #[test]
    fn a_flow_header_becomes_a_flusso() {
        let body = flow_body("13.50");
        let header = decode_flow(body.as_bytes(), "77777777777", &entry()).unwrap();
        assert_eq!(header.sum_payments, 1350);
        assert_eq!(header.tot_payments, 2);
        assert_eq!(
            header.fdr_date,
            utc(2026, 11, 30, 9, 0, 0) + chrono::Duration::nanoseconds(123_456_700)
        );
        assert_eq!(
            header.mittente,
            Mittente {
                tipo: "A".into(),
                codice: "03069".into(),
                denominazione: Some("PSP di prova".into()),
            }
        );
        let now = utc(2026, 12, 2, 0, 0, 0);
        let f = flusso("77777777777", &entry(), header, now);
        assert_eq!(
            f.key,
            FlowKey {
                dominio: "77777777777".into(),
                id_flusso: "2026-11-30PSPTEST01-0001".into(),
                psp: "PSPTEST01".into(),
                revisione: 2,
            }
        );
        assert_eq!(f.pubblicato, Some(entry().published));
        assert_eq!(f.trn, "SEPA - Bonifico 1");
        assert_eq!(
            f.data_regolamento,
            NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
        );
        assert_eq!(f.bic_riversamento.as_deref(), Some("UNCRITMMXXX"));
        assert_eq!(
            f.denominazione_ricevente.as_deref(),
            Some("Comune di prova")
        );
        assert_eq!((f.numero_pagamenti, f.importo_totale), (2, 1350));
        assert_eq!(
            (f.fonte, f.acquisito, f.obsoleto),
            (Fonte::Fdr3, now, false)
        );
        assert_eq!(f.stato, StatoFlusso::Acquisito);
        assert!(f.segnalazioni.is_empty() && f.conteggi == [0; 3] && f.incasso.is_none());
    }

    #[test]
    fn a_flow_header_that_is_not_the_one_asked_for_is_refused() {
        let refused = |body: String, org: &str| match decode_flow(body.as_bytes(), org, &entry()) {
            Err(FdrError::Decode(m)) => m,
            other => panic!("{other:?}"),
        };
        let ok = flow_body("13.50");
        let m = refused(ok.clone(), "88888888888");
        assert!(m.contains("receiver.organizationId"), "{m}");
        let m = refused(
            ok.replace("\"revision\":2", "\"revision\":1"),
            "77777777777",
        );
        assert!(m.contains("flow revision"), "{m}");
        let m = refused(
            ok.replace("\"pspId\":\"PSPTEST01\"", "\"pspId\":\"X\""),
            "77777777777",
        );
        assert!(m.contains("sender.pspId"), "{m}");
        let m = refused(ok.replace("ABI_CODE", "NICKNAME"), "77777777777");
        assert!(m.contains("sender.type"), "{m}");
        let m = refused(ok.replace("PUBLISHED", "INSERTED"), "77777777777");
        assert!(m.contains("status"), "{m}");
        let m = refused(flow_body("13.505"), "77777777777");
        assert!(m.contains("sumPayments"), "{m}");
        let m = refused(flow_body("-13.50"), "77777777777");
        assert!(m.contains("sumPayments"), "{m}");
        let m = refused(flow_body("\"13.50\""), "77777777777");
        assert!(m.contains("sumPayments"), "{m}");
        let m = refused(
            ok.replace("2026-12-01\",\"bic", "01/12/2026\",\"bic"),
            "77777777777",
        );
        assert!(m.contains("regulationDate"), "{m}");
        let m = refused(
            ok.replace("\"regulation\":\"SEPA - Bonifico 1\",", ""),
            "77777777777",
        );
        assert!(m.contains("regulation"), "{m}");
        for t in [("LEGAL_PERSON", "G"), ("BIC_CODE", "B")] {
            let h = decode_flow(
                ok.replace("ABI_CODE", t.0).as_bytes(),
                "77777777777",
                &entry(),
            );
            assert_eq!(h.unwrap().mittente.tipo, t.1);
        }
    }

    #[test]
    fn payments_become_lines() {
        let body = payments_body(json!([
            {"index": 1, "iuv": "01000000000001053", "iur": "r1", "idTransfer": 1,
             "pay": 12.5, "payStatus": "EXECUTED", "payDate": "2026-11-29T23:00:00Z"},
            {"index": 2, "iuv": "01000000000001054", "iur": "r2", "idTransfer": 5,
             "pay": 1, "payStatus": "NO_RPT", "payDate": "2026-11-30T00:00:00.000000"},
        ]));
        let (page, raw) = decode_payments(&body, 1).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(
            page.lines,
            vec![
                Linea::new(
                    "01000000000001053".into(),
                    "r1".into(),
                    Some(1),
                    1250,
                    Esito::Executed,
                    day
                ),
                Linea::new(
                    "01000000000001054".into(),
                    "r2".into(),
                    Some(5),
                    100,
                    Esito::NoRpt,
                    day
                ),
            ]
        );
        assert_eq!((page.page, page.total_pages, page.count), (1, 1, 2));
        assert_eq!(raw.len(), 2);
        assert!(raw[1].get().contains("\"NO_RPT\""));
        for e in Esito::ALL {
            let body = one_payment(&payment("1.00", e.name(), 1, "2026-11-30"));
            assert_eq!(decode_payments(&body, 1).unwrap().0.lines[0].esito, e);
        }
        // An amount read through a float would become 120.50.
        let body = one_payment(&payment("120.499999999999999", "EXECUTED", 1, "2026-11-30"));
        assert!(matches!(
            decode_payments(&body, 1),
            Err(FdrError::Decode(_))
        ));
        let body = one_payment(&payment("0.10", "EXECUTED", 1, "2026-11-30"));
        assert_eq!(decode_payments(&body, 1).unwrap().0.lines[0].importo, 10);
    }

    #[test]
    fn bad_payments_name_their_field() {
        let refused = |payment: String| match decode_payments(&one_payment(&payment), 3) {
            Err(FdrError::Decode(m)) => m,
            other => panic!("{other:?}"),
        };
        for (p, field) in [
            (payment("1.234", "EXECUTED", 1, "2026-11-30"), "data[0].pay"),
            (payment("-1.00", "EXECUTED", 1, "2026-11-30"), "data[0].pay"),
            (
                payment("\"1.00\"", "EXECUTED", 1, "2026-11-30"),
                "data[0].pay",
            ),
            (
                payment("1.00", "PAID", 1, "2026-11-30"),
                "data[0].payStatus",
            ),
            (
                payment("1.00", "EXECUTED", 0, "2026-11-30"),
                "data[0].idTransfer",
            ),
            (
                payment("1.00", "EXECUTED", 6, "2026-11-30"),
                "data[0].idTransfer",
            ),
            (
                payment("1.00", "EXECUTED", 1, "30/11/2026"),
                "data[0].payDate",
            ),
            (
                payment("1.00", "EXECUTED", 1, "2026-11-30").replace("01000000000001053", ""),
                "data[0].iuv",
            ),
            (
                payment("1.00", "EXECUTED", 1, "2026-11-30").replace("\"pay\":1.00,", ""),
                "data[0]",
            ),
        ] {
            let m = refused(p);
            assert!(
                m.contains("payments page 3") && m.contains(field),
                "{field}: {m}"
            );
        }
        let no_transfer =
            payment("1.00", "EXECUTED", 1, "2026-11-30").replace("\"idTransfer\":1,", "");
        let (page, _) = decode_payments(&one_payment(&no_transfer), 1).unwrap();
        assert_eq!(page.lines[0].indice, None);
    }

    #[test]
    fn the_raw_document_keeps_what_was_received() {
        let flow = flow_body("13.50");
        let page1 = one_payment(&payment("1.0", "EXECUTED", 1, "2026-11-30"));
        let page2 = one_payment(&payment("12.50", "REVOKED", 2, "2026-11-30T00:00:00.0Z"));
        let mut items: Vec<Box<RawValue>> = Vec::new();
        for page in [&page1, &page2] {
            let (_, raw) = decode_payments(page, 1).unwrap();
            items.extend(raw.into_iter().map(ToOwned::to_owned));
        }
        let raw = raw_document(flow.as_bytes(), &items).unwrap();
        let text = String::from_utf8(raw.clone()).unwrap();
        // The numbers' text is kept as sent.
        assert!(
            text.contains("\"pay\":1.0,") && text.contains("\"pay\":12.50,"),
            "{text}"
        );
        assert!(text.contains("\"computedSumPayments\":13.5"), "{text}");
        let doc: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(doc["flow"]["fdr"], "2026-11-30PSPTEST01-0001");
        assert_eq!(doc["payments"].as_array().unwrap().len(), 2);
        assert_eq!(doc["payments"][1]["payStatus"], "REVOKED");
    }

    #[test]
    fn errors_say_whether_to_try_again() {
        let http = |status, code: Option<&str>, message: &str| FdrError::Http {
            status,
            app_error_code: code.map(str::to_owned),
            message: message.into(),
        };
        for status in [429, 500, 502, 503, 504] {
            assert!(http(status, None, "").retryable(), "{status}");
        }
        for status in [400, 401, 403, 404, 409, 422] {
            assert!(!http(status, None, "").retryable(), "{status}");
        }
        assert!(FdrError::Transport("refused".into()).retryable());
        assert!(!FdrError::Decode("x".into()).retryable());

        assert!(
            http(
                400,
                Some("FDR-1000"),
                "The date cannot be older than 30 days"
            )
            .is_old_published_gt()
        );
        assert!(http(400, None, "getAllPublishedFlows.publishedGt: too old").is_old_published_gt());
        assert!(!http(400, Some("FDR-1000"), "flowDate: too old").is_old_published_gt());
        assert!(!http(400, Some("FDR-1000"), "size: must be at most 1000").is_old_published_gt());
        assert!(!http(500, Some("FDR-1000"), "publishedGt").is_old_published_gt());
        assert!(!http(400, Some("FDR-0500"), "boom").is_old_published_gt());
    }

    #[test]
    fn error_answers_are_summarised() {
        let body = json!({
            "errorId": "e1", "httpStatusCode": 400, "httpStatusDescription": "Bad Request",
            "appErrorCode": "FDR-1000",
            "errors": [{"path": "publishedGt", "message": "too old"}, {"message": "and more"}]
        });
        assert_eq!(
            error_details(&serde_json::to_vec(&body).unwrap()),
            (
                Some("FDR-1000".into()),
                "publishedGt: too old; and more".into()
            )
        );
        let apim = br#"{"statusCode": 401, "message": "Access denied: no subscription key"}"#;
        assert_eq!(
            error_details(apim),
            (None, "Access denied: no subscription key".into())
        );
        assert_eq!(
            error_details(b"<html>Bad gateway</html>").1,
            "<html>Bad gateway</html>"
        );
        assert_eq!(error_details(b"").1, "(no body)");
        let e = FdrError::Http {
            status: 400,
            app_error_code: Some("FDR-1000".into()),
            message: "publishedGt: too old".into(),
        };
        assert_eq!(
            e.to_string(),
            "FdR answered HTTP 400 (FDR-1000): publishedGt: too old"
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let retry = Retry {
            attempts: 10,
            base: Duration::from_millis(100),
            max: Duration::from_millis(1000),
        };
        let delays: Vec<u64> = (1..=6).map(|n| retry.delay(n).as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(retry.delay(u32::MAX), Duration::from_millis(1000));
    }

    #[test]
    fn the_client_builds_urls_segment_by_segment() {
        let client = FdrClient::new(
            "https://api.example/fdr-org/service/v1/",
            "key",
            Duration::from_secs(1),
            Retry::default(),
        )
        .unwrap();
        let mut e = entry();
        e.psp_id = "PSP/1 2".into();
        assert_eq!(
            client.flow_url("77777777777", &e, true).as_str(),
            "https://api.example/fdr-org/service/v1/organizations/77777777777/fdrs/\
             2026-11-30PSPTEST01-0001/revisions/2/psps/PSP%2F1%202/payments"
        );
        for bad in ["ftp://x/y", "not a url", "mailto:a@b"] {
            let e = FdrClient::new(bad, "k", Duration::from_secs(1), Retry::default());
            assert!(matches!(e, Err(FdrError::Config(_))), "{bad}");
        }
        let e = FdrClient::new(
            "https://x",
            "a\nb",
            Duration::from_secs(1),
            Retry::default(),
        );
        assert!(matches!(e, Err(FdrError::Config(_))));
    }
}
