//! The REST surface for gestionali: API Pendenze v2 (GovPay-compatible) under
//! `/api/pendenze/v2`, its OpenAPI document generated from the handlers' annotations, and the
//! health endpoints.

pub mod auth;
pub mod avvisi;
pub mod backoffice;
pub mod dto;
pub mod error;
pub mod pendenze;
pub mod validate;

use crate::nodo::Nodo;
use auth::Authenticator;
use axum::Json;
use axum::Router;
use axum::routing::get;
use error::ApiError;
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
}

/// Parses a JSON body: 400 when it is not JSON, 422 naming the field when it does not fit.
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body" } else { path.as_str() };
                ApiError::invalid("SINTASSI", field, inner)
            }
            _ => ApiError::malformed(inner.to_string()),
        }
    })?;
    de.end().map_err(|e| ApiError::malformed(e.to_string()))?;
    Ok(value)
}

/// Most results a listing returns per page (GovPay's limit).
pub const MAX_PAGE: usize = 200;

/// `pagina` (from 1) and `risultatiPerPagina` (1 to [`MAX_PAGE`], default 25) of a listing, or
/// a 422 naming the parameter.
pub fn paging(
    pagina: Option<usize>,
    risultati_per_pagina: Option<usize>,
) -> Result<(usize, usize), ApiError> {
    let per_page = risultati_per_pagina.unwrap_or(25);
    if !(1..=MAX_PAGE).contains(&per_page) {
        return Err(ApiError::invalid(
            "SINTASSI",
            "risultatiPerPagina",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    let page = pagina.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::invalid("SINTASSI", "pagina", "starts at 1"));
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

/// API Pendenze v2 (paths relative to [`PENDENZE_BASE`]) and its OpenAPI document.
pub fn pendenze_v2(state: ApiState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, mut openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(
            pendenze::put_pendenza,
            pendenze::get_pendenza,
            pendenze::patch_pendenza
        ))
        .routes(routes!(pendenze::list_pendenze))
        .routes(routes!(pendenze::get_by_avviso))
        .routes(routes!(pendenze::post_tracciato))
        .routes(routes!(avvisi::get_avviso))
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

/// The backoffice API (paths relative to [`backoffice::BASE`]).
pub fn backoffice_v1(state: ApiState) -> Router {
    let (router, mut openapi) = OpenApiRouter::new()
        .routes(routes!(backoffice::list_outbox))
        .routes(routes!(backoffice::retry_outbox))
        .routes(routes!(backoffice::list_eventi))
        .routes(routes!(backoffice::get_evento))
        .with_state(state)
        .split_for_parts();
    openapi.info.title = "Varco backoffice".into();
    openapi.servers = Some(vec![utoipa::openapi::Server::new(backoffice::BASE)]);
    router.route(
        "/openapi.json",
        get(move || async move { Json(openapi.clone()) }),
    )
}
