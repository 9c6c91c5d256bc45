//! Spontaneous payments: the service data a PSP sends with `paDemandPaymentNotice`, read and
//! checked against the service's schema, and the position it becomes.
//!
//! No protocol here: [`crate::nodo`] turns what these functions refuse into faults. What is
//! ours: how the service data is read (a strict XML parse, then [`crate::soap::xsd`]), where the amount
//! comes from (fixed, a table, or the gestionale), and the identity of a request, so that the
//! same data asked twice while the first position is payable gets that position again.

use crate::config::{Config, Importo, Servizio, placeholders};
use crate::domain::money::Cents;
use crate::govpay::pendenza::{NuovaPendenza, NuovaVoce, SoggettoJson};
use crate::soap::xml::{self, Element, is_xml_space};
use base64::Engine;
use chrono::NaiveDate;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Why the service data was refused: the element (slash-separated local names from the
/// root; empty for the document as a whole) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatiError {
    /// The offending element.
    pub path: String,
    /// What is wrong.
    pub problem: String,
}

impl std::fmt::Display for DatiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.path, self.problem)
        }
    }
}

fn whole(problem: impl Into<String>) -> DatiError {
    DatiError {
        path: String::new(),
        problem: problem.into(),
    }
}

/// Service data that passed its schema.
#[derive(Debug, Clone)]
pub struct Dati {
    root: Element,
}

impl Dati {
    /// Decodes the base64 text of `datiSpecificiServizioRequest`, parses it (the strict parser
    /// of SOAP messages: no DOCTYPE, bounded depth and size) and checks it against the
    /// service's schema.
    pub fn decode(servizio: &Servizio, base64: &str) -> Result<Self, DatiError> {
        let compact: String = base64.chars().filter(|c| !is_xml_space(*c)).collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|_| whole("is not valid base64"))?;
        let root = xml::parse(&bytes).map_err(|e| whole(e.to_string()))?;
        let schema = servizio
            .schema()
            .ok_or_else(|| whole("the service's schema is not loaded"))?;
        schema.validate(&root).map_err(|e| DatiError {
            path: e.path,
            problem: e.problem,
        })?;
        Ok(Self { root })
    }

    /// The text of the element at `path` (local names from the root's children), trimmed;
    /// None when the data has no such element.
    pub fn value(&self, path: &str) -> Option<&str> {
        let mut at = &self.root;
        for step in path.split('/') {
            at = at.children.iter().find(|c| c.name == step)?;
        }
        Some(at.text.trim_matches(is_xml_space))
    }

    /// The data as JSON: `{root: {child: value-or-object, ...}}`, a repeated element as an
    /// array, a leaf as its trimmed text.
    pub fn json(&self) -> Value {
        let mut top = Map::new();
        top.insert(self.root.name.clone(), to_json(&self.root));
        Value::Object(top)
    }

    /// The identity of a request for this data: the same creditor, service and data give the
    /// same 20 hex digits.
    pub fn digest(&self, dominio: &str, id_servizio: &str) -> String {
        let mut h = Sha256::new();
        h.update(dominio.as_bytes());
        h.update([0]);
        h.update(id_servizio.as_bytes());
        h.update([0]);
        h.update(self.json().to_string().as_bytes());
        h.finalize()
            .iter()
            .take(10)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn to_json(el: &Element) -> Value {
    if el.children.is_empty() {
        return Value::String(el.text.trim_matches(is_xml_space).to_owned());
    }
    let mut map = Map::new();
    for child in &el.children {
        let repeated = el.children.iter().filter(|c| c.name == child.name).count() > 1;
        let value = to_json(child);
        if !repeated {
            map.insert(child.name.clone(), value);
        } else if let Some(Value::Array(items)) = map.get_mut(&child.name) {
            items.push(value);
        } else {
            map.insert(child.name.clone(), Value::Array(vec![value]));
        }
    }
    Value::Object(map)
}

/// The idPendenza of the `k`-th position created for one request identity (`SP` + service +
/// digest + k: at most 35 characters, GovPay's identifier alphabet).
pub fn id_pendenza(id_servizio: &str, digest: &str, k: u32) -> String {
    format!("SP{id_servizio}-{digest}-{k}")
}

/// How many positions one request identity may have had before a new request is refused
/// (each paid, cancelled or expired one moves to the next): a bound on the look-ups.
pub const MAX_POSITIONS_PER_IDENTITY: u32 = 1000;

/// The amount for `dati`: Some for a fixed or table service, None when the gestionale says.
pub fn importo(servizio: &Servizio, dati: &Dati) -> Result<Option<Cents>, DatiError> {
    match &servizio.importo {
        Importo::Fisso { importo } => Ok(Some(*importo)),
        Importo::Tabella { campo, valori } => {
            let value = dati.value(campo).ok_or_else(|| DatiError {
                path: campo.clone(),
                problem: "is missing, and the amount depends on it".into(),
            })?;
            valori
                .get(value)
                .copied()
                .map(Some)
                .ok_or_else(|| DatiError {
                    path: campo.clone(),
                    problem: format!(
                        "no amount is set for the value {:?}",
                        crate::soap::schema::truncate_chars(value, 40)
                    ),
                })
        }
        Importo::Gestionale => Ok(None),
    }
}

/// The causale: the template with each `{path}` replaced by that element's text (empty when
/// absent), whitespace collapsed, at most 140 characters.
pub fn causale(servizio: &Servizio, dati: &Dati) -> String {
    let mut text = servizio.causale.clone();
    if let Ok(paths) = placeholders(&servizio.causale) {
        for path in paths {
            text = text.replace(&format!("{{{path}}}"), dati.value(path).unwrap_or(""));
        }
    }
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    collapsed.chars().take(140).collect()
}

/// The debtor the data names (an anonymous one when the service names none, or the data's
/// fiscal code is blank).
pub fn soggetto(servizio: &Servizio, dati: &Dati) -> Option<SoggettoJson> {
    let d = servizio.debitore.as_ref()?;
    let cf = dati.value(&d.codice_fiscale)?.trim().to_uppercase();
    if cf.is_empty() {
        return None;
    }
    let anagrafica = d
        .anagrafica
        .as_deref()
        .and_then(|p| dati.value(p))
        .map(|a| a.chars().take(70).collect::<String>());
    Some(SoggettoJson {
        tipo: Some(
            if cf.len() == 11 && cf.bytes().all(|b| b.is_ascii_digit()) {
                "G".into()
            } else {
                "F".into()
            },
        ),
        identificativo: Some(cf.chars().take(16).collect()),
        anagrafica,
        ..SoggettoJson::default()
    })
}

/// What Varco records of the request on the position (`datiAllegati`), so the gestionale that
/// receives the receipt sees what was paid for.
pub fn dati_allegati(servizio: &Servizio, dati: &Dati) -> Value {
    serde_json::json!({
        "pagamentoSpontaneo": {
            "idServizio": servizio.id_servizio,
            "idSoggettoServizio": servizio.id_soggetto_servizio,
            "dati": dati.json(),
        }
    })
}

/// The position of a fixed or table service, as a gestionale would load it (Varco validates
/// it with the same rules): one item of `importo` to the service's entrata, payable until
/// `scadenza`.
pub fn nuova_pendenza(
    config: &Config,
    servizio: &Servizio,
    dati: &Dati,
    importo: Cents,
    scadenza: NaiveDate,
) -> NuovaPendenza {
    NuovaPendenza {
        id_tipo_pendenza: Some(servizio.tipo_pendenza.clone()),
        id_dominio: servizio.dominio.clone(),
        causale: causale(servizio, dati),
        soggetto_pagatore: soggetto(servizio, dati),
        importo,
        data_scadenza: Some(scadenza.to_string()),
        dati_allegati: Some(dati_allegati(servizio, dati)),
        voci: vec![NuovaVoce {
            id_voce_pendenza: "1".into(),
            importo,
            descrizione: servizio.descrizione.chars().take(255).collect(),
            cod_entrata: servizio.entrata(config).map(str::to_owned),
            ..NuovaVoce::default()
        }],
        ..NuovaPendenza::default()
    }
}
