//! The accounting office's API, in the shape of GovPay's Ragioneria v3 (`/api/ragioneria/v3`):
//! settlement flows with their matched lines (JSON, the flow's XML, CSV), settlements
//! (*riscossioni*), receipts with their settlement, and treasury movements
//! (*riconciliazioni*), recorded by `PUT`. Every list answers CSV too (`Accept: text/csv`),
//! written page by page as the store is read. Operators only.
//!
//! The backoffice's flow calls live here too (they share the shapes): importing a flow file
//! (`POST /api/backoffice/v1/fdr`) and running the acquisition now
//! (`POST /api/backoffice/v1/fdr/acquisizioni`).

use super::error::{ApiError, FaultBean};
use super::{ApiState, QueryParams, paging};
use crate::domain::fdr::{
    Flusso, Linea, Riconciliazione, Riscossione, Segnalazione, StatoFlusso, StatoLinea,
    StatoRiscossione,
};
use crate::domain::{Cents, Ricevuta};
use crate::fdr::treasury::{self, Movimento, TreasuryError};
use crate::store::Store;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Base path of the Ragioneria API.
pub const BASE: &str = "/api/ragioneria/v3";

/// Records read from the store per round while a list is walked.
const ROUND: usize = 500;

// ---------------------------------------------------------------------------------------------
// Shapes

/// A remark on a flow or a line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SegnalazioneJson {
    /// GovPay's code.
    pub codice: String,
    /// What it means.
    pub descrizione: String,
    /// The figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dettaglio: Option<String>,
}

impl From<&Segnalazione> for SegnalazioneJson {
    fn from(s: &Segnalazione) -> Self {
        Self {
            codice: s.codice.clone(),
            descrizione: s.descrizione.clone(),
            dettaglio: s.dettaglio.clone(),
        }
    }
}

/// A creditor as lists show it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DominioIndex {
    /// Fiscal code.
    pub id_dominio: String,
    /// Name.
    pub ragione_sociale: String,
}

/// A flow's header (GovPay's `FlussoRendicontazioneIndex`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlussoIndex {
    /// Flow id.
    pub id_flusso: String,
    /// The flow's date (`dataOraFlusso`).
    pub data_flusso: DateTime<Utc>,
    /// When Varco acquired it.
    pub data: DateTime<Utc>,
    /// The bank transfer's reference.
    pub trn: String,
    /// Settlement day.
    pub data_regolamento: NaiveDate,
    /// When pagoPA published it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_ora_pubblicazione: Option<DateTime<Utc>>,
    /// Revision.
    pub revisione: u32,
    /// PSP.
    pub id_psp: String,
    /// PSP's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ragione_sociale_psp: Option<String>,
    /// BIC of the bank that transferred.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bic_riversamento: Option<String>,
    /// Creditor.
    pub dominio: DominioIndex,
    /// Payments, as the header says.
    pub numero_pagamenti: u64,
    /// Total, as the header says.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64)]
    pub importo_totale: Cents,
    /// `Acquisito` or `Anomalo`.
    pub stato: String,
    /// Flow-level remarks.
    pub segnalazioni: Vec<SegnalazioneJson>,
    /// Replaced by a later revision.
    pub obsoleto: bool,
    /// Lines OK.
    pub pagamenti_ok: u64,
    /// Lines with anomalies.
    pub pagamenti_anomali: u64,
    /// Lines of notices other brokers serve.
    pub pagamenti_altro_intermediario: u64,
    /// `FDR3` or `XML`.
    pub fonte: String,
    /// The treasury movement that collected it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_riconciliazione: Option<String>,
}

/// One line of a flow (GovPay's `Rendicontazione`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rendicontazione {
    /// IUV.
    pub iuv: String,
    /// IUR (receiptId).
    pub iur: String,
    /// Transfer index.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indice: Option<u8>,
    /// Amount.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64)]
    pub importo: Cents,
    /// Outcome code (0, 3, 4, 8, 9).
    pub esito: u8,
    /// Outcome name (`EXECUTED`, ...).
    pub esito_fdr: String,
    /// Payment day.
    pub data: NaiveDate,
    /// `OK`, `ANOMALA`, `ALTRO_INTERMEDIARIO`.
    pub stato: String,
    /// Remarks.
    pub segnalazioni: Vec<SegnalazioneJson>,
    /// The receipt it matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_ricevuta: Option<String>,
}

/// A flow with its lines (GovPay's `FlussoRendicontazione`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FlussoDettaglio {
    /// Header.
    #[serde(flatten)]
    pub testata: FlussoIndex,
    /// Lines.
    pub rendicontazioni: Vec<Rendicontazione>,
}

/// A line with its flow, for the line search.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RendicontazioneIndex {
    /// Creditor.
    pub id_dominio: String,
    /// Flow id.
    pub id_flusso: String,
    /// Flow's PSP.
    pub id_psp: String,
    /// Flow's revision.
    pub revisione: u32,
    /// Flow's date.
    pub data_flusso: DateTime<Utc>,
    /// The line.
    #[serde(flatten)]
    pub rendicontazione: Rendicontazione,
}

/// A settlement (GovPay's `Riscossione`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiscossioneJson {
    /// Creditor.
    pub id_dominio: String,
    /// IUV.
    pub iuv: String,
    /// IUR.
    pub iur: String,
    /// Transfer index.
    pub indice: u8,
    /// The receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_ricevuta: Option<String>,
    /// `RISCOSSA` or `INCASSATA`.
    pub stato: String,
    /// `ENTRATA`.
    pub tipo: String,
    /// Amount.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64)]
    pub importo: Cents,
    /// Payment day.
    pub data: NaiveDate,
    /// The flow that settled it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_flusso: Option<String>,
    /// That flow's date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_flusso: Option<DateTime<Utc>>,
    /// The treasury movement that collected it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_riconciliazione: Option<String>,
}

impl From<&Riscossione> for RiscossioneJson {
    fn from(r: &Riscossione) -> Self {
        Self {
            id_dominio: r.dominio.clone(),
            iuv: r.iuv.clone(),
            iur: r.iur.clone(),
            indice: r.indice,
            id_ricevuta: r.ricevuta.clone(),
            stato: stato_riscossione(r.stato).into(),
            tipo: "ENTRATA".into(),
            importo: r.importo,
            data: r.data,
            id_flusso: r.flusso.as_ref().map(|f| f.id_flusso.clone()),
            data_flusso: r.data_flusso,
            id_riconciliazione: r.incasso.clone(),
        }
    }
}

/// A receipt with its settlement.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RicevutaJson {
    /// Creditor.
    pub id_dominio: String,
    /// IUV.
    pub iuv: String,
    /// receiptId.
    pub id_ricevuta: String,
    /// Notice number.
    pub numero_avviso: String,
    /// Amount paid.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64)]
    pub importo: Cents,
    /// `OK` or `KO`.
    pub esito: String,
    /// PSP.
    pub id_psp: String,
    /// PSP's name.
    pub ragione_sociale_psp: String,
    /// Channel.
    pub id_canale: String,
    /// When the PSP says it was paid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_pagamento: Option<String>,
    /// When Varco received it.
    pub data: DateTime<Utc>,
    /// Varco's verdict on it.
    pub stato: String,
    /// The flow that settled it (the first of its transfers').
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_flusso: Option<String>,
    /// That flow's date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_flusso: Option<DateTime<Utc>>,
    /// Its transfers' settlements.
    pub riscossioni: Vec<RiscossioneJson>,
}

/// A treasury movement (GovPay's `Riconciliazione`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RiconciliazioneJson {
    /// The movement's id.
    pub id: String,
    /// Creditor.
    pub id_dominio: String,
    /// `ACQUISITA`.
    pub stato: String,
    /// Amount.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64)]
    pub importo: Cents,
    /// When Varco recorded it.
    pub data: DateTime<Utc>,
    /// Value date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_valuta: Option<NaiveDate>,
    /// Booking date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_contabile: Option<NaiveDate>,
    /// Account credited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conto_accredito: Option<String>,
    /// SCT reference.
    pub sct: String,
    /// The flow's TRN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trn: Option<String>,
    /// Causale as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causale: Option<String>,
    /// The single payment collected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iuv: Option<String>,
    /// The flow collected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_flusso: Option<String>,
    /// The settlements collected.
    pub riscossioni: Vec<RiscossioneRef>,
}

/// A settlement's key.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RiscossioneRef {
    /// IUV.
    pub iuv: String,
    /// IUR.
    pub iur: String,
    /// Transfer index.
    pub indice: u8,
}

impl From<&Riconciliazione> for RiconciliazioneJson {
    fn from(m: &Riconciliazione) -> Self {
        Self {
            id: m.id.clone(),
            id_dominio: m.dominio.clone(),
            stato: "ACQUISITA".into(),
            importo: m.importo,
            data: m.data,
            data_valuta: m.data_valuta,
            data_contabile: m.data_contabile,
            conto_accredito: m.conto_accredito.clone(),
            sct: m.sct.clone(),
            trn: m.trn.clone(),
            causale: m.causale.clone(),
            iuv: m.iuv.clone(),
            id_flusso: m.id_flusso.clone(),
            riscossioni: m
                .riscossioni
                .iter()
                .map(|(iuv, iur, indice)| RiscossioneRef {
                    iuv: iuv.clone(),
                    iur: iur.clone(),
                    indice: *indice,
                })
                .collect(),
        }
    }
}

/// A treasury movement to record (GovPay's `NuovaRiconciliazione`): one of `causale`, `iuv`,
/// `idFlussoRendicontazione`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NuovaRiconciliazione {
    /// The transfer's remittance information.
    pub causale: Option<String>,
    /// The single payment.
    pub iuv: Option<String>,
    /// The flow.
    pub id_flusso_rendicontazione: Option<String>,
    /// Amount.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64)]
    pub importo: Cents,
    /// SCT reference (a string or a number).
    #[schema(value_type = String)]
    pub sct: serde_json::Value,
    /// Value date.
    pub data_valuta: Option<NaiveDate>,
    /// Booking date.
    pub data_contabile: Option<NaiveDate>,
    /// Account credited.
    pub conto_accredito: Option<String>,
}

macro_rules! lista {
    ($name:ident, $item:ty) => {
        /// A page of results (GovPay's list shape).
        #[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// Results in all.
            pub num_risultati: usize,
            /// Pages in all.
            pub num_pagine: usize,
            /// Page size.
            pub risultati_per_pagina: usize,
            /// This page.
            pub pagina: usize,
            /// The next page's URL, when there is one.
            #[serde(skip_serializing_if = "Option::is_none")]
            pub prossimi_risultati: Option<String>,
            /// The results.
            pub risultati: Vec<$item>,
        }

        impl $name {
            /// Page `pagina` of `per_pagina` of a list of `total` at `path` (`raw`: the
            /// query, kept in the next page's link), holding `risultati`.
            fn of(
                total: usize,
                (pagina, per_pagina): (usize, usize),
                path: &str,
                raw: Option<&str>,
                risultati: Vec<$item>,
            ) -> Self {
                let pages = total.div_ceil(per_pagina);
                Self {
                    num_risultati: total,
                    num_pagine: pages,
                    risultati_per_pagina: per_pagina,
                    pagina,
                    prossimi_risultati: (pagina < pages)
                        .then(|| super::next_page(&format!("{BASE}{path}"), raw, pagina + 1)),
                    risultati,
                }
            }
        }
    };
}

lista!(ListaFlussi, FlussoIndex);
lista!(ListaRendicontazioni, RendicontazioneIndex);
lista!(ListaRiscossioni, RiscossioneJson);
lista!(ListaRicevute, RicevutaJson);
lista!(ListaRiconciliazioni, RiconciliazioneJson);

pub(crate) fn stato_flusso(s: StatoFlusso) -> &'static str {
    match s {
        StatoFlusso::Acquisito => "Acquisito",
        StatoFlusso::Anomalo => "Anomalo",
    }
}

fn stato_linea(s: StatoLinea) -> &'static str {
    match s {
        StatoLinea::Ok => "OK",
        StatoLinea::Anomala => "ANOMALA",
        StatoLinea::AltroIntermediario => "ALTRO_INTERMEDIARIO",
    }
}

fn stato_riscossione(s: StatoRiscossione) -> &'static str {
    match s {
        StatoRiscossione::Riscossa => "RISCOSSA",
        StatoRiscossione::Incassata => "INCASSATA",
    }
}

/// A flow's header as the API shows it.
pub fn flusso_index(state: &ApiState, f: &Flusso) -> FlussoIndex {
    FlussoIndex {
        id_flusso: f.key.id_flusso.clone(),
        data_flusso: f.data_ora_flusso,
        data: f.acquisito,
        trn: f.trn.clone(),
        data_regolamento: f.data_regolamento,
        data_ora_pubblicazione: f.pubblicato,
        revisione: f.key.revisione,
        id_psp: f.key.psp.clone(),
        ragione_sociale_psp: f.mittente.denominazione.clone(),
        bic_riversamento: f.bic_riversamento.clone(),
        dominio: DominioIndex {
            id_dominio: f.key.dominio.clone(),
            ragione_sociale: state
                .nodo
                .config
                .dominio(&f.key.dominio)
                .map(|d| d.ragione_sociale.clone())
                .or_else(|| f.denominazione_ricevente.clone())
                .unwrap_or_default(),
        },
        numero_pagamenti: f.numero_pagamenti,
        importo_totale: f.importo_totale,
        stato: stato_flusso(f.stato).into(),
        segnalazioni: f.segnalazioni.iter().map(Into::into).collect(),
        obsoleto: f.obsoleto,
        pagamenti_ok: f.conteggi[0],
        pagamenti_anomali: f.conteggi[1],
        pagamenti_altro_intermediario: f.conteggi[2],
        fonte: match f.fonte {
            crate::domain::fdr::Fonte::Fdr3 => "FDR3",
            crate::domain::fdr::Fonte::Xml => "XML",
        }
        .into(),
        id_riconciliazione: f.incasso.clone(),
    }
}

fn rendicontazione(l: &Linea) -> Rendicontazione {
    Rendicontazione {
        iuv: l.iuv.clone(),
        iur: l.iur.clone(),
        indice: l.indice,
        importo: l.importo,
        esito: l.esito.code(),
        esito_fdr: l.esito.name().into(),
        data: l.data,
        stato: stato_linea(l.stato).into(),
        segnalazioni: l.segnalazioni.iter().map(Into::into).collect(),
        id_ricevuta: l.ricevuta.clone(),
    }
}

fn ricevuta_json(r: &Ricevuta, settled: &[Riscossione]) -> RicevutaJson {
    let mine: Vec<&Riscossione> = settled
        .iter()
        .filter(|s| s.ricevuta.as_deref() == Some(r.receipt_id.as_str()) || s.iur == r.receipt_id)
        .collect();
    let first_flow = mine.iter().find(|s| s.flusso.is_some());
    RicevutaJson {
        id_dominio: r.dominio.clone(),
        iuv: r.iuv.clone(),
        id_ricevuta: r.receipt_id.clone(),
        numero_avviso: r.numero_avviso.clone(),
        importo: r.importo,
        esito: match r.esito_pagamento {
            crate::domain::EsitoPagamento::Ok => "OK",
            crate::domain::EsitoPagamento::Ko => "KO",
        }
        .into(),
        id_psp: r.id_psp.clone(),
        ragione_sociale_psp: r.psp_denominazione.clone(),
        id_canale: r.id_canale.clone(),
        data_pagamento: r.data_pagamento.clone(),
        data: r.received_at,
        stato: match r.stato {
            crate::domain::ReceiptStatus::Accettata => "ACCETTATA",
            crate::domain::ReceiptStatus::Anomala { .. } => "ANOMALA",
            crate::domain::ReceiptStatus::Rifiutata { .. } => "RIFIUTATA",
        }
        .into(),
        id_flusso: first_flow.and_then(|s| s.flusso.as_ref().map(|f| f.id_flusso.clone())),
        data_flusso: first_flow.and_then(|s| s.data_flusso),
        riscossioni: mine.into_iter().map(Into::into).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Negotiation, dates, CSV

/// What a list or a flow is asked as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Json,
    Csv,
    Xml,
}

fn form(headers: &HeaderMap, xml_allowed: bool) -> Result<Form, ApiError> {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("*/*");
    if accept.contains("text/csv") {
        Ok(Form::Csv)
    } else if xml_allowed && (accept.contains("application/xml") || accept.contains("text/xml")) {
        Ok(Form::Xml)
    } else if ["application/json", "*/*", "application/*"]
        .iter()
        .any(|t| accept.contains(t))
    {
        Ok(Form::Json)
    } else {
        Err(ApiError::not_acceptable(format!(
            "formati disponibili: application/json, text/csv{}; ricevuto {accept:?}",
            if xml_allowed { ", application/xml" } else { "" }
        )))
    }
}

/// A `dataDa`/`dataA` bound: a day (Europe/Rome; its start, or its end with `end`) or an
/// RFC 3339 instant.
fn bound(field: &str, value: Option<&str>, end: bool) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    if let Ok(at) = DateTime::parse_from_rfc3339(v) {
        return Ok(Some(at.with_timezone(&Utc)));
    }
    let day = NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
        ApiError::invalid(field, "must be a date (YYYY-MM-DD) or an RFC 3339 instant")
    })?;
    let day = if end {
        day.succ_opt().unwrap_or(day)
    } else {
        day
    };
    use chrono::TimeZone;
    let local = day.and_hms_opt(0, 0, 0).unwrap_or_default();
    let at = chrono_tz::Europe::Rome
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ApiError::invalid(field, "not a day in Europe/Rome"))?;
    Ok(Some(if end {
        at - chrono::Duration::milliseconds(1)
    } else {
        at
    }))
}

fn within(at: DateTime<Utc>, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> bool {
    from.is_none_or(|f| at >= f) && to.is_none_or(|t| at <= t)
}

fn day_within(day: NaiveDate, from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> bool {
    let rome = |t: DateTime<Utc>| crate::domain::rome_today(t);
    from.is_none_or(|f| day >= rome(f)) && to.is_none_or(|t| day <= rome(t))
}

/// One CSV record (RFC 4180, comma separated).
fn csv_record(fields: &[String]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_record(fields);
    w.into_inner().unwrap_or_default()
}

fn csv_headers(name: &str) -> [(header::HeaderName, HeaderValue); 2] {
    [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        ),
        (
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\""))
                .unwrap_or(HeaderValue::from_static("attachment")),
        ),
    ]
}

/// A CSV answer of rows already in memory (a flow's lines, the flow list).
fn csv_of(name: &str, header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Response {
    let mut out = csv_record(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    for r in rows {
        out.extend(csv_record(&r));
    }
    (csv_headers(name), out).into_response()
}

/// A CSV answer written as the store is walked: `next` gives the rows after a cursor (and the
/// new cursor), `None` at the end. Nothing but one round is held in memory.
pub(crate) fn csv_stream<C, F, Fut>(name: &str, header: &[&str], start: C, next: F) -> Response
where
    C: Send + 'static,
    F: Fn(C) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<
            Output = Result<Option<(Vec<Vec<String>>, C)>, crate::store::StoreError>,
        > + Send
        + 'static,
{
    use futures_util::StreamExt;
    let head = csv_record(&header.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    let next = std::sync::Arc::new(next);
    let rows = futures_util::stream::unfold(Some(start), move |cursor| {
        let next = next.clone();
        async move {
            let cursor = cursor?;
            match next(cursor).await {
                Ok(Some((rows, cursor))) => {
                    let mut chunk = Vec::new();
                    for r in &rows {
                        chunk.extend(csv_record(r));
                    }
                    Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), Some(cursor)))
                }
                Ok(None) => None,
                Err(e) => {
                    // The status is sent: the body ends short, which the client sees.
                    tracing::error!(error = %e, "CSV export stopped");
                    Some((Err(std::io::Error::other(e.to_string())), None))
                }
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok(Bytes::from(head)) }).chain(rows);
    (csv_headers(name), Body::from_stream(body)).into_response()
}

fn money(c: Cents) -> String {
    crate::domain::money::format(c)
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// Page `page` of `per_page` of `items`.
fn slice<T>(items: &[T], (page, per_page): (usize, usize)) -> &[T] {
    let from = (page - 1).saturating_mul(per_page).min(items.len());
    &items[from..(from + per_page).min(items.len())]
}

/// Walks a listing the store reads in key order (`fetch`: the records after a key), keeping
/// what `keep` says: how many match in all, and the matches on page `page` of `per_page`.
async fn walk<T, K, F, Fut>(
    fetch: F,
    key: impl Fn(&T) -> K,
    keep: impl Fn(&T) -> bool,
    (page, per_page): (usize, usize),
) -> Result<(usize, Vec<T>), ApiError>
where
    F: Fn(Option<K>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, crate::store::StoreError>>,
{
    let skip = (page - 1).saturating_mul(per_page);
    let (mut total, mut items) = (0, Vec::new());
    let mut after = None;
    loop {
        let found = fetch(after.take()).await?;
        let Some(last) = found.last() else { break };
        after = Some(key(last));
        for r in found.into_iter().filter(|r| keep(r)) {
            if total >= skip && items.len() < per_page {
                items.push(r);
            }
            total += 1;
        }
    }
    Ok((total, items))
}

// ---------------------------------------------------------------------------------------------
// Flows

/// Every flow header, in key order.
async fn all_flows(store: &Store) -> Result<Vec<Flusso>, ApiError> {
    let mut out: Vec<Flusso> = Vec::new();
    loop {
        let after = out.last().map(|f| f.key.clone());
        let page = store.flussi_after(after.as_ref(), ROUND).await?;
        let done = page.len() < ROUND;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// Filters of the flow list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct FlussiQuery {
    /// Page, from 1.
    pub pagina: Option<usize>,
    /// Results per page, 1..200 (25).
    pub risultati_per_pagina: Option<usize>,
    /// Creditor.
    pub id_dominio: Option<String>,
    /// Flow id.
    pub id_flusso: Option<String>,
    /// PSP.
    pub id_psp: Option<String>,
    /// Flows dated from (a day or an instant).
    pub data_da: Option<String>,
    /// Flows dated up to.
    pub data_a: Option<String>,
    /// `Acquisito` or `Anomalo`.
    pub stato_flusso_rendicontazione: Option<String>,
    /// Flows with a line for this IUV.
    pub iuv: Option<String>,
    /// Leave out revisions a later one replaced.
    pub escludi_obsoleti: Option<bool>,
}

pub(crate) async fn filtered_flows(
    state: &ApiState,
    q: &FlussiQuery,
) -> Result<Vec<Flusso>, ApiError> {
    let from = bound("dataDa", q.data_da.as_deref(), false)?;
    let to = bound("dataA", q.data_a.as_deref(), true)?;
    if let Some(s) = &q.stato_flusso_rendicontazione
        && !matches!(s.as_str(), "Acquisito" | "Anomalo")
    {
        return Err(ApiError::invalid(
            "statoFlussoRendicontazione",
            "must be Acquisito or Anomalo",
        ));
    }
    let mut flows: Vec<Flusso> = all_flows(&state.nodo.store)
        .await?
        .into_iter()
        .filter(|f| q.id_dominio.as_ref().is_none_or(|d| &f.key.dominio == d))
        .filter(|f| q.id_flusso.as_ref().is_none_or(|d| &f.key.id_flusso == d))
        .filter(|f| q.id_psp.as_ref().is_none_or(|d| &f.key.psp == d))
        .filter(|f| !(q.escludi_obsoleti.unwrap_or(false) && f.obsoleto))
        .filter(|f| {
            q.stato_flusso_rendicontazione
                .as_deref()
                .is_none_or(|s| s == stato_flusso(f.stato))
        })
        .filter(|f| within(f.data_ora_flusso, from, to))
        .collect();
    if let Some(iuv) = &q.iuv {
        let mut keep = Vec::new();
        for f in flows {
            let lines = state
                .nodo
                .store
                .flusso_linee(&f.key)
                .await?
                .unwrap_or_default();
            if lines.iter().any(|l| &l.iuv == iuv) {
                keep.push(f);
            }
        }
        flows = keep;
    }
    flows.sort_by(|a, b| {
        b.data_ora_flusso
            .cmp(&a.data_ora_flusso)
            .then_with(|| a.key.cmp(&b.key))
    });
    Ok(flows)
}

pub(crate) const FLOW_CSV: &[&str] = &[
    "idDominio",
    "idFlusso",
    "idPsp",
    "revisione",
    "dataFlusso",
    "dataRegolamento",
    "trn",
    "numeroPagamenti",
    "importoTotale",
    "stato",
    "obsoleto",
    "pagamentiOk",
    "pagamentiAnomali",
    "pagamentiAltroIntermediario",
    "idRiconciliazione",
];

pub(crate) fn flow_row(f: &Flusso) -> Vec<String> {
    vec![
        f.key.dominio.clone(),
        f.key.id_flusso.clone(),
        f.key.psp.clone(),
        f.key.revisione.to_string(),
        f.data_ora_flusso.to_rfc3339(),
        f.data_regolamento.to_string(),
        f.trn.clone(),
        f.numero_pagamenti.to_string(),
        money(f.importo_totale),
        stato_flusso(f.stato).into(),
        f.obsoleto.to_string(),
        f.conteggi[0].to_string(),
        f.conteggi[1].to_string(),
        f.conteggi[2].to_string(),
        opt(&f.incasso),
    ]
}

/// Settlement flows, newest first (JSON pages, or every match as CSV).
#[utoipa::path(
    get,
    path = "/flussiRendicontazione",
    params(FlussiQuery),
    responses((status = 200, body = ListaFlussi), (status = 400, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Ragioneria"
)]
pub async fn list_flussi(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<FlussiQuery>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let wanted = form(&headers, false)?;
    let (page, per_page) = paging(q.pagina, q.risultati_per_pagina)?;
    let flows = filtered_flows(&state, &q).await?;
    if wanted == Form::Csv {
        return Ok(csv_of(
            "flussiRendicontazione",
            FLOW_CSV,
            flows.iter().map(flow_row),
        ));
    }
    let items = slice(&flows, (page, per_page));
    Ok(Json(ListaFlussi::of(
        flows.len(),
        (page, per_page),
        "/flussiRendicontazione",
        raw.as_deref(),
        items.iter().map(|f| flusso_index(&state, f)).collect(),
    ))
    .into_response())
}

/// Which revision of a flow to read.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct FlussoQuery {
    /// The PSP (when two PSPs used the same id).
    pub id_psp: Option<String>,
    /// A revision (default: the current one).
    pub revisione: Option<u32>,
}

/// The stored flow `id_flusso` of `dominio`: the revision asked, else the current one.
pub async fn find_flow(
    store: &Store,
    dominio: &str,
    id_flusso: &str,
    q: &FlussoQuery,
) -> Result<Flusso, ApiError> {
    let mut flows: Vec<Flusso> = store
        .flussi_by_id(dominio, id_flusso)
        .await?
        .into_iter()
        .filter(|f| q.id_psp.as_ref().is_none_or(|p| &f.key.psp == p))
        .filter(|f| q.revisione.is_none_or(|r| f.key.revisione == r))
        .collect();
    flows.sort_by_key(|f| (!f.obsoleto, f.key.revisione));
    flows
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("flusso {id_flusso} del dominio {dominio}")))
}

const LINE_CSV: &[&str] = &[
    "iuv",
    "iur",
    "indice",
    "importo",
    "esito",
    "data",
    "stato",
    "segnalazioni",
    "idRicevuta",
];

fn line_row(l: &Linea) -> Vec<String> {
    vec![
        l.iuv.clone(),
        l.iur.clone(),
        opt(&l.indice),
        money(l.importo),
        l.esito.name().into(),
        l.data.to_string(),
        stato_linea(l.stato).into(),
        l.segnalazioni
            .iter()
            .map(|s| s.codice.as_str())
            .collect::<Vec<_>>()
            .join("|"),
        opt(&l.ricevuta),
    ]
}

/// One flow with its lines: JSON, its lines as CSV, or the flow as XML (`FlussoRiversamento`:
/// the file as received for an imported flow, written from the stored one for FdR 3's).
#[utoipa::path(
    get,
    path = "/flussiRendicontazione/{idDominio}/{idFlusso}",
    params(("idDominio" = String, Path), ("idFlusso" = String, Path), FlussoQuery),
    responses((status = 200, body = FlussoDettaglio), (status = 404, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Ragioneria"
)]
pub async fn get_flusso(
    State(state): State<ApiState>,
    Path((dominio, id_flusso)): Path<(String, String)>,
    QueryParams(q): QueryParams<FlussoQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let wanted = form(&headers, true)?;
    let store = &state.nodo.store;
    let flusso = find_flow(store, &dominio, &id_flusso, &q).await?;
    let linee = store.flusso_linee(&flusso.key).await?.unwrap_or_default();
    match wanted {
        Form::Csv => Ok(csv_of(&id_flusso, LINE_CSV, linee.iter().map(line_row))),
        Form::Xml => {
            let xml = match flusso.fonte {
                crate::domain::fdr::Fonte::Xml => store.flusso_raw(&flusso.key).await?,
                crate::domain::fdr::Fonte::Fdr3 => None,
            }
            .unwrap_or_else(|| crate::fdr::xml::render(&flusso, &linee).into_bytes());
            Ok((
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/xml"),
                )],
                xml,
            )
                .into_response())
        }
        Form::Json => Ok(Json(FlussoDettaglio {
            testata: flusso_index(&state, &flusso),
            rendicontazioni: linee.iter().map(rendicontazione).collect(),
        })
        .into_response()),
    }
}

/// Filters of the line search.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct RendicontazioniQuery {
    /// Page, from 1.
    pub pagina: Option<usize>,
    /// Results per page, 1..200 (25).
    pub risultati_per_pagina: Option<usize>,
    /// Creditor.
    pub id_dominio: Option<String>,
    /// Flow id.
    pub id_flusso: Option<String>,
    /// IUV.
    pub iuv: Option<String>,
    /// `OK`, `ANOMALA`, `ALTRO_INTERMEDIARIO`.
    pub stato: Option<String>,
    /// Lines with this remark (`007101`: the receipt is missing).
    pub codice: Option<String>,
    /// Lines of replaced revisions too (default: only current revisions).
    pub includi_obsoleti: Option<bool>,
}

const RENDICONTAZIONE_CSV: &[&str] = &[
    "idDominio",
    "idFlusso",
    "idPsp",
    "revisione",
    "dataFlusso",
    "iuv",
    "iur",
    "indice",
    "importo",
    "esito",
    "data",
    "stato",
    "segnalazioni",
    "idRicevuta",
];

/// Lines of every flow, to find the anomalies (`?stato=ANOMALA&codice=007101`: payments a PSP
/// settled that Varco has no receipt of).
#[utoipa::path(
    get,
    path = "/rendicontazioni",
    params(RendicontazioniQuery),
    responses((status = 200, body = ListaRendicontazioni), (status = 400, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Ragioneria"
)]
pub async fn list_rendicontazioni(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<RendicontazioniQuery>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let wanted = form(&headers, false)?;
    let (page, per_page) = paging(q.pagina, q.risultati_per_pagina)?;
    if let Some(s) = &q.stato
        && !matches!(s.as_str(), "OK" | "ANOMALA" | "ALTRO_INTERMEDIARIO")
    {
        return Err(ApiError::invalid(
            "stato",
            "must be OK, ANOMALA or ALTRO_INTERMEDIARIO",
        ));
    }
    let flows = filtered_flows(
        &state,
        &FlussiQuery {
            id_dominio: q.id_dominio.clone(),
            id_flusso: q.id_flusso.clone(),
            escludi_obsoleti: Some(!q.includi_obsoleti.unwrap_or(false)),
            ..FlussiQuery::default()
        },
    )
    .await?;
    let mut found: Vec<(Flusso, Linea)> = Vec::new();
    for f in flows {
        for l in state
            .nodo
            .store
            .flusso_linee(&f.key)
            .await?
            .unwrap_or_default()
        {
            let keep = q.iuv.as_ref().is_none_or(|i| &l.iuv == i)
                && q.stato.as_deref().is_none_or(|s| s == stato_linea(l.stato))
                && q.codice
                    .as_ref()
                    .is_none_or(|c| l.segnalazioni.iter().any(|s| &s.codice == c));
            if keep {
                found.push((f.clone(), l));
            }
        }
    }
    if wanted == Form::Csv {
        return Ok(csv_of(
            "rendicontazioni",
            RENDICONTAZIONE_CSV,
            found.iter().map(|(f, l)| {
                let mut row = vec![
                    f.key.dominio.clone(),
                    f.key.id_flusso.clone(),
                    f.key.psp.clone(),
                    f.key.revisione.to_string(),
                    f.data_ora_flusso.to_rfc3339(),
                ];
                row.extend(line_row(l));
                row
            }),
        ));
    }
    let items = slice(&found, (page, per_page));
    Ok(Json(ListaRendicontazioni::of(
        found.len(),
        (page, per_page),
        "/rendicontazioni",
        raw.as_deref(),
        items
            .iter()
            .map(|(f, l)| RendicontazioneIndex {
                id_dominio: f.key.dominio.clone(),
                id_flusso: f.key.id_flusso.clone(),
                id_psp: f.key.psp.clone(),
                revisione: f.key.revisione,
                data_flusso: f.data_ora_flusso,
                rendicontazione: rendicontazione(l),
            })
            .collect(),
    ))
    .into_response())
}

// ---------------------------------------------------------------------------------------------
// Settlements

/// Filters of the settlement list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct RiscossioniQuery {
    /// Page, from 1.
    pub pagina: Option<usize>,
    /// Results per page, 1..200 (25).
    pub risultati_per_pagina: Option<usize>,
    /// Creditor.
    pub id_dominio: Option<String>,
    /// IUV.
    pub iuv: Option<String>,
    /// `RISCOSSA` or `INCASSATA`.
    pub stato_riscossione: Option<String>,
    /// Settled by this flow.
    pub id_flusso: Option<String>,
    /// Paid from (a day).
    pub data_da: Option<String>,
    /// Paid up to.
    pub data_a: Option<String>,
}

struct RiscossioniFilter {
    q: RiscossioniQuery,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl RiscossioniFilter {
    fn new(q: RiscossioniQuery) -> Result<Self, ApiError> {
        if let Some(s) = &q.stato_riscossione
            && !matches!(s.as_str(), "RISCOSSA" | "INCASSATA")
        {
            return Err(ApiError::invalid(
                "statoRiscossione",
                "must be RISCOSSA or INCASSATA",
            ));
        }
        Ok(Self {
            from: bound("dataDa", q.data_da.as_deref(), false)?,
            to: bound("dataA", q.data_a.as_deref(), true)?,
            q,
        })
    }

    fn keep(&self, r: &Riscossione) -> bool {
        let q = &self.q;
        q.id_dominio.as_ref().is_none_or(|d| &r.dominio == d)
            && q.iuv.as_ref().is_none_or(|i| &r.iuv == i)
            && q.stato_riscossione
                .as_deref()
                .is_none_or(|s| s == stato_riscossione(r.stato))
            && q.id_flusso
                .as_ref()
                .is_none_or(|f| r.flusso.as_ref().is_some_and(|k| &k.id_flusso == f))
            && day_within(r.data, self.from, self.to)
    }
}

const RISCOSSIONE_CSV: &[&str] = &[
    "idDominio",
    "iuv",
    "iur",
    "indice",
    "idRicevuta",
    "stato",
    "importo",
    "data",
    "idFlusso",
    "dataFlusso",
    "idRiconciliazione",
];

fn riscossione_row(r: &Riscossione) -> Vec<String> {
    vec![
        r.dominio.clone(),
        r.iuv.clone(),
        r.iur.clone(),
        r.indice.to_string(),
        opt(&r.ricevuta),
        stato_riscossione(r.stato).into(),
        money(r.importo),
        r.data.to_string(),
        opt(&r.flusso.as_ref().map(|f| f.id_flusso.clone())),
        opt(&r.data_flusso.map(|d| d.to_rfc3339())),
        opt(&r.incasso),
    ]
}

/// Settlements of payments' transfers (JSON pages, or every match as CSV).
#[utoipa::path(
    get,
    path = "/riscossioni",
    params(RiscossioniQuery),
    responses((status = 200, body = ListaRiscossioni), (status = 400, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Ragioneria"
)]
pub async fn list_riscossioni(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<RiscossioniQuery>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let wanted = form(&headers, false)?;
    let (page, per_page) = paging(q.pagina, q.risultati_per_pagina)?;
    let filter = std::sync::Arc::new(RiscossioniFilter::new(q)?);
    let store = state.nodo.store.clone();
    if wanted == Form::Csv {
        return Ok(csv_stream(
            "riscossioni",
            RISCOSSIONE_CSV,
            None,
            move |after: Option<crate::store::fdr::RiscossioneKey>| {
                let (store, filter) = (store.clone(), filter.clone());
                async move {
                    let found = store.riscossioni_after(after.as_ref(), ROUND).await?;
                    let Some(last) = found.last() else {
                        return Ok(None);
                    };
                    let cursor = Some(owned(last));
                    let rows = found
                        .iter()
                        .filter(|r| filter.keep(r))
                        .map(riscossione_row)
                        .collect();
                    Ok(Some((rows, cursor)))
                }
            },
        ));
    }
    let (total, items) = walk(
        |after| {
            let store = store.clone();
            async move { store.riscossioni_after(after.as_ref(), ROUND).await }
        },
        owned,
        |r| filter.keep(r),
        (page, per_page),
    )
    .await?;
    Ok(Json(ListaRiscossioni::of(
        total,
        (page, per_page),
        "/riscossioni",
        raw.as_deref(),
        items.iter().map(RiscossioneJson::from).collect(),
    ))
    .into_response())
}

fn owned(r: &Riscossione) -> crate::store::fdr::RiscossioneKey {
    (r.dominio.clone(), r.iuv.clone(), r.iur.clone(), r.indice)
}

/// One settlement.
#[utoipa::path(
    get,
    path = "/riscossioni/{idDominio}/{iuv}/{iur}/{indice}",
    params(("idDominio" = String, Path), ("iuv" = String, Path), ("iur" = String, Path), ("indice" = u8, Path)),
    responses((status = 200, body = RiscossioneJson), (status = 404, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Ragioneria"
)]
pub async fn get_riscossione(
    State(state): State<ApiState>,
    Path((dominio, iuv, iur, indice)): Path<(String, String, String, u8)>,
) -> Result<Json<RiscossioneJson>, ApiError> {
    state
        .nodo
        .store
        .riscossioni(&dominio, &iuv)
        .await?
        .iter()
        .find(|r| r.iur == iur && r.indice == indice)
        .map(|r| Json(r.into()))
        .ok_or_else(|| ApiError::not_found(format!("riscossione {dominio}/{iuv}/{iur}/{indice}")))
}

// ---------------------------------------------------------------------------------------------
// Receipts

/// Filters of the receipt list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct RicevuteQuery {
    /// Page, from 1.
    pub pagina: Option<usize>,
    /// Results per page, 1..200 (25).
    pub risultati_per_pagina: Option<usize>,
    /// Creditor.
    pub id_dominio: Option<String>,
    /// IUV.
    pub iuv: Option<String>,
    /// `OK` or `KO`.
    pub esito: Option<String>,
    /// Received from (a day or an instant).
    pub data_da: Option<String>,
    /// Received up to.
    pub data_a: Option<String>,
}

struct RicevuteFilter {
    q: RicevuteQuery,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

impl RicevuteFilter {
    fn new(q: RicevuteQuery) -> Result<Self, ApiError> {
        if let Some(e) = &q.esito
            && !matches!(e.as_str(), "OK" | "KO")
        {
            return Err(ApiError::invalid("esito", "must be OK or KO"));
        }
        Ok(Self {
            from: bound("dataDa", q.data_da.as_deref(), false)?,
            to: bound("dataA", q.data_a.as_deref(), true)?,
            q,
        })
    }

    fn keep(&self, r: &Ricevuta) -> bool {
        let q = &self.q;
        let esito = match r.esito_pagamento {
            crate::domain::EsitoPagamento::Ok => "OK",
            crate::domain::EsitoPagamento::Ko => "KO",
        };
        q.id_dominio.as_ref().is_none_or(|d| &r.dominio == d)
            && q.iuv.as_ref().is_none_or(|i| &r.iuv == i)
            && q.esito.as_deref().is_none_or(|e| e == esito)
            && within(r.received_at, self.from, self.to)
    }
}

const RICEVUTA_CSV: &[&str] = &[
    "idDominio",
    "iuv",
    "idRicevuta",
    "numeroAvviso",
    "importo",
    "esito",
    "idPsp",
    "data",
    "stato",
    "idFlusso",
    "dataFlusso",
    "incassata",
];

fn ricevuta_row(r: &RicevutaJson) -> Vec<String> {
    vec![
        r.id_dominio.clone(),
        r.iuv.clone(),
        r.id_ricevuta.clone(),
        r.numero_avviso.clone(),
        money(r.importo),
        r.esito.clone(),
        r.id_psp.clone(),
        r.data.to_rfc3339(),
        r.stato.clone(),
        opt(&r.id_flusso),
        opt(&r.data_flusso.map(|d| d.to_rfc3339())),
        (!r.riscossioni.is_empty() && r.riscossioni.iter().all(|s| s.stato == "INCASSATA"))
            .to_string(),
    ]
}

async fn with_settlements(store: &Store, r: &Ricevuta) -> Result<RicevutaJson, ApiError> {
    let settled = store.riscossioni(&r.dominio, &r.iuv).await?;
    Ok(ricevuta_json(r, &settled))
}

/// Receipts with their settlement (JSON pages, or every match as CSV).
#[utoipa::path(
    get,
    path = "/ricevute",
    params(RicevuteQuery),
    responses((status = 200, body = ListaRicevute), (status = 400, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Ragioneria"
)]
pub async fn list_ricevute(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<RicevuteQuery>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let wanted = form(&headers, false)?;
    let (page, per_page) = paging(q.pagina, q.risultati_per_pagina)?;
    let filter = std::sync::Arc::new(RicevuteFilter::new(q)?);
    let store = state.nodo.store.clone();
    type Cursor = Option<(String, String, String)>;
    if wanted == Form::Csv {
        return Ok(csv_stream(
            "ricevute",
            RICEVUTA_CSV,
            None,
            move |after: Cursor| {
                let (store, filter) = (store.clone(), filter.clone());
                async move {
                    let found = store.ricevute_after(after.as_ref(), ROUND).await?;
                    let Some(last) = found.last() else {
                        return Ok(None);
                    };
                    let cursor = Some(receipt_key(last));
                    let mut rows = Vec::new();
                    for r in found.iter().filter(|r| filter.keep(r)) {
                        let settled = store.riscossioni(&r.dominio, &r.iuv).await?;
                        rows.push(ricevuta_row(&ricevuta_json(r, &settled)));
                    }
                    Ok(Some((rows, cursor)))
                }
            },
        ));
    }
    let (total, found) = walk(
        |after: Cursor| {
            let store = store.clone();
            async move { store.ricevute_after(after.as_ref(), ROUND).await }
        },
        receipt_key,
        |r| filter.keep(r),
        (page, per_page),
    )
    .await?;
    let mut items = Vec::with_capacity(found.len());
    for r in &found {
        items.push(with_settlements(&store, r).await?);
    }
    Ok(Json(ListaRicevute::of(
        total,
        (page, per_page),
        "/ricevute",
        raw.as_deref(),
        items,
    ))
    .into_response())
}

fn receipt_key(r: &Ricevuta) -> (String, String, String) {
    (r.dominio.clone(), r.iuv.clone(), r.receipt_id.clone())
}

/// One receipt with its settlement.
#[utoipa::path(
    get,
    path = "/ricevute/{idDominio}/{iuv}/{idRicevuta}",
    params(("idDominio" = String, Path), ("iuv" = String, Path), ("idRicevuta" = String, Path)),
    responses((status = 200, body = RicevutaJson), (status = 404, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Ragioneria"
)]
pub async fn get_ricevuta(
    State(state): State<ApiState>,
    Path((dominio, iuv, id)): Path<(String, String, String)>,
) -> Result<Json<RicevutaJson>, ApiError> {
    let store = &state.nodo.store;
    let r = store
        .ricevuta(&dominio, &iuv, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("ricevuta {dominio}/{iuv}/{id}")))?;
    Ok(Json(with_settlements(store, &r).await?))
}

// ---------------------------------------------------------------------------------------------
// Treasury movements

/// Filters of the movement list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct RiconciliazioniQuery {
    /// Page, from 1.
    pub pagina: Option<usize>,
    /// Results per page, 1..200 (25).
    pub risultati_per_pagina: Option<usize>,
    /// Creditor.
    pub id_dominio: Option<String>,
    /// SCT reference.
    pub sct: Option<String>,
    /// Flow collected.
    pub id_flusso: Option<String>,
    /// Payment collected.
    pub iuv: Option<String>,
}

const RICONCILIAZIONE_CSV: &[&str] = &[
    "idDominio",
    "id",
    "importo",
    "data",
    "dataValuta",
    "dataContabile",
    "contoAccredito",
    "sct",
    "trn",
    "causale",
    "iuv",
    "idFlusso",
    "riscossioni",
];

/// Recorded treasury movements (JSON pages, or every match as CSV).
#[utoipa::path(
    get,
    path = "/riconciliazioni",
    params(RiconciliazioniQuery),
    responses((status = 200, body = ListaRiconciliazioni), (status = 400, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Ragioneria"
)]
pub async fn list_riconciliazioni(
    State(state): State<ApiState>,
    QueryParams(q): QueryParams<RiconciliazioniQuery>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let wanted = form(&headers, false)?;
    let (page, per_page) = paging(q.pagina, q.risultati_per_pagina)?;
    let mut all: Vec<Riconciliazione> = Vec::new();
    loop {
        let after = all.last().map(|m| (m.dominio.clone(), m.id.clone()));
        let found = state
            .nodo
            .store
            .riconciliazioni_after(after.as_ref(), ROUND)
            .await?;
        let done = found.len() < ROUND;
        all.extend(found);
        if done {
            break;
        }
    }
    let mut found: Vec<Riconciliazione> = all
        .into_iter()
        .filter(|m| q.id_dominio.as_ref().is_none_or(|d| &m.dominio == d))
        .filter(|m| q.sct.as_ref().is_none_or(|s| &m.sct == s))
        .filter(|m| q.id_flusso.is_none() || m.id_flusso == q.id_flusso)
        .filter(|m| q.iuv.is_none() || m.iuv == q.iuv)
        .collect();
    found.sort_by(|a, b| b.data.cmp(&a.data).then_with(|| a.id.cmp(&b.id)));
    if wanted == Form::Csv {
        return Ok(csv_of(
            "riconciliazioni",
            RICONCILIAZIONE_CSV,
            found.iter().map(|m| {
                vec![
                    m.dominio.clone(),
                    m.id.clone(),
                    money(m.importo),
                    m.data.to_rfc3339(),
                    opt(&m.data_valuta),
                    opt(&m.data_contabile),
                    opt(&m.conto_accredito),
                    m.sct.clone(),
                    opt(&m.trn),
                    opt(&m.causale),
                    opt(&m.iuv),
                    opt(&m.id_flusso),
                    m.riscossioni.len().to_string(),
                ]
            }),
        ));
    }
    let items = slice(&found, (page, per_page));
    Ok(Json(ListaRiconciliazioni::of(
        found.len(),
        (page, per_page),
        "/riconciliazioni",
        raw.as_deref(),
        items.iter().map(Into::into).collect(),
    ))
    .into_response())
}

/// One recorded treasury movement.
#[utoipa::path(
    get,
    path = "/riconciliazioni/{idDominio}/{id}",
    params(("idDominio" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = RiconciliazioneJson), (status = 404, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Ragioneria"
)]
pub async fn get_riconciliazione(
    State(state): State<ApiState>,
    Path((dominio, id)): Path<(String, String)>,
) -> Result<Json<RiconciliazioneJson>, ApiError> {
    state
        .nodo
        .store
        .riconciliazione(&dominio, &id)
        .await?
        .map(|m| Json((&m).into()))
        .ok_or_else(|| ApiError::not_found(format!("riconciliazione {dominio}/{id}")))
}

/// Records a treasury movement: a flow's transfer or a single payment, checked against what was
/// settled; the settlements it covers become `INCASSATA`. 201 when recorded, 200 when the same
/// movement was already recorded under this id; refusals are 422 with GovPay's 0214xx codes.
#[utoipa::path(
    put,
    path = "/riconciliazioni/{idDominio}/{id}",
    params(("idDominio" = String, Path), ("id" = String, Path)),
    request_body = NuovaRiconciliazione,
    responses((status = 201, body = RiconciliazioneJson), (status = 200, body = RiconciliazioneJson), (status = 422, body = FaultBean), (status = 400, body = FaultBean), (status = 401, body = FaultBean)),
    tag = "Ragioneria"
)]
pub async fn put_riconciliazione(
    State(state): State<ApiState>,
    Path((dominio, id)): Path<(String, String)>,
    Extension(operator): Extension<super::auth::Operator>,
    super::JsonBody(body): super::JsonBody<NuovaRiconciliazione>,
) -> Result<Response, ApiError> {
    let id_ok = (1..=35).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if !id_ok {
        return Err(ApiError::invalid(
            "id",
            "1 to 35 letters, digits, '-', '_' or '.'",
        ));
    }
    let sct = match &body.sct {
        serde_json::Value::String(s) if !s.is_empty() && s.len() <= 35 => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::invalid(
                "sct",
                "a reference of 1 to 35 characters",
            ));
        }
    };
    if body.importo <= 0 {
        return Err(ApiError::invalid("importo", "must be positive"));
    }
    if body.causale.as_ref().is_some_and(|c| c.len() > 1024) {
        return Err(ApiError::invalid("causale", "at most 1024 characters"));
    }
    let m = Movimento {
        dominio,
        id,
        causale: body.causale,
        iuv: body.iuv,
        id_flusso: body.id_flusso_rendicontazione,
        importo: body.importo,
        sct,
        data_valuta: body.data_valuta,
        data_contabile: body.data_contabile,
        conto_accredito: body.conto_accredito,
    };
    let now = (state.nodo.clock)();
    match treasury::riconcilia(&state.nodo.store, &state.nodo.config, m, now).await {
        Ok((movement, created)) => {
            if created {
                tracing::info!(operator = %operator.0, dominio = %movement.dominio, id = %movement.id, riscossioni = movement.riscossioni.len(), "treasury movement recorded");
            }
            let status = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((status, Json(RiconciliazioneJson::from(&movement))).into_response())
        }
        Err(TreasuryError::Refused(r)) => Err(ApiError::rule(r.codice(), r.descrizione())),
        Err(TreasuryError::Store(e)) => Err(e.into()),
    }
}
