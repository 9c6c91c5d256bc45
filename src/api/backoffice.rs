//! Backoffice API for operators (`/api/backoffice/v1`): the receipt outbox — what is pending,
//! failing or dead, and re-sending one now — and the event journal.

use super::auth::Operator;
use super::error::{ApiError, FaultBean};
use super::{ApiState, QueryParams};
use crate::domain::{OutboxEntry, OutboxState};
use crate::journal::{self, Categoria, Esito, Evento, Filtro};
use axum::extract::{Path, State};
use axum::{Extension, Json};
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

/// The state of an outbox entry as operators read it (the API's `stato`, the console's).
pub fn stato(e: &OutboxEntry) -> &'static str {
    match (e.stato, e.tentativi) {
        (OutboxState::Dead, _) => "dead",
        (OutboxState::Delivered, _) => "delivered",
        (OutboxState::Pending, 0) => "pending",
        (OutboxState::Pending, _) => "failing",
    }
}

/// Filter and paging of the outbox list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct OutboxQuery {
    /// pending, failing or dead; all when absent.
    pub stato: Option<String>,
    /// Page, from 1.
    pub pagina: Option<usize>,
    /// Results per page, 1..200 (25).
    pub risultati_per_pagina: Option<usize>,
}

/// A page of the outbox, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListaOutbox {
    /// Results in this page.
    pub num_risultati: usize,
    /// Page size asked for.
    pub risultati_per_pagina: usize,
    /// This page.
    pub pagina: usize,
    /// When more follow: the next page's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prossimi_risultati: Option<String>,
    /// The entries.
    pub risultati: Vec<VoceOutbox>,
}

/// The outbox, oldest first, a page at a time (the store reads up to the end of the page).
#[utoipa::path(
    get,
    path = "/outbox",
    params(OutboxQuery),
    responses((status = 200, body = ListaOutbox), (status = 401, body = FaultBean), (status = 400, body = FaultBean)),
    tag = "Backoffice"
)]
pub async fn list_outbox(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<OutboxQuery>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Json<ListaOutbox>, ApiError> {
    if let Some(s) = q.stato.as_deref()
        && !matches!(s, "pending" | "failing" | "dead")
    {
        return Err(ApiError::invalid(
            "stato",
            "must be pending, failing or dead",
        ));
    }
    let (page, per_page) = super::paging(q.pagina, q.risultati_per_pagina)?;
    let wanted = q.stato.as_deref();
    let (entries, more) = state
        .nodo
        .store
        .outbox_page(
            &|e| wanted.is_none_or(|s| stato(e) == s),
            (page - 1).saturating_mul(per_page),
            per_page,
        )
        .await?;
    Ok(Json(ListaOutbox {
        num_risultati: entries.len(),
        risultati_per_pagina: per_page,
        pagina: page,
        prossimi_risultati: more
            .then(|| super::next_page(&format!("{BASE}/outbox"), raw.as_deref(), page + 1)),
        risultati: entries.into_iter().map(VoceOutbox::from).collect(),
    }))
}

/// Re-send one entry now (a dead one too); the retry horizon starts again.
#[utoipa::path(
    post,
    path = "/outbox/{id}/retry",
    params(("id" = u64, Path, description = "Outbox entry id")),
    responses((status = 200, body = VoceOutbox), (status = 401, body = FaultBean), (status = 404, body = FaultBean), (status = 400, body = FaultBean)),
    tag = "Backoffice"
)]
pub async fn retry_outbox(
    State(state): State<ApiState>,
    Path(id): Path<u64>,
    Extension(operator): Extension<Operator>,
) -> Result<Json<VoceOutbox>, ApiError> {
    let now = (state.nodo.clock)();
    let missing = || ApiError::not_found(format!("outbox entry {id}"));
    let current = state
        .nodo
        .store
        .outbox_entry(id)
        .await?
        .ok_or_else(missing)?;
    // Nothing would deliver it: say so instead of queueing it where no lane looks.
    if let Err(why) = state.nodo.config.connettore(current.id_a2a.as_deref()) {
        return Err(ApiError::operation(
            "OUTBOX_001",
            format!("outbox entry {id} cannot be sent: {why}"),
        ));
    }
    let entry = crate::outbox::requeue(&state.nodo.store, id, now)
        .await?
        .ok_or_else(missing)?;
    state.nodo.store.sync().await?;
    tracing::info!(outbox_id = id, operator = %operator.0, "receipt queued again by an operator");
    Ok(Json(entry.into()))
}

/// Filters and paging of the event journal.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct EventiQuery {
    /// Events at or after (RFC 3339 date-time, or a day YYYY-MM-DD: from its start in
    /// Europe/Rome).
    pub data_da: Option<String>,
    /// Events at or before (RFC 3339 date-time, or a day YYYY-MM-DD: to its end in
    /// Europe/Rome).
    pub data_a: Option<String>,
    /// SOAP, REST or OUTBOX.
    pub categoria_evento: Option<String>,
    /// The operation, exactly as listed (`paVerifyPaymentNotice`, `GET /api/...`).
    pub tipo_evento: Option<String>,
    /// OK, KO or FAIL.
    pub esito: Option<String>,
    /// Creditor fiscal code.
    pub id_dominio: Option<String>,
    /// IUV.
    pub iuv: Option<String>,
    /// Notice number (its IUV is matched).
    pub numero_avviso: Option<String>,
    /// Receipt id.
    pub id_ricevuta: Option<String>,
    /// Application.
    #[serde(rename = "idA2A")]
    #[param(rename = "idA2A")]
    pub id_a2a: Option<String>,
    /// The application's position id.
    pub id_pendenza: Option<String>,
    /// Page, from 1 (ignored with `cursore`).
    pub pagina: Option<usize>,
    /// Results per page, 1..200 (25).
    pub risultati_per_pagina: Option<usize>,
    /// Continue after this event id (the previous answer's `cursore`).
    pub cursore: Option<String>,
}

/// A page of the event journal, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListaEventi {
    /// Results in this page.
    pub num_risultati: usize,
    /// Page size asked for.
    pub risultati_per_pagina: usize,
    /// This page (1 with a cursor).
    pub pagina: usize,
    /// When more may follow: the `cursore` for the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursore: Option<String>,
    /// When more may follow: the next page's URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prossimi_risultati: Option<String>,
    /// The events.
    pub risultati: Vec<Evento>,
}

fn instant(
    field: &str,
    value: &Option<String>,
    end_of_day: bool,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let Some(v) = value.as_deref() else {
        return Ok(None);
    };
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(Some(t.with_timezone(&chrono::Utc)));
    }
    let day = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        ApiError::invalid(
            field,
            "must be a date (YYYY-MM-DD) or an RFC 3339 date-time",
        )
    })?;
    // A day is a Europe/Rome calendar day, as everywhere else in Varco.
    Ok(Some(if end_of_day {
        crate::domain::rome_day_end(day)
    } else {
        crate::domain::rome_day_start(day)
    }))
}

/// `value` read with `parse`, or a 400 saying `why` for `field`.
fn parsed<T>(
    field: &str,
    value: &Option<String>,
    parse: impl Fn(&str) -> Option<T>,
    why: &str,
) -> Result<Option<T>, ApiError> {
    value
        .as_deref()
        .map(|v| parse(v).ok_or_else(|| ApiError::invalid(field, why)))
        .transpose()
}

impl TryFrom<&EventiQuery> for Filtro {
    type Error = ApiError;

    fn try_from(q: &EventiQuery) -> Result<Self, ApiError> {
        let cursore = parsed(
            "cursore",
            &q.cursore,
            journal::parse_id,
            "must be an event id (32 hex digits)",
        )?;
        let categoria = parsed(
            "categoriaEvento",
            &q.categoria_evento,
            Categoria::parse,
            "must be SOAP, REST or OUTBOX",
        )?;
        let esito = parsed("esito", &q.esito, Esito::parse, "must be OK, KO or FAIL")?;
        let iuv = match (&q.iuv, q.numero_avviso.as_deref()) {
            (Some(iuv), _) => Some(iuv.clone()),
            (None, Some(nav)) => Some(
                crate::domain::NoticeNumber::parse(nav)
                    .map_err(|e| ApiError::invalid("numeroAvviso", e))?
                    .iuv()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        Ok(Filtro {
            da: instant("dataDa", &q.data_da, false)?,
            a: instant("dataA", &q.data_a, true)?,
            cursore,
            categoria,
            tipo_evento: q.tipo_evento.clone(),
            esito,
            id_dominio: q.id_dominio.clone(),
            iuv,
            id_ricevuta: q.id_ricevuta.clone(),
            id_a2a: q.id_a2a.clone(),
            id_pendenza: q.id_pendenza.clone(),
        })
    }
}

/// The event journal: SOAP calls, REST calls and receipt deliveries, newest first, filtered.
/// Paging by `pagina` re-reads the pages before it; `cursore` continues where the last page
/// ended. There is no total count: counting would read the whole window.
#[utoipa::path(
    get,
    path = "/eventi",
    params(EventiQuery),
    responses((status = 200, body = ListaEventi), (status = 401, body = FaultBean), (status = 400, body = FaultBean)),
    tag = "Backoffice"
)]
pub async fn list_eventi(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<EventiQuery>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Json<ListaEventi>, ApiError> {
    let (page, per_page) = super::paging(q.pagina, q.risultati_per_pagina)?;
    let filter = Filtro::try_from(&q)?;
    let by_cursor = filter.cursore.is_some();
    let found = state.nodo.store.eventi(&filter, page, per_page).await?;
    let next = (found.cursore.as_ref()).map(|c| {
        super::next_link(
            &format!("{BASE}/eventi"),
            raw.as_deref(),
            &format!("cursore={c}"),
        )
    });
    Ok(Json(ListaEventi {
        num_risultati: found.risultati.len(),
        risultati_per_pagina: per_page,
        pagina: if by_cursor { 1 } else { page },
        cursore: found.cursore,
        prossimi_risultati: next,
        risultati: found.risultati,
    }))
}

/// One event of the journal.
#[utoipa::path(
    get,
    path = "/eventi/{id}",
    params(("id" = String, Path, description = "Event id")),
    responses((status = 200, body = Evento), (status = 401, body = FaultBean), (status = 404, body = FaultBean)),
    tag = "Backoffice"
)]
pub async fn get_evento(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<Evento>, ApiError> {
    state
        .nodo
        .store
        .evento(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("event {id}")))
}

/// A backup to take: its name (the directory under the backups' directory).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NuovoBackup {
    /// `[A-Za-z0-9_-]{1,64}`: the backup's directory, `<store.data_dir>-backups/<nome>`.
    pub nome: String,
}

/// A backup taken: where, and what it holds, table by table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    /// The backup's directory (an embedded store: `varco serve --data-dir` it to restore).
    pub directory: String,
    /// Per table: records and checksum, as `varco store tally` prints them.
    pub tabelle: Vec<String>,
    /// Seconds taken.
    pub secondi: f64,
}

/// Backs up the running embedded store without stopping it: every table is copied into a new
/// embedded store while requests go on, then read back and compared. Everything acknowledged
/// before the call is in it. On PostgreSQL, use PostgreSQL's own tools (pg_basebackup,
/// pg_dump): 409.
#[utoipa::path(
    post,
    path = "/store/backup",
    request_body = NuovoBackup,
    responses((status = 201, body = Backup), (status = 400, body = FaultBean), (status = 401, body = FaultBean), (status = 409, body = FaultBean)),
    tag = "Backoffice"
)]
pub async fn post_backup(
    State(state): State<ApiState>,
    Extension(operator): Extension<Operator>,
    super::extract::JsonBody(request): super::extract::JsonBody<NuovoBackup>,
) -> Result<(axum::http::StatusCode, Json<Backup>), ApiError> {
    let valid = (1..=64).contains(&request.nome.len())
        && request
            .nome
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(ApiError::invalid("nome", "must match [A-Za-z0-9_-]{1,64}"));
    }
    let store = &state.nodo.store;
    if store.as_sled().is_none() {
        return Err(ApiError::conflict(
            "STORE_001",
            "the store is on PostgreSQL: back it up with PostgreSQL's tools (pg_basebackup, pg_dump)",
        ));
    }
    let data_dir = &state.nodo.config.store.data_dir;
    let mut parent = data_dir.as_os_str().to_owned();
    parent.push("-backups");
    let directory = std::path::PathBuf::from(parent).join(&request.nome);
    if directory.exists() {
        return Err(ApiError::conflict(
            "STORE_002",
            format!("a backup named {} exists already", request.nome),
        ));
    }
    let started = std::time::Instant::now();
    let target = {
        let dir = directory.clone();
        tokio::task::spawn_blocking(move || crate::store::Store::open(&dir, 16))
            .await
            .map_err(ApiError::internal)??
    };
    let copied = crate::store::copy::copy(store, &target, false).await?;
    if copied.source != copied.target {
        return Err(ApiError::internal(
            "the backup does not read back as written",
        ));
    }
    drop(target);
    tracing::info!(operator = %operator.0, backup = %request.nome, records = copied.source.records(), "store backed up");
    Ok((
        axum::http::StatusCode::CREATED,
        Json(Backup {
            directory: directory.display().to_string(),
            tabelle: copied.source.lines(),
            secondi: started.elapsed().as_secs_f64(),
        }),
    ))
}
