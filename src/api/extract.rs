//! Extractors of the REST edge: a JSON body read as GovPay reads it, refused with a
//! [`FaultBean`](super::error::FaultBean) (never axum's plain-text rejections).

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// The body cap of the route a request took (set by the route's body-cap layer), for the
/// refusal's message.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body: 400 `SINTASSI` when it is not JSON or does not fit the type (naming the field),
/// 413 when it is over the route's cap.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map(|l| l.0);
        let bytes =
            Bytes::from_request(req, state)
                .await
                .map_err(|e| match (e.status(), limit) {
                    (StatusCode::PAYLOAD_TOO_LARGE, Some(limit)) => ApiError::too_large(limit),
                    _ => ApiError::syntax(e.body_text()),
                })?;
        json_body(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body: 400 `SINTASSI` when it is not JSON or does not fit (naming the field).
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body" } else { path.as_str() };
                ApiError::invalid(field, inner)
            }
            _ => ApiError::syntax(inner.to_string()),
        }
    })?;
    de.end().map_err(|e| ApiError::syntax(e.to_string()))?;
    Ok(value)
}

/// Query parameters: a value that does not fit its type is a 400 `SINTASSI` naming it (never
/// axum's plain-text rejection).
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(q)| QueryParams(q))
            .map_err(|e| ApiError::syntax(e.body_text()))
    }
}
