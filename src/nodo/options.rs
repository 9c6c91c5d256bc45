//! pagoPA's payment-options verify (REST, `paVerifyPaymentOptions`): a PSP asks which ways
//! there are to pay the debt of a notice, and the station lists every option of its document
//! (the single payment, each instalment plan, each deadline variant) with its state.
//!
//! `GET` (the payment-options service) or `POST` (pagopa-api's `orgs_payment_options.json`)
//! `/payment-options/organizations/{fiscalCode}/notices/{noticeNumber}?idPA=&idBrokerPA=&idStation=`.
//! Groups follow pagoPA's debt-position service: a single option is a group of its own, a plan's
//! instalments are one group (amount Σ, due date the latest, valid from the earliest). Options
//! that can no longer be paid because the document is committed to another plan are listed
//! as `PO_INVALID`; a fully paid document answers 200 with `PO_PAID`. A notice Varco does not
//! hold is `ODP-107` (404); a debt whose every option was cancelled `ODP-111`, whose every
//! option expired unpaid `ODP-110` (422).

use super::call::check_ids;
use crate::config::Config;
use crate::domain::documento::{self, Piano};
use crate::domain::{NoticeNumber, Pendenza, StatoEffettivo};
use crate::soap::{Fault, FaultCode};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Europe::Rome;
use serde::Serialize;

/// `PaymentOptionsResponse`.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PaymentOptionsResponse {
    /// The creditor.
    pub organization_fiscal_code: String,
    /// The creditor's name.
    pub company_name: String,
    /// Its office, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub office_name: Option<String>,
    /// Whether the answer comes from a stand-in (never: the station answers itself).
    pub standin: bool,
    /// The groups, by due date.
    pub payment_options: Vec<PaymentOption>,
}

/// `PaymentOption`: a single option, or one plan of instalments.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PaymentOption {
    /// What it is.
    pub description: String,
    /// Instalments in the group.
    pub number_of_installments: u32,
    /// The latest due date of the group (end of that Rome day, local time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// When its options became payable (Rome local time).
    pub valid_from: String,
    /// Σ of its instalments, cents.
    pub amount: i64,
    /// `PO_*`.
    pub status: &'static str,
    /// Why, in words.
    pub status_reason: String,
    /// Every transfer of every instalment can go to a postal account.
    #[serde(rename = "allCCP")]
    pub all_ccp: bool,
    /// Its instalments.
    pub installments: Vec<Installment>,
}

/// `Installment`: one notice.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Installment {
    /// Notice number.
    pub nav: String,
    /// IUV.
    pub iuv: String,
    /// Cents.
    pub amount: i64,
    /// The position's subject.
    pub description: String,
    /// Due date (end of that Rome day, local time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// When it became payable (Rome local time).
    pub valid_from: String,
    /// `POI_*`.
    pub status: &'static str,
    /// Why, in words.
    pub status_reason: String,
}

/// The error body of the payment-options API.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// The HTTP status.
    pub http_status_code: u16,
    /// Its reason phrase.
    pub http_status_description: String,
    /// What went wrong (no personal data).
    pub error_message: String,
    /// `ODP-1xx`.
    pub app_error_code: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// Rome local time.
    pub date_time: String,
}

/// The ODP code and HTTP status of a fault, as the payment-options service maps them.
pub fn odp(code: FaultCode) -> (&'static str, u16) {
    match code {
        FaultCode::SintassiXsd | FaultCode::SintassiExtraxsd => ("ODP-101", 400),
        FaultCode::Semantica | FaultCode::ReceiptDuplicata => ("ODP-102", 422),
        FaultCode::SystemError => ("ODP-103", 500),
        FaultCode::IdDominioErrato => ("ODP-104", 400),
        FaultCode::IdIntermediarioErrato => ("ODP-105", 400),
        FaultCode::StazioneIntErrata => ("ODP-106", 400),
        FaultCode::PagamentoSconosciuto => ("ODP-107", 404),
        FaultCode::PagamentoDuplicato => ("ODP-108", 409),
        FaultCode::PagamentoInCorso => ("ODP-109", 409),
        FaultCode::PagamentoScaduto => ("ODP-110", 422),
        FaultCode::PagamentoAnnullato => ("ODP-111", 422),
    }
}

/// The error body of `fault` at `now`, and its status.
pub fn error(fault: &Fault, now: DateTime<Utc>) -> (u16, ErrorResponse) {
    let (code, status) = odp(fault.code);
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    (
        status,
        ErrorResponse {
            http_status_code: status,
            http_status_description: reason.to_owned(),
            error_message: format!("{}: {}", fault.code.code(), fault.description),
            app_error_code: code.to_owned(),
            timestamp: now.timestamp(),
            date_time: local(now),
        },
    )
}

/// The query of a payment-options call.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionsQuery {
    /// The creditor asked about.
    #[serde(rename = "idPA")]
    pub id_pa: Option<String>,
    /// The broker.
    #[serde(rename = "idBrokerPA")]
    pub id_broker_pa: Option<String>,
    /// The station.
    pub id_station: Option<String>,
}

/// The checks before any read: the three ids present and this station's, the notice number
/// well formed. Returns the notice.
pub fn check(
    config: &Config,
    fiscal_code: &str,
    notice: &str,
    q: &OptionsQuery,
) -> Result<NoticeNumber, Fault> {
    let missing = |name: &str| Fault::new(FaultCode::SintassiXsd, format!("{name} is required"));
    let id_pa = q.id_pa.as_deref().ok_or_else(|| missing("idPA"))?;
    let broker = q
        .id_broker_pa
        .as_deref()
        .ok_or_else(|| missing("idBrokerPA"))?;
    let station = q
        .id_station
        .as_deref()
        .ok_or_else(|| missing("idStation"))?;
    if !crate::domain::fiscal::is_fiscal_code_pa(fiscal_code) {
        return Err(Fault::new(
            FaultCode::SintassiXsd,
            "the organization fiscal code must be 11 digits",
        ));
    }
    let nav = NoticeNumber::parse(notice).map_err(|e| {
        Fault::new(
            FaultCode::SintassiXsd,
            format!("notice number {notice}: {e}"),
        )
    })?;
    check_ids(config, id_pa, broker, station, fiscal_code)?;
    Ok(nav)
}

/// Rome local time without zone, as the payment-options API writes it.
fn local(t: DateTime<Utc>) -> String {
    t.with_timezone(&Rome)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// The end of a Rome due day, local time.
fn end_of(day: NaiveDate) -> String {
    format!("{}T23:59:59", day.format("%Y-%m-%d"))
}

/// A position's due day: its validity day, else its due date.
fn due(p: &Pendenza) -> Option<NaiveDate> {
    p.data_scadenza.or(p.data_validita)
}

/// An instalment's state and why, given the other options of its document.
fn installment_status(
    p: &Pendenza,
    options: &[Pendenza],
    now: DateTime<Utc>,
) -> (&'static str, String) {
    match p.stato_at(now) {
        StatoEffettivo::Eseguita if p.fuori_piano => (
            "POI_INVALID",
            "paid outside the plan the debt is paid with".into(),
        ),
        StatoEffettivo::Eseguita => ("POI_PAID", "paid".into()),
        StatoEffettivo::Annullata => ("POI_INVALID", "cancelled by the creditor".into()),
        StatoEffettivo::Scaduta => ("POI_EXPIRED_NOT_PAYABLE", "past its due date".into()),
        StatoEffettivo::NonEseguita => match documento::blocked_by(p, options) {
            Some(other) => (
                "POI_INVALID",
                format!("the debt is being paid with notice {}", other.numero_avviso),
            ),
            None => ("POI_UNPAID", "payable".into()),
        },
    }
}

/// The answer for the notice `nav` given every option of its document (`options`, the
/// notice's own position among them; a notice in no document is its only option). `Err` when
/// the notice is unknown, or its whole debt cancelled or expired.
pub fn answer(
    config: &Config,
    fiscal_code: &str,
    nav: &NoticeNumber,
    options: &[Pendenza],
    now: DateTime<Utc>,
) -> Result<PaymentOptionsResponse, Fault> {
    let notice = nav.as_str();
    if !options.iter().any(|p| p.numero_avviso == notice) {
        return Err(Fault::new(
            FaultCode::PagamentoSconosciuto,
            format!("notice {notice} is unknown to creditor {fiscal_code}"),
        ));
    }
    let states: Vec<StatoEffettivo> = options.iter().map(|p| p.stato_at(now)).collect();
    if states.iter().all(|s| *s == StatoEffettivo::Annullata) {
        return Err(Fault::new(
            FaultCode::PagamentoAnnullato,
            format!("notice {notice} was cancelled by the creditor"),
        ));
    }
    if states
        .iter()
        .all(|s| matches!(s, StatoEffettivo::Scaduta | StatoEffettivo::Annullata))
    {
        return Err(Fault::new(
            FaultCode::PagamentoScaduto,
            format!("every option of notice {notice} is past its due date"),
        ));
    }
    // Groups: each plan, in the order its first option comes.
    let mut groups: Vec<(Option<Piano>, Vec<&Pendenza>)> = Vec::new();
    for p in options {
        let plan = Piano::of(p);
        // A single option's plan is its own IUV: only a plan's instalments share a group.
        match groups.iter_mut().find(|(k, _)| *k == plan) {
            Some((_, members)) => members.push(p),
            None => groups.push((plan, vec![p])),
        }
    }
    let mut payment_options: Vec<PaymentOption> = groups
        .into_iter()
        .map(|(plan, mut members)| {
            members.sort_by_key(|p| {
                (
                    p.dettagli.documento.as_ref().and_then(|d| d.rata),
                    p.iuv.clone(),
                )
            });
            let installments: Vec<Installment> = members
                .iter()
                .map(|p| {
                    let (status, status_reason) = installment_status(p, options, now);
                    Installment {
                        nav: p.numero_avviso.clone(),
                        iuv: p.iuv.clone(),
                        amount: p.importo,
                        description: p.causale.clone(),
                        due_date: due(p).map(end_of),
                        valid_from: local(p.created_at),
                        status,
                        status_reason,
                    }
                })
                .collect();
            let (status, status_reason) = group_status(&installments);
            let description = match (&plan, members[0].dettagli.documento.as_ref()) {
                (Some(Piano::Rate(_)), Some(d)) => {
                    format!("{} - {} rate", d.descrizione, installments.len())
                }
                _ => members[0].causale.clone(),
            };
            PaymentOption {
                description,
                number_of_installments: installments.len() as u32,
                due_date: members.iter().filter_map(|p| due(p)).max().map(end_of),
                valid_from: members
                    .iter()
                    .map(|p| p.created_at)
                    .min()
                    .map(local)
                    .unwrap_or_default(),
                amount: members.iter().map(|p| p.importo).sum(),
                status,
                status_reason,
                all_ccp: members.iter().all(|p| p.all_postal()),
                installments,
            }
        })
        .collect();
    payment_options.sort_by(|a, b| a.due_date.cmp(&b.due_date));
    let dominio = config.dominio(fiscal_code);
    Ok(PaymentOptionsResponse {
        organization_fiscal_code: fiscal_code.to_owned(),
        company_name: dominio
            .map(|d| d.ragione_sociale.clone())
            .unwrap_or_default(),
        office_name: dominio.and_then(|d| d.ufficio.clone()),
        standin: false,
        payment_options,
    })
}

/// A group's state from its instalments': INVALID over PAID (all) over PARTIALLY_PAID over
/// EXPIRED over UNPAID.
fn group_status(installments: &[Installment]) -> (&'static str, String) {
    let any = |s: &str| installments.iter().any(|i| i.status == s);
    if any("POI_INVALID") && !any("POI_PAID") {
        let why = installments
            .iter()
            .find(|i| i.status == "POI_INVALID")
            .map(|i| i.status_reason.clone())
            .unwrap_or_default();
        ("PO_INVALID", why)
    } else if installments
        .iter()
        .all(|i| matches!(i.status, "POI_PAID" | "POI_INVALID"))
    {
        ("PO_PAID", "paid".into())
    } else if any("POI_PAID") {
        ("PO_PARTIALLY_PAID", "some instalments are paid".into())
    } else if any("POI_EXPIRED_NOT_PAYABLE") {
        ("PO_EXPIRED_NOT_PAYABLE", "past its due date".into())
    } else {
        ("PO_UNPAID", "payable".into())
    }
}
