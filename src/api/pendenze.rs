//! API Pendenze v2 handlers: load, update, cancel and read positions; notices as JSON; bulk
//! loads. The caller was authenticated by the route layer ([`super::auth`]); every handler
//! checks ownership, then works.

use super::avvisi::{self, find_own_by_avviso};
use super::dto::*;
use super::error::{ApiError, FaultBean};
use super::{ApiState, JsonBody, QueryParams};
use crate::domain::{Pendenza, StatoEffettivo, rome_day_end, rome_day_start};
use crate::govpay::faults::{self, Who};
use crate::govpay::validate::{self, Caller, Validated};
use crate::store::index::{Filter, StatoFiltro};
use crate::store::{Planned, Refused, UpsertItem, Upserted};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// An application writes only under its own `idA2A` (GovPay: `400 APP_002`).
fn own(caller: &Caller, id_a2a: &str) -> Result<(), ApiError> {
    if caller.id_a2a != id_a2a {
        return Err(ApiError::other_application(&caller.id_a2a, id_a2a));
    }
    Ok(())
}

/// An application reads only its own positions (GovPay: `403`, whether the position exists
/// or not).
fn may_read(caller: &Caller, id_a2a: &str) -> Result<(), ApiError> {
    if caller.id_a2a != id_a2a {
        return Err(ApiError::forbidden(format!(
            "application {} may not read the positions of application {id_a2a}",
            caller.id_a2a
        )));
    }
    Ok(())
}

/// The state of `p`'s document, when it is an option of one.
pub async fn stato_of(
    store: &crate::store::Store,
    p: &Pendenza,
) -> Result<Option<crate::domain::documento::StatoDocumento>, ApiError> {
    let Some(d) = &p.dettagli.documento else {
        return Ok(None);
    };
    let options = store.documento(&p.dominio, &d.identificativo).await?;
    Ok(Some(crate::domain::documento::stato(&options)))
}

/// `DOC_001`: a document identifier is unique per creditor, so one application may not add
/// options to another application's document.
fn foreign_document(dominio: &str, identificativo: &str) -> ApiError {
    ApiError::rule(
        "DOC_001",
        format!(
            "Il documento ({identificativo}) del dominio ({dominio}) appartiene a un'altra applicazione"
        ),
    )
}

/// Refuses a position that would join a document of `dominio` another application owns.
pub async fn check_owner(
    store: &crate::store::Store,
    caller: &Caller,
    p: &Pendenza,
) -> Result<(), ApiError> {
    let Some(d) = &p.dettagli.documento else {
        return Ok(());
    };
    let options = store.documento(&p.dominio, &d.identificativo).await?;
    if !all_owned_by(&options, caller) {
        return Err(foreign_document(&p.dominio, &d.identificativo));
    }
    Ok(())
}

/// Whether every one of a document's `options` is the caller's.
pub fn all_owned_by(options: &[Pendenza], caller: &Caller) -> bool {
    options
        .iter()
        .all(|o| o.id_a2a.as_deref() == Some(caller.id_a2a.as_str()))
}

/// The upsert rule for one validated request: create, update by GovPay's rules, or leave.
fn plan(
    validated: &Validated,
    now: chrono::DateTime<chrono::Utc>,
) -> impl Fn(Option<&Pendenza>) -> Result<Planned, ApiError> + '_ {
    move |existing| match existing {
        None => {
            let mut p = validated.pendenza.clone();
            p.dettagli.uuid = Some(uuid::Uuid::new_v4().simple().to_string());
            Ok(Planned::Create {
                pendenza: p,
                generate: validated.generate.clone(),
            })
        }
        Some(old) => Ok(match validate::update(old, validated, now)? {
            Some(next) => Planned::Write(next),
            None => Planned::Unchanged,
        }),
    }
}

/// A refused upsert as GovPay says it. The position already holding a notice number is named
/// only to its own application (`VER_025`); another application's ids are not revealed.
fn refused(r: Refused<ApiError>, caller: &Caller, id_pendenza: &str) -> ApiError {
    match r {
        Refused::Rule(e) => e,
        Refused::NoticeTaken {
            numero_avviso,
            holder,
        } => {
            let mine = holder.id_a2a.as_deref() == Some(caller.id_a2a.as_str());
            let other = Who {
                a2a: if mine { &caller.id_a2a } else { "-" },
                id: holder
                    .id_pendenza
                    .as_deref()
                    .filter(|_| mine)
                    .unwrap_or("-"),
            };
            let who = Who {
                a2a: &caller.id_a2a,
                id: id_pendenza,
            };
            faults::numero_avviso_utilizzato(who, &numero_avviso, other).into()
        }
    }
}

/// Create (201) or update (200) a position.
#[utoipa::path(
    put,
    path = "/pendenze/{idA2A}/{idPendenza}",
    params(("idA2A" = String, Path, description = "Owning application"), ("idPendenza" = String, Path, description = "The application's id"), PutQuery),
    request_body = NuovaPendenza,
    responses(
        (status = 201, description = "Created", body = PendenzaCreata),
        (status = 200, description = "Updated or unchanged", body = PendenzaCreata),
        (status = 400, description = "Not JSON, or a field breaks the API's syntax (SINTASSI); or another application's idA2A (APP_002)", body = FaultBean),
        (status = 401, description = "Unauthenticated", body = FaultBean),
        (status = 403, description = "A domain the application may not use (403000)", body = FaultBean),
        (status = 422, description = "One of GovPay's rules (DOM_000, VER_020, VER_025, ...)", body = FaultBean)
    ),
    tag = "Pendenze"
)]
pub async fn put_pendenza(
    State(state): State<ApiState>,
    Path((id_a2a, id_pendenza)): Path<(String, String)>,
    QueryParams(query): QueryParams<PutQuery>,
    Extension(caller): Extension<Caller>,
    body: Result<JsonBody<NuovaPendenza>, ApiError>,
) -> Result<Response, ApiError> {
    own(&caller, &id_a2a)?;
    let JsonBody(request) = body?;
    let now = (state.nodo.clock)();
    let validated =
        validate::nuova_pendenza(&state.nodo.config, &caller, &id_pendenza, &request, now)?;
    let store = state.nodo.store.clone();
    check_owner(&store, &caller, &validated.pendenza).await?;
    let rule = plan(&validated, now);
    let outcome = store
        .upsert_batch(&[UpsertItem {
            id_a2a: &id_a2a,
            id_pendenza: &id_pendenza,
            rule: &rule,
        }])
        .await?
        .pop()
        .ok_or_else(|| ApiError::internal("empty upsert result"))?
        .map_err(|r| refused(r, &caller, &id_pendenza))?;
    let (status, p) = match outcome {
        Upserted::Created(p) => (StatusCode::CREATED, p),
        Upserted::Updated(p) => (StatusCode::OK, p),
        Upserted::Unchanged(p) => (StatusCode::OK, p),
    };
    // Durable before it is acknowledged.
    store.sync().await?;
    tracing::info!(id_a2a = %id_a2a, notice = %p.numero_avviso, status = status.as_u16(), "pendenza stored");
    // GovPay prints no notice for a position with a digital stamp: the stamp is bought with
    // an online payment, never at a counter with a printed notice.
    let has_stamp = p
        .voci
        .iter()
        .any(|v| matches!(v.accredito, crate::domain::Accredito::Bollo { .. }));
    let pdf = if query.stampa_avviso == Some(true) && !has_stamp {
        Some(avvisi::pdf_base64(&state, &p)?)
    } else {
        None
    };
    Ok((
        status,
        Json(PendenzaCreata {
            id_dominio: p.dominio.clone(),
            numero_avviso: p.numero_avviso.clone(),
            uuid: p.dettagli.uuid.clone().unwrap_or_default(),
            pdf,
        }),
    )
        .into_response())
}

/// The detail of a stored position: the position, its receipts, its latest attempts.
pub async fn dettaglio(state: &ApiState, p: &Pendenza) -> Result<PendenzaDettaglio, ApiError> {
    let stato_documento = stato_of(&state.nodo.store, p).await?;
    dettaglio_in(state, p, stato_documento).await
}

/// [`dettaglio`] of an option whose document's state the caller has already worked out (a
/// listing of the whole document reads it once).
pub async fn dettaglio_in(
    state: &ApiState,
    p: &Pendenza,
    stato_documento: Option<crate::domain::documento::StatoDocumento>,
) -> Result<PendenzaDettaglio, ApiError> {
    let store = &state.nodo.store;
    let ricevute = store.ricevute(&p.dominio, &p.iuv).await?;
    let (tentativi, altri) = store
        .attempts_page(&p.dominio, &p.iuv, 0, TENTATIVI_IN_DETTAGLIO)
        .await?;
    let dominio = state.nodo.config.dominio(&p.dominio);
    let mut d = PendenzaDettaglio::new(
        p,
        Contesto {
            stato: p.stato_at((state.nodo.clock)()),
            ragione_sociale: dominio
                .map(|d| d.ragione_sociale.clone())
                .unwrap_or_default(),
            unita_operativa: dominio.and_then(|d| {
                let id = p.dettagli.id_unita_operativa.as_deref()?;
                let u = d.unita_operative.iter().find(|u| u.id == id)?;
                Some(u.ragione_sociale.clone())
            }),
            ricevute: ricevute.into_iter().map(RicevutaSintesi::from).collect(),
            tentativi: (tentativi.into_iter().map(Into::into).collect(), altri),
        },
    );
    if let (Some(stato), Some(serde_json::Value::Object(fields))) =
        (stato_documento, d.dettagli.documento.as_mut())
    {
        fields.insert("stato".into(), stato.as_str().into());
    }
    Ok(d)
}

/// The caller's own position `id_a2a`/`id_pendenza`, or 403/404.
async fn own_pendenza(
    state: &ApiState,
    caller: &Caller,
    id_a2a: &str,
    id_pendenza: &str,
) -> Result<Pendenza, ApiError> {
    may_read(caller, id_a2a)?;
    state
        .nodo
        .store
        .pendenza_of_app(id_a2a, id_pendenza)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("pendenza {id_a2a}/{id_pendenza}")))
}

/// Read one position.
#[utoipa::path(
    get,
    path = "/pendenze/{idA2A}/{idPendenza}",
    params(("idA2A" = String, Path, description = "Owning application"), ("idPendenza" = String, Path, description = "The application's id")),
    responses((status = 200, body = PendenzaDettaglio), (status = 401, body = FaultBean), (status = 403, body = FaultBean), (status = 404, body = FaultBean)),
    tag = "Pendenze"
)]
pub async fn get_pendenza(
    State(state): State<ApiState>,
    Path((id_a2a, id_pendenza)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<PendenzaDettaglio>, ApiError> {
    let p = own_pendenza(&state, &caller, &id_a2a, &id_pendenza).await?;
    Ok(Json(dettaglio(&state, &p).await?))
}

/// Read a position by notice number (only the owning application).
#[utoipa::path(
    get,
    path = "/pendenze/byAvviso/{idDominio}/{numeroAvviso}",
    params(("idDominio" = String, Path, description = "Creditor"), ("numeroAvviso" = String, Path, description = "Notice number")),
    responses((status = 200, body = PendenzaDettaglio), (status = 401, body = FaultBean), (status = 403, body = FaultBean), (status = 404, body = FaultBean)),
    tag = "Pendenze"
)]
pub async fn get_by_avviso(
    State(state): State<ApiState>,
    Path((id_dominio, numero_avviso)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<PendenzaDettaglio>, ApiError> {
    let p = find_own_by_avviso(&state, &caller, &id_dominio, &numero_avviso).await?;
    Ok(Json(dettaglio(&state, &p).await?))
}

/// A listing's `dataDa` / `dataA`: a day (`YYYY-MM-DD`, the whole Europe/Rome day), a
/// Europe/Rome local time (`YYYY-MM-DDTHH:mm[:ss[.SSS]]`) or an RFC 3339 instant. As GovPay reads it, a time past the
/// end of its day rolls over (`T25:00` is 01:00 of the next day); anything else is a 400 with
/// GovPay's text.
fn instant(
    field: &str,
    v: &str,
    end_of_day: bool,
) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    static TIME: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"^([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,3}))?)?$")
            .expect("a constant regular expression")
    });
    let invalid = || {
        ApiError::syntax(format!(
            "Il formato della data indicata [{v}] per il parametro [{field}] non e' valido."
        ))
    };
    // An instant with its offset (RFC 3339) is taken as it is.
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let day = v
        .get(..10)
        .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        .ok_or_else(invalid)?;
    let Some(rest) = v.get(10..).filter(|r| !r.is_empty()) else {
        return Ok(if end_of_day {
            rome_day_end(day)
        } else {
            rome_day_start(day)
        });
    };
    let caps = rest
        .strip_prefix('T')
        .and_then(|t| TIME.captures(t))
        .ok_or_else(invalid)?;
    let num = |i: usize| {
        caps.get(i)
            .map_or(0, |m| m.as_str().parse::<i64>().unwrap_or(0))
    };
    let millis = caps.get(4).map_or(0, |m| {
        let digits = m.as_str();
        num(4) * 10i64.pow(3 - digits.len() as u32)
    });
    let offset = chrono::Duration::hours(num(1))
        + chrono::Duration::minutes(num(2))
        + chrono::Duration::seconds(num(3))
        + chrono::Duration::milliseconds(millis);
    use chrono::TimeZone;
    let local = day.and_time(chrono::NaiveTime::MIN) + offset;
    chrono_tz::Europe::Rome
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&chrono::Utc))
        .ok_or_else(invalid)
}

/// The store filter of a listing's query. A day is a Europe/Rome calendar day, as everywhere in
/// the protocol.
fn filter(q: &ListaQuery) -> Result<Filter, ApiError> {
    let stato = match q.stato.as_deref() {
        None => None,
        Some("ANOMALA") => Some(StatoFiltro::Anomala),
        Some("ESEGUITA_PARZIALE" | "INCASSATA") => Some(StatoFiltro::Mai),
        Some(name) => Some(StatoFiltro::Stato(StatoEffettivo::parse(name).ok_or_else(
            || {
                ApiError::syntax(format!(
                    "Codifica inesistente per stato. Valore fornito [{name}] valori possibili \
                 {{NON_ESEGUITA,ESEGUITA,ESEGUITA_PARZIALE,ANNULLATA,SCADUTA,ANOMALA,INCASSATA}}"
                ))
            },
        )?)),
    };
    Ok(Filter {
        dominio: q.id_dominio.clone(),
        domini: None,
        scadenza_tra: None,
        debitore: q.id_debitore.clone(),
        stato,
        da: q
            .data_da
            .as_deref()
            .map(|v| instant("dataDa", v, false))
            .transpose()?,
        a: q.data_a
            .as_deref()
            .map(|v| instant("dataA", v, true))
            .transpose()?,
    })
}

/// List the caller's positions, newest first, with filters and paging. The store walks an
/// index ordered the same way and decodes only the page (on a blocking thread, a bounded number
/// at a time); `metadatiPaginazione=false` skips counting the matches.
#[utoipa::path(
    get,
    path = "/pendenze",
    params(ListaQuery),
    responses((status = 200, body = ListaPendenze), (status = 400, body = FaultBean), (status = 401, body = FaultBean), (status = 403, body = FaultBean)),
    tag = "Pendenze"
)]
pub async fn list_pendenze(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<ListaQuery>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ListaPendenze>, ApiError> {
    if let Some(a) = &q.id_a2a {
        may_read(&caller, a)?;
    }
    // `risultatiPerPagina=0` asks for the count alone (GovPay).
    let count_only = q.risultati_per_pagina == Some(0);
    let (page, per_page) = if count_only {
        (q.pagina.unwrap_or(1), 0)
    } else {
        super::paging(q.pagina, q.risultati_per_pagina)?
    };
    let filter = filter(&q)?;
    let count = count_only || q.metadati_paginazione.unwrap_or(true);
    let now = (state.nodo.clock)();
    if let Some(id) = &q.id_documento {
        return document_listing(&state, &caller, id, &filter, now, (page, per_page)).await;
    }
    let _slot = state
        .listings
        .clone()
        .acquire_owned()
        .await
        .map_err(ApiError::internal)?;
    let found = state
        .nodo
        .store
        .list_pendenze(
            &caller.id_a2a,
            &filter,
            now,
            page.saturating_sub(1).saturating_mul(per_page),
            per_page,
            count,
        )
        .await?;
    let mut risultati = Vec::with_capacity(found.pendenze.len());
    for p in &found.pendenze {
        risultati.push(dettaglio(&state, p).await?);
    }
    Ok(Json(ListaPendenze {
        num_risultati: found.total,
        num_pagine: found
            .total
            .filter(|_| per_page > 0)
            .map(|t| t.div_ceil(per_page)),
        risultati_per_pagina: per_page,
        pagina: page,
        prossimi_risultati: (found.more && per_page > 0).then(|| {
            super::next_page(
                &format!("{}/pendenze", super::PENDENZE_BASE),
                raw.as_deref(),
                page + 1,
            )
        }),
        risultati,
    }))
}

/// A position's activation attempts, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/pendenze/{idA2A}/{idPendenza}/tentativi",
    params(("idA2A" = String, Path, description = "Owning application"), ("idPendenza" = String, Path, description = "The application's id"), PaginaQuery),
    responses((status = 200, body = ListaTentativi), (status = 400, body = FaultBean), (status = 401, body = FaultBean), (status = 403, body = FaultBean), (status = 404, body = FaultBean)),
    tag = "Pendenze"
)]
pub async fn list_tentativi(
    State(state): State<ApiState>,
    Path((id_a2a, id_pendenza)): Path<(String, String)>,
    QueryParams(q): QueryParams<PaginaQuery>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
    Extension(caller): Extension<Caller>,
) -> Result<Json<ListaTentativi>, ApiError> {
    let (page, per_page) = super::paging(q.pagina, q.risultati_per_pagina)?;
    let p = own_pendenza(&state, &caller, &id_a2a, &id_pendenza).await?;
    let (attempts, more) = state
        .nodo
        .store
        .attempts_page(
            &p.dominio,
            &p.iuv,
            (page - 1).saturating_mul(per_page),
            per_page,
        )
        .await?;
    Ok(Json(ListaTentativi {
        risultati_per_pagina: per_page,
        pagina: page,
        prossimi_risultati: more.then(|| {
            super::next_page(
                &format!(
                    "{}/pendenze/{}/{}/tentativi",
                    super::PENDENZE_BASE,
                    crate::gestionale::client::segment(&id_a2a),
                    crate::gestionale::client::segment(&id_pendenza)
                ),
                raw.as_deref(),
                page + 1,
            )
        }),
        risultati: attempts.into_iter().map(Into::into).collect(),
    }))
}

/// Cancel or reopen a position (`/stato`), with a reason (`/descrizioneStato`).
#[utoipa::path(
    patch,
    path = "/pendenze/{idA2A}/{idPendenza}",
    params(("idA2A" = String, Path, description = "Owning application"), ("idPendenza" = String, Path, description = "The application's id")),
    request_body(content = Vec<PatchOp>, content_type = "application/json-patch+json"),
    responses((status = 200, body = PendenzaDettaglio), (status = 400, body = FaultBean), (status = 401, body = FaultBean), (status = 403, body = FaultBean), (status = 404, body = FaultBean), (status = 422, body = FaultBean)),
    tag = "Pendenze"
)]
pub async fn patch_pendenza(
    State(state): State<ApiState>,
    Path((id_a2a, id_pendenza)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    body: Result<JsonBody<Vec<PatchOp>>, ApiError>,
) -> Result<Json<PendenzaDettaglio>, ApiError> {
    own(&caller, &id_a2a)?;
    let JsonBody(ops) = body?;
    let patch = Patch::try_from(ops.as_slice())?;
    let p = own_pendenza(&state, &caller, &id_a2a, &id_pendenza).await?;
    let now = (state.nodo.clock)();
    let updated = state
        .nodo
        .store
        .update_pendenza(&p.dominio, &p.iuv, &|current| patch.apply(current, now))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("pendenza {id_a2a}/{id_pendenza}")))??;
    state.nodo.store.sync().await?;
    Ok(Json(dettaglio(&state, &updated).await?))
}

/// `GET /pendenze?idDocumento=`: the caller's options of a document (a few, read directly),
/// in document order, filtered and paged as any listing.
async fn document_listing(
    state: &ApiState,
    caller: &Caller,
    identificativo: &str,
    filter: &crate::store::index::Filter,
    now: chrono::DateTime<chrono::Utc>,
    (page, per_page): (usize, usize),
) -> Result<Json<ListaPendenze>, ApiError> {
    validate::identifier("idDocumento", identificativo)?;
    let domini: Vec<String> = match &filter.dominio {
        Some(d) => vec![d.clone()],
        None => state
            .nodo
            .config
            .domini
            .iter()
            .filter(|d| caller.may_use_domain(&d.id))
            .map(|d| d.id.clone())
            .collect(),
    };
    // Each option with its document's state, worked out once from all of its options.
    let mut found = Vec::new();
    for dominio in &domini {
        let options = state.nodo.store.documento(dominio, identificativo).await?;
        let stato = crate::domain::documento::stato(&options);
        found.extend(
            options
                .into_iter()
                .filter(|p| p.id_a2a.as_deref() == Some(caller.id_a2a.as_str()))
                .filter(|p| filter.admits(p, now))
                .map(|p| (p, stato)),
        );
    }
    crate::domain::documento::sort_by(&mut found, |(p, _)| p);
    let total = found.len();
    let skip = page.saturating_sub(1).saturating_mul(per_page);
    let mut risultati = Vec::new();
    for (p, stato) in found.iter().skip(skip).take(per_page) {
        risultati.push(dettaglio_in(state, p, Some(*stato)).await?);
    }
    Ok(Json(ListaPendenze {
        num_risultati: Some(total),
        num_pagine: (per_page > 0).then(|| total.div_ceil(per_page)),
        risultati_per_pagina: per_page,
        pagina: page,
        prossimi_risultati: None,
        risultati,
    }))
}

/// Load many positions in one call (a year of TARI): per-item results, stored in batches.
#[utoipa::path(
    post,
    path = "/pendenze/tracciati",
    request_body = Vec<PendenzaTracciatoSchema>,
    responses((status = 200, body = EsitoCaricamento), (status = 400, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Pendenze"
)]
pub async fn post_tracciato(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    JsonBody(items): JsonBody<Vec<PendenzaTracciato>>,
) -> Result<Json<EsitoCaricamento>, ApiError> {
    let now = (state.nodo.clock)();
    let risultati = load(&state.nodo.store, &state.nodo.config, &caller, &items, now).await;
    // Every chunk written is flushed before the answer, whatever became of the others.
    state.nodo.store.sync().await?;
    let num_errori = risultati.iter().filter(|r| r.esito == "ERRORE").count();
    tracing::info!(
        items = risultati.len(),
        errors = num_errori,
        "bulk load stored"
    );
    Ok(Json(EsitoCaricamento {
        num_pendenze: risultati.len(),
        num_ok: risultati.len() - num_errori,
        num_errori,
        risultati,
    }))
}

/// Positions stored in one transaction in a bulk load.
const LOAD_CHUNK: usize = 1000;

/// Validates and stores a bulk load, [`LOAD_CHUNK`] items per transaction, and answers for
/// every item. A chunk the store fails to write (its transaction aborted: none of its items
/// was written) answers an error for each of its items; the other chunks are stored and
/// reported as usual.
async fn load(
    store: &crate::store::Store,
    config: &crate::config::Config,
    caller: &Caller,
    items: &[PendenzaTracciato],
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<EsitoTracciato> {
    let esito =
        |i: usize, esito: &str, p: Option<Pendenza>, errore: Option<FaultBean>| EsitoTracciato {
            id_a2a: items[i].id_a2a.clone(),
            id_pendenza: items[i].id_pendenza.clone(),
            esito: esito.into(),
            id_dominio: p.as_ref().map(|p| p.dominio.clone()),
            numero_avviso: p.map(|p| p.numero_avviso),
            errore,
        };
    let mut out: Vec<Option<EsitoTracciato>> = vec![None; items.len()];
    let mut valid = Vec::new();
    // Validation is CPU work: off the async workers.
    crate::store::blocking(|| {
        for (i, it) in items.iter().enumerate() {
            let checked = validate::identifier("idA2A", &it.id_a2a)
                .map_err(ApiError::from)
                .and_then(|()| own(caller, &it.id_a2a))
                .and_then(|()| {
                    validate::nuova_pendenza(config, caller, &it.id_pendenza, &it.pendenza, now)
                        .map_err(ApiError::from)
                });
            match checked {
                Ok(v) => valid.push((i, v)),
                Err(e) => out[i] = Some(esito(i, "ERRORE", None, Some(e.fault))),
            }
        }
    });
    // Options of documents another application owns are refused, one look per document.
    let mut documents: std::collections::HashMap<(String, String), Option<FaultBean>> =
        std::collections::HashMap::new();
    let mut kept = Vec::with_capacity(valid.len());
    for (i, v) in valid {
        if let Some(d) = &v.pendenza.dettagli.documento {
            let key = (v.pendenza.dominio.clone(), d.identificativo.clone());
            if !documents.contains_key(&key) {
                let verdict = check_owner(store, caller, &v.pendenza)
                    .await
                    .err()
                    .map(|e| e.fault);
                documents.insert(key.clone(), verdict);
            }
            if let Some(Some(fault)) = documents.get(&key) {
                out[i] = Some(esito(i, "ERRORE", None, Some(fault.clone())));
                continue;
            }
        }
        kept.push((i, v));
    }
    let valid = kept;
    for chunk in valid.chunks(LOAD_CHUNK) {
        let rules: Vec<_> = chunk.iter().map(|(_, v)| plan(v, now)).collect();
        let upserts: Vec<UpsertItem<'_, ApiError>> = chunk
            .iter()
            .zip(&rules)
            .map(|((i, _), rule)| UpsertItem {
                id_a2a: &items[*i].id_a2a,
                id_pendenza: &items[*i].id_pendenza,
                rule,
            })
            .collect();
        match store.upsert_batch(&upserts).await {
            Ok(results) => {
                for ((i, _), r) in chunk.iter().zip(results) {
                    out[*i] = Some(match r {
                        Ok(Upserted::Created(p)) => esito(*i, "CREATA", Some(p), None),
                        Ok(Upserted::Updated(p)) => esito(*i, "AGGIORNATA", Some(p), None),
                        Ok(Upserted::Unchanged(p)) => esito(*i, "INVARIATA", Some(p), None),
                        Err(e) => {
                            let e = refused(e, caller, &items[*i].id_pendenza);
                            esito(*i, "ERRORE", None, Some(e.fault))
                        }
                    });
                }
            }
            Err(e) => {
                let fault = ApiError::internal(e).fault;
                for (i, _) in chunk {
                    out[*i] = Some(esito(*i, "ERRORE", None, Some(fault.clone())));
                }
            }
        }
    }
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::Store;

    fn items(n: usize) -> Vec<PendenzaTracciato> {
        let one = include_str!("../../fixtures/rest/tari-2026-0001.json").trim();
        let list: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"idA2A": "demo", "idPendenza": "carico-{i}", {}"#,
                    &one[1..]
                )
            })
            .collect();
        serde_json::from_str(&format!("[{}]", list.join(","))).unwrap()
    }

    fn demo() -> Caller {
        Caller {
            id_a2a: "demo".into(),
            domini: vec!["*".into()],
            tipi_pendenza: vec!["*".into()],
        }
    }

    #[tokio::test]
    async fn a_chunk_the_store_cannot_write_is_reported_per_item_and_the_others_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 16).unwrap();
        let config = Config::demo();
        // Room for exactly one chunk of generated numbers: the second chunk's transaction
        // aborts when the counter runs out.
        store
            .set_counter("77777777777", "01", 10u64.pow(13) - 1 - LOAD_CHUNK as u64)
            .unwrap();
        let loaded = items(LOAD_CHUNK + 3);
        let out = load(&store, &config, &demo(), &loaded, chrono::Utc::now()).await;
        assert_eq!(out.len(), LOAD_CHUNK + 3);
        assert!(out[..LOAD_CHUNK].iter().all(|r| r.esito == "CREATA"));
        for r in &out[LOAD_CHUNK..] {
            assert_eq!(r.esito, "ERRORE");
            assert_eq!(r.errore.as_ref().unwrap().categoria, "INTERNO");
            assert!(
                store
                    .pendenza_of_app("demo", &r.id_pendenza)
                    .await
                    .unwrap()
                    .is_none()
            );
        }
        assert!(
            store
                .pendenza_of_app("demo", &format!("carico-{}", LOAD_CHUNK - 1))
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(store.count_pendenze().await.unwrap(), LOAD_CHUNK);
    }

    #[test]
    fn amounts_are_read_from_their_decimal_text() {
        let body = |importo: &str| {
            include_str!("../../fixtures/rest/tari-2026-0001.json").replacen(
                "\"importo\": 120.50",
                &format!("\"importo\": {importo}"),
                1,
            )
        };
        let read =
            |importo: &str| super::super::json_body::<NuovaPendenza>(body(importo).as_bytes());
        assert_eq!(read("120.50").unwrap().importo, 12050);
        assert_eq!(read("120.5").unwrap().importo, 12050);
        assert_eq!(read("120").unwrap().importo, 12000);
        // Through a float both of these are 120.50 or close to it: neither is two decimals.
        for refused in [
            "120.499999999999999",
            "120.505",
            "1.2e2",
            "\"120.50\"",
            "-1.00",
        ] {
            let e = read(refused).unwrap_err();
            assert_eq!(e.fault.codice, "SINTASSI", "{refused}: {:?}", e.fault);
            assert!(
                e.fault
                    .dettaglio
                    .as_deref()
                    .unwrap_or("")
                    .contains("importo")
                    || e.fault.descrizione.contains("importo"),
                "{refused}: {:?}",
                e.fault
            );
        }
        // The same in a bulk load, where the item's fields sit beside its ids.
        let tracciato = format!(
            r#"[{{"idA2A": "demo", "idPendenza": "x", {}]"#,
            &body("120.499999999999999").trim()[1..]
        );
        let e =
            super::super::json_body::<Vec<PendenzaTracciato>>(tracciato.as_bytes()).unwrap_err();
        assert_eq!(e.fault.codice, "SINTASSI", "{:?}", e.fault);
        let ok = format!(
            r#"[{{"idA2A": "demo", "idPendenza": "x", {}]"#,
            &body("99.99").trim()[1..]
        );
        let items = super::super::json_body::<Vec<PendenzaTracciato>>(ok.as_bytes()).unwrap();
        assert_eq!(
            (items[0].pendenza.importo, items[0].id_pendenza.as_str()),
            (9999, "x")
        );
    }
}
