//! The `Ricevuta` JSON a gestionale receives (GovPay "API Ente Creditore v2" shape).

use super::pendenza::{DettagliLetti, SoggettoJson};
use crate::domain::{Pendenza, Ricevuta};
use base64::Engine;
use serde::Serialize;

/// Body of `PUT {url}/ricevute/{idDominio}/{iuv}/{idRicevuta}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RicevutaJson {
    /// Creditor.
    pub dominio: DominioJson,
    /// IUV.
    pub iuv: String,
    /// receiptId.
    pub id_ricevuta: String,
    /// Amount paid.
    #[serde(with = "crate::domain::money::json")]
    pub importo: i64,
    /// ESEGUITO or NON_ESEGUITO.
    pub esito: String,
    /// The PSP that attests the payment.
    pub istituto_attestante: IstitutoAttestante,
    /// Who paid, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versante: Option<SoggettoJson>,
    /// The paid position, when Varco holds it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pendenza: Option<PendenzaPagata>,
    /// When Varco received the receipt (Europe/Rome, `YYYY-MM-DDTHH:MM:SS`, as GovPay writes
    /// its times).
    pub data: String,
    /// When the payment was made (pagoPA's paymentDateTime, in the same form).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_pagamento: Option<String>,
    /// The activation, as GovPay names it (`ctPaymentPA`).
    pub rpt: Documento,
    /// The receipt (`ctReceipt`), with the SOAP request as received (base64): paSendRT or
    /// paSendRTV2, as its root element says.
    pub rt: Documento,
    /// `Pagamento ad iniziativa PSP`: every payment Varco serves starts at a PSP.
    pub modello: String,
    /// Anomalies Varco recorded on this receipt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anomalia: Option<String>,
}

/// `{idDominio, ragioneSociale}`
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DominioJson {
    /// Fiscal code.
    pub id_dominio: String,
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ragione_sociale: Option<String>,
}

/// `istitutoAttestante`
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IstitutoAttestante {
    /// PSP id.
    #[serde(rename = "idPSP")]
    pub id_psp: String,
    /// PSP name.
    pub denominazione: String,
    /// Channel id.
    pub id_canale: String,
    /// Channel description.
    pub descrizione: String,
}

/// The paid position with its items and what was collected for each.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PendenzaPagata {
    /// Owning application.
    #[serde(rename = "idA2A", skip_serializing_if = "Option::is_none")]
    pub id_a2a: Option<String>,
    /// The application's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_pendenza: Option<String>,
    /// Tipo pendenza.
    pub id_tipo_pendenza: String,
    /// Creditor.
    pub dominio: DominioJson,
    /// Subject.
    pub causale: String,
    /// Total.
    #[serde(with = "crate::domain::money::json")]
    pub importo: i64,
    /// Notice number.
    pub numero_avviso: String,
    /// Debtor.
    pub soggetto_pagatore: SoggettoJson,
    /// The dates and details it was loaded with.
    #[serde(flatten)]
    pub dettagli: DettagliLetti,
    /// Items.
    pub voci: Vec<VocePagata>,
}

/// An item and its collection (`riscossione`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VocePagata {
    /// 1-based.
    pub indice: usize,
    /// The gestionale's id.
    pub id_voce_pendenza: String,
    /// Amount.
    #[serde(with = "crate::domain::money::json")]
    pub importo: i64,
    /// Description.
    pub descrizione: String,
    /// What was collected for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub riscossione: Option<Riscossione>,
}

/// `riscossione`
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Riscossione {
    /// IUV.
    pub iuv: String,
    /// receiptId.
    pub iur: String,
    /// idTransfer.
    pub indice: u8,
    /// RISCOSSA.
    pub stato: String,
    /// ENTRATA or MBT (stamp).
    pub tipo: String,
    /// Amount.
    #[serde(with = "crate::domain::money::json")]
    pub importo: i64,
    /// paymentDateTime, else when received.
    pub data: String,
}

/// `{tipo, xml (base64)}`
#[derive(Debug, Clone, Serialize)]
pub struct Documento {
    /// `ctPaymentPA` or `ctReceipt` (the values API Ente Creditore v2 lists).
    pub tipo: String,
    /// The document, base64 (absent for the activation, which Varco does not keep as XML).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xml: Option<String>,
}

/// A time as GovPay writes it to a gestionale: Europe/Rome, to the second, no offset.
fn rome_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.with_timezone(&chrono_tz::Europe::Rome)
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// pagoPA's paymentDateTime in GovPay's form: with an offset it is moved to Europe/Rome;
/// without one it is already local (cut to the second); a date alone stays a date.
fn local_time(sent: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(sent) {
        Ok(t) => rome_time(t.with_timezone(&chrono::Utc)),
        Err(_) => sent.chars().take(19).collect(),
    }
}

/// Builds the body for a stored receipt and its position (if Varco holds it).
pub fn build(r: &Ricevuta, p: Option<&Pendenza>, ragione_sociale: Option<String>) -> RicevutaJson {
    let data_pagamento = r.data_pagamento.as_deref().map(local_time);
    let data = data_pagamento
        .clone()
        .unwrap_or_else(|| rome_time(r.received_at));
    let dominio = DominioJson {
        id_dominio: r.dominio.clone(),
        ragione_sociale,
    };
    RicevutaJson {
        dominio: dominio.clone(),
        iuv: r.iuv.clone(),
        id_ricevuta: r.receipt_id.clone(),
        importo: r.importo,
        esito: if r.esito_pagamento == crate::domain::EsitoPagamento::Ok {
            "ESEGUITO"
        } else {
            "NON_ESEGUITO"
        }
        .into(),
        istituto_attestante: IstitutoAttestante {
            id_psp: r.id_psp.clone(),
            denominazione: r.psp_denominazione.clone(),
            id_canale: r.id_canale.clone(),
            descrizione: r.descrizione_canale.clone(),
        },
        versante: r.versante.as_ref().map(SoggettoJson::from),
        pendenza: p.map(|p| PendenzaPagata {
            id_a2a: p.id_a2a.clone(),
            id_pendenza: p.id_pendenza.clone(),
            id_tipo_pendenza: p.id_tipo_pendenza.clone(),
            dominio,
            causale: p.causale.clone(),
            importo: p.importo,
            numero_avviso: p.numero_avviso.clone(),
            soggetto_pagatore: (&p.soggetto).into(),
            dettagli: p.into(),
            voci: p
                .voci
                .iter()
                .enumerate()
                .map(|(i, v)| VocePagata {
                    indice: i + 1,
                    id_voce_pendenza: v.id_voce.clone(),
                    importo: v.importo,
                    descrizione: v.descrizione.clone(),
                    riscossione: r
                        .transfers
                        .iter()
                        .find(|t| usize::from(t.id_transfer) == i + 1)
                        .map(|t| Riscossione {
                            iuv: r.iuv.clone(),
                            iur: r.receipt_id.clone(),
                            indice: t.id_transfer,
                            stato: "RISCOSSA".into(),
                            tipo: if t.iban.is_some() { "ENTRATA" } else { "MBT" }.into(),
                            importo: t.importo,
                            data: data.clone(),
                        }),
                })
                .collect(),
        }),
        data: rome_time(r.received_at),
        data_pagamento,
        rpt: Documento {
            tipo: "ctPaymentPA".into(),
            xml: None,
        },
        rt: Documento {
            tipo: "ctReceipt".into(),
            xml: Some(base64::engine::general_purpose::STANDARD.encode(r.xml.as_bytes())),
        },
        modello: "Pagamento ad iniziativa PSP".into(),
        anomalia: match &r.stato {
            crate::domain::ReceiptStatus::Anomala { motivo } => Some(motivo.clone()),
            _ => None,
        },
    }
}
