//! Backoffice API for operators (`/api/backoffice/v1`): the receipt outbox — what is pending,
//! failing or dead, and re-sending one now.

use super::ApiState;
use super::error::{ApiError, FaultBean};
use crate::domain::{OutboxEntry, OutboxState};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Base path of the backoffice API.
pub const BASE: &str = "/api/backoffice/v1";

/// One outbox entry as shown to operators.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoceOutbox {
    /// Entry id (for retry).
    pub id: u64,
    /// pending (never tried), failing (tried and failed, will retry), dead (given up).
    pub stato: String,
    /// Creditor.
    pub id_dominio: String,
    /// IUV.
    pub iuv: String,
    /// Receipt.
    pub id_ricevuta: String,
    /// Owning application.
    #[serde(rename = "idA2A", skip_serializing_if = "Option::is_none")]
    pub id_a2a: Option<String>,
    /// Attempts so far.
    pub tentativi: u32,
    /// Written at.
    pub data_creazione: String,
    /// Next attempt at.
    pub prossimo_tentativo: String,
    /// Last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ultimo_errore: Option<String>,
}

impl From<OutboxEntry> for VoceOutbox {
    fn from(e: OutboxEntry) -> Self {
        Self {
            id: e.id,
            stato: stato(&e).into(),
            id_dominio: e.dominio,
            iuv: e.iuv,
            id_ricevuta: e.receipt_id,
            id_a2a: e.id_a2a,
            tentativi: e.tentativi,
            data_creazione: e.created_at.to_rfc3339(),
            prossimo_tentativo: e.next_attempt_at.to_rfc3339(),
            ultimo_errore: e.last_error,
        }
    }
}

fn stato(e: &OutboxEntry) -> &'static str {
    match (e.stato, e.tentativi) {
        (OutboxState::Dead, _) => "dead",
        (OutboxState::Delivered, _) => "delivered",
        (OutboxState::Pending, 0) => "pending",
        (OutboxState::Pending, _) => "failing",
    }
}

/// Filter of the outbox list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OutboxQuery {
    /// pending, failing or dead; all when absent.
    pub stato: Option<String>,
}

/// The outbox, oldest first.
#[utoipa::path(
    get,
    path = "/outbox",
    params(OutboxQuery),
    responses((status = 200, body = Vec<VoceOutbox>), (status = 401, body = FaultBean), (status = 422, body = FaultBean)),
    tag = "Backoffice"
)]
pub async fn list_outbox(
    State(state): State<ApiState>,
    Query(q): Query<OutboxQuery>,
    headers: HeaderMap,
) -> Result<Json<Vec<VoceOutbox>>, ApiError> {
    state.auth.authenticate_operator(&headers).await?;
    if let Some(s) = q.stato.as_deref()
        && !matches!(s, "pending" | "failing" | "dead")
    {
        return Err(ApiError::invalid(
            "SINTASSI",
            "stato",
            "must be pending, failing or dead",
        ));
    }
    let entries = state.nodo.store.outbox()?;
    Ok(Json(
        entries
            .into_iter()
            .filter(|e| q.stato.as_deref().is_none_or(|s| stato(e) == s))
            .map(VoceOutbox::from)
            .collect(),
    ))
}

/// Re-send one entry now (a dead one too); the retry horizon starts again.
#[utoipa::path(
    post,
    path = "/outbox/{id}/retry",
    params(("id" = u64, Path, description = "Outbox entry id")),
    responses((status = 200, body = VoceOutbox), (status = 401, body = FaultBean), (status = 404, body = FaultBean)),
    tag = "Backoffice"
)]
pub async fn retry_outbox(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
    headers: HeaderMap,
) -> Result<Json<VoceOutbox>, ApiError> {
    let operator = state.auth.authenticate_operator(&headers).await?;
    let now = (state.nodo.clock)();
    let entry = crate::outbox::requeue(&state.nodo.store, id, now)?
        .ok_or_else(|| ApiError::not_found(format!("outbox entry {id}")))?;
    state.nodo.store.sync().await?;
    tracing::info!(outbox_id = id, operator = %operator, "receipt queued again by an operator");
    Ok(Json(entry.into()))
}
