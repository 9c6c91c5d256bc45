//! The two HTTP surfaces as routers (callable without a socket in tests): the nodo router
//! (SOAP for pagoPA, and the WSDL) and the api router (health for now; REST later).

use crate::api::{self, ApiState, auth::Authenticator};
use crate::journal::{self, Categoria, Esito, Evento, Journal, Parametri};
use crate::nodo::{Handled, Nodo};
use crate::soap::{self, DecodeError, Response};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tower_http::limit::RequestBodyLimitLayer;

/// The WSDL Varco serves (its own, written from the published facts).
pub const WSDL: &str = include_str!("../wsdl/paForNode.wsdl");
/// The schema the WSDL imports.
pub const XSD: &str = include_str!("../xsd/paForNode.xsd");

/// Shared state of both routers.
#[derive(Clone)]
pub struct AppState {
    /// Handlers of the Nodo's operations.
    pub nodo: Nodo,
    /// False while the store is opening or the server is shutting down.
    pub ready: Arc<AtomicBool>,
    /// Application credentials for the REST APIs.
    pub auth: Arc<Authenticator>,
    /// The event journal's recorder (`[journal]`).
    pub journal: Journal,
}

impl AppState {
    /// State for both routers.
    pub fn new(nodo: Nodo, ready: Arc<AtomicBool>) -> Self {
        crate::metrics::install();
        let auth = Authenticator::new(&nodo.config);
        let journal = Journal::start(&nodo.store, &nodo.config.journal, nodo.clock.clone());
        Self {
            nodo,
            ready,
            auth,
            journal,
        }
    }
}

/// The router pagoPA calls: `POST /paForNode`, `GET /paForNode?wsdl`.
pub fn nodo_router(state: AppState) -> Router {
    let limit = state.nodo.config.nodo.max_body_bytes;
    Router::new()
        .route("/paForNode", get(wsdl).post(soap_endpoint))
        .route(
            "/payment-options/organizations/{fiscal_code}/notices/{notice}",
            get(payment_options).post(payment_options),
        )
        // tower-http enforces the limit (413 from Content-Length, before reading); axum's own
        // 2 MB default for extractors is lifted so the configured value is the only one.
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// The router gestionali and operators call: health, API Pendenze v2, the backoffice and the
/// Ragioneria API.
/// Authentication and the body caps are route layers of the two APIs (`api::pendenze_v2`,
/// `api::backoffice_v1`); this adds the metrics and journal layer around everything and the
/// listener's overall body cap.
pub fn api_router(state: AppState) -> Router {
    let api_state = ApiState::new(state.nodo.clone(), state.auth.clone());
    let (pendenze, _) = api::pendenze_v2(api_state.clone());
    let backoffice = api::backoffice_v1(api_state.clone());
    let ragioneria = api::ragioneria_v3(api_state.clone());
    let console = crate::console::router(api_state, state.journal.clone());
    let tracked = state.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .nest(api::PENDENZE_BASE, pendenze)
        .nest(api::backoffice::BASE, backoffice)
        .nest(api::ragioneria::BASE, ragioneria)
        .merge(console)
        .layer(axum::middleware::from_fn_with_state(tracked, track_rest))
        .layer(RequestBodyLimitLayer::new(api::MAX_BULK_BODY))
        .layer(DefaultBodyLimit::disable())
}

/// Counts and times every REST request (metrics: method and status only, as paths carry ids),
/// logs it with its route template, and records it in the journal (probes excepted). With
/// `journal.payloads` the request body is taken only once the caller is authenticated (see
/// [`api::PayloadSlot`]): nothing here reads a body.
async fn track_rest(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    // The console journals the actions operators take itself (with the operator from the
    // session); its pages and assets are counted, not journaled one by one.
    let probe = matches!(req.uri().path(), "/healthz" | "/readyz" | "/metrics")
        || req.uri().path().starts_with(crate::console::BASE);
    if probe || !state.journal.enabled() {
        let response = next.run(req).await;
        let status = response.status().as_u16();
        rest_done(&method, None, status, started, probe || status == 429);
        return response;
    }
    let (call, mut req) = RestCall::of(req).await;
    let slot = state.journal.payloads().then(api::PayloadSlot::default);
    if let Some(slot) = &slot {
        req.extensions_mut().insert(slot.clone());
    }
    let response = next.run(req).await;
    let status = response.status().as_u16();
    if status == 429 {
        // A client past its login-failure limit: counted, logged once when it crossed the
        // limit (api::auth), never journaled one by one (a flood would purge real events).
        rest_done(&method, None, status, started, true);
        return response;
    }
    let (response, (sent, answered)) = match slot {
        Some(slot) => payloads(&slot, &call, response).await,
        None => (response, (None, None)),
    };
    let elapsed = rest_done(&method, Some(&call.template), status, started, false);
    let at = (state.nodo.clock)();
    state
        .journal
        .record(call.event(at, elapsed, status, sent, answered));
    response
}

/// Metrics and the log line of a REST call (at debug for probes and refusals past the
/// login-failure limit); returns the call's duration. The route is the one declared, never
/// the path: a path may carry ids a gestionale chose.
fn rest_done(
    method: &str,
    route: Option<&str>,
    status: u16,
    started: Instant,
    quiet: bool,
) -> std::time::Duration {
    let elapsed = started.elapsed();
    crate::metrics::rest_request(method, status, elapsed.as_secs_f64());
    let duration_us = elapsed.as_micros() as u64;
    match (quiet, route) {
        (true, _) => tracing::debug!(method, status, duration_us, "api"),
        (false, None) => tracing::info!(method, status, duration_us, "api"),
        (false, Some(route)) => tracing::info!(method, route, status, duration_us, "api"),
    }
    elapsed
}

/// The request body the authenticated layer put in `slot` and the response body, for the
/// journal; the response is rebuilt from the bytes read.
async fn payloads(
    slot: &api::PayloadSlot,
    call: &RestCall,
    response: axum::response::Response,
) -> (axum::response::Response, (Option<String>, Option<String>)) {
    let sent = (slot.0.lock().ok())
        .and_then(|mut s| s.take())
        .map(|bytes| rest_payload(call.content_type.as_deref(), &bytes));
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let kind = (parts.headers.get(header::CONTENT_TYPE))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answered = rest_payload(kind.as_deref(), &bytes);
    let response = axum::response::Response::from_parts(parts, axum::body::Body::from(bytes));
    (response, (sent, Some(answered)))
}

/// What the journal keeps of a REST request, taken before the handler runs.
struct RestCall {
    method: String,
    path: String,
    /// The route with its parameters named: `/api/pendenze/v2/pendenze/{idA2A}/{idPendenza}`.
    template: String,
    params: Vec<(String, String)>,
    /// The user named by `Authorization: Basic` (kept only when the call was authenticated).
    user: Option<String>,
    /// The request's content type (for the payload's form in the journal).
    content_type: Option<String>,
}

impl RestCall {
    async fn of(req: axum::extract::Request) -> (Self, axum::extract::Request) {
        use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
        let (mut parts, body) = req.into_parts();
        let params: Vec<(String, String)> = RawPathParams::from_request_parts(&mut parts, &())
            .await
            .map(|p| {
                p.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let req = axum::extract::Request::from_parts(parts, body);
        let path = req.uri().path().to_owned();
        // The route as declared (`/api/pendenze/v2/pendenze/{idA2A}/{idPendenza}`); a path that
        // matched no route is not named (it may carry anything).
        let template = req
            .extensions()
            .get::<MatchedPath>()
            .map_or_else(|| "(no route)".to_owned(), |m| m.as_str().to_owned());
        let call = Self {
            method: req.method().as_str().to_owned(),
            path,
            template,
            params,
            user: api::auth::basic_credentials(req.headers()).map(|(user, _)| user),
            content_type: req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        };
        (call, req)
    }

    fn param(&self, name: &str) -> Option<String> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    fn event(
        self,
        at: chrono::DateTime<chrono::Utc>,
        elapsed: std::time::Duration,
        status: u16,
        request_payload: Option<String>,
        response_payload: Option<String>,
    ) -> Evento {
        let esito = match status {
            ..400 => Esito::Ok,
            400..500 => Esito::Ko,
            _ => Esito::Fail,
        };
        let mut e = Evento::new(
            Categoria::Rest,
            format!("{} {}", self.method, self.template),
            at,
            elapsed,
            esito,
        );
        let backoffice = self.path.starts_with(api::backoffice::BASE);
        if backoffice {
            e.componente = "API_BACKOFFICE".into();
        }
        e.sottotipo_esito = Some(status.to_string());
        // A user is recorded only once the handler accepted the credentials (no 401), and only
        // where credentials are asked for.
        let authenticated = !matches!(status, 401 | 429) && !self.path.ends_with("/openapi.json");
        e.id_dominio = self.param("idDominio");
        e.id_pendenza = self.param("idPendenza");
        e.principal = self.user.clone().filter(|_| authenticated);
        e.id_a2a = self
            .param("idA2A")
            .or_else(|| e.principal.clone().filter(|_| !backoffice));
        if let Some(nav) = self.param("numeroAvviso") {
            e.iuv = crate::domain::NoticeNumber::parse(&nav)
                .ok()
                .map(|n| n.iuv().to_owned());
            e.numero_avviso = Some(nav);
        }
        if backoffice {
            e.id_outbox = self.param("id").and_then(|id| id.parse().ok());
        }
        e.parametri_richiesta = Some(Parametri {
            metodo: Some(self.method),
            url: Some(self.path),
            status: None,
            payload: request_payload,
        });
        e.parametri_risposta = Some(Parametri {
            status: Some(status),
            payload: response_payload,
            ..Parametri::default()
        });
        e
    }
}

/// A REST body for the journal: text as is (cut), anything else as its size.
fn rest_payload(kind: Option<&str>, bytes: &[u8]) -> String {
    let kind = kind.unwrap_or("");
    let textual = kind.is_empty()
        || kind.contains("json")
        || kind.contains("xml")
        || kind.starts_with("text/");
    if textual {
        journal::payload(bytes)
    } else {
        format!("[{} bytes of {kind}]", bytes.len())
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Some gauges are counted in the store (the outbox's length walks sled's tree): a task of
    // its own, off the request's worker, so a scrape never delays a Nodo request.
    let (store, now) = (state.nodo.store.clone(), (state.nodo.clock)());
    let text = tokio::spawn(async move { crate::metrics::render(&store, now).await })
        .await
        .unwrap_or_else(|e| format!("# metrics unavailable: {e}\n"));
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    // Ready: started, not stopping, and the store answers (a database is probed in the
    // background, so this costs nothing and turns within the probe's period).
    if state.ready.load(Ordering::Acquire) && state.nodo.store.healthy() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

fn xml(status: StatusCode, body: String) -> axum::response::Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/xml; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// The address the served WSDL names: `nodo.public_url`, else the listener's own address.
fn wsdl_text(config: &crate::config::Config) -> String {
    let url = config.nodo.public_url.clone().unwrap_or_else(|| {
        // The listener's own scheme: HTTPS when Varco terminates TLS itself.
        let scheme = if config.nodo.tls.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/paForNode", config.nodo.listen)
    });
    let mut escaped = String::new();
    crate::soap::schema::escape_into(&mut escaped, &url);
    WSDL.replace(
        r#"location="http://127.0.0.1:8080/paForNode""#,
        &format!(r#"location="{escaped}""#),
    )
}

async fn wsdl(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> axum::response::Response {
    match query.as_deref() {
        // `?wsdl` and `?wsdl=` (what URL libraries write for a key without a value).
        Some(q) if q.eq_ignore_ascii_case("wsdl") || q.eq_ignore_ascii_case("wsdl=") => {
            xml(StatusCode::OK, wsdl_text(&state.nodo.config))
        }
        Some("xsd=paForNode.xsd") => xml(StatusCode::OK, XSD.to_owned()),
        _ => (
            StatusCode::METHOD_NOT_ALLOWED,
            "POST a SOAP 1.1 request here, or GET /paForNode?wsdl\n",
        )
            .into_response(),
    }
}

/// Content types a SOAP request may come with (SOAP 1.2's is let through so the envelope check
/// can say what is wrong).
fn acceptable_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return true;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        mime.as_str(),
        "text/xml" | "application/xml" | "application/soap+xml"
    )
}

/// The paForNode endpoint: decode → handle → encode → record.
async fn soap_endpoint(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    let started = Instant::now();
    if !acceptable_content_type(&headers) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "paForNode takes SOAP 1.1 requests with Content-Type text/xml\n",
        )
            .into_response();
    }
    let action = headers.get("soapaction").and_then(|v| v.to_str().ok());
    let handled = match soap::decode(action, &body) {
        Ok(request) => state.nodo.handle(request, &body).await,
        Err(DecodeError::Fault(op, fault)) => Handled {
            response: Response::ko(op, fault.bean(&state.nodo.config.intermediario.id)),
            ids: None,
            owner: None,
        },
        Err(DecodeError::UnknownOperation(message)) => {
            let text = soap::envelope::encode_soap_fault(&message);
            record_soap_fault(&state, action, message, &body, &text, started);
            return xml(StatusCode::INTERNAL_SERVER_ERROR, text);
        }
    };
    let text = soap::encode(&handled.response);
    record_soap(&state, handled, &body, &text, started);
    xml(StatusCode::OK, text)
}

/// pagoPA's payment-options verify (REST, on the nodo listener): JSON in pagoPA's shapes,
/// errors with their ODP codes.
async fn payment_options(
    State(state): State<AppState>,
    axum::extract::Path((fiscal_code, notice)): axum::extract::Path<(String, String)>,
    query: Result<
        axum::extract::Query<crate::nodo::options::OptionsQuery>,
        axum::extract::rejection::QueryRejection,
    >,
) -> axum::response::Response {
    let started = Instant::now();
    let outcome = match query {
        Ok(axum::extract::Query(q)) => state.nodo.payment_options(&fiscal_code, &notice, &q).await,
        Err(e) => Err(crate::soap::Fault::new(
            crate::soap::FaultCode::SintassiXsd,
            format!("query: {e}"),
        )),
    };
    let (status, body, fault) = match outcome {
        Ok(answer) => (StatusCode::OK, serde_json::to_vec(&answer), None),
        Err(fault) => {
            let (status, body) = crate::nodo::options::error(&fault, (state.nodo.clock)());
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                serde_json::to_vec(&body),
                Some(fault.code.code()),
            )
        }
    };
    if let Some(mut e) = answered(&state, "paymentOptions", fault.is_none(), fault, started) {
        // Only well-formed ids go into the journal (the path is the caller's text).
        if crate::domain::fiscal::is_fiscal_code_pa(&fiscal_code) {
            e.id_dominio = Some(fiscal_code);
        }
        e.iuv = crate::domain::iuv_of(&notice, None);
        e.numero_avviso = e.iuv.is_some().then_some(notice);
        state.journal.record(e);
    }
    match body {
        Ok(bytes) => (
            status,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The metrics and the info log line of a call of the Nodo's that was answered (SOAP or the
/// REST payment options), and its journal event to fill in (None when the journal is off).
fn answered(
    state: &AppState,
    operation: &'static str,
    ok: bool,
    fault: Option<&str>,
    started: Instant,
) -> Option<Evento> {
    let outcome = if ok { "OK" } else { "KO" };
    crate::metrics::soap_request(
        operation,
        outcome,
        fault.unwrap_or(""),
        started.elapsed().as_secs_f64(),
    );
    tracing::info!(
        operation,
        outcome,
        fault = fault.unwrap_or(""),
        duration_us = started.elapsed().as_micros() as u64,
        "paForNode"
    );
    if !state.journal.enabled() {
        return None;
    }
    let esito = match (ok, fault) {
        (true, _) => Esito::Ok,
        (false, Some("PAA_SYSTEM_ERROR")) => Esito::Fail,
        (false, _) => Esito::Ko,
    };
    let mut e = Evento::new(
        Categoria::Soap,
        operation,
        (state.nodo.clock)(),
        started.elapsed(),
        esito,
    );
    e.sottotipo_esito = fault.map(str::to_owned);
    Some(e)
}

/// Metrics, the log line and the journal event of an answered paForNode call.
fn record_soap(state: &AppState, handled: Handled, body: &[u8], text: &str, started: Instant) {
    let Handled {
        response,
        ids,
        owner,
    } = handled;
    let (outcome, fault) = response.outcome();
    let ok = outcome == soap::schema::Outcome::Ok;
    let Some(mut e) = answered(state, response.operation().name(), ok, fault, started) else {
        return;
    };
    e.dettaglio_esito = response.fault_description().map(str::to_owned);
    if let Some(ids) = ids {
        ids.fill(owner, &mut e);
    }
    soap_payloads(&state.journal, &mut e, body, text);
    state.journal.record(e);
}

/// The log line and the journal event of a request that names no operation (a SOAP fault).
fn record_soap_fault(
    state: &AppState,
    action: Option<&str>,
    message: String,
    body: &[u8],
    text: &str,
    started: Instant,
) {
    tracing::info!(
        outcome = "SOAP_FAULT",
        duration_us = started.elapsed().as_micros() as u64,
        "paForNode request names no operation"
    );
    if !state.journal.enabled() {
        return;
    }
    let mut e = Evento::new(
        Categoria::Soap,
        action.map_or("", soap::envelope::clean_action),
        (state.nodo.clock)(),
        started.elapsed(),
        Esito::Fail,
    );
    e.sottotipo_esito = Some("SOAP_FAULT".into());
    e.dettaglio_esito = Some(message);
    soap_payloads(&state.journal, &mut e, body, text);
    state.journal.record(e);
}

/// Both SOAP bodies, when the journal keeps payloads.
fn soap_payloads(journal: &Journal, e: &mut Evento, request: &[u8], response: &str) {
    if journal.payloads() {
        e.parametri_richiesta = Some(Parametri {
            payload: Some(journal::payload(request)),
            ..Parametri::default()
        });
        e.parametri_risposta = Some(Parametri {
            payload: Some(journal::payload(response.as_bytes())),
            ..Parametri::default()
        });
    }
}

#[cfg(test)]
mod wsdl_text_tests {
    use super::wsdl_text;
    use crate::config::{Config, TlsConfig};

    #[test]
    fn the_soap_address_takes_the_listener_scheme_unless_a_public_url_is_set() {
        let mut c = Config::demo();
        c.nodo.listen = "127.0.0.1:8443".parse().unwrap();
        assert!(wsdl_text(&c).contains(r#"location="http://127.0.0.1:8443/paForNode""#));
        c.nodo.tls = Some(TlsConfig {
            cert: "nodo.pem".into(),
            key: "nodo.key".into(),
        });
        let text = wsdl_text(&c);
        assert!(
            text.contains(r#"location="https://127.0.0.1:8443/paForNode""#),
            "{text}"
        );
        assert!(!text.contains("http://127.0.0.1:8443"));
        c.nodo.public_url = Some("https://station.example/paForNode?a=1&b=2".into());
        assert!(
            wsdl_text(&c).contains(r#"location="https://station.example/paForNode?a=1&amp;b=2""#)
        );
    }
}
