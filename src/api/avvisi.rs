//! Notices: `GET /avvisi/{idDominio}/{numeroAvviso}` as JSON (the codes a PSP reads) or as the
//! printable PDF, and the PDF of `PUT ...?stampaAvviso=true`.

use super::ApiState;
use super::dto::AvvisoJson;
use super::error::{ApiError, FaultBean};
use crate::domain::NoticeNumber;
use crate::domain::{Accredito, Pendenza};
use crate::govpay::validate::Caller;
use crate::notice;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;

/// The printable notice of a position.
pub fn avviso_of(config: &crate::config::Config, p: &Pendenza) -> Result<notice::Avviso, ApiError> {
    let dominio = config.dominio(&p.dominio).ok_or_else(|| {
        ApiError::internal(format!("dominio {} is no longer configured", p.dominio))
    })?;
    let nav = NoticeNumber::parse(&p.numero_avviso).map_err(ApiError::internal)?;
    let s = &p.soggetto;
    let address = [
        s.indirizzo.clone().map(|i| match &s.civico {
            Some(c) => format!("{i} {c}"),
            None => i,
        }),
        match (&s.cap, &s.localita, &s.provincia) {
            (None, None, _) => None,
            (cap, loc, prov) => Some(
                [
                    cap.clone(),
                    loc.clone(),
                    prov.clone().map(|p| format!("({p})")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" "),
            ),
        },
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ");
    // The Poste part is printed when every item goes to a postal account and the creditor has
    // Poste's authorisation to print bollettini.
    let postal_iban = p.voci.iter().map(|v| match &v.accredito {
        Accredito::Iban { iban_postale, .. } => iban_postale.clone(),
        Accredito::Bollo { .. } => None,
    });
    let postal = match (
        dominio.aut_stampa_poste.as_ref(),
        postal_iban.collect::<Option<Vec<_>>>(),
    ) {
        (Some(aut), Some(ibans)) if !ibans.is_empty() => Some(notice::PostalPart {
            // The notice module takes the account number from the postal IBAN itself.
            account_number: ibans[0].clone(),
            holder: dominio.ragione_sociale.clone(),
            authorisation: aut.clone(),
        }),
        _ => None,
    };
    Ok(notice::Avviso {
        intestazione: notice::Intestazione {
            subject: p.causale.clone(),
            creditor_name: dominio.ragione_sociale.clone(),
            creditor_office: dominio.ufficio.clone(),
            creditor_info: None,
            creditor_fiscal_code: dominio.id.clone(),
            cbill: dominio.cbill.clone(),
            gln: dominio.gln.clone(),
            logo: dominio.logo_bytes.clone(),
            debtor_name: s.anagrafica.clone(),
            debtor_fiscal_code: s.identificativo.clone(),
            debtor_address: (!address.is_empty()).then_some(address),
        },
        opzione: notice::Opzione {
            amount_cents: p.importo,
            due_date: p.data_validita.or(p.data_scadenza),
            notice: nav,
            postal,
        },
    })
}

/// The PDF of a position, base64.
pub fn pdf_base64(state: &ApiState, p: &Pendenza) -> Result<String, ApiError> {
    let pdf = notice::render(&avviso_of(&state.nodo.config, p)?).map_err(ApiError::internal)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(pdf))
}

/// A notice as JSON (`Accept: application/json`, the default) or PDF (`Accept: application/pdf`).
#[utoipa::path(
    get,
    path = "/avvisi/{idDominio}/{numeroAvviso}",
    params(("idDominio" = String, Path, description = "Creditor"), ("numeroAvviso" = String, Path, description = "Notice number")),
    responses(
        (status = 200, description = "The notice", content(
            (AvvisoJson = "application/json"),
            (Vec<u8> = "application/pdf")
        )),
        (status = 401, body = FaultBean), (status = 403, body = FaultBean), (status = 404, body = FaultBean)
    ),
    tag = "Avvisi"
)]
pub async fn get_avviso(
    State(state): State<ApiState>,
    Path((id_dominio, numero_avviso)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !caller.may_use_domain(&id_dominio) {
        return Err(ApiError::forbidden(format!(
            "application {} may not read notices of dominio {id_dominio}",
            caller.id_a2a
        )));
    }
    let p = find_own_by_avviso(&state, &caller, &id_dominio, &numero_avviso).await?;
    match wanted(&headers) {
        Some(Format::Pdf) => {
            let pdf =
                notice::render(&avviso_of(&state.nodo.config, &p)?).map_err(ApiError::internal)?;
            Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/pdf"),
                )],
                pdf,
            )
                .into_response())
        }
        Some(Format::Json) => Ok(Json(avviso_json(&state, &p)?).into_response()),
        None => Err(ApiError::not_acceptable(format!(
            "Avviso di pagamento non disponibile nel formato indicato nell'header Accept, ricevuto: '{}', consentiti: {{'application/pdf','application/json'}}",
            headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
        ))),
    }
}

/// The notice of `p` as JSON, with the payloads of its QR code and GS1 barcode.
fn avviso_json(state: &ApiState, p: &Pendenza) -> Result<AvvisoJson, ApiError> {
    let nav = NoticeNumber::parse(&p.numero_avviso).map_err(ApiError::internal)?;
    let dominio = state.nodo.config.dominio(&p.dominio);
    Ok(AvvisoJson {
        stato: p.stato_at((state.nodo.clock)()).as_str().into(),
        importo: p.importo,
        id_dominio: p.dominio.clone(),
        numero_avviso: p.numero_avviso.clone(),
        data_validita: p.data_validita.map(|d| d.to_string()),
        data_scadenza: p.data_scadenza.map(|d| d.to_string()),
        descrizione: p.causale.clone(),
        tassonomia_avviso: p.dettagli.tassonomia_avviso.clone(),
        qrcode: notice::qr_payload(&nav, &p.dominio, p.importo),
        barcode: dominio
            .and_then(|d| d.gln.as_ref())
            .map(|gln| notice::gs1_payload(gln, &nav, p.importo)),
    })
}

/// The caller's own position a notice number names, or 404. The same owner rule as every read
/// of a position: another application's notice (and its debtor's name, fiscal code and address
/// on the PDF) is not revealed, not even its existence.
pub async fn find_own_by_avviso(
    state: &ApiState,
    caller: &Caller,
    id_dominio: &str,
    numero_avviso: &str,
) -> Result<Pendenza, ApiError> {
    let p = find_by_avviso(state, id_dominio, numero_avviso).await?;
    if p.id_a2a.as_deref() != Some(caller.id_a2a.as_str()) {
        return Err(ApiError::not_found(format!(
            "avviso {id_dominio}/{numero_avviso}"
        )));
    }
    Ok(p)
}

/// The position a notice number names, or 404.
pub async fn find_by_avviso(
    state: &ApiState,
    id_dominio: &str,
    numero_avviso: &str,
) -> Result<Pendenza, ApiError> {
    let missing = || ApiError::not_found(format!("avviso {id_dominio}/{numero_avviso}"));
    let nav = NoticeNumber::parse(numero_avviso).map_err(|_| missing())?;
    state
        .nodo
        .store
        .pendenza(id_dominio, nav.iuv())
        .await?
        .filter(|p| p.numero_avviso == numero_avviso)
        .ok_or_else(missing)
}

/// The two forms of a notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The printable PDF.
    Pdf,
    /// `Avviso` JSON.
    Json,
}

/// The form `Accept` asks for, as GovPay reads it: the PDF when it names
/// `application/pdf`, JSON when it names `application/json` (or any type, `*/*`,
/// `application/*`); none without an `Accept` (406).
pub fn wanted(headers: &HeaderMap) -> Option<Format> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    if accept.contains("application/pdf") {
        Some(Format::Pdf)
    } else if ["application/json", "*/*", "application/*"]
        .iter()
        .any(|t| accept.contains(t))
    {
        Some(Format::Json)
    } else {
        None
    }
}
