//! From a `NuovaPendenza` to a domain `Pendenza`: every rule of API Pendenze v2, each refusal
//! naming its field and GovPay's code ([`Refusal`]); and GovPay's rules for updating a stored
//! position. The REST API turns a refusal into a `FaultBean`; verification on the fly into a
//! refused answer.

use super::pendenza::{NuovaPendenza, NuovaVoce, SoggettoJson};
use crate::config::Config;
use crate::domain::MAX_CENTS;
use crate::domain::NoticeNumber;
use crate::domain::{
    Accredito, Dettagli, OrigineVoce, Pendenza, Soggetto, Stato, Voce, fiscal, iban,
};
use crate::domain::{TipoContabilita, transfer_category};
use chrono::{DateTime, NaiveDate, Utc};

/// An application as the API sees it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// idA2A.
    pub id_a2a: String,
    /// Allowed domains (`*` = all).
    pub domini: Vec<String>,
    /// Allowed tipi pendenza (`*` = all).
    pub tipi_pendenza: Vec<String>,
}

impl Caller {
    /// May it use this domain?
    pub fn may_use_domain(&self, id: &str) -> bool {
        self.domini.iter().any(|d| d == "*" || d == id)
    }
    /// May it use this tipo pendenza?
    pub fn may_use_tipo(&self, id: &str) -> bool {
        self.tipi_pendenza.iter().any(|t| t == "*" || t == id)
    }
}

/// A validated request: the position to store, and the segregation code to draw a notice
/// number with when the request has none.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The position (iuv / numero_avviso empty when one is to be generated).
    pub pendenza: Pendenza,
    /// Segregation code for a generated number.
    pub generate: Option<String>,
}

/// Why a position is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A field breaks a rule: GovPay's code (`SINTASSI`, `VER_002`, ...), the field, why.
    #[error("{campo}: {motivo}")]
    Invalid {
        /// GovPay's code.
        codice: String,
        /// The field, as the JSON names it (`voci[1].ibanAccredito`).
        campo: String,
        /// Why.
        motivo: String,
    },
    /// A change GovPay's update rules do not allow (`VER_003`, `VER_024`, ...).
    #[error("{motivo}")]
    Operation {
        /// GovPay's code.
        codice: String,
        /// Why.
        motivo: String,
    },
    /// The application may not use this domain or tipo pendenza.
    #[error("{0}")]
    Forbidden(String),
}

impl Refusal {
    /// A field breaking rule `codice`.
    pub fn invalid(codice: &str, campo: &str, motivo: impl std::fmt::Display) -> Self {
        Self::Invalid {
            codice: codice.into(),
            campo: campo.into(),
            motivo: motivo.to_string(),
        }
    }

    /// A change the rules do not allow.
    pub fn operation(codice: &str, motivo: impl Into<String>) -> Self {
        Self::Operation {
            codice: codice.into(),
            motivo: motivo.into(),
        }
    }
}

fn bad(field: &str, why: impl std::fmt::Display) -> Refusal {
    Refusal::invalid("SINTASSI", field, why)
}

fn text(field: &str, value: &str, max: usize) -> Result<String, Refusal> {
    let v = value.trim();
    if v.is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    if v.chars().count() > max {
        return Err(bad(field, format!("must be at most {max} characters")));
    }
    if v.chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(bad(field, "must not contain control characters"));
    }
    Ok(v.to_owned())
}

fn opt_text(field: &str, value: &Option<String>, max: usize) -> Result<Option<String>, Refusal> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// An identifier used in URLs and keys: 1..35 characters, no `/`, no control characters.
pub fn identifier(field: &str, value: &str) -> Result<(), Refusal> {
    if value.is_empty()
        || value.chars().count() > 35
        || value.chars().any(|c| c == '/' || c.is_control())
    {
        return Err(bad(
            field,
            "must be 1 to 35 characters, without '/' or control characters",
        ));
    }
    Ok(())
}

/// Deepest nesting accepted in the opaque JSON a position carries (`datiAllegati`,
/// `documento`, `proprieta`, and an item's `contabilita` and `datiAllegati`). The store keeps
/// positions as JSON, where these values sit deeper than in the request, and JSON readers stop
/// at 128 levels: a deeper value would be stored, answered 201, and never read back.
pub const MAX_OPAQUE_DEPTH: usize = 32;

fn json_depth(value: &serde_json::Value) -> usize {
    use serde_json::Value;
    match value {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn opaque(field: &str, value: &Option<serde_json::Value>) -> Result<(), Refusal> {
    match value {
        Some(v) if json_depth(v) > MAX_OPAQUE_DEPTH => Err(bad(
            field,
            format!("must not be nested more than {MAX_OPAQUE_DEPTH} levels deep"),
        )),
        _ => Ok(()),
    }
}

fn date(field: &str, value: &Option<String>) -> Result<Option<NaiveDate>, Refusal> {
    match value.as_deref() {
        None => Ok(None),
        Some(v) => {
            // GovPay clients sometimes send a date-time: take its calendar day.
            let day = v.get(..10).unwrap_or(v);
            NaiveDate::parse_from_str(day, "%Y-%m-%d")
                .map(Some)
                .map_err(|_| bad(field, format!("{v:?} is not a date (YYYY-MM-DD)")))
        }
    }
}

fn two_letters(field: &str, value: &Option<String>) -> Result<Option<String>, Refusal> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(Some(v.to_ascii_uppercase()))
        }
        Some(v) => Err(bad(field, format!("{v:?} must be two letters"))),
    }
}

fn soggetto(s: &SoggettoJson) -> Result<Soggetto, Refusal> {
    let tipo = match s.tipo.as_str() {
        "F" | "G" => s.tipo.clone(),
        other => {
            return Err(bad(
                "soggettoPagatore.tipo",
                format!("{other:?} must be F or G"),
            ));
        }
    };
    let id = s.identificativo.trim().to_uppercase();
    let valid_id =
        id == "ANONIMO" || fiscal::is_valid_personal(&id) || fiscal::is_valid_organisation(&id);
    if !valid_id {
        return Err(bad(
            "soggettoPagatore.identificativo",
            "must be a valid codice fiscale (16 characters), partita IVA (11 digits) or ANONIMO",
        ));
    }
    let anagrafica = text(
        "soggettoPagatore.anagrafica",
        s.anagrafica.as_deref().unwrap_or(""),
        70,
    )?;
    let email = opt_text("soggettoPagatore.email", &s.email, 256)?;
    if let Some(e) = &email
        && crate::soap::schema::Email::new(e.clone()).is_err()
    {
        return Err(bad(
            "soggettoPagatore.email",
            "is not a valid e-mail address",
        ));
    }
    Ok(Soggetto {
        tipo,
        identificativo: id,
        anagrafica,
        indirizzo: opt_text("soggettoPagatore.indirizzo", &s.indirizzo, 70)?,
        civico: opt_text("soggettoPagatore.civico", &s.civico, 16)?,
        cap: opt_text("soggettoPagatore.cap", &s.cap, 16)?,
        localita: opt_text("soggettoPagatore.localita", &s.localita, 35)?,
        provincia: two_letters("soggettoPagatore.provincia", &s.provincia)?,
        nazione: two_letters("soggettoPagatore.nazione", &s.nazione)?,
        email,
        cellulare: opt_text("soggettoPagatore.cellulare", &s.cellulare, 35)?,
    })
}

fn tipo_contabilita(field: &str, v: &str) -> Result<TipoContabilita, Refusal> {
    match v {
        "CAPITOLO" => Ok(TipoContabilita::Capitolo),
        "SPECIALE" => Ok(TipoContabilita::Speciale),
        "SIOPE" => Ok(TipoContabilita::Siope),
        "ALTRO" => Ok(TipoContabilita::Altro),
        other => Err(bad(
            field,
            format!("{other:?} must be CAPITOLO, SPECIALE, SIOPE or ALTRO"),
        )),
    }
}

fn postal_of(iban: &str, appoggio: Option<&str>) -> Option<String> {
    if iban::is_postal(iban) {
        Some(iban.to_owned())
    } else {
        appoggio.filter(|a| iban::is_postal(a)).map(str::to_owned)
    }
}

fn voce(config: &Config, default_domain: &str, i: usize, v: &NuovaVoce) -> Result<Voce, Refusal> {
    let f = |name: &str| format!("voci[{i}].{name}");
    identifier(&f("idVocePendenza"), &v.id_voce_pendenza)?;
    if v.importo < 1 {
        return Err(bad(&f("importo"), "must be at least 0.01"));
    }
    let descrizione = text(&f("descrizione"), &v.descrizione, 255)?;
    opaque(&f("contabilita"), &v.contabilita)?;
    opaque(&f("datiAllegati"), &v.dati_allegati)?;
    let causale_rpt = opt_text(&f("descrizioneCausaleRPT"), &v.descrizione_causale_rpt, 140)?;
    let dominio = v
        .id_dominio
        .clone()
        .unwrap_or_else(|| default_domain.to_owned());
    if !crate::domain::fiscal::is_fiscal_code_pa(&dominio) {
        return Err(bad(&f("idDominio"), "must be 11 digits"));
    }
    let shapes = [
        v.cod_entrata.is_some(),
        v.iban_accredito.is_some(),
        v.tipo_bollo.is_some() || v.hash_documento.is_some() || v.provincia_residenza.is_some(),
    ];
    if shapes.iter().filter(|s| **s).count() != 1 {
        return Err(bad(
            &f("codEntrata"),
            "exactly one of codEntrata, ibanAccredito (+ tipoContabilita, codiceContabilita) or a bollo (tipoBollo, hashDocumento, provinciaResidenza) is required",
        ));
    }
    let (accredito, category, origine) = if let Some(code) = &v.cod_entrata {
        let beneficiary = config.dominio(&dominio).ok_or_else(|| {
            bad(
                &f("idDominio"),
                format!("dominio {dominio} is not configured, so codEntrata cannot be resolved"),
            )
        })?;
        let e = beneficiary
            .entrate
            .iter()
            .find(|e| &e.id == code)
            .ok_or_else(|| {
                bad(
                    &f("codEntrata"),
                    format!("entrata {code} is not configured for dominio {dominio}"),
                )
            })?;
        (
            Accredito::Iban {
                iban: e.iban.clone(),
                iban_postale: postal_of(&e.iban, e.iban_appoggio.as_deref()),
                iban_appoggio: e.iban_appoggio.clone(),
            },
            transfer_category(e.tipo_contabilita, &e.codice_contabilita),
            OrigineVoce::Entrata {
                cod_entrata: code.clone(),
            },
        )
    } else if let Some(ib) = &v.iban_accredito {
        if !iban::is_valid(ib) {
            return Err(bad(
                &f("ibanAccredito"),
                format!("{ib:?} is not a valid IBAN"),
            ));
        }
        if let Some(app) = &v.iban_appoggio
            && !iban::is_valid(app)
        {
            return Err(bad(
                &f("ibanAppoggio"),
                format!("{app:?} is not a valid IBAN"),
            ));
        }
        let tipo_raw = v
            .tipo_contabilita
            .as_deref()
            .ok_or_else(|| bad(&f("tipoContabilita"), "is required with ibanAccredito"))?;
        let tipo = tipo_contabilita(&f("tipoContabilita"), tipo_raw)?;
        let codice = text(
            &f("codiceContabilita"),
            v.codice_contabilita.as_deref().unwrap_or(""),
            138,
        )?;
        (
            Accredito::Iban {
                iban: ib.clone(),
                iban_postale: postal_of(ib, v.iban_appoggio.as_deref()),
                iban_appoggio: v.iban_appoggio.clone(),
            },
            transfer_category(tipo, &codice),
            OrigineVoce::Iban {
                tipo_contabilita: tipo_raw.to_owned(),
                codice_contabilita: codice,
            },
        )
    } else {
        if v.tipo_bollo.as_deref() != Some("01") {
            return Err(bad(&f("tipoBollo"), "must be \"01\""));
        }
        let hash = v.hash_documento.clone().unwrap_or_default();
        let b64_ok = (4..=72).contains(&hash.len()) && crate::soap::schema::is_base64(&hash);
        if !b64_ok {
            return Err(bad(
                &f("hashDocumento"),
                "must be base64, 4 to 72 characters",
            ));
        }
        let provincia = two_letters(&f("provinciaResidenza"), &v.provincia_residenza)?
            .ok_or_else(|| bad(&f("provinciaResidenza"), "is required for a bollo"))?;
        (
            Accredito::Bollo {
                tipo_bollo: "01".into(),
                hash_documento: hash,
                provincia_residenza: provincia,
            },
            "9/0301116TS/".to_owned(),
            OrigineVoce::Entrata {
                cod_entrata: "BOLLOT".into(),
            },
        )
    };
    let mut metadata = Vec::new();
    if let Some(m) = &v.metadata {
        if m.map_entries.is_empty() || m.map_entries.len() > 15 {
            return Err(bad(&f("metadata.mapEntries"), "must hold 1 to 15 entries"));
        }
        for (j, e) in m.map_entries.iter().enumerate() {
            metadata.push((
                text(&f(&format!("metadata.mapEntries[{j}].key")), &e.key, 140)?,
                text(
                    &f(&format!("metadata.mapEntries[{j}].value")),
                    &e.value,
                    140,
                )?,
            ));
        }
    }
    Ok(Voce {
        id_voce: v.id_voce_pendenza.clone(),
        importo: v.importo,
        descrizione,
        descrizione_causale_rpt: causale_rpt,
        dominio,
        accredito,
        transfer_category: category,
        metadata,
        origine: Some(origine),
        contabilita: v.contabilita.clone(),
        dati_allegati: v.dati_allegati.clone(),
    })
}

/// Validates a `NuovaPendenza` for `caller` (403 for a domain or tipo it may not use).
pub fn nuova_pendenza(
    config: &Config,
    caller: &Caller,
    id_pendenza: &str,
    r: &NuovaPendenza,
    now: DateTime<Utc>,
) -> Result<Validated, Refusal> {
    identifier("idPendenza", id_pendenza)?;
    let dominio = config.dominio(&r.id_dominio).ok_or_else(|| {
        bad(
            "idDominio",
            format!("dominio {} is not configured", r.id_dominio),
        )
    })?;
    if !caller.may_use_domain(&dominio.id) {
        return Err(Refusal::Forbidden(format!(
            "application {} may not use dominio {}",
            caller.id_a2a, dominio.id
        )));
    }
    if !config
        .tipi_pendenza
        .iter()
        .any(|t| t.id == r.id_tipo_pendenza)
    {
        return Err(bad(
            "idTipoPendenza",
            format!("tipo pendenza {} is not configured", r.id_tipo_pendenza),
        ));
    }
    if !caller.may_use_tipo(&r.id_tipo_pendenza) {
        return Err(Refusal::Forbidden(format!(
            "application {} may not use tipo pendenza {}",
            caller.id_a2a, r.id_tipo_pendenza
        )));
    }
    let causale = text("causale", &r.causale, 140)?;
    let soggetto = soggetto(&r.soggetto_pagatore)?;
    if r.voci.is_empty() || r.voci.len() > 5 {
        return Err(bad(
            "voci",
            format!("must hold 1 to 5 items, found {}", r.voci.len()),
        ));
    }
    let mut voci = Vec::with_capacity(r.voci.len());
    for (i, v) in r.voci.iter().enumerate() {
        if r.voci[..i]
            .iter()
            .any(|w| w.id_voce_pendenza == v.id_voce_pendenza)
        {
            return Err(bad(&format!("voci[{i}].idVocePendenza"), "is repeated"));
        }
        voci.push(voce(config, &dominio.id, i, v)?);
    }
    let sum: i64 = voci.iter().map(|v| v.importo).sum();
    if r.importo != sum || sum > MAX_CENTS {
        return Err(Refusal::invalid(
            "VER_002",
            "importo",
            format!(
                "{} is not the sum of the voci ({})",
                crate::domain::money::format(r.importo),
                crate::domain::money::format(sum)
            ),
        ));
    }
    let data_validita = date("dataValidita", &r.data_validita)?;
    let data_scadenza = date("dataScadenza", &r.data_scadenza)?;
    if let (Some(v), Some(s)) = (data_validita, data_scadenza)
        && v > s
    {
        return Err(bad("dataValidita", "must not be after dataScadenza"));
    }
    let (iuv, numero_avviso, generate) = match &r.numero_avviso {
        Some(n) => {
            let nav = NoticeNumber::parse(n)
                .map_err(|e| Refusal::invalid("VER_017", "numeroAvviso", e))?;
            if nav.aux_digit() != dominio.aux_digit {
                return Err(Refusal::invalid(
                    "VER_039",
                    "numeroAvviso",
                    format!(
                        "aux digit {} differs from the dominio's {}",
                        nav.aux_digit(),
                        dominio.aux_digit
                    ),
                ));
            }
            if let Some(seg) = nav.segregation_code()
                && !dominio.segregation_codes.iter().any(|s| s == seg)
            {
                return Err(Refusal::invalid(
                    "VER_027",
                    "numeroAvviso",
                    format!("segregation code {seg} is not the dominio's"),
                ));
            }
            if let Some(app) = nav.application_code()
                && dominio.application_code.as_deref() != Some(app)
            {
                return Err(Refusal::invalid(
                    "VER_026",
                    "numeroAvviso",
                    format!("application code {app} is not the dominio's"),
                ));
            }
            if !dominio.legacy_notice_numbers {
                nav.verify_check_digits()
                    .map_err(|e| Refusal::invalid("VER_017", "numeroAvviso", e))?;
            }
            (nav.iuv().to_owned(), nav.as_str().to_owned(), None)
        }
        None => match (dominio.aux_digit, dominio.segregation_codes.first()) {
            (3, Some(seg)) => (String::new(), String::new(), Some(seg.clone())),
            _ => {
                return Err(bad(
                    "numeroAvviso",
                    format!(
                        "is required: Varco generates numbers only for aux digit 3 (dominio {} has {})",
                        dominio.id, dominio.aux_digit
                    ),
                ));
            }
        },
    };
    opaque("datiAllegati", &r.dati_allegati)?;
    opaque("documento", &r.documento)?;
    opaque("proprieta", &r.proprieta)?;
    let dettagli = Dettagli {
        id_unita_operativa: opt_text("idUnitaOperativa", &r.id_unita_operativa, 35)?,
        anno_riferimento: r.anno_riferimento,
        tassonomia: opt_text("tassonomia", &r.tassonomia, 35)?,
        tassonomia_avviso: opt_text("tassonomiaAvviso", &r.tassonomia_avviso, 70)?,
        direzione: opt_text("direzione", &r.direzione, 35)?,
        divisione: opt_text("divisione", &r.divisione, 35)?,
        dati_allegati: r.dati_allegati.clone(),
        documento: r.documento.clone(),
        proprieta: r.proprieta.clone(),
        descrizione_stato: None,
        uuid: None,
    };
    Ok(Validated {
        pendenza: Pendenza {
            dominio: dominio.id.clone(),
            iuv,
            numero_avviso,
            id_a2a: Some(caller.id_a2a.clone()),
            id_pendenza: Some(id_pendenza.to_owned()),
            id_tipo_pendenza: r.id_tipo_pendenza.clone(),
            causale,
            soggetto,
            importo: sum,
            data_validita,
            data_scadenza,
            voci,
            stato: Stato::NonEseguita,
            anomala: false,
            anomalie: vec![],
            dettagli,
            ricevute: vec![],
            created_at: now,
            updated_at: now,
        },
        generate,
    })
}

/// What an update may change, as GovPay's rules have it. `Ok(None)` means identical.
pub fn update(
    existing: &Pendenza,
    new: &Validated,
    now: DateTime<Utc>,
) -> Result<Option<Pendenza>, Refusal> {
    let req = &new.pendenza;
    if req.dominio != existing.dominio {
        return Err(Refusal::operation(
            "VER_028",
            format!("idDominio cannot change from {}", existing.dominio),
        ));
    }
    if new.generate.is_none() && req.numero_avviso != existing.numero_avviso {
        return Err(Refusal::operation(
            "VER_024",
            format!("numeroAvviso cannot change from {}", existing.numero_avviso),
        ));
    }
    if req.dettagli.id_unita_operativa != existing.dettagli.id_unita_operativa {
        return Err(Refusal::operation(
            "VER_004",
            "idUnitaOperativa cannot change",
        ));
    }
    // Existing items keep their identity and account; new ones are appended.
    let mut voci = Vec::with_capacity(req.voci.len());
    for old in &existing.voci {
        let Some(v) = req.voci.iter().find(|v| v.id_voce == old.id_voce) else {
            return Err(Refusal::operation(
                "VER_005",
                format!("voce {} cannot be removed", old.id_voce),
            ));
        };
        if v.origine != old.origine {
            return Err(Refusal::operation(
                "VER_007",
                format!("voce {} cannot change its entrata", old.id_voce),
            ));
        }
        if v.accredito != old.accredito {
            return Err(Refusal::operation(
                "VER_023",
                format!("voce {} cannot change its account", old.id_voce),
            ));
        }
        voci.push(v.clone());
    }
    voci.extend(
        req.voci
            .iter()
            .filter(|v| !existing.voci.iter().any(|o| o.id_voce == v.id_voce))
            .cloned(),
    );
    let mut next = existing.clone();
    next.id_tipo_pendenza = req.id_tipo_pendenza.clone();
    next.causale = req.causale.clone();
    next.soggetto = req.soggetto.clone();
    next.importo = req.importo;
    next.data_validita = req.data_validita;
    next.data_scadenza = req.data_scadenza;
    next.voci = voci;
    let uuid = existing.dettagli.uuid.clone();
    let descrizione_stato = existing.dettagli.descrizione_stato.clone();
    next.dettagli = Dettagli {
        uuid,
        descrizione_stato,
        ..req.dettagli.clone()
    };
    let same_content = next == *existing;
    if same_content && existing.stato != Stato::Annullata {
        return Ok(None);
    }
    if existing.stato == Stato::Eseguita {
        return Err(Refusal::operation(
            "VER_003",
            "the position is paid (ESEGUITA) and cannot be updated",
        ));
    }
    // Loading an ANNULLATA position again brings it back to NON_ESEGUITA.
    next.stato = Stato::NonEseguita;
    next.updated_at = now;
    Ok(Some(next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const TARI: &str = include_str!("../../fixtures/rest/tari-2026-0001.json");

    fn demo() -> Caller {
        Caller {
            id_a2a: "demo".into(),
            domini: vec!["*".into()],
            tipi_pendenza: vec!["*".into()],
        }
    }

    /// The TARI fixture with `edit` applied, validated for `caller`.
    fn check(caller: &Caller, edit: impl FnOnce(&mut Value)) -> Result<Validated, Refusal> {
        let mut body: Value = serde_json::from_str(TARI).unwrap();
        edit(&mut body);
        let request: NuovaPendenza = serde_json::from_value(body).unwrap();
        nuova_pendenza(&Config::demo(), caller, "tari-1", &request, Utc::now())
    }

    fn refusal(edit: impl FnOnce(&mut Value)) -> (String, String) {
        match check(&demo(), edit).unwrap_err() {
            Refusal::Invalid { codice, campo, .. } => (codice, campo),
            other => panic!("expected a field refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_becomes_a_position_waiting_for_its_number() {
        let v = check(&demo(), |_| {}).unwrap();
        let p = &v.pendenza;
        assert_eq!(v.generate.as_deref(), Some("01"));
        assert!(p.iuv.is_empty() && p.numero_avviso.is_empty());
        assert_eq!(p.importo, 12050);
        assert_eq!(
            p.voci.iter().map(|v| v.importo).collect::<Vec<_>>(),
            [10000, 2050]
        );
        assert_eq!(p.id_a2a.as_deref(), Some("demo"));
        assert_eq!(p.id_pendenza.as_deref(), Some("tari-1"));
        assert_eq!(p.stato, Stato::NonEseguita);
        assert_eq!(p.data_scadenza, NaiveDate::from_ymd_opt(2027, 1, 31));
    }

    #[test]
    fn each_broken_rule_names_its_field_and_govpays_code() {
        // (JSON pointer, value put there, GovPay's code, the field named)
        let cases = [
            ("/importo", json!(120.49), "VER_002", "importo"),
            ("/voci", json!([]), "SINTASSI", "voci"),
            (
                "/voci/1/idVocePendenza",
                json!("tari"),
                "SINTASSI",
                "voci[1].idVocePendenza",
            ),
            ("/causale", json!("  "), "SINTASSI", "causale"),
            (
                "/dataValidita",
                json!("2027-02-01"),
                "SINTASSI",
                "dataValidita",
            ),
            ("/idDominio", json!("00000000000"), "SINTASSI", "idDominio"),
            (
                "/idTipoPendenza",
                json!("NESSUNO"),
                "SINTASSI",
                "idTipoPendenza",
            ),
            (
                "/numeroAvviso",
                json!("001000000000000164"),
                "VER_039",
                "numeroAvviso",
            ),
            (
                "/numeroAvviso",
                json!("301000000000000145"),
                "VER_017",
                "numeroAvviso",
            ),
            (
                "/numeroAvviso",
                json!("399000000000000144"),
                "VER_027",
                "numeroAvviso",
            ),
        ];
        for (pointer, value, codice, campo) in cases {
            let edit = |b: &mut Value| match pointer.strip_prefix("/numeroAvviso") {
                Some(_) => b["numeroAvviso"] = value,
                None => *b.pointer_mut(pointer).unwrap() = value,
            };
            assert_eq!(
                refusal(edit),
                (codice.to_owned(), campo.to_owned()),
                "{pointer}"
            );
        }
        assert!(identifier("idPendenza", "a/b").is_err());
        assert!(identifier("idPendenza", &"x".repeat(36)).is_err());
        assert!(identifier("idPendenza", "tari-2026_1.a").is_ok());
    }

    #[test]
    fn an_application_is_held_to_its_domains_and_kinds() {
        let mut caller = demo();
        caller.domini = vec!["11111111111".into()];
        assert!(matches!(check(&caller, |_| {}), Err(Refusal::Forbidden(_))));
        let mut caller = demo();
        caller.tipi_pendenza = vec!["ALTRO".into()];
        assert!(matches!(check(&caller, |_| {}), Err(Refusal::Forbidden(_))));
    }

    #[test]
    fn updates_follow_govpays_rules() {
        let now = Utc::now();
        let number = |b: &mut Value| b["numeroAvviso"] = json!("301000000000000144");
        let stored = check(&demo(), number).unwrap().pendenza;
        let code = |r: Result<Option<Pendenza>, Refusal>| match r {
            Err(Refusal::Operation { codice, .. }) => codice,
            other => panic!("expected an operation refusal, got {other:?}"),
        };
        // The same request again changes nothing; a new causale is an update.
        let same = check(&demo(), number).unwrap();
        assert_eq!(update(&stored, &same, now), Ok(None));
        let causale = check(&demo(), |b| {
            number(b);
            b["causale"] = json!("TARI 2026 - saldo");
        })
        .unwrap();
        let next = update(&stored, &causale, now).unwrap().unwrap();
        assert_eq!(next.causale, "TARI 2026 - saldo");
        assert_eq!(next.numero_avviso, stored.numero_avviso);
        // An item cannot go, nor move its account; the number cannot change.
        let fewer = check(&demo(), |b| {
            number(b);
            b["voci"] = json!([b["voci"][0].clone()]);
            b["importo"] = json!(100.00);
        })
        .unwrap();
        assert_eq!(code(update(&stored, &fewer, now)), "VER_005");
        let moved = check(&demo(), |b| {
            number(b);
            b["voci"][1]["ibanAccredito"] = json!("IT70X0760101600000012345678");
        })
        .unwrap();
        assert_eq!(code(update(&stored, &moved, now)), "VER_023");
        let renumbered = check(&demo(), |b| b["numeroAvviso"] = json!("301000000000001053"));
        assert_eq!(code(update(&stored, &renumbered.unwrap(), now)), "VER_024");
        // A paid position takes the same request again, and refuses a change.
        let mut paid = stored.clone();
        paid.stato = Stato::Eseguita;
        assert_eq!(update(&paid, &same, now), Ok(None));
        assert_eq!(code(update(&paid, &causale, now)), "VER_003");
        // A cancelled one loaded again is open again.
        let mut cancelled = stored.clone();
        cancelled.stato = Stato::Annullata;
        let reopened = update(&cancelled, &same, now).unwrap().unwrap();
        assert_eq!(reopened.stato, Stato::NonEseguita);
    }
}
