//! The backoffice's settlement-flow calls: importing a `FlussoRiversamento` file (flows that
//! came by SFTP or were downloaded by hand) and the FdR 3 acquisition, run now or looked at.

use super::ApiState;
use super::error::{ApiError, FaultBean};
use super::ragioneria::{FlussoIndex, flusso_index};
use crate::fdr::acquire::{self, FailedFlow, Report};
use crate::fdr::settle::{self, SettleError, Settled};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Largest flow file accepted (a payment indented as in `fixtures/fdr` takes 500 bytes of the
/// file: some 130,000 payments).
pub const MAX_FLOW_BYTES: usize = 64 * 1024 * 1024;

/// Imports one flow file (`FlussoRiversamento` XML, validated as its schema says): stored and
/// reconciled like an acquired flow. 201 when stored, 200 when the same flow (domain, id, PSP,
/// revision 1) was already stored.
#[utoipa::path(
    post,
    path = "/fdr",
    request_body(content = String, content_type = "application/xml"),
    responses((status = 201, body = FlussoIndex), (status = 200, body = FlussoIndex), (status = 400, body = FaultBean), (status = 422, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Backoffice"
)]
pub async fn post_flusso(
    State(state): State<ApiState>,
    Extension(operator): Extension<super::auth::Operator>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let now = (state.nodo.clock)();
    let (flusso, linee) =
        crate::fdr::xml::parse(&body, now).map_err(|e| ApiError::syntax(e.to_string()))?;
    let settled = settle::store_flow(
        &state.nodo.store,
        &state.nodo.config,
        flusso,
        linee,
        body.to_vec(),
    )
    .await
    .map_err(|e| match e {
        SettleError::UnknownDomain(_) => ApiError::rule("DOM_000", e.to_string()),
        SettleError::Store(e) => e.into(),
    })?;
    let status = match &settled {
        Settled::Stored(f) => {
            tracing::info!(operator = %operator.0, dominio = %f.key.dominio, flusso = %f.key.id_flusso, "settlement flow imported");
            StatusCode::CREATED
        }
        Settled::AlreadyStored(_) => StatusCode::OK,
    };
    Ok((status, Json(flusso_index(&state, settled.flusso()))).into_response())
}

/// The acquisition's state: the last run and the flows that failed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatoAcquisizione {
    /// Whether an FdR 3 URL is configured.
    pub configurata: bool,
    /// The last run's report.
    #[schema(value_type = Object)]
    pub ultima: Option<Report>,
    /// Flows not acquired, with their error.
    #[schema(value_type = Vec<Object>)]
    pub falliti: Vec<FailedFlow>,
}

/// The acquisition's state.
#[utoipa::path(
    get,
    path = "/fdr/acquisizioni",
    responses((status = 200, body = StatoAcquisizione), (status = 401, body = FaultBean)),
    tag = "Backoffice"
)]
pub async fn get_acquisizioni(
    State(state): State<ApiState>,
) -> Result<Json<StatoAcquisizione>, ApiError> {
    let store = &state.nodo.store;
    Ok(Json(StatoAcquisizione {
        configurata: state.fdr.is_some(),
        ultima: acquire::last_run(store).await?,
        falliti: acquire::failed_flows(store).await?,
    }))
}

/// Runs the acquisition now and answers its report (409 when another run is going on, on this
/// node or another).
#[utoipa::path(
    post,
    path = "/fdr/acquisizioni",
    responses((status = 200, body = Object), (status = 409, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Backoffice"
)]
pub async fn post_acquisizione(
    State(state): State<ApiState>,
    Extension(operator): Extension<super::auth::Operator>,
) -> Result<Response, ApiError> {
    let Some(acquisition) = &state.fdr else {
        return Err(ApiError::conflict(
            "FDR_001",
            "acquisizione non configurata: manca fdr.url",
        ));
    };
    tracing::info!(operator = %operator.0, "settlement flow acquisition asked");
    let report = acquisition.run().await?;
    if let Some(why) = &report.skipped {
        return Err(ApiError::conflict("FDR_002", why.clone()));
    }
    Ok(Json(report).into_response())
}
