//! The REST surface for gestionali: API Pendenze v2 (GovPay-compatible) under
//! `/api/pendenze/v2`, its OpenAPI document generated from the handlers' annotations, and the
//! health endpoints.

pub mod auth;
pub mod avvisi;
pub mod backoffice;
pub mod documenti;
pub mod dto;
pub mod error;
pub mod extract;
pub mod flussi;
pub mod pendenze;
pub mod ragioneria;

use crate::nodo::Nodo;
use auth::Authenticator;
use axum::Json;
use axum::Router;
use axum::routing::get;
use error::ApiError;
pub use extract::{JsonBody, QueryParams, json_body};
use std::sync::Arc;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Base path of API Pendenze v2.
pub const PENDENZE_BASE: &str = "/api/pendenze/v2";

/// What the REST handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Store, configuration, clock.
    pub nodo: Nodo,
    /// Application credentials.
    pub auth: Arc<Authenticator>,
    /// The FdR 3 acquisition, when configured.
    pub fdr: Option<crate::fdr::acquire::Acquisition>,
    /// Listings running at once (each walks an index on a blocking thread): a bounded share
    /// of the cores, so listings never starve the Nodo's requests.
    pub listings: Arc<tokio::sync::Semaphore>,
}

impl ApiState {
    /// The REST state over `nodo` and `auth`.
    pub fn new(nodo: Nodo, auth: Arc<Authenticator>) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let fdr = crate::fdr::acquire::Acquisition::new(
            nodo.store.clone(),
            nodo.config.clone(),
            nodo.clock.clone(),
        )
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "FdR acquisition not available");
            None
        });
        Self {
            nodo,
            auth,
            fdr,
            listings: Arc::new(tokio::sync::Semaphore::new((cores / 2).max(1))),
        }
    }
}

/// The URL of page `page` of a listing at `path`, keeping the other query parameters.
pub fn next_page(path: &str, raw_query: Option<&str>, page: usize) -> String {
    next_link(path, raw_query, &format!("pagina={page}"))
}

/// The URL of the listing at `path` with `position` (`pagina=N` or `cursore=ID`) in place of
/// the query's own paging parameters, keeping the others.
pub fn next_link(path: &str, raw_query: Option<&str>, position: &str) -> String {
    let mut query: Vec<&str> = raw_query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("pagina=") && !p.starts_with("cursore="))
        .collect();
    query.push(position);
    format!("{path}?{}", query.join("&"))
}

/// Most results a listing returns per page (GovPay's limit).
pub const MAX_PAGE: usize = 200;

/// `pagina` (from 1) and `risultatiPerPagina` (1 to [`MAX_PAGE`], default 25) of a listing, or
/// a 400 naming the parameter.
pub fn paging(
    pagina: Option<usize>,
    risultati_per_pagina: Option<usize>,
) -> Result<(usize, usize), ApiError> {
    let per_page = risultati_per_pagina.unwrap_or(25);
    if !(1..=MAX_PAGE).contains(&per_page) {
        return Err(ApiError::invalid(
            "risultatiPerPagina",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let page = pagina.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::invalid("pagina", "starts at 1"));
    }
    Ok((page, per_page))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Varco API Pendenze", version = "2", description = "GovPay-compatible API Pendenze v2 served by Varco"),
    components(schemas(error::FaultBean)),
    modifiers(&BasicAuth),
    security(("basicAuth" = []))
)]
struct ApiDoc;

struct BasicAuth;

impl utoipa::Modify for BasicAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basicAuth",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// Largest body of any REST call but a bulk load (one position, a patch).
pub const MAX_ITEM_BODY: usize = 4 * 1024 * 1024;
/// Largest REST body: a bulk load of many positions (the api listener's cap).
pub const MAX_BULK_BODY: usize = 256 * 1024 * 1024;

/// Where the event journal wants a REST request's body (with `journal.payloads`): the outer
/// journal layer puts it in the request, [`capture_payload`] fills it once the caller is
/// authenticated. An unauthenticated body is never read for the journal.
#[derive(Debug, Clone, Default)]
pub struct PayloadSlot(pub Arc<std::sync::Mutex<Option<Vec<u8>>>>);

/// Route layer: holds a call's body to `limit` bytes (413 from the declared length, before
/// reading; or once the bytes pass it).
async fn cap_body(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return ApiError::too_large(limit).into_response();
    }
    let mut req = req.map(|body| axum::body::Body::new(http_body_util::Limited::new(body, limit)));
    req.extensions_mut().insert(extract::BodyLimit(limit));
    next.run(req).await
}

/// Route layer, inside authentication and the body cap (`limit`, for the refusal): copies the
/// body for the journal when it asks for it.
async fn capture_payload(
    axum::extract::State(limit): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let Some(slot) = req.extensions().get::<PayloadSlot>().cloned() else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        // Over the cap of the layer before, or a broken upload: what the handler would answer.
        Err(_) => return ApiError::too_large(limit).into_response(),
    };
    if let Ok(mut s) = slot.0.lock() {
        *s = Some(bytes.to_vec());
    }
    next.run(axum::extract::Request::from_parts(
        parts,
        axum::body::Body::from(bytes),
    ))
    .await
}

/// API Pendenze v2 (paths relative to [`PENDENZE_BASE`]) and its OpenAPI document. Every route
/// but the document itself needs an application's credentials, checked before the body is
/// read; single calls are held to [`MAX_ITEM_BODY`], bulk loads to the listener's cap.
pub fn pendenze_v2(state: ApiState) -> (Router, utoipa::openapi::OpenApi) {
    use axum::middleware::from_fn_with_state;
    let bulk = OpenApiRouter::new()
        .routes(routes!(pendenze::post_tracciato))
        .route_layer(from_fn_with_state(MAX_BULK_BODY, capture_payload));
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            pendenze::put_pendenza,
            pendenze::get_pendenza,
            pendenze::patch_pendenza
        ))
        .routes(routes!(pendenze::list_pendenze))
        .routes(routes!(pendenze::get_by_avviso))
        .routes(routes!(pendenze::list_tentativi))
        .routes(routes!(avvisi::get_avviso))
        .routes(routes!(documenti::patch_documento))
        .routes(routes!(documenti::get_avvisi_documento))
        .route_layer(from_fn_with_state(MAX_ITEM_BODY, capture_payload))
        .route_layer(from_fn_with_state(MAX_ITEM_BODY, cap_body))
        .merge(bulk)
        .route_layer(from_fn_with_state(
            state.auth.clone(),
            auth::require_application,
        ))
        .with_state(state)
        .split_for_parts();
    openapi.servers = Some(vec![utoipa::openapi::Server::new(PENDENZE_BASE)]);
    let doc = Arc::new(openapi.clone());
    let router = router.route(
        "/openapi.json",
        get(move || async move { Json((*doc).clone()) }),
    );
    (router, openapi)
}

/// The backoffice API (paths relative to [`backoffice::BASE`]): operators only, but for its
/// OpenAPI document.
pub fn backoffice_v1(state: ApiState) -> Router {
    use axum::middleware::from_fn_with_state;
    let (router, mut openapi) = OpenApiRouter::new()
        .routes(routes!(backoffice::list_outbox))
        .routes(routes!(backoffice::retry_outbox))
        .routes(routes!(backoffice::list_eventi))
        .routes(routes!(backoffice::get_evento))
        .routes(routes!(backoffice::post_backup))
        .routes(routes!(flussi::get_acquisizioni, flussi::post_acquisizione))
        .route_layer(from_fn_with_state(MAX_ITEM_BODY, capture_payload))
        .route_layer(from_fn_with_state(MAX_ITEM_BODY, cap_body))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(flussi::post_flusso))
                .route_layer(from_fn_with_state(flussi::MAX_FLOW_BYTES, cap_body)),
        )
        .route_layer(from_fn_with_state(
            state.auth.clone(),
            auth::require_operator,
        ))
        .with_state(state)
        .split_for_parts();
    openapi.info.title = "Varco backoffice".into();
    openapi.servers = Some(vec![utoipa::openapi::Server::new(backoffice::BASE)]);
    router.route(
        "/openapi.json",
        get(move || async move { Json(openapi.clone()) }),
    )
}

/// The Ragioneria API (paths relative to [`ragioneria::BASE`], GovPay's Ragioneria v3 shapes):
/// operators only, but for its OpenAPI document.
pub fn ragioneria_v3(state: ApiState) -> Router {
    use axum::middleware::from_fn_with_state;
    let (router, mut openapi) = OpenApiRouter::new()
        .routes(routes!(ragioneria::list_flussi))
        .routes(routes!(ragioneria::get_flusso))
        .routes(routes!(ragioneria::list_rendicontazioni))
        .routes(routes!(ragioneria::list_riscossioni))
        .routes(routes!(ragioneria::get_riscossione))
        .routes(routes!(ragioneria::list_ricevute))
        .routes(routes!(ragioneria::get_ricevuta))
        .routes(routes!(ragioneria::list_riconciliazioni))
        .routes(routes!(
            ragioneria::get_riconciliazione,
            ragioneria::put_riconciliazione
        ))
        .route_layer(from_fn_with_state(MAX_ITEM_BODY, capture_payload))
        .route_layer(from_fn_with_state(MAX_ITEM_BODY, cap_body))
        .route_layer(from_fn_with_state(
            state.auth.clone(),
            auth::require_operator,
        ))
        .with_state(state)
        .split_for_parts();
    openapi.info.title = "Varco Ragioneria".into();
    openapi.servers = Some(vec![utoipa::openapi::Server::new(ragioneria::BASE)]);
    router.route(
        "/openapi.json",
        get(move || async move { Json(openapi.clone()) }),
    )
}
