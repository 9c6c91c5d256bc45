//! Extractors of the REST edge: a JSON body read as GovPay reads it, refused with a
//! [`FaultBean`](super::error::FaultBean) (never axum's plain-text rejections).

use super::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

/// The body cap of the route a request took (set by the route's body-cap layer), for the
/// refusal's message.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body: 400 when it is not JSON, 422 naming the field when it does not fit the type,
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
                    _ => ApiError::malformed(e.body_text()),
                })?;
        json_body(&bytes).map(JsonBody)
    }
}

/// Parses a JSON body: 400 when it is not JSON, 422 naming the field when it does not fit.
pub fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
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
