//! The JSON shapes API Pendenze v2 answers with (GovPay-compatible names), apart from domain
//! types, and their mapping from the domain (`From`). What a gestionale sends is in
//! [`crate::govpay::pendenza`]. Amounts are JSON numbers with two decimals outside and integer
//! cents inside ([`crate::domain::money::json`]).

use super::error::ApiError;
use crate::domain::{
    Accredito, Attivazione, OrigineVoce, Pendenza, ReceiptStatus, ReceiptVersion, Ricevuta, Stato,
    StatoEffettivo, Voce,
};
pub use crate::govpay::pendenza::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `PendenzaCreata`
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PendenzaCreata {
    /// Creditor.
    #[serde(rename = "idDominio")]
    pub id_dominio: String,
    /// Notice number.
    #[serde(rename = "numeroAvviso")]
    pub numero_avviso: String,
    /// Public identifier.
    #[serde(rename = "UUID")]
    pub uuid: String,
    /// The printable notice (PDF, base64), with `?stampaAvviso=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pdf: Option<String>,
}

/// Query of PUT.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct PutQuery {
    /// Return the notice PDF (base64) in the answer.
    #[serde(default)]
    pub stampa_avviso: Option<bool>,
}

/// The organisational unit as shown in a position.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnitaOperativaRef {
    /// Code.
    pub id_unita: String,
    /// Name.
    pub ragione_sociale: String,
}

/// The creditor as shown in a position.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DominioRef {
    /// Fiscal code.
    pub id_dominio: String,
    /// Name.
    pub ragione_sociale: String,
}

/// One item as read back.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VoceDettaglio {
    /// 1-based position (idTransfer).
    pub indice: usize,
    /// `Non eseguito`, `Eseguito`, or `Anomalo` (its payment was irregular).
    pub stato: String,
    /// The gestionale's id.
    pub id_voce_pendenza: String,
    /// Amount.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64)]
    pub importo: i64,
    /// Description.
    pub descrizione: String,
    /// Remittance text.
    #[serde(
        rename = "descrizioneCausaleRPT",
        skip_serializing_if = "Option::is_none"
    )]
    pub descrizione_causale_rpt: Option<String>,
    /// Beneficiary.
    pub id_dominio: String,
    /// The entrata, when given so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cod_entrata: Option<String>,
    /// Crediting IBAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iban_accredito: Option<String>,
    /// Support IBAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iban_appoggio: Option<String>,
    /// Accounting type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tipo_contabilita: Option<String>,
    /// Accounting code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub codice_contabilita: Option<String>,
    /// pagoPA's taxonomy code, when the item was given with it.
    #[serde(
        rename = "codiceTassonomicoPagoPA",
        skip_serializing_if = "Option::is_none"
    )]
    pub codice_tassonomico_pago_pa: Option<String>,
    /// Stamp type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tipo_bollo: Option<String>,
    /// Stamp document hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_documento: Option<String>,
    /// Stamp province.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provincia_residenza: Option<String>,
    /// The transferCategory sent to pagoPA.
    pub tassonomia_transfer: String,
    /// Metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Accounting quotas.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contabilita: Option<serde_json::Value>,
    /// Opaque data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dati_allegati: Option<serde_json::Value>,
}

/// A receipt as shown in a position.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RicevutaSintesi {
    /// receiptId.
    pub id_ricevuta: String,
    /// Amount paid.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64)]
    pub importo: i64,
    /// `OK` / `KO` as sent by pagoPA.
    pub esito: String,
    /// Varco's verdict: ACCETTATA, ANOMALA, RIFIUTATA.
    pub stato: String,
    /// Why ANOMALA or RIFIUTATA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motivo: Option<String>,
    /// PSP id.
    pub id_psp: String,
    /// PSP name.
    pub psp: String,
    /// Channel.
    pub id_canale: String,
    /// paymentDateTime as sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_pagamento: Option<String>,
    /// When Varco stored it.
    pub data_ricezione: String,
    /// paSendRT or paSendRTV2.
    pub versione: String,
}

/// An activation attempt as shown in a position.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TentativoSintesi {
    /// When.
    pub data: String,
    /// paGetPayment or paGetPaymentV2.
    pub primitiva: String,
    /// Station.
    pub id_stazione: String,
    /// transferType, if sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_type: Option<String>,
}

/// How many activation attempts a position's detail lists.
pub const TENTATIVI_IN_DETTAGLIO: usize = 25;

/// A page of a position's activation attempts, newest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListaTentativi {
    /// Page size.
    pub risultati_per_pagina: usize,
    /// This page (1-based).
    pub pagina: usize,
    /// The next page's URL, when more follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prossimi_risultati: Option<String>,
    /// The attempts.
    pub risultati: Vec<TentativoSintesi>,
}

/// A position read back (`GET /pendenze/{idA2A}/{idPendenza}`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendenzaDettaglio {
    /// Owning application.
    #[serde(rename = "idA2A")]
    pub id_a2a: String,
    /// The application's id.
    pub id_pendenza: String,
    /// Tipo pendenza.
    pub id_tipo_pendenza: String,
    /// Creditor.
    pub dominio: DominioRef,
    /// Organisational unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unita_operativa: Option<UnitaOperativaRef>,
    /// NON_ESEGUITA, ESEGUITA, ANNULLATA, SCADUTA, or ANOMALA (paid irregularly: another
    /// amount, twice, after cancellation).
    pub stato: String,
    /// Why the state changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descrizione_stato: Option<String>,
    /// Subject.
    pub causale: String,
    /// Debtor.
    pub soggetto_pagatore: SoggettoJson,
    /// Total.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64)]
    pub importo: i64,
    /// Notice number.
    pub numero_avviso: String,
    /// The notice's IUV.
    pub iuv_avviso: String,
    /// The day it was paid (from the receipt that closed it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_pagamento: Option<String>,
    /// Short name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nome: Option<String>,
    /// When the notice is to be sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_notifica_avviso: Option<String>,
    /// When the debtor is to be reminded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_promemoria_scadenza: Option<String>,
    /// Notice taxonomy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tassonomia_avviso: Option<String>,
    /// The dates and details it was loaded with.
    #[serde(flatten)]
    pub dettagli: DettagliLetti,
    /// `dovuto`: a position the creditor loaded (spontaneous payments are `spontaneo`).
    pub tipo: String,
    /// An irregularity was recorded.
    pub anomalo: bool,
    /// The irregularities.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anomalie: Vec<String>,
    /// Items.
    pub voci: Vec<VoceDettaglio>,
    /// Receipts.
    pub ricevute: Vec<RicevutaSintesi>,
    /// Activation attempts.
    /// The most recent activation attempts, newest first (at most
    /// [`TENTATIVI_IN_DETTAGLIO`]; the rest through `GET .../tentativi`).
    pub tentativi: Vec<TentativoSintesi>,
    /// Whether the position has older attempts than those listed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub altri_tentativi: bool,
}

/// A page of positions.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListaPendenze {
    /// Matching positions in all (absent with `metadatiPaginazione=false`, and for a filtered
    /// listing whose count would walk more than `store::index::COUNT_WALK_LIMIT` entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_risultati: Option<usize>,
    /// Pages in all (absent with `metadatiPaginazione=false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_pagine: Option<usize>,
    /// Page size.
    pub risultati_per_pagina: usize,
    /// This page (1-based).
    pub pagina: usize,
    /// The next page's URL, when more follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prossimi_risultati: Option<String>,
    /// The page.
    pub risultati: Vec<PendenzaDettaglio>,
}

/// Filters of `GET /pendenze`.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListaQuery {
    /// Page (1-based, default 1).
    pub pagina: Option<usize>,
    /// Page size (default 25, at most 200).
    pub risultati_per_pagina: Option<usize>,
    /// Creditor.
    pub id_dominio: Option<String>,
    /// Owning application (only your own).
    #[serde(rename = "idA2A")]
    #[param(rename = "idA2A")]
    pub id_a2a: Option<String>,
    /// Debtor's identifier.
    pub id_debitore: Option<String>,
    /// NON_ESEGUITA, ESEGUITA, ANNULLATA, SCADUTA.
    pub stato: Option<String>,
    /// Loaded on or after this day (YYYY-MM-DD, a Europe/Rome calendar day).
    pub data_da: Option<String>,
    /// Loaded on or before this day (YYYY-MM-DD, a Europe/Rome calendar day).
    pub data_a: Option<String>,
    /// Count the matches for `numRisultati` / `numPagine` (default true; false reads only the
    /// page, as GovPay's parameter of the same name).
    pub metadati_paginazione: Option<bool>,
    /// Only the options of this document (with `idDominio`, or in every domain the
    /// application may use).
    pub id_documento: Option<String>,
}

/// Paging of a position's activation attempts.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct PaginaQuery {
    /// Page (1-based, default 1).
    pub pagina: Option<usize>,
    /// Page size (default 25, at most 200).
    pub risultati_per_pagina: Option<usize>,
}

/// One JSON-patch-like operation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PatchOp {
    /// ADD, DELETE, REPLACE (only REPLACE is meaningful here).
    #[serde(default)]
    pub op: Option<String>,
    /// `/stato` or `/descrizioneStato`.
    #[serde(default)]
    pub path: Option<String>,
    /// The new value.
    #[serde(default)]
    pub value: serde_json::Value,
}

/// `Avviso`: the notice as JSON.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvvisoJson {
    /// NON_ESEGUITA, ESEGUITA, ANNULLATA, SCADUTA.
    pub stato: String,
    /// Amount.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64)]
    pub importo: i64,
    /// Creditor.
    pub id_dominio: String,
    /// Notice number.
    pub numero_avviso: String,
    /// Validity day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_validita: Option<String>,
    /// Due day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_scadenza: Option<String>,
    /// Subject.
    pub descrizione: String,
    /// Notice taxonomy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tassonomia_avviso: Option<String>,
    /// QR payload `PAGOPA|002|<notice>|<creditor>|<cents>`.
    pub qrcode: String,
    /// GS1-128 payload, when the creditor has a GLN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
}

/// Result of one bulk item.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EsitoTracciato {
    /// Owning application.
    #[serde(rename = "idA2A")]
    pub id_a2a: String,
    /// The application's id.
    pub id_pendenza: String,
    /// CREATA, AGGIORNATA, INVARIATA or ERRORE.
    pub esito: String,
    /// Creditor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_dominio: Option<String>,
    /// Notice number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numero_avviso: Option<String>,
    /// Why ERRORE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errore: Option<super::error::FaultBean>,
}

/// Result of a bulk load.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EsitoCaricamento {
    /// Items received.
    pub num_pendenze: usize,
    /// Items stored (created, updated or unchanged).
    pub num_ok: usize,
    /// Items refused.
    pub num_errori: usize,
    /// One result per item, in order.
    pub risultati: Vec<EsitoTracciato>,
}

// ---- from the domain -------------------------------------------------------------------------

impl From<Ricevuta> for RicevutaSintesi {
    fn from(r: Ricevuta) -> Self {
        let (stato, motivo) = match r.stato {
            ReceiptStatus::Accettata => ("ACCETTATA", None),
            ReceiptStatus::Anomala { motivo } => ("ANOMALA", Some(motivo)),
            ReceiptStatus::Rifiutata { motivo } => ("RIFIUTATA", Some(motivo)),
        };
        RicevutaSintesi {
            id_ricevuta: r.receipt_id,
            importo: r.importo,
            esito: r.esito_pagamento.as_str().into(),
            stato: stato.into(),
            motivo,
            id_psp: r.id_psp,
            psp: r.psp_denominazione,
            id_canale: r.id_canale,
            data_pagamento: r.data_pagamento,
            data_ricezione: r.received_at.to_rfc3339(),
            versione: match r.versione {
                ReceiptVersion::V1 => "paSendRT".into(),
                ReceiptVersion::V2 => "paSendRTV2".into(),
            },
        }
    }
}

impl From<Attivazione> for TentativoSintesi {
    fn from(a: Attivazione) -> Self {
        TentativoSintesi {
            data: a.at.to_rfc3339(),
            primitiva: a.primitiva,
            id_stazione: a.id_stazione,
            transfer_type: a.transfer_type,
        }
    }
}

impl VoceDettaglio {
    /// Item `v`, the `indice`-th of its position (from 1), whose state is `stato`.
    pub fn new(indice: usize, v: &Voce, stato: &str) -> Self {
        let mut out = VoceDettaglio {
            indice,
            stato: stato.into(),
            id_voce_pendenza: v.id_voce.clone(),
            importo: v.importo,
            descrizione: v.descrizione.clone(),
            descrizione_causale_rpt: v.descrizione_causale_rpt.clone(),
            id_dominio: v.dominio.clone(),
            cod_entrata: None,
            iban_accredito: None,
            iban_appoggio: None,
            tipo_contabilita: None,
            codice_contabilita: None,
            codice_tassonomico_pago_pa: None,
            tipo_bollo: None,
            hash_documento: None,
            provincia_residenza: None,
            tassonomia_transfer: v.transfer_category.clone(),
            metadata: (!v.metadata.is_empty()).then(|| Metadata {
                map_entries: (v.metadata.iter())
                    .map(|(key, value)| MapEntry {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect(),
            }),
            contabilita: v.contabilita.clone(),
            dati_allegati: v.dati_allegati.clone(),
        };
        match &v.accredito {
            Accredito::Iban {
                iban,
                iban_appoggio,
                ..
            } => {
                out.iban_accredito = Some(iban.clone());
                out.iban_appoggio.clone_from(iban_appoggio);
            }
            Accredito::Bollo {
                tipo_bollo,
                hash_documento,
                provincia_residenza,
            } => {
                out.tipo_bollo = Some(tipo_bollo.clone());
                out.hash_documento = Some(hash_documento.clone());
                out.provincia_residenza = Some(provincia_residenza.clone());
            }
        }
        match &v.origine {
            Some(OrigineVoce::Entrata { cod_entrata }) => {
                out.cod_entrata = Some(cod_entrata.clone())
            }
            Some(OrigineVoce::Iban {
                tipo_contabilita,
                codice_contabilita,
            }) => {
                out.tipo_contabilita = Some(tipo_contabilita.clone());
                out.codice_contabilita = Some(codice_contabilita.clone());
            }
            Some(OrigineVoce::Tassonomia { codice_tassonomico }) => {
                out.codice_tassonomico_pago_pa = Some(codice_tassonomico.clone());
            }
            None => {}
        }
        out
    }
}

/// What a position's detail shows besides the position itself.
pub struct Contesto {
    /// The state now (SCADUTA derived).
    pub stato: StatoEffettivo,
    /// The creditor's name.
    pub ragione_sociale: String,
    /// The name of its organisational unit, when it has one.
    pub unita_operativa: Option<String>,
    /// Its receipts.
    pub ricevute: Vec<RicevutaSintesi>,
    /// Its latest activation attempts, and whether older ones exist.
    pub tentativi: (Vec<TentativoSintesi>, bool),
}

impl PendenzaDettaglio {
    /// The detail of `p` in its context.
    pub fn new(p: &Pendenza, c: Contesto) -> Self {
        let d = &p.dettagli;
        let paid_irregularly = p.anomala && c.stato == StatoEffettivo::Eseguita;
        let (stato, stato_voce) = match c.stato {
            _ if paid_irregularly => ("ANOMALA", "Anomalo"),
            StatoEffettivo::Eseguita => ("ESEGUITA", "Eseguito"),
            other => (other.as_str(), "Non eseguito"),
        };
        // The day of the payment that closed it.
        let data_pagamento = p.ricevute.first().and_then(|closing| {
            c.ricevute
                .iter()
                .find(|r| &r.id_ricevuta == closing)
                .map(|r| {
                    let day = |t: &str| t.get(..10).map(str::to_owned);
                    r.data_pagamento
                        .as_deref()
                        .and_then(day)
                        .or_else(|| day(&r.data_ricezione))
                        .unwrap_or_default()
                })
        });
        PendenzaDettaglio {
            id_a2a: p.id_a2a.clone().unwrap_or_default(),
            id_pendenza: p.id_pendenza.clone().unwrap_or_default(),
            id_tipo_pendenza: p.id_tipo_pendenza.clone(),
            dominio: DominioRef {
                id_dominio: p.dominio.clone(),
                ragione_sociale: c.ragione_sociale,
            },
            unita_operativa: d.id_unita_operativa.clone().map(|id| UnitaOperativaRef {
                id_unita: id,
                ragione_sociale: c.unita_operativa.unwrap_or_default(),
            }),
            stato: stato.into(),
            descrizione_stato: d.descrizione_stato.clone(),
            causale: p.causale.clone(),
            soggetto_pagatore: (&p.soggetto).into(),
            importo: p.importo,
            numero_avviso: p.numero_avviso.clone(),
            iuv_avviso: p.iuv.clone(),
            data_pagamento,
            nome: d.nome.clone(),
            data_notifica_avviso: d.data_notifica_avviso.map(|d| d.to_string()),
            data_promemoria_scadenza: d.data_promemoria_scadenza.map(|d| d.to_string()),
            tassonomia_avviso: d.tassonomia_avviso.clone(),
            dettagli: p.into(),
            tipo: "dovuto".into(),
            anomalo: p.anomala,
            anomalie: p.anomalie.clone(),
            voci: (p.voci.iter().enumerate())
                .map(|(i, v)| VoceDettaglio::new(i + 1, v, stato_voce))
                .collect(),
            ricevute: c.ricevute,
            tentativi: c.tentativi.0,
            altri_tentativi: c.tentativi.1,
        }
    }
}

/// What a PATCH asks of a position: a new state, a reason, or both.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Patch {
    /// `REPLACE /stato`: ANNULLATA or NON_ESEGUITA.
    pub stato: Option<Stato>,
    /// `REPLACE` or `ADD /descrizioneStato` (at most 255 characters kept).
    pub descrizione_stato: Option<String>,
}

impl TryFrom<&[PatchOp]> for Patch {
    type Error = ApiError;

    /// Reads the operations as GovPay does, refusing each fault with GovPay's own text.
    fn try_from(ops: &[PatchOp]) -> Result<Self, ApiError> {
        let mut patch = Patch::default();
        for op in ops {
            let refuse = |text: &str| Err(ApiError::syntax(text));
            let kind = match op.op.as_deref() {
                None | Some("") => return refuse("Il campo op non deve essere vuoto."),
                Some(k @ ("ADD" | "DELETE" | "REPLACE")) => k,
                Some(_) => return refuse("Il campo op non e' valido."),
            };
            let path = match op.path.as_deref() {
                None | Some("") => return refuse("Il campo path non deve essere vuoto."),
                Some(p @ ("/stato" | "/descrizioneStato" | "/ack" | "/nota")) => p,
                Some(_) => return refuse("Il campo path non e' valido."),
            };
            if op.value.is_null() {
                return refuse("Il campo value non e' valido per il path indicato.");
            }
            match (kind, path) {
                ("REPLACE", "/stato") => {
                    patch.stato = Some(match op.value.as_str() {
                        Some("ANNULLATA") => Stato::Annullata,
                        Some("NON_ESEGUITA") => Stato::NonEseguita,
                        _ => {
                            return refuse(
                                "Il campo value indicato per il path '/stato' non e' valido.",
                            );
                        }
                    })
                }
                ("REPLACE" | "ADD", "/descrizioneStato") => {
                    let Some(text) = op.value.as_str().filter(|t| !t.trim().is_empty()) else {
                        return refuse(
                            "Il campo value indicato per il path '/descrizioneStato' non e' valido.",
                        );
                    };
                    patch.descrizione_stato = Some(text.chars().take(255).collect());
                }
                (_, "/ack" | "/nota") => {
                    return Err(ApiError::operation(
                        "PATCH_001",
                        format!("{kind} {path}: Varco keeps no acknowledgements or notes"),
                    ));
                }
                _ => return refuse("Il campo op non e' valido."),
            }
        }
        Ok(patch)
    }
}

impl Patch {
    /// `current` after the patch, or `None` when nothing changes. A paid position keeps its
    /// state (GovPay's `VER_009`).
    pub fn apply(
        &self,
        current: &Pendenza,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<Pendenza>, ApiError> {
        let mut next = current.clone();
        match (current.stato, self.stato) {
            (_, None) => {}
            (Stato::Eseguita, Some(_)) => {
                let who = crate::govpay::faults::Who {
                    a2a: current.id_a2a.as_deref().unwrap_or_default(),
                    id: current.id_pendenza.as_deref().unwrap_or_default(),
                };
                return Err(crate::govpay::faults::non_annullabile(who).into());
            }
            (_, Some(target)) => next.stato = target,
        }
        if self.descrizione_stato.is_some() {
            next.dettagli.descrizione_stato = self.descrizione_stato.clone();
        }
        if next == *current {
            return Ok(None);
        }
        next.updated_at = now;
        Ok(Some(next))
    }
}
