//! Documents in API Pendenze v2: the options of one debt (single payment, instalments) read,
//! listed, cancelled together, and printed on one notice.

use super::ApiState;
use super::dto::{ListaPendenze, Patch, PatchOp, PendenzaDettaglio};
use super::error::{ApiError, FaultBean};
use super::extract::JsonBody;
use super::pendenze::{all_owned_by, dettaglio_in};
use crate::domain::documento;
use crate::domain::{Pendenza, Stato};
use crate::govpay::validate::Caller;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};

/// The caller's options of a document, single payment first, then instalments in order; 404
/// when the caller has none, 403 when the document is another application's.
async fn own_options(
    state: &ApiState,
    caller: &Caller,
    id_dominio: &str,
    identificativo: &str,
) -> Result<Vec<Pendenza>, ApiError> {
    if !caller.may_use_domain(id_dominio) {
        return Err(ApiError::forbidden(format!(
            "application {} may not use domain {id_dominio}",
            caller.id_a2a
        )));
    }
    let mut options = state
        .nodo
        .store
        .documento(id_dominio, identificativo)
        .await?;
    if options.is_empty() {
        return Err(ApiError::not_found(format!(
            "documento {id_dominio}/{identificativo}"
        )));
    }
    if !all_owned_by(&options, caller) {
        return Err(ApiError::forbidden(format!(
            "application {} may not read document {identificativo} of domain {id_dominio}",
            caller.id_a2a
        )));
    }
    documento::sort(&mut options);
    Ok(options)
}

/// Cancel (or reopen) every option of a document that is not paid: the same JSON Patch as a
/// position's (`/stato`, `/descrizioneStato`), applied to each option. Paid options stay as
/// they are and are listed with the others.
#[utoipa::path(
    patch,
    path = "/documenti/{idDominio}/{identificativo}",
    params(("idDominio" = String, Path, description = "Creditor"), ("identificativo" = String, Path, description = "The document's id")),
    request_body(content = Vec<PatchOp>, content_type = "application/json-patch+json"),
    responses((status = 200, body = ListaPendenze), (status = 400, body = FaultBean), (status = 401, body = FaultBean), (status = 403, body = FaultBean), (status = 404, body = FaultBean), (status = 422, body = FaultBean)),
    tag = "Documenti"
)]
pub async fn patch_documento(
    State(state): State<ApiState>,
    Path((id_dominio, identificativo)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    body: Result<JsonBody<Vec<PatchOp>>, ApiError>,
) -> Result<Json<ListaPendenze>, ApiError> {
    let JsonBody(ops) = body?;
    let patch = Patch::try_from(ops.as_slice())?;
    let options = own_options(&state, &caller, &id_dominio, &identificativo).await?;
    let now = (state.nodo.clock)();
    let store = &state.nodo.store;
    let mut risultati = Vec::with_capacity(options.len());
    for o in &options {
        let after = store
            .update_pendenza(&o.dominio, &o.iuv, &|current| {
                if current.stato == Stato::Eseguita {
                    // Paid (before or meanwhile): left as it is.
                    Ok(None)
                } else {
                    patch.apply(current, now)
                }
            })
            .await?
            .ok_or_else(|| ApiError::not_found(format!("pendenza {}", o.numero_avviso)))??;
        risultati.push(after);
    }
    store.sync().await?;
    tracing::info!(options = risultati.len(), "documento changed");
    lista(&state, risultati).await
}

/// A listing of a whole document (one page): `options` are all of its options, so its state
/// is worked out from them once.
async fn lista(state: &ApiState, options: Vec<Pendenza>) -> Result<Json<ListaPendenze>, ApiError> {
    let stato = documento::stato(&options);
    let mut risultati: Vec<PendenzaDettaglio> = Vec::with_capacity(options.len());
    for p in &options {
        risultati.push(dettaglio_in(state, p, Some(stato)).await?);
    }
    Ok(Json(ListaPendenze {
        num_risultati: Some(risultati.len()),
        num_pagine: Some(1),
        risultati_per_pagina: risultati.len(),
        pagina: 1,
        prossimi_risultati: None,
        risultati,
    }))
}

/// The printable notice of a document: its single payment (when it has one, not cancelled)
/// on page 1 and the instalments of one plan after it (the plan without a name, else the
/// first), each with its own notice number and QR code; `options` sorted by [`documento::sort`].
pub fn avviso_documento(
    config: &crate::config::Config,
    options: &[Pendenza],
) -> Result<crate::notice::AvvisoDocumento, ApiError> {
    let live: Vec<&Pendenza> = options
        .iter()
        .filter(|p| p.stato != Stato::Annullata)
        .collect();
    let Some(first) = live.first() else {
        return Err(ApiError::rule(
            "DOC_002",
            "Il documento non ha opzioni da stampare: sono tutte annullate",
        ));
    };
    let documento = first.dettagli.documento.as_ref();
    let unica = live
        .iter()
        .find(|p| {
            p.dettagli
                .documento
                .as_ref()
                .is_some_and(|d| d.rata.is_none())
        })
        .copied();
    let plans: Vec<Option<&str>> = live
        .iter()
        .filter_map(|p| p.dettagli.documento.as_ref())
        .filter(|d| d.rata.is_some())
        .map(|d| d.piano.as_deref())
        .collect();
    let plan = if plans.contains(&None) {
        None
    } else {
        plans.first().copied().flatten()
    };
    let rate: Vec<&Pendenza> = live
        .iter()
        .filter(|p| {
            p.dettagli
                .documento
                .as_ref()
                .is_some_and(|d| d.rata.is_some() && d.piano.as_deref() == plan)
        })
        .copied()
        .collect();
    let mut intestazione =
        super::avvisi::avviso_of(config, unica.or(rate.first().copied()).unwrap_or(first))?
            .intestazione;
    if let Some(d) = documento {
        intestazione.subject = d.descrizione.clone();
    }
    let opzione = |p: &Pendenza| super::avvisi::avviso_of(config, p).map(|a| a.opzione);
    Ok(crate::notice::AvvisoDocumento {
        intestazione,
        unica: unica.map(opzione).transpose()?,
        rate: rate.into_iter().map(opzione).collect::<Result<_, _>>()?,
    })
}

/// The printable notice of a document (GovPay's path): the single payment and the
/// instalments on one PDF, each with its own QR code.
#[utoipa::path(
    get,
    path = "/documenti/{idDominio}/{identificativo}/avvisi",
    params(("idDominio" = String, Path, description = "Creditor"), ("identificativo" = String, Path, description = "The document's id")),
    responses(
        (status = 200, description = "The notice", content((Vec<u8> = "application/pdf"))),
        (status = 401, body = FaultBean), (status = 403, body = FaultBean), (status = 404, body = FaultBean), (status = 422, body = FaultBean)
    ),
    tag = "Documenti"
)]
pub async fn get_avvisi_documento(
    State(state): State<ApiState>,
    Path((id_dominio, identificativo)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let options = own_options(&state, &caller, &id_dominio, &identificativo).await?;
    let avviso = avviso_documento(&state.nodo.config, &options)?;
    let pdf = crate::store::blocking(|| crate::notice::render_document(&avviso))
        .map_err(ApiError::internal)?;
    let mut response = pdf.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/pdf"),
    );
    Ok(response)
}
