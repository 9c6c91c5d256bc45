//! A fake of pagoPA's FdR 3 REST API for creditors, on a loopback port, served by its own
//! thread and runtime so that plain and async tests use it alike. It keeps published flows in
//! memory and answers as the API does: the list shows the latest revision of each flow of the
//! creditor, filtered (`pspId`, `publishedGt`, `flowDate`, both strictly after), ordered by
//! flow date then flow id, paged (`page` ≥ 1, `size` 1..=1000, `metadata` and `count`); an
//! older revision stays readable by its path; a date more than 30 days before the fake's clock
//! is refused with 400 `FDR-1000`; a missing or wrong subscription key gets the gateway's 401;
//! an unknown flow a 404 `ErrorResponse`.
//!
//! Faults on demand: a flow (header or payments) or the list failing with a status a number
//! of times, a list page answering late; every request is logged (method, path below the
//! base, decoded query) for the test to read.
//!
//! ```ignore
//! let fake = FakeFdr::start("key");
//! let entry = fake.publish(
//!     FakeFlow::new("77777777777", "2026-11-30PSPTEST01-0001", "PSPTEST01")
//!         .line("01000000000001053", "r1", 1, 1250, "EXECUTED"),
//! );
//! ```

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, TimeZone, Utc};
use serde::Serialize;
use serde_json::json;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use varco::domain::money;
use varco::fdr::client::FlowEntry;

/// Where the API sits below the host, as in production.
pub const BASE_PATH: &str = "/fdr-org/service/v1";

/// How far back `publishedGt` and `flowDate` may go.
const WINDOW_DAYS: i64 = 30;

/// A fault on a flow or on the list: `remaining` answers with `status` (`u32::MAX`: always).
#[derive(Debug, Clone, Copy)]
struct Fault {
    remaining: u32,
    status: u16,
}

impl Fault {
    /// The status to answer when the fault strikes this request (and counts it).
    fn strike(&mut self) -> Option<u16> {
        if self.remaining == 0 {
            return None;
        }
        if self.remaining != u32::MAX {
            self.remaining -= 1;
        }
        Some(self.status)
    }
}

/// One published revision of a flow.
struct Stored {
    org: String,
    fdr: String,
    psp: String,
    revision: u32,
    published: DateTime<Utc>,
    flow_date: DateTime<Utc>,
    /// The `SingleFlowResponse`, as served.
    flow: Box<RawValue>,
    /// Each `Payment`, as served.
    payments: Vec<Box<RawValue>>,
}

/// The fake's memory.
struct Inner {
    key: String,
    now: Option<DateTime<Utc>>,
    flows: Vec<Stored>,
    last_published: Option<DateTime<Utc>>,
    flow_faults: HashMap<String, Fault>,
    list_fault: Option<Fault>,
    slow_pages: HashMap<u32, Duration>,
    slow_flows: HashMap<String, Duration>,
    requests: Vec<String>,
}

impl Inner {
    fn now(&self) -> DateTime<Utc> {
        self.now.unwrap_or_else(Utc::now)
    }
}

type Shared = Arc<Mutex<Inner>>;

/// The fake FdR 3 server. Stops when dropped.
pub struct FakeFdr {
    url: String,
    inner: Shared,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeFdr {
    /// Starts the fake on a free loopback port; it accepts the subscription key `key`. Its
    /// clock is the system's until [`set_now`](Self::set_now).
    pub fn start(key: &str) -> FakeFdr {
        let inner: Shared = Arc::new(Mutex::new(Inner {
            key: key.to_owned(),
            now: None,
            flows: Vec::new(),
            last_published: None,
            flow_faults: HashMap::new(),
            list_fault: None,
            slow_pages: HashMap::new(),
            slow_flows: HashMap::new(),
            requests: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}{BASE_PATH}", listener.local_addr().unwrap());
        let app = router(inner.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("fake-fdr".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let serve = std::future::IntoFuture::into_future(axum::serve(listener, app));
                    // Stopping drops the server and, with the runtime, every connection.
                    tokio::select! {
                        _ = serve => {}
                        _ = rx => {}
                    }
                });
            })
            .unwrap();
        FakeFdr {
            url,
            inner,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// The API's base URL (`http://127.0.0.1:PORT/fdr-org/service/v1`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// Stops the fake's clock at `now` (publication times, the 30-day window, the default
    /// filters).
    pub fn set_now(&self, now: DateTime<Utc>) {
        self.lock().now = Some(now);
    }

    /// The fake's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.lock().now()
    }

    /// Publishes `flow`: revision 1, or the next revision when (creditor, flow id, PSP) was
    /// published before (the earlier ones stay readable, the list shows only the latest). It
    /// is published at the fake's clock (or at its own [`FakeFlow::published`]), always
    /// after the previous publication. Returns the list's entry for it.
    pub fn publish(&self, flow: FakeFlow) -> FlowEntry {
        let mut inner = self.lock();
        let now = inner.now();
        let revision = inner
            .flows
            .iter()
            .filter(|s| s.org == flow.org && s.fdr == flow.fdr && s.psp == flow.psp)
            .map(|s| s.revision)
            .max()
            .unwrap_or(0)
            + 1;
        let published = match (flow.published, inner.last_published) {
            (Some(at), _) => at,
            (None, Some(last)) if last >= now => last + chrono::Duration::milliseconds(1),
            (None, _) => now,
        };
        inner.last_published = Some(inner.last_published.map_or(published, |l| l.max(published)));
        let flow_date = flow.fdr_date.unwrap_or(now);
        let (body, payments) = flow.render(revision, published, flow_date);
        inner.flows.push(Stored {
            org: flow.org.clone(),
            fdr: flow.fdr.clone(),
            psp: flow.psp.clone(),
            revision,
            published,
            flow_date,
            flow: body,
            payments,
        });
        FlowEntry {
            fdr: flow.fdr,
            psp_id: flow.psp,
            revision,
            published,
            flow_date: Some(flow_date),
        }
    }

    /// The flow `fdr` (its header and its payments, any revision) answers `status` the next
    /// `times` requests (`u32::MAX`: every request).
    pub fn fail_flow(&self, fdr: &str, times: u32, status: u16) {
        self.lock().flow_faults.insert(
            fdr.to_owned(),
            Fault {
                remaining: times,
                status,
            },
        );
    }

    /// The list answers `status` the next `times` requests (`u32::MAX`: every request).
    pub fn fail_list(&self, times: u32, status: u16) {
        self.lock().list_fault = Some(Fault {
            remaining: times,
            status,
        });
    }

    /// Page `page` of the list answers after `delay` (every time).
    pub fn slow_list_page(&self, page: u32, delay: Duration) {
        self.lock().slow_pages.insert(page, delay);
    }

    /// The header of flow `fdr` (any revision) answers after `delay` (every time).
    pub fn slow_flow(&self, fdr: &str, delay: Duration) {
        self.lock().slow_flows.insert(fdr.to_owned(), delay);
    }

    /// Every request received, in order: `GET /organizations/…?page=1&size=2` (the path
    /// below [`BASE_PATH`], the query decoded).
    pub fn requests(&self) -> Vec<String> {
        self.lock().requests.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }
}

impl Drop for FakeFdr {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One payment of a [`FakeFlow`].
#[derive(Debug, Clone)]
enum FakeLine {
    Line {
        iuv: String,
        iur: String,
        id_transfer: u8,
        cents: i64,
        status: String,
    },
    /// A payment object written by the test, as JSON text.
    Raw(String),
}

/// A flow to publish: the creditor, flow id and PSP, its payments, and a header whose fields
/// have plausible defaults (totals computed from the lines unless overridden).
#[derive(Debug, Clone)]
pub struct FakeFlow {
    org: String,
    fdr: String,
    psp: String,
    lines: Vec<FakeLine>,
    fdr_date: Option<DateTime<Utc>>,
    published: Option<DateTime<Utc>>,
    regulation: Option<(String, NaiveDate)>,
    bic: Option<String>,
    sender: (String, String, String),
    receiver_org: Option<String>,
    org_name: String,
    tot_payments: Option<u64>,
    sum_payments: Option<String>,
}

impl FakeFlow {
    /// Flow `fdr` of PSP `psp` for creditor `org`, without payments; sender `LEGAL_PERSON`
    /// `psp`, dated at publication, settled that day.
    pub fn new(org: &str, fdr: &str, psp: &str) -> FakeFlow {
        FakeFlow {
            org: org.to_owned(),
            fdr: fdr.to_owned(),
            psp: psp.to_owned(),
            lines: Vec::new(),
            fdr_date: None,
            published: None,
            regulation: None,
            bic: Some("UNCRITMMXXX".into()),
            sender: ("LEGAL_PERSON".into(), psp.to_owned(), format!("PSP {psp}")),
            receiver_org: None,
            org_name: format!("Ente {org}"),
            tot_payments: None,
            sum_payments: None,
        }
    }

    /// Adds a payment: IUV, IUR, transfer index, amount in cents, `payStatus` name; paid on
    /// the flow's day.
    pub fn line(mut self, iuv: &str, iur: &str, id_transfer: u8, cents: i64, status: &str) -> Self {
        self.lines.push(FakeLine::Line {
            iuv: iuv.to_owned(),
            iur: iur.to_owned(),
            id_transfer,
            cents,
            status: status.to_owned(),
        });
        self
    }

    /// Adds `count` executed payments of `cents` each, IUVs `01000000000000001`, … and IURs
    /// `iur-1`, … (numbered from the lines already there).
    pub fn numbered_lines(mut self, count: usize, cents: i64) -> Self {
        let start = self.lines.len();
        for n in start + 1..=start + count {
            self = self.line(
                &format!("{n:017}"),
                &format!("iur-{n}"),
                1,
                cents,
                "EXECUTED",
            );
        }
        self
    }

    /// Adds a payment object written as JSON text, served as is (for malformed payments; it
    /// counts in the computed number of payments, not in the computed sum).
    pub fn raw_line(mut self, json: &str) -> Self {
        self.lines.push(FakeLine::Raw(json.to_owned()));
        self
    }

    /// The flow's date (`fdrDate`, the list's `flowDate`).
    pub fn fdr_date(mut self, at: DateTime<Utc>) -> Self {
        self.fdr_date = Some(at);
        self
    }

    /// Publishes at `at` instead of the fake's clock.
    pub fn published(mut self, at: DateTime<Utc>) -> Self {
        self.published = Some(at);
        self
    }

    /// The settlement transfer's id and day.
    pub fn regulation(mut self, trn: &str, day: NaiveDate) -> Self {
        self.regulation = Some((trn.to_owned(), day));
        self
    }

    /// `bicCodePouringBank` (`None`: left out).
    pub fn bic(mut self, bic: Option<&str>) -> Self {
        self.bic = bic.map(str::to_owned);
        self
    }

    /// The sender's type (`LEGAL_PERSON`, `ABI_CODE`, `BIC_CODE`), id and name.
    pub fn sender(mut self, kind: &str, id: &str, name: &str) -> Self {
        self.sender = (kind.to_owned(), id.to_owned(), name.to_owned());
        self
    }

    /// Writes `org` as `receiver.organizationId` (the flow is still stored under the creditor
    /// of [`FakeFlow::new`]): a flow that contradicts its path.
    pub fn receiver_org(mut self, org: &str) -> Self {
        self.receiver_org = Some(org.to_owned());
        self
    }

    /// `totPayments` as written, whatever the lines.
    pub fn tot_payments(mut self, n: u64) -> Self {
        self.tot_payments = Some(n);
        self
    }

    /// `sumPayments` as written (JSON number text), whatever the lines.
    pub fn sum_payments(mut self, text: &str) -> Self {
        self.sum_payments = Some(text.to_owned());
        self
    }

    /// The `SingleFlowResponse` and the payment objects, as served.
    fn render(
        &self,
        revision: u32,
        published: DateTime<Utc>,
        flow_date: DateTime<Utc>,
    ) -> (Box<RawValue>, Vec<Box<RawValue>>) {
        let day = flow_date.date_naive();
        let pay_date = instant(Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap()));
        let mut payments = Vec::new();
        let mut computed: i64 = 0;
        for (i, line) in self.lines.iter().enumerate() {
            let raw = match line {
                FakeLine::Raw(text) => text.clone(),
                FakeLine::Line {
                    iuv,
                    iur,
                    id_transfer,
                    cents,
                    status,
                } => {
                    computed += cents;
                    serde_json::to_string(&PaymentOut {
                        index: i as u64 + 1,
                        iuv,
                        iur,
                        id_transfer: *id_transfer,
                        pay: &number(&money::format(*cents)),
                        pay_status: status,
                        pay_date: &pay_date,
                    })
                    .unwrap()
                }
            };
            payments.push(RawValue::from_string(raw).expect("a payment is JSON"));
        }
        let computed_sum = number(&money::format(computed));
        let sum = self
            .sum_payments
            .as_deref()
            .map_or_else(|| computed_sum.clone(), number);
        let (trn, regulation_day) = self.regulation.clone().unwrap_or_else(|| {
            let trn: String = format!("TRN{}", self.fdr).chars().take(35).collect();
            (trn, day)
        });
        let (kind, sender_id, psp_name) = &self.sender;
        let org = self.receiver_org.as_deref().unwrap_or(&self.org);
        let flow = FlowOut {
            status: "PUBLISHED",
            revision,
            created: instant(published),
            updated: instant(published),
            fdr: &self.fdr,
            fdr_date: instant(flow_date),
            regulation: &trn,
            regulation_date: regulation_day.to_string(),
            bic_code_pouring_bank: self.bic.as_deref(),
            sender: json!({
                "type": kind, "id": sender_id, "pspId": self.psp, "pspName": psp_name,
                "pspBrokerId": self.psp, "channelId": format!("{}_01", self.psp),
            }),
            receiver: json!({"id": org, "organizationId": org, "organizationName": self.org_name}),
            published: instant(published),
            computed_tot_payments: self.lines.len() as u64,
            computed_sum_payments: &computed_sum,
            tot_payments: self.tot_payments.unwrap_or(self.lines.len() as u64),
            sum_payments: &sum,
        };
        let flow = RawValue::from_string(serde_json::to_string(&flow).unwrap()).unwrap();
        (flow, payments)
    }
}

/// A JSON number written as `text`, served as written.
fn number(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).expect("a JSON number")
}

/// An instant as the API writes it (UTC, `Z`, the fraction only when there is one).
fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PaymentOut<'a> {
    index: u64,
    iuv: &'a str,
    iur: &'a str,
    id_transfer: u8,
    pay: &'a RawValue,
    pay_status: &'a str,
    pay_date: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FlowOut<'a> {
    status: &'a str,
    revision: u32,
    created: String,
    updated: String,
    fdr: &'a str,
    fdr_date: String,
    regulation: &'a str,
    regulation_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    bic_code_pouring_bank: Option<&'a str>,
    sender: serde_json::Value,
    receiver: serde_json::Value,
    published: String,
    computed_tot_payments: u64,
    computed_sum_payments: &'a RawValue,
    tot_payments: u64,
    sum_payments: &'a RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    page_size: u32,
    page_number: u32,
    tot_page: u32,
}

#[derive(Serialize)]
struct PageOut<T> {
    metadata: Metadata,
    count: u64,
    data: Vec<T>,
}

// ---- the routes ------------------------------------------------------------------------

fn router(inner: Shared) -> Router {
    let flow = format!(
        "{BASE_PATH}/organizations/{{org}}/fdrs/{{fdr}}/revisions/{{revision}}/psps/{{psp}}"
    );
    Router::new()
        .route(
            &format!("{BASE_PATH}/organizations/{{org}}/fdrs"),
            get(list),
        )
        .route(&flow, get(flow_header))
        .route(&format!("{flow}/payments"), get(payments))
        .fallback(unknown)
        .with_state(inner)
}

/// The query's pairs, decoded, in order.
type Pairs = Query<Vec<(String, String)>>;

/// An answer other than the one asked for.
enum Refusal {
    /// The APIM gateway's own answer (`{"statusCode", "message"}`): 401, unknown route.
    Gateway(StatusCode, String),
    /// The API's `ErrorResponse` with one error, naming the parameter `path` when given.
    Error {
        status: u16,
        code: &'static str,
        path: Option<String>,
        message: String,
    },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Gateway(status, message) => {
                let body = json!({"statusCode": status.as_u16(), "message": message});
                (status, axum::Json(body)).into_response()
            }
            Refusal::Error {
                status,
                code,
                path,
                message,
            } => {
                let status = StatusCode::from_u16(status).unwrap();
                let error = match path {
                    Some(p) => json!({"path": p, "message": message}),
                    None => json!({"message": message}),
                };
                let body = json!({
                    "errorId": uuid::Uuid::new_v4().to_string(),
                    "httpStatusCode": status.as_u16(),
                    "httpStatusDescription": status.canonical_reason().unwrap_or(""),
                    "appErrorCode": code,
                    "errors": [error],
                });
                (status, axum::Json(body)).into_response()
            }
        }
    }
}

/// The answer of an injected fault.
fn fault(status: u16) -> Refusal {
    let (code, message) = if status >= 500 {
        ("FDR-0500", "An injected failure.")
    } else {
        ("FDR-1000", "An injected refusal.")
    };
    Refusal::Error {
        status,
        code,
        path: None,
        message: message.into(),
    }
}

/// A 400 about query or path parameter `param` (`FDR-1000`, pagoPA's "bad request").
fn bad_request(param: &str, message: &str) -> Refusal {
    Refusal::Error {
        status: 400,
        code: "FDR-1000",
        path: Some(param.to_owned()),
        message: message.to_owned(),
    }
}

/// Logs the request and checks its subscription key; the gateway's 401 when it is missing
/// or wrong.
fn admit(
    inner: &Shared,
    method: &Method,
    uri: &Uri,
    query: &[(String, String)],
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    let mut inner = inner.lock().unwrap();
    let path = uri.path().strip_prefix(BASE_PATH).unwrap_or(uri.path());
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let line = if query.is_empty() {
        format!("{method} {path}")
    } else {
        format!("{method} {path}?{}", query.join("&"))
    };
    inner.requests.push(line);
    let key = headers
        .get("ocp-apim-subscription-key")
        .and_then(|v| v.to_str().ok());
    if key == Some(inner.key.as_str()) {
        return Ok(());
    }
    let why = if key.is_none() { "missing" } else { "invalid" };
    Err(Refusal::Gateway(
        StatusCode::UNAUTHORIZED,
        format!("Access denied: {why} subscription key for the API."),
    ))
}

fn json_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `page` (≥ 1, default 1) and `size` (1..=`max_size`, default 1000).
fn paging(query: &[(String, String)], max_size: u32) -> Result<(u32, u32), Refusal> {
    let read = |name: &str, default: u32, max: u32| match param(query, name) {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| bad_request(name, &format!("must be a number from 1 to {max}"))),
    };
    Ok((read("page", 1, u32::MAX)?, read("size", 1000, max_size)?))
}

/// A date filter: the parameter's instant, not older than the window, or the API's default
/// (the first day of the previous month, 00:00 UTC).
fn date_filter(
    query: &[(String, String)],
    name: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Refusal> {
    let Some(text) = param(query, name) else {
        let first = now.date_naive().with_day(1).unwrap();
        let previous = first - chrono::Months::new(1);
        return Ok(Utc.from_utc_datetime(&previous.and_hms_opt(0, 0, 0).unwrap()));
    };
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|_| bad_request(name, "not an ISO-8601 instant"))?
        .with_timezone(&Utc);
    if at < now - chrono::Duration::days(WINDOW_DAYS) {
        return Err(bad_request(
            name,
            &format!("the date is more than {WINDOW_DAYS} days in the past"),
        ));
    }
    Ok(at)
}

/// Pages of `size` for `count` items (0 when there are none).
fn tot_page(count: usize, size: u32) -> u32 {
    count.div_ceil(size as usize) as u32
}

/// Items `page` (from 1) of `size` of `items`.
fn page_of<T>(items: &[T], page: u32, size: u32) -> impl Iterator<Item = &T> {
    items
        .iter()
        .skip((page as usize - 1).saturating_mul(size as usize))
        .take(size as usize)
}

async fn list(
    State(inner): State<Shared>,
    Path(org): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Refusal> {
    admit(&inner, &method, &uri, &query, &headers)?;
    let (page, size, delay) = {
        let mut inner = inner.lock().unwrap();
        if let Some(status) = inner.list_fault.as_mut().and_then(Fault::strike) {
            return Err(fault(status));
        }
        let (page, size) = paging(&query, 1000)?;
        (page, size, inner.slow_pages.get(&page).copied())
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let inner = inner.lock().unwrap();
    let now = inner.now();
    let published_gt = date_filter(&query, "publishedGt", now)?;
    let flow_date = date_filter(&query, "flowDate", now)?;
    let psp = param(&query, "pspId");
    let latest = |s: &Stored| {
        !inner
            .flows
            .iter()
            .any(|o| o.org == s.org && o.fdr == s.fdr && o.psp == s.psp && o.revision > s.revision)
    };
    let mut found: Vec<&Stored> = inner
        .flows
        .iter()
        .filter(|s| s.org == org && psp.is_none_or(|p| s.psp == p))
        .filter(|s| s.published > published_gt && s.flow_date > flow_date)
        .filter(|s| latest(s))
        .collect();
    found.sort_by(|a, b| (a.flow_date, &a.fdr, &a.psp).cmp(&(b.flow_date, &b.fdr, &b.psp)));
    let data: Vec<serde_json::Value> = page_of(&found, page, size)
        .map(|s| {
            json!({
                "fdr": s.fdr, "pspId": s.psp, "revision": s.revision,
                "published": instant(s.published), "flowDate": instant(s.flow_date),
            })
        })
        .collect();
    let body = PageOut {
        metadata: Metadata {
            page_size: size,
            page_number: page,
            tot_page: tot_page(found.len(), size),
        },
        count: found.len() as u64,
        data,
    };
    Ok(json_response(serde_json::to_vec(&body).unwrap()))
}

/// Path parameters of a flow: creditor, flow id, revision, PSP.
type FlowPath = Path<(String, String, String, String)>;

/// Runs `then` on the stored revision a flow path names, unless a fault strikes first; a
/// 400 for a revision that is not a number from 1, a 404 when there is no such revision.
fn find<T>(
    inner: &Shared,
    (org, fdr, revision, psp): &(String, String, String, String),
    then: impl FnOnce(&Stored) -> T,
) -> Result<T, Refusal> {
    let mut inner = inner.lock().unwrap();
    if let Some(status) = inner.flow_faults.get_mut(fdr).and_then(Fault::strike) {
        return Err(fault(status));
    }
    let Some(revision) = revision.parse::<u32>().ok().filter(|r| *r >= 1) else {
        return Err(bad_request("revision", "must be a number from 1"));
    };
    inner
        .flows
        .iter()
        .find(|s| s.org == *org && s.fdr == *fdr && s.psp == *psp && s.revision == revision)
        .map(then)
        .ok_or_else(|| Refusal::Error {
            status: 404,
            code: "FDR-3001",
            path: None,
            message: format!("Flow {fdr} revision {revision} of PSP {psp} not found."),
        })
}

async fn flow_header(
    State(inner): State<Shared>,
    Path(path): FlowPath,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Refusal> {
    admit(&inner, &method, &uri, &query, &headers)?;
    let slow = inner.lock().unwrap().slow_flows.get(&path.1).copied();
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    let body = find(&inner, &path, |s| s.flow.get().as_bytes().to_vec())?;
    Ok(json_response(body))
}

async fn payments(
    State(inner): State<Shared>,
    Path(path): FlowPath,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Refusal> {
    admit(&inner, &method, &uri, &query, &headers)?;
    let (page, size) = paging(&query, u32::MAX)?;
    let body = find(&inner, &path, |s| {
        let body = PageOut {
            metadata: Metadata {
                page_size: size,
                page_number: page,
                tot_page: tot_page(s.payments.len(), size),
            },
            count: s.payments.len() as u64,
            data: page_of(&s.payments, page, size).collect(),
        };
        serde_json::to_vec(&body).unwrap()
    })?;
    Ok(json_response(body))
}

async fn unknown(
    State(inner): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Pairs,
) -> Result<Response, Refusal> {
    admit(&inner, &method, &uri, &query, &headers)?;
    // No API operation matches: the gateway answers.
    Err(Refusal::Gateway(
        StatusCode::NOT_FOUND,
        "Resource not found".into(),
    ))
}
