//! `[[servizi]]`: services a citizen pays at a PSP without a notice (pagoPA's
//! `paDemandPaymentNotice`). Each names its entry in pagoPA's service catalogue, the creditor and
//! tipo pendenza it creates positions for, the schema its service data must satisfy, and how the
//! amount is found.

use crate::soap::xsd::Schema;
use anyhow::{Context, bail};
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// The schemas compiled into the binary, named `builtin:<name>` in `xsd`: Varco's own texts of
/// the structures of pagoPA's catalogue examples, and the generic property-list service.
pub const BUILTIN_SCHEMAS: &[(&str, &str)] = &[
    (
        "tassa-auto",
        include_str!("../../xsd/servizi/tassa-auto.xsd"),
    ),
    ("pesca", include_str!("../../xsd/servizi/pesca.xsd")),
    (
        "passaporto",
        include_str!("../../xsd/servizi/passaporto.xsd"),
    ),
    ("generico", include_str!("../../xsd/servizi/generico.xsd")),
];

/// `[[servizi]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Servizio {
    /// The service's id in pagoPA's catalogue (`idServizio`, 5 characters).
    pub id_servizio: String,
    /// The creditor's id as the service's provider (`idSoggettoServizio`, 5 characters).
    pub id_soggetto_servizio: String,
    /// The creditor the positions are created for.
    pub dominio: String,
    /// Their tipo pendenza.
    pub tipo_pendenza: String,
    /// The application that owns them: it receives their receipts, and its gestionale is asked
    /// the amount when `importo.tipo = "gestionale"`.
    pub id_a2a: String,
    /// What the service is (the catalogue's description; the item's description).
    pub descrizione: String,
    /// The payment's description (causale, at most 140 characters once filled in): `{path}`
    /// is replaced by the value of that element of the service data (local names from the
    /// root's children, e.g. `{veicoloConTarga/veicoloTarga}`).
    pub causale: String,
    /// The schema of the service data: a file (relative paths are taken from the configuration
    /// file's directory) or `builtin:<name>` (see [`BUILTIN_SCHEMAS`]).
    pub xsd: String,
    /// How the amount is found.
    pub importo: Importo,
    /// The entrata the item credits (default: the tipo pendenza's).
    #[serde(default)]
    pub cod_entrata: Option<String>,
    /// Where the service data names the debtor (default: an anonymous debtor).
    #[serde(default)]
    pub debitore: Option<DebitoreDaDati>,
    /// Days after today (Europe/Rome) a created position stays payable; a repeated request
    /// with the same data meanwhile gets the same position.
    #[serde(default = "default_validita")]
    pub validita_giorni: u32,
    /// First day the service is offered (the catalogue's dataInizioValidita).
    #[serde(default)]
    pub data_inizio_validita: Option<NaiveDate>,
    /// Last day the service is offered (the catalogue's dataFineValidita).
    #[serde(default)]
    pub data_fine_validita: Option<NaiveDate>,
    /// The compiled schema, loaded with the configuration.
    #[serde(skip)]
    pub schema: Option<CompiledSchema>,
}

fn default_validita() -> u32 {
    1
}

/// How a service's amount is found.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "tipo", rename_all = "snake_case", deny_unknown_fields)]
pub enum Importo {
    /// Always the same amount (`importo = "34.00"`).
    Fisso {
        /// The amount in cents.
        #[serde(deserialize_with = "amount")]
        importo: i64,
    },
    /// Looked up by the value of one element of the service data.
    Tabella {
        /// The element (path of local names from the root's children).
        campo: String,
        /// Value → amount (`"1" = "120.00"`).
        #[serde(deserialize_with = "amounts")]
        valori: BTreeMap<String, i64>,
    },
    /// Asked of the owning application's gestionale (`POST {url}/servizi/{idServizio}`).
    Gestionale,
}

/// Elements of the service data that name the debtor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebitoreDaDati {
    /// The fiscal code's element (path of local names).
    pub codice_fiscale: String,
    /// The name's element.
    #[serde(default)]
    pub anagrafica: Option<String>,
}

/// A compiled schema, shared by every request.
#[derive(Clone)]
pub struct CompiledSchema(pub Arc<Schema>);

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CompiledSchema")
    }
}

/// An amount written as a decimal string with at most two decimals ("34.00", "120").
fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let text = String::deserialize(d)?;
    parse_amount(&text).map_err(serde::de::Error::custom)
}

fn amounts<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, i64>, D::Error> {
    let raw = BTreeMap::<String, String>::deserialize(d)?;
    raw.into_iter()
        .map(|(k, v)| {
            parse_amount(&v)
                .map(|c| (k.clone(), c))
                .map_err(|e| serde::de::Error::custom(format!("{k}: {e}")))
        })
        .collect()
}

fn parse_amount(text: &str) -> Result<i64, String> {
    crate::domain::money::parse_decimal(text)
        .filter(|c| (1..=crate::domain::money::MAX_CENTS).contains(c))
        .ok_or_else(|| {
            format!("{text:?} is not an amount in euros (a string such as \"34.00\", over zero)")
        })
}

impl Servizio {
    /// The compiled schema (always present once the configuration is loaded).
    pub fn schema(&self) -> Option<&Schema> {
        self.schema.as_ref().map(|s| &*s.0)
    }

    /// The entrata its item credits: its own, else its tipo pendenza's (validated to exist).
    pub fn entrata<'a>(&'a self, config: &'a super::Config) -> Option<&'a str> {
        self.cod_entrata.as_deref().or_else(|| {
            config
                .tipi_pendenza
                .iter()
                .find(|t| t.id == self.tipo_pendenza)
                .and_then(|t| t.cod_entrata.as_deref())
        })
    }
}

/// Whether `path` is a slash-separated list of XML local names.
fn is_path(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|step| {
            let mut chars = step.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && chars.all(|c| c.is_alphanumeric() || "_-.".contains(c))
        })
}

/// The `{path}` placeholders of a causale template.
pub fn placeholders(template: &str) -> Result<Vec<&str>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "a '{' is not closed".to_owned())?;
        let path = &after[..close];
        if !is_path(path) {
            return Err(format!("{{{path}}} is not a path of element names"));
        }
        out.push(path);
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("a '}' is not opened".to_owned());
    }
    Ok(out)
}

impl super::Config {
    /// Checks `[[servizi]]` (the schemas are compiled by [`super::Config::load_schemas`]).
    pub(super) fn validate_servizi(&self) -> anyhow::Result<()> {
        let code5 = |s: &str| s.chars().count() == 5 && s.is_ascii();
        let mut seen = HashSet::new();
        for (i, s) in self.servizi.iter().enumerate() {
            let key = format!("servizi[{i}]");
            if !code5(&s.id_servizio) {
                bail!("{key}.id_servizio: must be 5 characters (the catalogue's idServizio)");
            }
            if !code5(&s.id_soggetto_servizio) {
                bail!("{key}.id_soggetto_servizio: must be 5 characters");
            }
            if !seen.insert((s.dominio.as_str(), s.id_servizio.as_str())) {
                bail!(
                    "{key}: service {} is configured twice for dominio {}",
                    s.id_servizio,
                    s.dominio
                );
            }
            let Some(dominio) = self.domini.iter().find(|d| d.id == s.dominio) else {
                bail!("{key}.dominio: {} is not a configured dominio", s.dominio);
            };
            if dominio.aux_digit != 3 {
                bail!(
                    "{key}.dominio: {} has aux digit {}; services need aux digit 3 (Varco draws their notice numbers)",
                    s.dominio,
                    dominio.aux_digit
                );
            }
            let Some(tipo) = self.tipi_pendenza.iter().find(|t| t.id == s.tipo_pendenza) else {
                bail!(
                    "{key}.tipo_pendenza: {} is not a configured tipo pendenza",
                    s.tipo_pendenza
                );
            };
            let Some(app) = self.applicazioni.iter().find(|a| a.id_a2a == s.id_a2a) else {
                bail!("{key}.id_a2a: {} is not a configured application", s.id_a2a);
            };
            if !app.domini.iter().any(|d| d == "*" || d == &s.dominio)
                || !app
                    .tipi_pendenza
                    .iter()
                    .any(|t| t == "*" || t == &s.tipo_pendenza)
            {
                bail!(
                    "{key}.id_a2a: application {} may not use dominio {} or tipo pendenza {}",
                    s.id_a2a,
                    s.dominio,
                    s.tipo_pendenza
                );
            }
            let entrata = s.cod_entrata.as_ref().or(tipo.cod_entrata.as_ref());
            match entrata {
                None => bail!(
                    "{key}.cod_entrata: needed (tipo pendenza {} names no cod_entrata)",
                    s.tipo_pendenza
                ),
                Some(e) if !dominio.entrate.iter().any(|x| &x.id == e) => {
                    bail!(
                        "{key}.cod_entrata: {e} is not an entrata of dominio {}",
                        s.dominio
                    )
                }
                Some(_) => {}
            }
            let descrizione = s.descrizione.trim().chars().count();
            if descrizione == 0 || descrizione > 140 {
                bail!("{key}.descrizione: must be 1 to 140 characters");
            }
            if s.causale.trim().is_empty() {
                bail!("{key}.causale: must not be empty");
            }
            placeholders(&s.causale).map_err(|e| anyhow::anyhow!("{key}.causale: {e}"))?;
            match &s.importo {
                Importo::Tabella { campo, valori } => {
                    if !is_path(campo) {
                        bail!("{key}.importo.campo: {campo:?} is not a path of element names");
                    }
                    if valori.is_empty() {
                        bail!("{key}.importo.valori: needs at least one value");
                    }
                }
                Importo::Gestionale if app.connettore.is_none() => bail!(
                    "{key}.importo: tipo \"gestionale\" needs a connettore on application {}",
                    s.id_a2a
                ),
                Importo::Fisso { .. } | Importo::Gestionale => {}
            }
            if let Some(d) = &s.debitore {
                for (field, path) in [
                    ("codice_fiscale", Some(&d.codice_fiscale)),
                    ("anagrafica", d.anagrafica.as_ref()),
                ] {
                    if let Some(p) = path
                        && !is_path(p)
                    {
                        bail!("{key}.debitore.{field}: {p:?} is not a path of element names");
                    }
                }
            }
            if s.validita_giorni > 366 {
                bail!("{key}.validita_giorni: at most 366");
            }
            if let (Some(a), Some(b)) = (s.data_inizio_validita, s.data_fine_validita)
                && b < a
            {
                bail!("{key}.data_fine_validita: before data_inizio_validita");
            }
        }
        Ok(())
    }

    /// Compiles every service's schema: `builtin:<name>` from the binary, a file relative to
    /// `base` (the configuration file's directory; the working directory when None).
    pub fn load_schemas(&mut self, base: Option<&Path>) -> anyhow::Result<()> {
        for (i, s) in self.servizi.iter_mut().enumerate() {
            let key = format!("servizi[{i}].xsd");
            let text = match s.xsd.strip_prefix("builtin:") {
                Some(name) => BUILTIN_SCHEMAS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, text)| (*text).to_owned())
                    .with_context(|| {
                        let names: Vec<&str> = BUILTIN_SCHEMAS.iter().map(|(n, _)| *n).collect();
                        format!(
                            "{key}: no built-in schema {name:?} (there are: {})",
                            names.join(", ")
                        )
                    })?,
                None => {
                    let path = Path::new(&s.xsd);
                    let path = match base {
                        Some(dir) if path.is_relative() => dir.join(path),
                        _ => path.to_path_buf(),
                    };
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("{key}: cannot read {}", path.display()))?
                }
            };
            let schema = Schema::compile(&text).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
            s.schema = Some(CompiledSchema(Arc::new(schema)));
        }
        Ok(())
    }

    /// The service `id_servizio` of creditor `dominio`.
    pub fn servizio(&self, dominio: &str, id_servizio: &str) -> Option<&Servizio> {
        self.servizi
            .iter()
            .find(|s| s.dominio == dominio && s.id_servizio == id_servizio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_paths_between_braces() {
        assert_eq!(
            placeholders("Tassa auto {veicoloConTarga/veicoloTarga}").unwrap(),
            vec!["veicoloConTarga/veicoloTarga"]
        );
        assert!(placeholders("no placeholder").unwrap().is_empty());
        assert!(placeholders("open {a").is_err());
        assert!(placeholders("close a}").is_err());
        assert!(placeholders("{a//b}").is_err());
        assert!(placeholders("{}").is_err());
    }

    #[test]
    fn amounts_are_decimal_strings_over_zero() {
        assert_eq!(parse_amount("34.00"), Ok(3400));
        assert_eq!(parse_amount("120"), Ok(12000));
        assert!(parse_amount("0.00").is_err());
        assert!(parse_amount("-1").is_err());
        assert!(parse_amount("1.234").is_err());
    }
}
