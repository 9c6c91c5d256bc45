//! The two HTTP surfaces as routers (callable without a socket in tests): the nodo router
//! (SOAP for pagoPA, and the WSDL) and the api router (health for now; REST later).

use crate::api::{self, ApiState, auth::Authenticator};
use crate::nodo::Nodo;
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
}

impl AppState {
    /// State for both routers.
    pub fn new(nodo: Nodo, ready: Arc<AtomicBool>) -> Self {
        crate::metrics::install();
        let auth = Authenticator::new(&nodo.config);
        Self { nodo, ready, auth }
    }
}

/// The router pagoPA calls: `POST /paForNode`, `GET /paForNode?wsdl`.
pub fn nodo_router(state: AppState) -> Router {
    let limit = state.nodo.config.nodo.max_body_bytes;
    Router::new()
        .route("/paForNode", get(wsdl).post(soap_endpoint))
        // tower-http enforces the limit (413 from Content-Length, before reading); axum's own
        // 2 MB default for extractors is lifted so the configured value is the only one.
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

/// Largest REST body (a bulk load of many positions).
pub const API_MAX_BODY: usize = 256 * 1024 * 1024;

/// The router gestionali and operators call: health, and API Pendenze v2.
pub fn api_router(state: AppState) -> Router {
    let api_state = ApiState {
        nodo: state.nodo.clone(),
        auth: state.auth.clone(),
    };
    let (pendenze, _) = api::pendenze_v2(api_state.clone());
    let backoffice = api::backoffice_v1(api_state);
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .nest(api::PENDENZE_BASE, pendenze)
        .nest(api::backoffice::BASE, backoffice)
        .layer(axum::middleware::from_fn(track_rest))
        .layer(RequestBodyLimitLayer::new(API_MAX_BODY))
        .layer(DefaultBodyLimit::disable())
}

/// Counts and times every REST request (method and status only: paths carry ids).
async fn track_rest(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    crate::metrics::rest_request(
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let text = crate::metrics::render(&state.nodo.store, (state.nodo.clock)());
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.ready.load(Ordering::Acquire) {
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
    let url = config
        .nodo
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}/paForNode", config.nodo.listen));
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
        Some(q) if q.eq_ignore_ascii_case("wsdl") => {
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
    let response = match soap::decode(action, &body) {
        Ok(request) => state.nodo.handle(request, &body).await,
        Err(DecodeError::Fault(op, fault)) => {
            Response::ko(op, fault.bean(&state.nodo.topology.broker))
        }
        Err(DecodeError::UnknownOperation(message)) => {
            tracing::info!(
                outcome = "SOAP_FAULT",
                duration_us = started.elapsed().as_micros() as u64,
                "paForNode request names no operation"
            );
            return xml(
                StatusCode::INTERNAL_SERVER_ERROR,
                soap::envelope::encode_soap_fault(&message),
            );
        }
    };
    let (outcome, fault) = response.outcome();
    crate::metrics::soap_request(
        response.operation().name(),
        outcome.as_str(),
        fault.unwrap_or(""),
        started.elapsed().as_secs_f64(),
    );
    tracing::info!(
        operation = response.operation().name(),
        outcome = outcome.as_str(),
        fault = fault.unwrap_or(""),
        duration_us = started.elapsed().as_micros() as u64,
        "paForNode"
    );
    xml(StatusCode::OK, soap::encode(&response))
}
