//! From a `NuovaPendenza` to a domain `Pendenza`: every rule of API Pendenze v2, each refusal
//! naming its field and GovPay's code ([`Refusal`]); and GovPay's rules for updating a stored
//! position. The REST API turns a refusal into a `FaultBean`; verification on the fly into a
//! refused answer.

use super::faults::{self, Who};
use super::pendenza::{NuovaPendenza, NuovaVoce, SoggettoJson};
use crate::config::{Config, Dominio};
use crate::domain::MAX_CENTS;
use crate::domain::NoticeNumber;
use crate::domain::documento::Documento;
use crate::domain::{Accredito, Dettagli, OrigineVoce, Pendenza, Soggetto, Stato, Voce, iban};
use crate::domain::{TipoContabilita, transfer_category};
use chrono::{DateTime, NaiveDate, Utc};
use regex::Regex;
use serde_json::Value;
use std::sync::LazyLock;

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
    /// A configured application as a caller.
    pub fn of(app: &crate::config::Applicazione) -> Self {
        Self {
            id_a2a: app.id_a2a.clone(),
            domini: app.domini.clone(),
            tipi_pendenza: app.tipi_pendenza.clone(),
        }
    }

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

pub use super::faults::Refusal;

fn bad(field: &str, why: impl std::fmt::Display) -> Refusal {
    Refusal::syntax(field, why)
}

/// A text of `min..=max` characters (counted as characters), without control characters but
/// tab and line breaks; kept trimmed. An empty or blank text breaks `min >= 1`.
fn text(field: &str, value: &str, min: usize, max: usize) -> Result<String, Refusal> {
    let v = value.trim();
    if v.chars().count() < min {
        return Err(if min == 1 {
            bad(field, "must not be empty")
        } else {
            bad(field, format!("must be at least {min} characters"))
        });
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

/// An optional text: absent is fine, present must be `min..=max` (so `""` is refused where
/// the API says `minLength: 1`).
fn opt_text(
    field: &str,
    value: &Option<String>,
    min: usize,
    max: usize,
) -> Result<Option<String>, Refusal> {
    value
        .as_deref()
        .map(|v| text(field, v, min, max))
        .transpose()
}

/// `value` must match `re` entirely; `what` says what it should look like. The refusal does
/// not repeat the value: it may be personal data (an e-mail, a phone number).
fn pattern(field: &str, value: &str, re: &Regex, what: &str) -> Result<(), Refusal> {
    if re.is_match(value) {
        Ok(())
    } else {
        Err(bad(field, format!("must be {what}")))
    }
}

fn regex(re: &str) -> Regex {
    Regex::new(re).expect("a constant regular expression")
}

/// GovPay's `(^[a-zA-Z0-9\-_]{1,35}$)`: idA2A, idPendenza, idVocePendenza, idUnitaOperativa.
pub fn identifier(field: &str, value: &str) -> Result<(), Refusal> {
    if crate::config::is_code(value) {
        Ok(())
    } else {
        Err(bad(
            field,
            format!("{value:?} must be 1 to 35 letters, digits, '-' or '_'"),
        ))
    }
}

/// GovPay's `(^[a-zA-Z0-9\-_\.]{1,35}$)`: idTipoPendenza, codEntrata.
fn dotted_code(field: &str, value: &str) -> Result<(), Refusal> {
    static RE: LazyLock<Regex> = LazyLock::new(|| regex(r"^[a-zA-Z0-9\-_.]{1,35}$"));
    pattern(
        field,
        value,
        &RE,
        "1 to 35 letters, digits, '-', '_' or '.'",
    )
}

/// Deepest nesting accepted in the opaque JSON a position carries (`datiAllegati`,
/// `documento`, `proprieta`, and an item's `contabilita` and `datiAllegati`). The store keeps
/// positions as JSON, where these values sit deeper than in the request, and JSON readers stop
/// at 128 levels: a deeper value would be stored, answered 201, and never read back.
pub const MAX_OPAQUE_DEPTH: usize = 32;

fn json_depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(json_depth).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(json_depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Free-form data GovPay keeps as the gestionale sent it (any JSON value), nested at most
/// [`MAX_OPAQUE_DEPTH`] levels.
fn opaque(field: &str, value: &Option<Value>) -> Result<(), Refusal> {
    match value {
        None => Ok(()),
        Some(v) if json_depth(v) > MAX_OPAQUE_DEPTH => Err(bad(
            field,
            format!("must not be nested more than {MAX_OPAQUE_DEPTH} levels deep"),
        )),
        Some(_) => Ok(()),
    }
}

/// A calendar day, `YYYY-MM-DD` (a date-time is taken for its day, as GovPay clients send).
fn day(field: &str, value: &str) -> Result<NaiveDate, Refusal> {
    let head = value.get(..10).unwrap_or(value);
    let rest = value.get(10..).unwrap_or("");
    let time_ok = rest.is_empty() || rest.starts_with('T');
    NaiveDate::parse_from_str(head, "%Y-%m-%d")
        .ok()
        .filter(|_| time_ok && head.len() == 10)
        .ok_or_else(|| bad(field, format!("{value:?} is not a date (YYYY-MM-DD)")))
}

fn date(field: &str, value: &Option<String>) -> Result<Option<NaiveDate>, Refusal> {
    value.as_deref().map(|v| day(field, v)).transpose()
}

/// Exactly two capital letters (`[A-Z]{2}`): a country, a stamp's province.
fn two_capitals(field: &str, value: &str) -> Result<String, Refusal> {
    static RE: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Z]{2}$"));
    pattern(field, value, &RE, "two capital letters")?;
    Ok(value.to_owned())
}

/// An amount read from a JSON number of free-form data (`contabilita.quote[].importo`):
/// its decimal text, at most two decimals, never through a float's arithmetic.
fn json_amount(field: &str, value: &Value) -> Result<i64, Refusal> {
    match value {
        Value::Number(n) => crate::domain::money::parse_decimal(&n.to_string())
            .ok_or_else(|| bad(field, format!("{n} must have at most two decimals"))),
        _ => Err(bad(field, "must be a number")),
    }
}

/// GovPay's e-mail rule.
fn email(field: &str, value: &str) -> Result<String, Refusal> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| regex(r"^[a-zA-Z0-9_.+\-]+@[a-zA-Z0-9\-]+(\.[a-zA-Z0-9\-]+)*$"));
    let v = text(field, value, 1, 256)?;
    pattern(field, &v, &RE, "an e-mail address")?;
    Ok(v)
}

/// The debtor. Its `identificativo` is kept as sent (up to 16 characters): a fiscal code
/// whose check character is wrong is still the code the tax office has, and pagoPA's schema
/// takes it.
fn soggetto(s: Option<&SoggettoJson>) -> Result<Soggetto, Refusal> {
    static CELLULARE: LazyLock<Regex> = LazyLock::new(|| regex(r"^\+[0-9]{2}\s[0-9]{3}-[0-9]{7}$"));
    let Some(s) = s else {
        return Ok(Soggetto::anonimo());
    };
    let f = |name: &str| format!("soggettoPagatore.{name}");
    let tipo = match s.tipo.as_deref() {
        None => String::new(),
        Some(t @ ("F" | "G")) => t.to_owned(),
        Some(other) => return Err(bad(&f("tipo"), format!("{other:?} must be F or G"))),
    };
    // A blank identifier or name is an unknown debtor, as GovPay reads it.
    let blank_is_anonymous =
        |field: &str, value: &Option<String>, max: usize| match value.as_deref().map(str::trim) {
            None | Some("") => Ok(crate::domain::ANONIMO.to_owned()),
            Some(v) => text(&f(field), v, 1, max),
        };
    let identificativo = blank_is_anonymous("identificativo", &s.identificativo, 16)?;
    let anagrafica = blank_is_anonymous("anagrafica", &s.anagrafica, 70)?;
    let cellulare = opt_text(&f("cellulare"), &s.cellulare, 1, 35)?;
    if let Some(c) = &cellulare {
        pattern(&f("cellulare"), c, &CELLULARE, "+CC NNN-NNNNNNN")?;
    }
    Ok(Soggetto {
        tipo,
        identificativo,
        anagrafica,
        indirizzo: opt_text(&f("indirizzo"), &s.indirizzo, 1, 70)?,
        civico: opt_text(&f("civico"), &s.civico, 1, 16)?,
        cap: opt_text(&f("cap"), &s.cap, 1, 16)?,
        localita: opt_text(&f("localita"), &s.localita, 1, 35)?,
        provincia: opt_text(&f("provincia"), &s.provincia, 1, 35)?,
        nazione: s
            .nazione
            .as_deref()
            .map(|n| two_capitals(&f("nazione"), n))
            .transpose()?,
        email: s
            .email
            .as_deref()
            .map(|e| email(&f("email"), e))
            .transpose()?,
        cellulare,
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

/// pagoPA's notice taxonomy, as GovPay's `TassonomiaAvviso` lists it.
pub const TASSONOMIE_AVVISO: [&str; 13] = [
    "Cartelle esattoriali",
    "Diritti e concessioni",
    "Imposte e tasse",
    "IMU, TASI e altre tasse comunali",
    "Ingressi a mostre e musei",
    "Multe e sanzioni amministrative",
    "Previdenza e infortuni",
    "Servizi erogati dal comune",
    "Servizi erogati da altri enti",
    "Servizi scolastici",
    "Tassa automobilistica",
    "Ticket e prestazioni sanitarie",
    "Trasporti, mobilità e parcheggi",
];

/// The request's context: who loads, into which domain, by which rules; and the semantic
/// rules found broken so far. Syntax is checked to the end before any of those is answered
/// (GovPay's order: 400 before 422), so a broken rule is noted here and the check goes on.
struct Ctx<'a> {
    config: &'a Config,
    who: Who<'a>,
    /// The request's `idDominio`.
    id_dominio: &'a str,
    rules: std::cell::RefCell<Vec<Refusal>>,
}

impl Ctx<'_> {
    /// Notes a broken rule (the first one noted is answered).
    fn broken(&self, rule: Refusal) {
        self.rules.borrow_mut().push(rule);
    }
}

/// A text field of free-form data: absent, or a string of 1..=`max` characters.
fn data_text(field: &str, value: Option<&Value>, max: usize) -> Result<(), Refusal> {
    match value {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) => text(field, s, 1, max).map(drop),
        Some(_) => Err(bad(field, "must be a string")),
    }
}

/// `contabilita`: its `quote` (each with `capitolo`, `annoEsercizio`, `importo`) must add up
/// to the item's amount (`VER_035`).
fn contabilita(ctx: &Ctx, i: usize, voce: &NuovaVoce) -> Result<(), Refusal> {
    let Some(c) = &voce.contabilita else {
        return Ok(());
    };
    let f = |name: &str| format!("voci[{i}].contabilita{name}");
    opaque(&f(""), &voce.contabilita)?;
    let quote = match c.get("quote") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(q)) => q,
        Some(_) => return Err(bad(&f(".quote"), "must be an array")),
    };
    let mut sum = 0i64;
    for (j, q) in quote.iter().enumerate() {
        let g = |name: &str| f(&format!(".quote[{j}].{name}"));
        if !q.is_object() {
            return Err(bad(&f(&format!(".quote[{j}]")), "must be an object"));
        }
        match q.get("capitolo") {
            Some(Value::String(_)) => data_text(&g("capitolo"), q.get("capitolo"), 64)?,
            _ => {
                return Err(bad(
                    &g("capitolo"),
                    "is required: a string of 1 to 64 characters",
                ));
            }
        }
        match q.get("annoEsercizio").and_then(Value::as_u64) {
            Some(1000..=9999) => {}
            _ => {
                return Err(bad(
                    &g("annoEsercizio"),
                    "is required: a year of four digits",
                ));
            }
        }
        let importo = q
            .get("importo")
            .ok_or_else(|| bad(&g("importo"), "is required"))?;
        sum += json_amount(&g("importo"), importo)?;
        for name in [
            "accertamento",
            "titolo",
            "tipologia",
            "categoria",
            "articolo",
        ] {
            data_text(&g(name), q.get(name), 64)?;
        }
        if let Some(custom) = q.get("proprietaCustom").filter(|c| !c.is_null())
            && !custom.is_object()
        {
            return Err(bad(&g("proprietaCustom"), "must be a JSON object"));
        }
    }
    if !quote.is_empty() && sum != voce.importo {
        ctx.broken(faults::quote_non_congrue(
            ctx.who,
            &voce.id_voce_pendenza,
            voce.importo,
            sum,
        ));
    }
    Ok(())
}

/// How an item is credited, by GovPay's precedence: `codEntrata`, else a stamp (any of its
/// three fields), else an account (any of its fields); the fields of another kind must be
/// absent.
fn accredito(
    ctx: &Ctx,
    i: usize,
    v: &NuovaVoce,
    creditore: &str,
) -> Result<(Accredito, String, OrigineVoce), Refusal> {
    static IBAN: LazyLock<Regex> =
        LazyLock::new(|| regex(r"^[a-zA-Z]{2}[0-9]{2}[a-zA-Z0-9]{1,30}$"));
    static CODICE: LazyLock<Regex> = LazyLock::new(|| regex(r"^\S{3,138}$"));
    let f = |name: &str| format!("voci[{i}].{name}");
    let account = [
        ("ibanAccredito", v.iban_accredito.is_some()),
        ("ibanAppoggio", v.iban_appoggio.is_some()),
        ("tipoContabilita", v.tipo_contabilita.is_some()),
        ("codiceContabilita", v.codice_contabilita.is_some()),
    ];
    // API Ente Creditore v2 names a stamp's or an account's accounting by pagoPA's taxonomy.
    let tassonomico = v
        .codice_tassonomico_pago_pa
        .as_deref()
        .map(|t| text(&f("codiceTassonomicoPagoPA"), t, 1, 140))
        .transpose()?;
    let stamp = [
        ("tipoBollo", v.tipo_bollo.is_some()),
        ("hashDocumento", v.hash_documento.is_some()),
        ("provinciaResidenza", v.provincia_residenza.is_some()),
    ];
    let none_of = |fields: &[(&str, bool)], kind: &str| -> Result<(), Refusal> {
        match fields.iter().find(|(_, present)| *present) {
            Some((name, _)) => Err(bad(&f(name), format!("must be absent in {kind}"))),
            None => Ok(()),
        }
    };
    if let Some(code) = &v.cod_entrata {
        dotted_code(&f("codEntrata"), code)?;
        none_of(&account, "an item with codEntrata")?;
        none_of(&stamp, "an item with codEntrata")?;
        let origine = OrigineVoce::Entrata {
            cod_entrata: code.clone(),
        };
        let Some(e) = ctx
            .config
            .dominio(creditore)
            .and_then(|d| d.entrate.iter().find(|e| &e.id == code))
        else {
            ctx.broken(faults::tributo_inesistente(code, creditore));
            let nowhere = Accredito::Iban {
                iban: String::new(),
                iban_postale: None,
                iban_appoggio: None,
            };
            return Ok((nowhere, String::new(), origine));
        };
        return Ok((
            Accredito::Iban {
                iban: e.iban.clone(),
                iban_postale: postal_of(&e.iban, e.iban_appoggio.as_deref()),
                iban_appoggio: e.iban_appoggio.clone(),
            },
            transfer_category(e.tipo_contabilita, &e.codice_contabilita),
            origine,
        ));
    }
    if stamp.iter().any(|(_, present)| *present) {
        none_of(&account, "a stamp (tipoBollo)")?;
        match v.tipo_bollo.as_deref() {
            Some("01") => {}
            Some(other) => return Err(bad(&f("tipoBollo"), format!("{other:?} must be \"01\""))),
            None => return Err(bad(&f("tipoBollo"), "is required for a stamp")),
        }
        let hash = v
            .hash_documento
            .as_deref()
            .ok_or_else(|| bad(&f("hashDocumento"), "is required for a stamp"))?;
        if !(4..=70).contains(&hash.len()) || !crate::soap::schema::is_base64(hash) {
            return Err(bad(
                &f("hashDocumento"),
                "must be the document's hash in base64, 4 to 70 characters",
            ));
        }
        let provincia = v
            .provincia_residenza
            .as_deref()
            .ok_or_else(|| bad(&f("provinciaResidenza"), "is required for a stamp"))?;
        return Ok((
            Accredito::Bollo {
                tipo_bollo: "01".into(),
                hash_documento: hash.to_owned(),
                provincia_residenza: two_capitals(&f("provinciaResidenza"), provincia)?,
            },
            "9/0301116TS/".to_owned(),
            OrigineVoce::Entrata {
                cod_entrata: "BOLLOT".into(),
            },
        ));
    }
    let Some(ib) = &v.iban_accredito else {
        return Err(bad(
            &f(if account.iter().any(|(_, p)| *p) {
                "ibanAccredito"
            } else {
                "codEntrata"
            }),
            "is required: an item needs codEntrata, ibanAccredito (with tipoContabilita and codiceContabilita) or a stamp (tipoBollo, hashDocumento, provinciaResidenza)",
        ));
    };
    // The shape of an IBAN here; its check digits need no test of their own: only the
    // creditor's configured accounts (each checked at startup) are accepted below.
    pattern(&f("ibanAccredito"), ib, &IBAN, "an IBAN")?;
    if let Some(app) = &v.iban_appoggio {
        pattern(&f("ibanAppoggio"), app, &IBAN, "an IBAN")?;
    }
    let (category, origine) = match (&tassonomico, &v.tipo_contabilita, &v.codice_contabilita) {
        (Some(codice), None, None) => (
            codice.clone(),
            OrigineVoce::Tassonomia {
                codice_tassonomico: codice.clone(),
            },
        ),
        _ => {
            let tipo_raw = v
                .tipo_contabilita
                .as_deref()
                .ok_or_else(|| bad(&f("tipoContabilita"), "is required with ibanAccredito"))?;
            let tipo = tipo_contabilita(&f("tipoContabilita"), tipo_raw)?;
            let codice = v
                .codice_contabilita
                .as_deref()
                .ok_or_else(|| bad(&f("codiceContabilita"), "is required with ibanAccredito"))?;
            pattern(
                &f("codiceContabilita"),
                codice,
                &CODICE,
                "3 to 138 characters without spaces",
            )?;
            (
                transfer_category(tipo, codice),
                OrigineVoce::Iban {
                    tipo_contabilita: tipo_raw.to_owned(),
                    codice_contabilita: codice.to_owned(),
                },
            )
        }
    };
    // Money goes only to the creditor's own accounts.
    let owner = ctx.config.creditore(creditore);
    if !owner.is_some_and(|c| c.has_account(ib)) {
        ctx.broken(faults::iban_accredito_non_censito(creditore, ib));
    }
    if let Some(app) = &v.iban_appoggio
        && !owner.is_some_and(|c| c.has_account(app))
    {
        ctx.broken(faults::iban_appoggio_non_censito(creditore, app));
    }
    let accredito = Accredito::Iban {
        iban: ib.clone(),
        iban_postale: postal_of(ib, v.iban_appoggio.as_deref()),
        iban_appoggio: v.iban_appoggio.clone(),
    };
    Ok((accredito, category, origine))
}

fn voce(ctx: &Ctx, i: usize, v: &NuovaVoce) -> Result<Voce, Refusal> {
    let f = |name: &str| format!("voci[{i}].{name}");
    identifier(&f("idVocePendenza"), &v.id_voce_pendenza)?;
    if v.importo < 1 {
        return Err(bad(&f("importo"), "must be at least 0.01"));
    }
    let descrizione = text(&f("descrizione"), &v.descrizione, 1, 255)?;
    let causale_rpt = opt_text(
        &f("descrizioneCausaleRPT"),
        &v.descrizione_causale_rpt,
        1,
        140,
    )?;
    opaque(&f("datiAllegati"), &v.dati_allegati)?;
    // A voce credits the position's creditor, or another one (multi-beneficiary).
    let dominio = match &v.id_dominio {
        None => ctx.id_dominio.to_owned(),
        Some(d) => {
            if !crate::domain::fiscal::is_fiscal_code_pa(d) {
                return Err(bad(&f("idDominio"), format!("{d:?} must be 11 digits")));
            }
            if ctx.config.creditore(d).is_none() {
                ctx.broken(faults::dominio_inesistente(d));
            }
            d.clone()
        }
    };
    let (accredito, category, origine) = accredito(ctx, i, v, &dominio)?;
    if matches!(accredito, Accredito::Bollo { .. }) && dominio != ctx.id_dominio {
        return Err(bad(
            &f("idDominio"),
            "a stamp is paid to the position's own creditor",
        ));
    }
    contabilita(ctx, i, v)?;
    let mut metadata = Vec::new();
    if let Some(m) = &v.metadata {
        if m.map_entries.is_empty() || m.map_entries.len() > 15 {
            return Err(bad(&f("metadata.mapEntries"), "must hold 1 to 15 entries"));
        }
        for (j, e) in m.map_entries.iter().enumerate() {
            let g = |name: &str| f(&format!("metadata.mapEntries[{j}].{name}"));
            metadata.push((
                text(&g("key"), &e.key, 1, 140)?,
                text(&g("value"), &e.value, 1, 140)?,
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

/// `proprieta`: the printing and receipt options GovPay knows, each checked.
fn proprieta(value: &Option<Value>) -> Result<(), Refusal> {
    let Some(p) = value else {
        return Ok(());
    };
    opaque("proprieta", value)?;
    let f = |name: &str| format!("proprieta.{name}");
    match p.get("linguaSecondaria") {
        None | Some(Value::Null) => {}
        Some(Value::String(l)) if matches!(l.as_str(), "false" | "de" | "en" | "fr" | "sl") => {}
        Some(other) => {
            return Err(bad(
                &f("linguaSecondaria"),
                format!("{other} must be one of \"false\", \"de\", \"en\", \"fr\", \"sl\""),
            ));
        }
    }
    for name in [
        "informativaImportoAvviso",
        "linguaSecondariaInformativaImportoAvviso",
    ] {
        match p.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.chars().count() <= 255 => {}
            Some(_) => return Err(bad(&f(name), "must be a string of at most 255 characters")),
        }
    }
    for name in [
        "lineaTestoRicevuta1",
        "lineaTestoRicevuta2",
        "linguaSecondariaCausale",
    ] {
        match p.get(name) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(_) => return Err(bad(&f(name), "must be a string")),
        }
    }
    match p.get("dataScandenzaAvviso") {
        None | Some(Value::Null) => {}
        Some(Value::String(d)) => drop(day(&f("dataScandenzaAvviso"), d)?),
        Some(_) => {
            return Err(bad(
                &f("dataScandenzaAvviso"),
                "must be a date (YYYY-MM-DD)",
            ));
        }
    }
    match p.get("descrizioneImporto") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (j, item) in items.iter().enumerate() {
                let g = |name: &str| f(&format!("descrizioneImporto[{j}].{name}"));
                data_text(&g("voce"), item.get("voce"), 255)?;
                if let Some(imp) = item.get("importo").filter(|v| !v.is_null()) {
                    json_amount(&g("importo"), imp)?;
                }
            }
        }
        Some(_) => return Err(bad(&f("descrizioneImporto"), "must be an array")),
    }
    Ok(())
}

/// `documento`: the document `identificativo` a position belongs to, as an instalment
/// (`rata` ≥ 1), a deadline (`soglia`), or neither (a single payment of the document).
fn documento(value: &Option<Value>) -> Result<(), Refusal> {
    let Some(d) = value else {
        return Ok(());
    };
    opaque("documento", value)?;
    match d.get("identificativo") {
        Some(Value::String(s)) => {
            identifier("documento.identificativo", s)?;
        }
        _ => {
            return Err(bad(
                "documento.identificativo",
                "is required: 1 to 35 characters",
            ));
        }
    }
    match d.get("descrizione") {
        Some(Value::String(s)) => drop(text("documento.descrizione", s, 1, 80)?),
        _ => {
            return Err(bad(
                "documento.descrizione",
                "is required: 1 to 80 characters",
            ));
        }
    }
    let rata = d.get("rata").filter(|v| !v.is_null());
    let soglia = d.get("soglia").filter(|v| !v.is_null());
    match (rata, soglia) {
        (Some(r), None) => match r.as_u64() {
            Some(1..) => Ok(()),
            _ => Err(bad("documento.rata", "must be an integer from 1")),
        },
        // ENTRO / OLTRE a number of days; RIDOTTO / SCONTATO (reduced or discounted fines of
        // the Highway Code) carry none.
        (None, Some(s)) => match (s.get("tipo").and_then(Value::as_str), s.get("giorni")) {
            (Some("ENTRO" | "OLTRE"), Some(g)) if g.as_u64().is_some_and(|g| g >= 1) => Ok(()),
            (Some("ENTRO" | "OLTRE"), _) => Err(bad(
                "documento.soglia.giorni",
                "must be an integer from 1 with ENTRO or OLTRE",
            )),
            (Some("RIDOTTO" | "SCONTATO"), None | Some(Value::Null)) => Ok(()),
            (Some("RIDOTTO" | "SCONTATO"), Some(_)) => Err(bad(
                "documento.soglia.giorni",
                "must be absent with RIDOTTO or SCONTATO",
            )),
            _ => Err(bad(
                "documento.soglia.tipo",
                "must be ENTRO, OLTRE, RIDOTTO or SCONTATO",
            )),
        },
        (Some(_), Some(_)) => Err(bad("documento.soglia", "must not come with rata")),
        (None, None) => Ok(()),
    }?;
    match d.get("piano").filter(|v| !v.is_null()) {
        None => Ok(()),
        Some(_) if rata.is_none() => Err(bad(
            "documento.piano",
            "names an instalment plan: it needs rata",
        )),
        Some(Value::String(s)) => identifier("documento.piano", s),
        Some(_) => Err(bad("documento.piano", "must be 1 to 35 characters")),
    }
}

/// The typed document of a request `documento` that [`documento`] accepted.
fn typed_documento(value: &Option<Value>) -> Result<Option<Documento>, Refusal> {
    value
        .clone()
        .map(without_nulls)
        .map(serde_json::from_value::<Documento>)
        .transpose()
        .map_err(|e| bad("documento", e.to_string()))
}

/// `allegati`: each with `nome` (1..255), `contenuto` (base64), optional `tipo` and
/// `descrizione` (1..255).
fn allegati(value: &Option<Value>) -> Result<(), Refusal> {
    let items = match value {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(bad("allegati", "must be an array")),
    };
    for (i, a) in items.iter().enumerate() {
        let f = |name: &str| format!("allegati[{i}].{name}");
        if !a.is_object() {
            return Err(bad(&format!("allegati[{i}]"), "must be an object"));
        }
        match a.get("nome") {
            Some(Value::String(n)) => drop(text(&f("nome"), n, 1, 255)?),
            _ => return Err(bad(&f("nome"), "is required: 1 to 255 characters")),
        }
        data_text(&f("tipo"), a.get("tipo"), 255)?;
        data_text(&f("descrizione"), a.get("descrizione"), 255)?;
        match a.get("contenuto") {
            Some(Value::String(c)) if crate::soap::schema::is_base64(c) => {}
            _ => return Err(bad(&f("contenuto"), "is required: the content in base64")),
        }
    }
    Ok(())
}

/// `value` without its object members that are null, at any depth.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// The tipo pendenza of a request: its own, else the one named like the entrata of its only
/// item, else `LIBERO` (GovPay's choices).
fn tipo_pendenza(config: &Config, r: &NuovaPendenza) -> String {
    if let Some(t) = &r.id_tipo_pendenza {
        return t.clone();
    }
    match r.voci.as_slice() {
        [only] => only
            .cod_entrata
            .as_ref()
            .filter(|e| config.tipi_pendenza.iter().any(|t| &&t.id == e))
            .cloned()
            .unwrap_or_else(|| "LIBERO".into()),
        _ => "LIBERO".into(),
    }
}

/// The notice number a gestionale supplies, checked in GovPay's order.
fn numero_avviso(ctx: &Ctx, dominio: &Dominio, n: &str) -> Result<NoticeNumber, Refusal> {
    let nav = NoticeNumber::parse(n).map_err(|_| faults::iuv_non_conforme(n))?;
    if let Some(app) = nav.application_code()
        && dominio.application_code.as_deref() != Some(app)
    {
        let stazione = ctx.config.stazione_of(&dominio.id).unwrap_or_default();
        return Err(faults::application_code_non_valido(n, app, stazione));
    }
    if let Some(seg) = nav.segregation_code()
        && !dominio.segregation_codes.iter().any(|s| s == seg)
    {
        return Err(faults::segregation_code_non_valido(n, seg, &dominio.id));
    }
    if nav.aux_digit() != dominio.aux_digit {
        return Err(faults::aux_digit_diverso(
            ctx.who,
            n,
            dominio.aux_digit,
            &dominio.id,
        ));
    }
    if !dominio.legacy_notice_numbers {
        nav.verify_check_digits()
            .map_err(|_| faults::iuv_non_conforme(n))?;
    }
    Ok(nav)
}

/// Validates a `NuovaPendenza` for `caller`: syntax first (400), then GovPay's semantic rules
/// (422), the caller's rights (403) between them where GovPay checks them.
pub fn nuova_pendenza(
    config: &Config,
    caller: &Caller,
    id_pendenza: &str,
    r: &NuovaPendenza,
    now: DateTime<Utc>,
) -> Result<Validated, Refusal> {
    static DOMINIO: LazyLock<Regex> = LazyLock::new(|| regex(r"^[0-9]{11}$"));
    identifier("idPendenza", id_pendenza)?;
    let who = Who {
        a2a: &caller.id_a2a,
        id: id_pendenza,
    };
    // Syntax of every field before any rule.
    pattern("idDominio", &r.id_dominio, &DOMINIO, "11 digits")?;
    let tipo = tipo_pendenza(config, r);
    dotted_code("idTipoPendenza", &tipo)?;
    if let Some(uo) = &r.id_unita_operativa {
        identifier("idUnitaOperativa", uo)?;
    }
    let nome = opt_text("nome", &r.nome, 1, 35)?;
    let causale = text("causale", &r.causale, 1, 140)?;
    let soggetto = soggetto(r.soggetto_pagatore.as_ref())?;
    if r.importo > MAX_CENTS {
        return Err(bad("importo", "must be at most 999999999.99"));
    }
    if let Some(n) = &r.numero_avviso {
        static NUMERO: LazyLock<Regex> = LazyLock::new(|| regex(r"^[0-9]{18}$"));
        pattern("numeroAvviso", n, &NUMERO, "18 digits")?;
    }
    let data_validita = date("dataValidita", &r.data_validita)?;
    let data_scadenza = date("dataScadenza", &r.data_scadenza)?;
    let data_notifica_avviso = date("dataNotificaAvviso", &r.data_notifica_avviso)?;
    let data_promemoria_scadenza = date("dataPromemoriaScadenza", &r.data_promemoria_scadenza)?;
    if let Some(anno) = r.anno_riferimento
        && !(1000..=9999).contains(&anno)
    {
        return Err(bad(
            "annoRiferimento",
            format!("{anno} must be a year of four digits"),
        ));
    }
    let tassonomia = opt_text("tassonomia", &r.tassonomia, 1, 35)?;
    if let Some(t) = &r.tassonomia_avviso
        && !TASSONOMIE_AVVISO.contains(&t.as_str())
    {
        return Err(bad(
            "tassonomiaAvviso",
            format!("{t:?} is not one of pagoPA's notice taxonomies"),
        ));
    }
    let direzione = opt_text("direzione", &r.direzione, 1, 35)?;
    let divisione = opt_text("divisione", &r.divisione, 1, 35)?;
    let cartella_pagamento = opt_text("cartellaPagamento", &r.cartella_pagamento, 1, 35)?;
    opaque("datiAllegati", &r.dati_allegati)?;
    documento(&r.documento)?;
    proprieta(&r.proprieta)?;
    allegati(&r.allegati)?;
    if r.voci.is_empty() || r.voci.len() > 5 {
        return Err(bad(
            "voci",
            format!("must hold 1 to 5 items, found {}", r.voci.len()),
        ));
    }
    // GovPay's semantic rules, in its order, noted while the items' syntax is checked.
    let dominio = config.dominio(&r.id_dominio);
    let ctx = Ctx {
        config,
        who,
        id_dominio: &r.id_dominio,
        rules: std::cell::RefCell::default(),
    };
    match dominio {
        None => ctx.broken(faults::dominio_inesistente(&r.id_dominio)),
        Some(d) if !caller.may_use_domain(&d.id) => ctx.broken(Refusal::Forbidden(format!(
            "application {} may not use dominio {}",
            caller.id_a2a, d.id
        ))),
        Some(d) => {
            if let Some(uo) = &r.id_unita_operativa
                && !d.unita_operative.iter().any(|u| &u.id == uo)
            {
                ctx.broken(faults::unita_inesistente(uo, &d.id));
            }
        }
    }
    if !config.tipi_pendenza.iter().any(|t| t.id == tipo) {
        ctx.broken(faults::tipo_inesistente(&tipo));
    } else if !caller.may_use_tipo(&tipo) {
        ctx.broken(faults::tipo_non_autorizzato());
    }
    let mut voci = Vec::with_capacity(r.voci.len());
    for (i, v) in r.voci.iter().enumerate() {
        if r.voci[..i]
            .iter()
            .any(|w| w.id_voce_pendenza == v.id_voce_pendenza)
        {
            ctx.broken(faults::voce_ripetuta(who, &v.id_voce_pendenza));
        }
        voci.push(voce(&ctx, i, v)?);
    }
    // Every field fits the syntax: now the first rule broken, if any.
    if let Some(first) = ctx.rules.take().into_iter().next() {
        return Err(first);
    }
    let Some(dominio) = dominio else {
        return Err(faults::dominio_inesistente(&r.id_dominio));
    };
    let sum: i64 = voci.iter().map(|v| v.importo).sum();
    if r.importo != sum || sum > MAX_CENTS {
        return Err(faults::importo_non_congruo(who, r.importo, sum));
    }
    let (iuv, numero_avviso, generate) = match &r.numero_avviso {
        Some(n) => {
            let nav = numero_avviso(&ctx, dominio, n)?;
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
    let dettagli = Dettagli {
        id_unita_operativa: r.id_unita_operativa.clone(),
        anno_riferimento: r.anno_riferimento,
        tassonomia,
        tassonomia_avviso: r.tassonomia_avviso.clone(),
        direzione,
        divisione,
        dati_allegati: r.dati_allegati.clone(),
        // GovPay keeps a document's fields, not the nulls it was sent with.
        documento: typed_documento(&r.documento)?,
        proprieta: r.proprieta.clone(),
        nome,
        cartella_pagamento,
        data_notifica_avviso,
        data_promemoria_scadenza,
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
            id_tipo_pendenza: tipo,
            causale,
            soggetto,
            importo: sum,
            data_validita,
            data_scadenza,
            voci,
            stato: Stato::NonEseguita,
            anomala: false,
            anomalie: vec![],
            fuori_piano: false,
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
    let who = Who {
        a2a: existing.id_a2a.as_deref().unwrap_or_default(),
        id: existing.id_pendenza.as_deref().unwrap_or_default(),
    };
    let unita = |p: &Pendenza| p.dettagli.id_unita_operativa.clone().unwrap_or_default();
    if req.dominio != existing.dominio || unita(req) != unita(existing) {
        return Err(faults::beneficiario_diverso(
            who,
            (&req.dominio, &unita(req)),
            (&existing.dominio, &unita(existing)),
        ));
    }
    if new.generate.is_none() && req.numero_avviso != existing.numero_avviso {
        return Err(faults::numero_avviso_diverso(
            who,
            &req.numero_avviso,
            &existing.numero_avviso,
        ));
    }
    // The stored items stay, each credited as before (their amounts and texts may change);
    // new ones are appended.
    if req.voci.len() < existing.voci.len() {
        return Err(faults::numero_voci_diverso(
            who,
            req.voci.len(),
            existing.voci.len(),
        ));
    }
    let mut voci = Vec::with_capacity(req.voci.len());
    for old in &existing.voci {
        let Some(v) = req.voci.iter().find(|v| v.id_voce == old.id_voce) else {
            return Err(faults::voce_mancante(who, &old.id_voce));
        };
        if v.origine != old.origine
            || std::mem::discriminant(&v.accredito) != std::mem::discriminant(&old.accredito)
        {
            return Err(faults::tributo_diverso(
                who,
                &old.id_voce,
                &kind_of(v),
                &kind_of(old),
            ));
        }
        if v.accredito != old.accredito {
            return Err(faults::iban_diverso(who, &old.id_voce));
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
        return Err(faults::non_aggiornabile(who));
    }
    // Loading an ANNULLATA position again brings it back to NON_ESEGUITA, and the reason it
    // was cancelled no longer holds.
    if existing.stato == Stato::Annullata {
        next.dettagli.descrizione_stato = None;
    }
    next.stato = Stato::NonEseguita;
    next.updated_at = now;
    Ok(Some(next))
}

/// How an item is credited, in words for `VER_007`.
fn kind_of(v: &Voce) -> String {
    match (&v.origine, &v.accredito) {
        (_, Accredito::Bollo { .. }) => "BOLLOT".into(),
        (Some(OrigineVoce::Entrata { cod_entrata }), _) => cod_entrata.clone(),
        _ => "IBAN".into(),
    }
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

    /// GovPay's code and, for a syntax refusal, the field named.
    fn refusal(edit: impl FnOnce(&mut Value)) -> (String, String) {
        match check(&demo(), edit).unwrap_err() {
            Refusal::Syntax { campo, .. } => ("SINTASSI".into(), campo),
            Refusal::Rule { codice, dettaglio } => (codice, dettaglio),
            other => panic!("expected a refusal of the request, got {other:?}"),
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
    fn each_broken_rule_names_its_field_or_says_govpays_text() {
        // (JSON pointer, value put there, GovPay's code, the field named or the text given)
        let cases = [
            (
                "/importo",
                json!(120.49),
                "VER_002",
                "La pendenza (IdA2A:demo, Id:tari-1) ha un importo totale (120.49) diverso dalla somma dei singoli importi (120.5)",
            ),
            ("/voci", json!([]), "SINTASSI", "voci"),
            (
                "/voci/1/idVocePendenza",
                json!("tari"),
                "VER_001",
                "La pendenza (IdA2A:demo, Id:tari-1) presenta il codSingoloVersamentoEnte (tari) piu' di una volta",
            ),
            ("/causale", json!("  "), "SINTASSI", "causale"),
            (
                "/dataValidita",
                json!("2030-19-40"),
                "SINTASSI",
                "dataValidita",
            ),
            (
                "/idDominio",
                json!("00000000000"),
                "DOM_000",
                "Dominio (00000000000) inesistente",
            ),
            ("/idDominio", json!("0000000000"), "SINTASSI", "idDominio"),
            (
                "/idTipoPendenza",
                json!("NESSUNO"),
                "TVR_000",
                "Tipo pendenza (NESSUNO) inesistente",
            ),
            (
                "/voci/1/ibanAccredito",
                json!("IT57X0306909606100000000001"),
                "VER_020",
                "Iban di accredito (IT57X0306909606100000000001) non censito per il dominio (77777777777)",
            ),
            (
                "/voci/0/codEntrata",
                json!("XXX"),
                "TRB_000",
                "Tributo (XXX) inesistente per il dominio (77777777777)",
            ),
            (
                "/numeroAvviso",
                json!("001000000000000164"),
                "VER_026",
                "Lo IUV (001000000000000164) non e' conforme alle specifiche agid, application code (01) non valido per la stazione (77777777777_01)",
            ),
            (
                "/numeroAvviso",
                json!("123456789248953761"),
                "VER_039",
                "Il carattere iniziale del numero avviso (123456789248953761) indicato per la pendenza (IdA2A:demo Id:tari-1) non coincide con l'aux digit (3) impostato per l'Ente Creditore (77777777777).",
            ),
            (
                "/numeroAvviso",
                json!("301000000000000145"),
                "VER_017",
                "Lo IUV (301000000000000145) non e' conforme alle specifiche agid",
            ),
            (
                "/numeroAvviso",
                json!("399000000000000144"),
                "VER_027",
                "Lo IUV (399000000000000144) non e' conforme alle specifiche agid, segregaton code (99) non valido per il dominio (77777777777)",
            ),
            (
                "/numeroAvviso",
                json!("ABC000000000000000"),
                "SINTASSI",
                "numeroAvviso",
            ),
        ];
        for (pointer, value, codice, named) in cases {
            let edit = |b: &mut Value| match pointer.strip_prefix("/numeroAvviso") {
                Some(_) => b["numeroAvviso"] = value,
                None => *b.pointer_mut(pointer).unwrap() = value,
            };
            let (c, n) = refusal(edit);
            assert_eq!((c.as_str(), n.as_str()), (codice, named), "{pointer}");
        }
        assert!(identifier("idPendenza", "a/b").is_err());
        assert!(identifier("idPendenza", "a.b").is_err());
        assert!(identifier("idPendenza", &"x".repeat(36)).is_err());
        assert!(identifier("idPendenza", "tari-2026_1").is_ok());
    }

    #[test]
    fn syntax_is_answered_before_any_rule() {
        // An unknown creditor, an unknown entrata and a foreign account, and one field out of
        // shape: the syntax refusal (400) comes first.
        let (codice, campo) = refusal(|b| {
            b["idDominio"] = json!("00000000000");
            b["voci"][0]["codEntrata"] = json!("XXX");
            b["voci"][1]["codiceContabilita"] = json!("X X");
        });
        assert_eq!(
            (codice.as_str(), campo.as_str()),
            ("SINTASSI", "voci[1].codiceContabilita")
        );
        // Without it, the first rule in GovPay's order.
        let (codice, _) = refusal(|b| {
            b["voci"][0]["codEntrata"] = json!("XXX");
            b["voci"][1]["ibanAccredito"] = json!("IT57X0306909606100000000001");
        });
        assert_eq!(codice, "TRB_000");
    }

    #[test]
    fn what_govpay_accepts_is_accepted() {
        // A fiscal code with a wrong check character is kept as sent.
        let v = check(&demo(), |b| {
            b["soggettoPagatore"]["identificativo"] = json!("RSSMRA80A01H501X");
        })
        .unwrap();
        assert_eq!(v.pendenza.soggetto.identificativo, "RSSMRA80A01H501X");
        // No debtor: anonymous.
        let v = check(&demo(), |b| {
            b.as_object_mut().unwrap().remove("soggettoPagatore");
        })
        .unwrap();
        assert_eq!(v.pendenza.soggetto, Soggetto::anonimo());
        // A blank name is anonymous too.
        let v = check(&demo(), |b| {
            b["soggettoPagatore"]["anagrafica"] = json!(" ")
        })
        .unwrap();
        assert_eq!(v.pendenza.soggetto.anagrafica, "ANONIMO");
        // A validity day after the due date (the notice is simply expired).
        check(&demo(), |b| b["dataValidita"] = json!("2027-02-01")).unwrap();
        // Free-form data of any JSON kind.
        check(&demo(), |b| b["datiAllegati"] = json!([10, 20])).unwrap();
    }

    #[test]
    fn quote_must_add_up_to_their_item() {
        let quote = |importi: [f64; 2]| {
            move |b: &mut Value| {
                b["voci"][1]["contabilita"] = json!({"quote": [
                    {"capitolo": "c1", "annoEsercizio": 2026, "importo": importi[0]},
                    {"capitolo": "c2", "annoEsercizio": 2026, "importo": importi[1]},
                ]});
            }
        };
        check(&demo(), quote([20.0, 0.5])).unwrap();
        assert_eq!(
            refusal(quote([20.0, 0.49])),
            (
                "VER_035".into(),
                "La voce (tefa) della pendenza (IdA2A:demo, Id:tari-1) ha un importo (20.5) diverso dalla somma dei singoli importi definiti nella lista delle contabilita' (20.49)".into()
            )
        );
        let (c, f) = refusal(|b| {
            b["voci"][1]["contabilita"] =
                json!({"quote": [{"capitolo": "c1", "annoEsercizio": 12345, "importo": 20.5}]});
        });
        assert_eq!(
            (c.as_str(), f.as_str()),
            ("SINTASSI", "voci[1].contabilita.quote[0].annoEsercizio")
        );
    }

    #[test]
    fn an_application_is_held_to_its_domains_and_kinds() {
        let mut caller = demo();
        caller.domini = vec!["11111111111".into()];
        assert!(matches!(check(&caller, |_| {}), Err(Refusal::Forbidden(_))));
        let mut caller = demo();
        caller.tipi_pendenza = vec!["ALTRO".into()];
        assert_eq!(check(&caller, |_| {}).unwrap_err().codice(), "VER_022");
    }

    #[test]
    fn updates_follow_govpays_rules() {
        let now = Utc::now();
        let number = |b: &mut Value| b["numeroAvviso"] = json!("301000000000000144");
        let stored = check(&demo(), number).unwrap().pendenza;
        let code = |r: Result<Option<Pendenza>, Refusal>| match r {
            Err(Refusal::Rule { codice, .. }) => codice,
            other => panic!("expected a refusal, got {other:?}"),
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
        // Fewer items, a missing item, a moved account, a new number: refused.
        let fewer = check(&demo(), |b| {
            number(b);
            b["voci"] = json!([b["voci"][0].clone()]);
            b["importo"] = json!(100.00);
        })
        .unwrap();
        assert_eq!(code(update(&stored, &fewer, now)), "VER_005");
        let renamed = check(&demo(), |b| {
            number(b);
            b["voci"][1]["idVocePendenza"] = json!("tefa-2");
        })
        .unwrap();
        assert_eq!(code(update(&stored, &renamed, now)), "VER_006");
        let moved = check(&demo(), |b| {
            number(b);
            b["voci"][1]["ibanAccredito"] = json!("IT70X0760101600000012345678");
        })
        .unwrap();
        assert_eq!(code(update(&stored, &moved, now)), "VER_023");
        let renumbered = check(&demo(), |b| b["numeroAvviso"] = json!("301000000000001053"));
        assert_eq!(code(update(&stored, &renumbered.unwrap(), now)), "VER_024");
        // An added item is appended.
        let more = check(&demo(), |b| {
            number(b);
            let mut extra = b["voci"][1].clone();
            extra["idVocePendenza"] = json!("extra");
            b["voci"].as_array_mut().unwrap().insert(0, extra);
            b["importo"] = json!(141.00);
        })
        .unwrap();
        let grown = update(&stored, &more, now).unwrap().unwrap();
        assert_eq!(
            grown
                .voci
                .iter()
                .map(|v| v.id_voce.as_str())
                .collect::<Vec<_>>(),
            ["tari", "tefa", "extra"]
        );
        // A paid position takes the same request again, and refuses a change.
        let mut paid = stored.clone();
        paid.stato = Stato::Eseguita;
        assert_eq!(update(&paid, &same, now), Ok(None));
        assert_eq!(code(update(&paid, &causale, now)), "VER_003");
        // A cancelled one loaded again is open again, and forgets why it was cancelled.
        let mut cancelled = stored.clone();
        cancelled.stato = Stato::Annullata;
        cancelled.dettagli.descrizione_stato = Some("Sgravio".into());
        let reopened = update(&cancelled, &same, now).unwrap().unwrap();
        assert_eq!(reopened.stato, Stato::NonEseguita);
        assert_eq!(reopened.dettagli.descrizione_stato, None);
    }
}
