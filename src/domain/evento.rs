//! One event of the journal (GovPay's *giornale degli eventi*): a SOAP call, a REST call or a
//! receipt delivery, with its time, operation, outcome, duration and ids. The recorder is
//! [`crate::journal`]; the storage and the queries are [`crate::store::journal`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use utoipa::ToSchema;

/// What kind of call an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Categoria {
    /// A paForNode call from the Nodo.
    Soap,
    /// A REST call from a gestionale or an operator.
    Rest,
    /// A receipt delivery to a gestionale.
    Outbox,
}

impl Categoria {
    /// The name, as the REST API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Soap => "SOAP",
            Self::Rest => "REST",
            Self::Outbox => "OUTBOX",
        }
    }

    /// Parses `SOAP`, `REST`, `OUTBOX` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "SOAP" => Some(Self::Soap),
            "REST" => Some(Self::Rest),
            "OUTBOX" => Some(Self::Outbox),
            _ => None,
        }
    }
}

/// The outcome, as GovPay names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Esito {
    /// Done (SOAP `OK`, HTTP 2xx/3xx, delivered).
    Ok,
    /// Refused on the merits (SOAP `KO`, HTTP 4xx, a receipt parked for lack of a connector).
    Ko,
    /// Failed (SOAP fault, HTTP 5xx, a delivery that failed and will be retried).
    Fail,
}

impl Esito {
    /// The name, as the REST API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Ko => "KO",
            Self::Fail => "FAIL",
        }
    }

    /// Parses `OK`, `KO`, `FAIL` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "OK" => Some(Self::Ok),
            "KO" => Some(Self::Ko),
            "FAIL" => Some(Self::Fail),
            _ => None,
        }
    }
}

/// Which side Varco was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Ruolo {
    /// Varco served the call.
    Server,
    /// Varco made the call.
    Client,
}

/// pagoPA identifiers of a SOAP call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatiPagoPa {
    /// `idBrokerPA`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_intermediario: Option<String>,
    /// `idStation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_stazione: Option<String>,
    /// `idPSP` (receipts).
    #[serde(rename = "idPSP", skip_serializing_if = "Option::is_none")]
    pub id_psp: Option<String>,
    /// `idChannel` (receipts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_canale: Option<String>,
}

/// One direction of a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Parametri {
    /// HTTP method (requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metodo: Option<String>,
    /// Path, without the query string (requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP status (responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The body, only with `[journal] payloads = true`, cut at 64 KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// One journal event, stored as compact JSON; field names follow GovPay's `Evento`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evento {
    /// The event's key (32 hex digits): the `cursore` to continue a listing after it. Not
    /// stored, filled when read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// When the call ended (the event was recorded); `durataEvento` before it, it started.
    pub data: DateTime<Utc>,
    /// `API_PAGOPA` (SOAP), `API_PENDENZE`, `API_BACKOFFICE` (REST), `API_GESTIONALE` (outbox).
    pub componente: String,
    /// SERVER (Varco answered) or CLIENT (Varco called).
    pub ruolo: Ruolo,
    /// SOAP, REST or OUTBOX.
    pub categoria_evento: Categoria,
    /// The operation: `paVerifyPaymentNotice`, `PUT /api/pendenze/v2/pendenze/{idA2A}/{idPendenza}`.
    pub tipo_evento: String,
    /// OK, KO or FAIL.
    pub esito: Esito,
    /// SOAP fault code, HTTP status, or the outbox's verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sottotipo_esito: Option<String>,
    /// Fault description or delivery error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dettaglio_esito: Option<String>,
    /// Duration in milliseconds (GovPay's unit).
    pub durata_evento: u64,
    /// Duration in microseconds.
    pub durata_us: u64,
    /// Creditor fiscal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_dominio: Option<String>,
    /// Notice number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numero_avviso: Option<String>,
    /// IUV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iuv: Option<String>,
    /// Receipt id (`receiptId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_ricevuta: Option<String>,
    /// Owning application.
    #[serde(rename = "idA2A", default, skip_serializing_if = "Option::is_none")]
    pub id_a2a: Option<String>,
    /// The application's id of the position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_pendenza: Option<String>,
    /// The authenticated REST user (application or operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Outbox entry id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_outbox: Option<u64>,
    /// Delivery attempt number (1 = first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tentativo: Option<u32>,
    /// pagoPA identifiers.
    #[serde(
        rename = "datiPagoPA",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dati_pago_pa: Option<DatiPagoPa>,
    /// The request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parametri_richiesta: Option<Parametri>,
    /// The response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parametri_risposta: Option<Parametri>,
}

impl Evento {
    /// An event of `categoria` started at `data`, taking `elapsed`; the rest empty.
    pub fn new(
        categoria: Categoria,
        tipo_evento: impl Into<String>,
        data: DateTime<Utc>,
        elapsed: Duration,
        esito: Esito,
    ) -> Self {
        let (componente, ruolo) = match categoria {
            Categoria::Soap => ("API_PAGOPA", Ruolo::Server),
            Categoria::Rest => ("API_PENDENZE", Ruolo::Server),
            Categoria::Outbox => ("API_GESTIONALE", Ruolo::Client),
        };
        Self {
            id: String::new(),
            data,
            componente: componente.into(),
            ruolo,
            categoria_evento: categoria,
            tipo_evento: tipo_evento.into(),
            esito,
            sottotipo_esito: None,
            dettaglio_esito: None,
            durata_evento: elapsed.as_millis().min(u64::MAX as u128) as u64,
            durata_us: elapsed.as_micros().min(u64::MAX as u128) as u64,
            id_dominio: None,
            numero_avviso: None,
            iuv: None,
            id_ricevuta: None,
            id_a2a: None,
            id_pendenza: None,
            principal: None,
            id_outbox: None,
            tentativo: None,
            dati_pago_pa: None,
            parametri_richiesta: None,
            parametri_risposta: None,
        }
    }
}
