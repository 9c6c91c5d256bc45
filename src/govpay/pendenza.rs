//! What a gestionale sends: GovPay's `NuovaPendenza` and its parts, as API Pendenze v2 takes
//! them (`PUT /pendenze`, bulk loads) and as a gestionale answers a verification on the fly
//! (`PendenzaVerificata.pendenza`). Amounts are read from their decimal text
//! ([`crate::domain::money::json`]).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `Soggetto`: the debtor.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SoggettoJson {
    /// `F` natural person, `G` legal person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tipo: Option<String>,
    /// Fiscal code, VAT number or `ANONIMO` (GovPay stores what it is sent: no checksum).
    #[serde(default)]
    pub identificativo: Option<String>,
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anagrafica: Option<String>,
    /// Street.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub indirizzo: Option<String>,
    /// Civic number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub civico: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub localita: Option<String>,
    /// Province (two letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provincia: Option<String>,
    /// Country (two letters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nazione: Option<String>,
    /// E-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Mobile phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cellulare: Option<String>,
}

impl From<&crate::domain::Soggetto> for SoggettoJson {
    fn from(s: &crate::domain::Soggetto) -> Self {
        Self {
            tipo: Some(s.tipo.clone()).filter(|t| !t.is_empty()),
            identificativo: Some(s.identificativo.clone()),
            anagrafica: Some(s.anagrafica.clone()),
            indirizzo: s.indirizzo.clone(),
            civico: s.civico.clone(),
            cap: s.cap.clone(),
            localita: s.localita.clone(),
            provincia: s.provincia.clone(),
            nazione: s.nazione.clone(),
            email: s.email.clone(),
            cellulare: s.cellulare.clone(),
        }
    }
}

/// One metadata entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MapEntry {
    /// Key (≤ 140).
    pub key: String,
    /// Value (≤ 140).
    pub value: String,
}

/// `{mapEntries: [...]}` (≤ 15), sent as transfer metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    /// Entries.
    pub map_entries: Vec<MapEntry>,
}

/// `NuovaVocePendenza`: one item, with exactly one of: `codEntrata`; `ibanAccredito` +
/// `tipoContabilita` + `codiceContabilita` (+ `ibanAppoggio`); or a stamp (`tipoBollo`,
/// `hashDocumento`, `provinciaResidenza`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NuovaVoce {
    /// The gestionale's id for the item (unique in the position); GovPay also takes it as a
    /// JSON number.
    #[serde(deserialize_with = "string_or_integer")]
    #[schema(value_type = String)]
    pub id_voce_pendenza: String,
    /// Amount in euro.
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64, example = 120.00)]
    pub importo: i64,
    /// Description.
    pub descrizione: String,
    /// Text for the transfer's remittance information.
    #[serde(default, rename = "descrizioneCausaleRPT")]
    pub descrizione_causale_rpt: Option<String>,
    /// Beneficiary creditor (multi-beneficiary), default the position's.
    #[serde(default)]
    pub id_dominio: Option<String>,
    /// Opaque data.
    #[serde(default)]
    pub dati_allegati: Option<serde_json::Value>,
    /// Accounting quotas (opaque).
    #[serde(default)]
    pub contabilita: Option<serde_json::Value>,
    /// Transfer metadata.
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// A configured entrata.
    #[serde(default)]
    pub cod_entrata: Option<String>,
    /// Crediting IBAN.
    #[serde(default)]
    pub iban_accredito: Option<String>,
    /// Support (postal) IBAN.
    #[serde(default)]
    pub iban_appoggio: Option<String>,
    /// CAPITOLO, SPECIALE, SIOPE or ALTRO.
    #[serde(default)]
    pub tipo_contabilita: Option<String>,
    /// Accounting code.
    #[serde(default)]
    pub codice_contabilita: Option<String>,
    /// pagoPA's taxonomy code of the transfer (`9/0101101IM`), in place of `tipoContabilita` +
    /// `codiceContabilita` (API Ente Creditore v2).
    #[serde(default, rename = "codiceTassonomicoPagoPA")]
    pub codice_tassonomico_pago_pa: Option<String>,
    /// `01`.
    #[serde(default)]
    pub tipo_bollo: Option<String>,
    /// Base64 SHA-256 of the document.
    #[serde(default)]
    pub hash_documento: Option<String>,
    /// Payer's province.
    #[serde(default)]
    pub provincia_residenza: Option<String>,
}

/// `NuovaPendenza`: what a gestionale loads.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NuovaPendenza {
    /// Tipo pendenza; when absent, the one named after the only item's entrata, else
    /// `LIBERO` (as GovPay chooses).
    #[serde(default)]
    pub id_tipo_pendenza: Option<String>,
    /// Creditor fiscal code.
    pub id_dominio: String,
    /// Organisational unit.
    #[serde(default)]
    pub id_unita_operativa: Option<String>,
    /// Subject (≤ 140).
    pub causale: String,
    /// Short name (≤ 35).
    #[serde(default)]
    pub nome: Option<String>,
    /// Debtor; a position without one is anonymous (`ANONIMO`).
    #[serde(default)]
    pub soggetto_pagatore: Option<SoggettoJson>,
    /// Total in euro (= Σ voci).
    #[serde(with = "crate::domain::money::json")]
    #[schema(value_type = f64, example = 120.00)]
    pub importo: i64,
    /// 18 digits; generated when absent.
    #[serde(default)]
    pub numero_avviso: Option<String>,
    /// YYYY-MM-DD: after this day the amount must be refreshed.
    #[serde(default)]
    pub data_validita: Option<String>,
    /// YYYY-MM-DD: after this day the position is SCADUTA.
    #[serde(default)]
    pub data_scadenza: Option<String>,
    /// Reference year (four digits).
    #[serde(default)]
    pub anno_riferimento: Option<i32>,
    /// Payment folder (1..35).
    #[serde(default)]
    pub cartella_pagamento: Option<String>,
    /// YYYY-MM-DD: when to send the notice.
    #[serde(default)]
    pub data_notifica_avviso: Option<String>,
    /// YYYY-MM-DD: when to remind the debtor of the due date.
    #[serde(default)]
    pub data_promemoria_scadenza: Option<String>,
    /// Taxonomy.
    #[serde(default)]
    pub tassonomia: Option<String>,
    /// pagoPA notice taxonomy.
    #[serde(default)]
    pub tassonomia_avviso: Option<String>,
    /// Department.
    #[serde(default)]
    pub direzione: Option<String>,
    /// Division.
    #[serde(default)]
    pub divisione: Option<String>,
    /// Opaque data.
    #[serde(default)]
    pub dati_allegati: Option<serde_json::Value>,
    /// Document (instalments).
    #[serde(default)]
    pub documento: Option<serde_json::Value>,
    /// Properties.
    #[serde(default)]
    pub proprieta: Option<serde_json::Value>,
    /// 1..5 items.
    pub voci: Vec<NuovaVoce>,
    /// Attachments (not kept by Varco; checked for shape only).
    #[serde(default)]
    pub allegati: Option<serde_json::Value>,
}

/// A JSON string, or an integer taken as its decimal text (GovPay reads `idVocePendenza: 1`
/// as `"1"`).
fn string_or_integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Text(String),
        Integer(u64),
    }
    Id::deserialize(d)
        .map(|id| match id {
            Id::Text(t) => t,
            Id::Integer(n) => n.to_string(),
        })
        .map_err(|_| serde::de::Error::custom("must be a string or an integer"))
}

/// One item of a bulk load: the ids plus a `NuovaPendenza`, in one object.
///
/// Read by hand rather than with `#[serde(flatten)]`: flattening buffers the object, numbers
/// included, and a buffered number has already gone through a float, which the exact
/// amounts ([`money`]) must never do. The object is taken as raw JSON text and read twice.
#[derive(Debug, Clone, PartialEq)]
pub struct PendenzaTracciato {
    /// Owning application (must be the caller).
    pub id_a2a: String,
    /// The application's id.
    pub id_pendenza: String,
    /// The position (its fields sit beside the ids).
    pub pendenza: NuovaPendenza,
}

/// The shape of [`PendenzaTracciato`] for the OpenAPI document (the ids beside the fields of
/// a `NuovaPendenza`); never used to read a request.
#[derive(Deserialize, ToSchema)]
#[schema(as = PendenzaTracciato)]
#[serde(rename_all = "camelCase")]
#[expect(
    dead_code,
    reason = "describes the JSON shape only; PendenzaTracciato reads it"
)]
pub struct PendenzaTracciatoSchema {
    /// Owning application (must be the caller).
    #[serde(rename = "idA2A")]
    id_a2a: String,
    /// The application's id.
    id_pendenza: String,
    /// The position.
    #[serde(flatten)]
    pendenza: NuovaPendenza,
}

impl<'de> Deserialize<'de> for PendenzaTracciato {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Ids {
            #[serde(rename = "idA2A")]
            id_a2a: String,
            #[serde(rename = "idPendenza")]
            id_pendenza: String,
        }
        fn read<T: serde::de::DeserializeOwned, E: serde::de::Error>(text: &str) -> Result<T, E> {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                if path == "." {
                    E::custom(inner)
                } else {
                    E::custom(format!("{path}: {inner}"))
                }
            })
        }
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let ids: Ids = read(raw.get())?;
        Ok(Self {
            id_a2a: ids.id_a2a,
            id_pendenza: ids.id_pendenza,
            pendenza: read(raw.get())?,
        })
    }
}

/// What a position was loaded with besides its amount, debtor and items, read back as the
/// gestionale sent it: in a position's detail (API Pendenze v2) and in the paid position of a
/// receipt (API Ente Creditore v2).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DettagliLetti {
    /// The day it was loaded (Europe/Rome, `YYYY-MM-DD`).
    pub data_caricamento: String,
    /// Validity day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_validita: Option<String>,
    /// Due day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_scadenza: Option<String>,
    /// Reference year.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anno_riferimento: Option<i32>,
    /// Payment folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cartella_pagamento: Option<String>,
    /// Taxonomy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tassonomia: Option<String>,
    /// Department.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direzione: Option<String>,
    /// Division.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub divisione: Option<String>,
    /// Opaque data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dati_allegati: Option<serde_json::Value>,
    /// Document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documento: Option<serde_json::Value>,
    /// Properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proprieta: Option<serde_json::Value>,
    /// Public identifier.
    #[serde(rename = "UUID", skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

impl From<&crate::domain::Pendenza> for DettagliLetti {
    fn from(p: &crate::domain::Pendenza) -> Self {
        let d = &p.dettagli;
        Self {
            data_caricamento: crate::domain::rome_today(p.created_at).to_string(),
            data_validita: p.data_validita.map(|d| d.to_string()),
            data_scadenza: p.data_scadenza.map(|d| d.to_string()),
            anno_riferimento: d.anno_riferimento,
            cartella_pagamento: d.cartella_pagamento.clone(),
            tassonomia: d.tassonomia.clone(),
            direzione: d.direzione.clone(),
            divisione: d.divisione.clone(),
            dati_allegati: d.dati_allegati.clone(),
            documento: d
                .documento
                .as_ref()
                .map(|d| serde_json::to_value(d).unwrap_or_default()),
            proprieta: d.proprieta.clone(),
            uuid: d.uuid.clone(),
        }
    }
}
