//! REST errors: GovPay's `FaultBean {categoria, codice, descrizione, dettaglio}`, with the
//! HTTP status that goes with it. Converted into a response in one place, logged once there.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The error body of every REST refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FaultBean {
    /// AUTORIZZAZIONE, RICHIESTA, OPERAZIONE, INTERNO.
    pub categoria: String,
    /// A stable code (`SINTASSI`, `VER_002`, ...).
    pub codice: String,
    /// What went wrong.
    pub descrizione: String,
    /// Which field and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dettaglio: Option<String>,
}

/// A refusal with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Body.
    pub fault: FaultBean,
    /// Seconds to wait before trying again (`Retry-After`), for 429.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        categoria: &str,
        codice: &str,
        descrizione: impl Into<String>,
        dettaglio: Option<String>,
    ) -> Self {
        Self {
            status,
            fault: FaultBean {
                categoria: categoria.into(),
                codice: codice.into(),
                descrizione: descrizione.into(),
                dettaglio,
            },
            retry_after: None,
        }
    }

    /// 400: the body is not JSON, or a field does not fit the API's syntax (a type, a length,
    /// a pattern): GovPay's `SINTASSI`, `dettaglio` naming the field.
    pub fn syntax(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "RICHIESTA",
            "SINTASSI",
            "Richiesta non valida",
            Some(detail.into()),
        )
    }

    /// 400 `SINTASSI` for one field: `dettaglio` is `field: why`.
    pub fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        Self::syntax(format!("{field}: {why}"))
    }

    /// 422: the request is well formed but breaks one of GovPay's semantic rules (`DOM_000`,
    /// `VER_020`, ...), with GovPay's own `dettaglio`.
    pub fn rule(codice: &str, dettaglio: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "RICHIESTA",
            codice,
            "Richiesta non valida",
            Some(dettaglio.into()),
        )
    }

    /// 400 `APP_002`: the path names an application other than the authenticated one.
    pub fn other_application(authenticated: &str, named: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "RICHIESTA",
            "APP_002",
            "Richiesta non valida",
            Some(format!(
                "Applicazione autenticata ({authenticated}) diversa dalla chiamante ({named})"
            )),
        )
    }

    /// 413: the body is larger than the call takes.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RICHIESTA",
            "SINTASSI",
            "Richiesta troppo grande",
            Some(format!(
                "the body of this call may be at most {limit} bytes"
            )),
        )
    }

    /// 401: missing or wrong credentials.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "AUTORIZZAZIONE",
            "AUTH_001",
            "Credenziali assenti o non valide",
            None,
        )
    }

    /// 429: too many failed logins from this client or for this user, or too many logins
    /// waiting to be checked; try again after `secs` seconds.
    pub fn too_many_attempts(secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "AUTORIZZAZIONE",
            "AUTH_002",
            "Troppi tentativi di autenticazione",
            Some(format!("retry after {secs} s")),
        );
        e.retry_after = Some(secs.max(1));
        e
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "AUTORIZZAZIONE",
            "403000",
            "Operazione non autorizzata",
            Some(why.into()),
        )
    }

    /// 404.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "OPERAZIONE",
            "NOT_FOUND",
            "Risorsa non trovata",
            Some(what.into()),
        )
    }

    /// 422 for a state change that is not allowed.
    pub fn operation(codice: &str, why: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "OPERAZIONE",
            codice,
            "Operazione non consentita",
            Some(why.into()),
        )
    }

    /// 406: an Accept header Varco cannot honour.
    pub fn not_acceptable(why: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            "RICHIESTA",
            "ACCEPT",
            "Formato di risposta non disponibile",
            Some(why.into()),
        )
    }

    /// 409: the request conflicts with the state of the service (`codice` names why).
    pub fn conflict(codice: &str, why: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "OPERAZIONE",
            codice,
            "Operazione non possibile in questo stato",
            Some(why.into()),
        )
    }

    /// 500: logged here, the client gets no detail.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "REST request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNO",
            "INTERNO",
            "Errore interno",
            None,
        )
    }
}

impl From<crate::govpay::validate::Refusal> for ApiError {
    fn from(r: crate::govpay::validate::Refusal) -> Self {
        use crate::govpay::validate::Refusal;
        match r {
            Refusal::Syntax { campo, motivo } => ApiError::invalid(&campo, motivo),
            Refusal::Rule { codice, dettaglio } => ApiError::rule(&codice, dettaglio),
            Refusal::Forbidden(why) => ApiError::forbidden(why),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            // The database did not answer in time: nothing was written, the caller may retry.
            crate::store::StoreError::Unavailable(why) => {
                tracing::error!(error = %why, "REST request failed: store unavailable");
                let mut unavailable = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "INTERNO",
                    "SERVIZIO_NON_DISPONIBILE",
                    "Servizio temporaneamente non disponibile: riprovare",
                    None,
                );
                unavailable.retry_after = Some(1);
                unavailable
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.fault)).into_response();
        if let Some(secs) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"varco\""),
            );
        }
        resp
    }
}
