//! The creditor registry: the broker and its stations, the creditors (domini) with their
//! accounts and entrate, the tipi pendenza, the applications with their connectors, the
//! operators; and the lookup maps built once from it ([`Index`]).

use super::Config;
use crate::domain::fiscal::is_fiscal_code_pa;
use crate::domain::{TipoContabilita, iban, transfer_category};
use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// `[[operatori]]`: people (or scripts) allowed on the backoffice API and the console.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operatore {
    /// Login.
    pub username: String,
    /// Argon2 PHC hash (`varco hash-password`).
    pub password_hash: String,
    /// The creditors (fiscal codes) whose positions, receipts and events the operator sees in
    /// the console; `"*"` for all (the default, as before the console had the key).
    #[serde(default = "every_domain")]
    pub domini: Vec<String>,
    /// Sees everything allowed, changes nothing (no cancel, reopen, re-send, retry).
    #[serde(default)]
    pub sola_lettura: bool,
}

fn every_domain() -> Vec<String> {
    vec!["*".to_owned()]
}

impl Operatore {
    /// Whether the operator may see the positions of `dominio`.
    pub fn sees(&self, dominio: &str) -> bool {
        self.domini.iter().any(|d| d == "*" || d == dominio)
    }

    /// The creditors the operator is held to, or None when they see every one.
    pub fn allowlist(&self) -> Option<Vec<String>> {
        (!self.domini.iter().any(|d| d == "*")).then(|| self.domini.clone())
    }
}

/// `[intermediario]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intermediario {
    /// Broker fiscal code (idBrokerPA), 11 digits.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub denominazione: String,
}

/// `[[stazioni]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stazione {
    /// Station id (idStation), e.g. `77777777777_01`.
    pub id: String,
    /// Fiscal codes of the domini reachable through this station.
    pub domini: Vec<String>,
}

/// `[[domini]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dominio {
    /// Fiscal code (idDominio), 11 digits.
    pub id: String,
    /// Name (companyName).
    pub ragione_sociale: String,
    /// Office name (officeName), optional.
    #[serde(default)]
    pub ufficio: Option<String>,
    /// Aux digit of the notices this station generates (3 is the current standard).
    #[serde(default = "default_aux")]
    pub aux_digit: u8,
    /// Segregation codes (aux 3); the first one is used for new notices.
    #[serde(default)]
    pub segregation_codes: Vec<String>,
    /// Application code (aux 0).
    #[serde(default)]
    pub application_code: Option<String>,
    /// CBILL (interbank) code, printed on notices.
    #[serde(default)]
    pub cbill: Option<String>,
    /// GLN, for the GS1-128 barcode.
    #[serde(default)]
    pub gln: Option<String>,
    /// The creditor's logo for printed notices: a PNG or JPEG file (read once at startup).
    #[serde(default)]
    pub logo: Option<PathBuf>,
    /// The logo's bytes, loaded from `logo`.
    #[serde(skip)]
    pub logo_bytes: Option<std::sync::Arc<Vec<u8>>>,
    /// Poste Italiane's authorisation to print bollettini (`AUT. DB/...`): with a postal
    /// account, notices get the Bollettino PA part.
    #[serde(default)]
    pub aut_stampa_poste: Option<String>,
    /// Accept notice numbers with wrong check digits from gestionali.
    #[serde(default)]
    pub legacy_notice_numbers: bool,
    /// Accounts of this creditor.
    #[serde(default)]
    pub iban: Vec<IbanAccredito>,
    /// Revenue kinds with their account and accounting codes.
    #[serde(default)]
    pub entrate: Vec<Entrata>,
    /// Organisational units (`idUnitaOperativa` of a position must be one of them).
    #[serde(default)]
    pub unita_operative: Vec<UnitaOperativa>,
}

impl Dominio {
    /// Is `iban` one of this creditor's accounts?
    pub fn has_account(&self, iban: &str) -> bool {
        self.iban.iter().any(|a| a.iban == iban)
    }
}

/// `[[domini.unita_operative]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitaOperativa {
    /// Code (idUnitaOperativa).
    pub id: String,
    /// Name.
    pub ragione_sociale: String,
}

/// `[[beneficiari]]`: another creditor that receives a share of some positions (a voce with
/// its `idDominio`, e.g. the Province's TEFA on a municipality's TARI). It has no station and
/// no notices of its own, only its accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Beneficiario {
    /// Fiscal code, 11 digits.
    pub id: String,
    /// Name (companyName of its transfers).
    pub ragione_sociale: String,
    /// Its accounts.
    pub iban: Vec<IbanAccredito>,
}

/// A creditor a voce can credit: a configured domain or a beneficiary.
#[derive(Debug, Clone, Copy)]
pub enum Creditore<'a> {
    /// A domain of the station.
    Dominio(&'a Dominio),
    /// A beneficiary only.
    Beneficiario(&'a Beneficiario),
}

impl Creditore<'_> {
    /// Is `iban` one of this creditor's accounts?
    pub fn has_account(&self, iban: &str) -> bool {
        let accounts = match self {
            Creditore::Dominio(d) => &d.iban,
            Creditore::Beneficiario(b) => &b.iban,
        };
        accounts.iter().any(|a| a.iban == iban)
    }

    /// Its name.
    pub fn ragione_sociale(&self) -> &str {
        match self {
            Creditore::Dominio(d) => &d.ragione_sociale,
            Creditore::Beneficiario(b) => &b.ragione_sociale,
        }
    }
}

/// A code GovPay allows in paths and ids: 1 to 35 ASCII letters, digits, `-` or `_`.
pub fn is_code(s: &str) -> bool {
    (1..=35).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn default_aux() -> u8 {
    3
}

/// `[[domini.iban]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IbanAccredito {
    /// The IBAN.
    pub iban: String,
    /// A Poste Italiane postal account (derived from the ABI when omitted).
    #[serde(default)]
    pub postale: Option<bool>,
}

/// `[[domini.entrate]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entrata {
    /// Code (codEntrata).
    pub id: String,
    /// Description.
    #[serde(default)]
    pub descrizione: String,
    /// Crediting IBAN (must be one of the domain's).
    pub iban: String,
    /// Support IBAN (ibanAppoggio), optional.
    #[serde(default)]
    pub iban_appoggio: Option<String>,
    /// Accounting type.
    pub tipo_contabilita: TipoContabilita,
    /// Accounting code (taxonomy), e.g. `0101101IM`.
    pub codice_contabilita: String,
}

/// `[[tipi_pendenza]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TipoPendenza {
    /// Code (idTipoPendenza).
    pub id: String,
    /// Description.
    #[serde(default)]
    pub descrizione: String,
    /// The entrata (per domain) its single-item positions use by default.
    #[serde(default)]
    pub cod_entrata: Option<String>,
}

/// `[[applicazioni]]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Applicazione {
    /// Application id (idA2A).
    pub id_a2a: String,
    /// Argon2 PHC hash of the password (`varco hash-password`).
    pub password_hash: String,
    /// Domini it may use; `*` for all.
    #[serde(default)]
    pub domini: Vec<String>,
    /// Tipi pendenza it may use; `*` for all.
    #[serde(default)]
    pub tipi_pendenza: Vec<String>,
    /// Its gestionale, for receipts and verification on the fly.
    #[serde(default)]
    pub connettore: Option<Connettore>,
    /// Notices this application owns without loading them in Varco: a regular expression over
    /// the IUV. Varco asks the gestionale about them (verification on the fly).
    #[serde(default)]
    pub iuv_pattern: Option<String>,
    /// Same, by segregation code (aux 3 notices).
    #[serde(default)]
    pub segregation_codes: Vec<String>,
    /// When refreshing a position at the gestionale fails, refuse (PAA_SYSTEM_ERROR) instead of
    /// answering from the stored copy.
    #[serde(default)]
    pub verifica_obbligatoria: bool,
}

/// `[applicazioni.connettore]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connettore {
    /// Base URL of the gestionale's API Ente Creditore v2.
    pub url: String,
    /// How to authenticate.
    #[serde(default)]
    pub auth: ConnettoreAuth,
    /// Budget of a verification call, ms (well under the Nodo's 7 s).
    #[serde(default = "default_verify_timeout")]
    pub verify_timeout_ms: u64,
}

fn default_verify_timeout() -> u64 {
    3000
}

/// Authentication toward a gestionale.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "tipo", rename_all = "snake_case", deny_unknown_fields)]
pub enum ConnettoreAuth {
    /// No authentication.
    #[default]
    None,
    /// HTTP Basic.
    Basic {
        /// User.
        username: String,
        /// Password.
        password: String,
    },
    /// An API key in a header.
    ApiKey {
        /// Header name.
        header: String,
        /// Key.
        key: String,
    },
    /// A client certificate (PEM files).
    ClientCert {
        /// Certificate chain.
        cert: PathBuf,
        /// Private key.
        key: PathBuf,
    },
}

impl Config {
    /// Checks the registry: every cross-reference and value, naming the key at fault.
    pub(super) fn validate_registry(&self) -> anyhow::Result<()> {
        if !is_fiscal_code_pa(&self.intermediario.id) {
            bail!(
                "intermediario.id: must be 11 digits, found {:?}",
                self.intermediario.id
            );
        }
        let mut seen = HashSet::new();
        for (i, d) in self.domini.iter().enumerate() {
            let key = format!("domini[{i}]");
            if !is_fiscal_code_pa(&d.id) {
                bail!("{key}.id: must be 11 digits, found {:?}", d.id);
            }
            if !seen.insert(d.id.as_str()) {
                bail!("{key}.id: domain {} is configured twice", d.id);
            }
            if d.ragione_sociale.trim().is_empty() || d.ragione_sociale.chars().count() > 140 {
                bail!("{key}.ragione_sociale: must be 1 to 140 characters");
            }
            if let Some(u) = &d.ufficio
                && (u.trim().is_empty() || u.chars().count() > 140)
            {
                bail!("{key}.ufficio: must be 1 to 140 characters");
            }
            match d.aux_digit {
                3 => {
                    if d.segregation_codes.is_empty() {
                        bail!(
                            "{key}.segregation_codes: aux digit 3 needs at least one segregation code"
                        );
                    }
                    for (j, s) in d.segregation_codes.iter().enumerate() {
                        if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
                            bail!("{key}.segregation_codes[{j}]: must be 2 digits, found {s:?}");
                        }
                    }
                }
                0 => match &d.application_code {
                    Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit()) => {}
                    _ => bail!(
                        "{key}.application_code: aux digit 0 needs a 2-digit application code"
                    ),
                },
                1 | 2 => {}
                other => bail!("{key}.aux_digit: must be 0, 1, 2 or 3, found {other}"),
            }
            for (j, ib) in d.iban.iter().enumerate() {
                if !iban::is_valid(&ib.iban) {
                    bail!("{key}.iban[{j}].iban: {:?} is not a valid IBAN", ib.iban);
                }
            }
            let mut entrate = HashSet::new();
            for (j, e) in d.entrate.iter().enumerate() {
                let ekey = format!("{key}.entrate[{j}]");
                if e.id.is_empty() || !entrate.insert(e.id.as_str()) {
                    bail!("{ekey}.id: must be non-empty and unique in the domain");
                }
                if !d.iban.iter().any(|ib| ib.iban == e.iban) {
                    bail!("{ekey}.iban: {:?} is not one of {key}.iban", e.iban);
                }
                if let Some(app) = &e.iban_appoggio
                    && !iban::is_valid(app)
                {
                    bail!("{ekey}.iban_appoggio: {app:?} is not a valid IBAN");
                }
                if e.codice_contabilita.is_empty()
                    || transfer_category(e.tipo_contabilita, &e.codice_contabilita)
                        .chars()
                        .count()
                        > 140
                {
                    bail!("{ekey}.codice_contabilita: must be 1 to 138 characters");
                }
            }
            let mut unita = HashSet::new();
            for (j, u) in d.unita_operative.iter().enumerate() {
                if !is_code(&u.id) || !unita.insert(u.id.as_str()) {
                    bail!(
                        "{key}.unita_operative[{j}].id: must be 1 to 35 letters, digits, '-' or '_', unique in the domain"
                    );
                }
            }
        }
        for (i, b) in self.beneficiari.iter().enumerate() {
            let key = format!("beneficiari[{i}]");
            if !crate::domain::fiscal::is_fiscal_code_pa(&b.id) {
                bail!("{key}.id: must be 11 digits, found {:?}", b.id);
            }
            if !seen.insert(b.id.as_str()) {
                bail!("{key}.id: {} is configured twice", b.id);
            }
            if b.ragione_sociale.trim().is_empty() || b.ragione_sociale.chars().count() > 140 {
                bail!("{key}.ragione_sociale: must be 1 to 140 characters");
            }
            if b.iban.is_empty() {
                bail!("{key}.iban: a beneficiary needs at least one account");
            }
            for (j, ib) in b.iban.iter().enumerate() {
                if !iban::is_valid(&ib.iban) {
                    bail!("{key}.iban[{j}].iban: {:?} is not a valid IBAN", ib.iban);
                }
            }
        }
        if self.stazioni.is_empty() {
            bail!("stazioni: at least one station is required");
        }
        let mut stations = HashSet::new();
        for (i, s) in self.stazioni.iter().enumerate() {
            if s.id.is_empty() || s.id.chars().count() > 35 || !stations.insert(s.id.as_str()) {
                bail!("stazioni[{i}].id: must be 1 to 35 characters and unique");
            }
            for (j, d) in s.domini.iter().enumerate() {
                if !self.domini.iter().any(|x| &x.id == d) {
                    bail!("stazioni[{i}].domini[{j}]: {d} is not a configured dominio");
                }
            }
        }
        let mut tipi = HashSet::new();
        for (i, t) in self.tipi_pendenza.iter().enumerate() {
            if t.id.is_empty() || t.id.chars().count() > 35 || !tipi.insert(t.id.as_str()) {
                bail!("tipi_pendenza[{i}].id: must be 1 to 35 characters and unique");
            }
        }
        let mut apps = HashSet::new();
        for (i, a) in self.applicazioni.iter().enumerate() {
            let key = format!("applicazioni[{i}]");
            if a.id_a2a.is_empty()
                || a.id_a2a.chars().count() > 35
                || !apps.insert(a.id_a2a.as_str())
            {
                bail!("{key}.id_a2a: must be 1 to 35 characters and unique");
            }
            if !crate::password::is_phc(&a.password_hash) {
                bail!(
                    "{key}.password_hash: not a PHC string; create one with `varco hash-password`"
                );
            }
            for (j, d) in a.domini.iter().enumerate() {
                if d != "*" && !self.domini.iter().any(|x| &x.id == d) {
                    bail!("{key}.domini[{j}]: {d} is not a configured dominio");
                }
            }
            for (j, t) in a.tipi_pendenza.iter().enumerate() {
                if t != "*" && !tipi.contains(t.as_str()) {
                    bail!("{key}.tipi_pendenza[{j}]: {t} is not a configured tipo pendenza");
                }
            }
            if let Some(c) = &a.connettore {
                if !(c.url.starts_with("http://") || c.url.starts_with("https://")) {
                    bail!("{key}.connettore.url: must be an http:// or https:// URL");
                }
                if c.verify_timeout_ms == 0 || c.verify_timeout_ms > 6000 {
                    bail!(
                        "{key}.connettore.verify_timeout_ms: must be 1..6000 (the Nodo waits 7 s)"
                    );
                }
            }
            if let Some(p) = &a.iuv_pattern
                && let Err(e) = regex::Regex::new(p)
            {
                bail!("{key}.iuv_pattern: not a regular expression: {e}");
            }
            if (a.iuv_pattern.is_some() || !a.segregation_codes.is_empty())
                && a.connettore.is_none()
            {
                bail!("{key}.connettore: iuv_pattern / segregation_codes need a connettore to ask");
            }
        }
        self.check_claims()?;
        for (i, o) in self.operatori.iter().enumerate() {
            if o.username.is_empty() || !crate::password::is_phc(&o.password_hash) {
                bail!(
                    "operatori[{i}]: needs a username and a PHC password_hash (`varco hash-password`)"
                );
            }
            if o.domini.is_empty() {
                bail!("operatori[{i}].domini: name the creditors the operator sees, or \"*\"");
            }
            for d in o.domini.iter().filter(|d| *d != "*") {
                if !self.domini.iter().any(|known| &known.id == d) {
                    bail!("operatori[{i}].domini: {d} is not a configured dominio");
                }
            }
            if self.operatori[..i]
                .iter()
                .any(|other| other.username == o.username)
            {
                bail!(
                    "operatori[{i}].username: {} is configured twice",
                    o.username
                );
            }
        }
        Ok(())
    }

    /// No two applications may claim the same notices of a domain for verification on the fly
    /// (`iuv_pattern`, `segregation_codes`): which one owns a notice would depend on the order
    /// of the file, and one's gestionale could answer for the other's positions.
    fn check_claims(&self) -> anyhow::Result<()> {
        use crate::domain::claims::{Claim, overlap};
        fn claim(a: &Applicazione) -> Claim<'_> {
            Claim {
                pattern: a.iuv_pattern.as_deref(),
                segregation_codes: &a.segregation_codes,
            }
        }
        let shared = |a: &Applicazione, b: &Applicazione| {
            a.domini
                .iter()
                .any(|d| b.domini.iter().any(|e| d == "*" || e == "*" || e == d))
        };
        for (i, a) in self.applicazioni.iter().enumerate() {
            for (j, b) in self.applicazioni.iter().enumerate().skip(i + 1) {
                if !shared(a, b) {
                    continue;
                }
                let witness = overlap(&claim(a), &claim(b))
                    .with_context(|| format!("applicazioni[{i}] and applicazioni[{j}]"))?;
                if let Some(iuv) = witness {
                    bail!(
                        "applicazioni[{j}]: {} claims notices that applicazioni[{i}] ({}) claims too \
                         (e.g. IUV {iuv}) in a domain both serve: make their iuv_pattern / \
                         segregation_codes disjoint",
                        b.id_a2a,
                        a.id_a2a
                    );
                }
            }
        }
        Ok(())
    }
}

/// The registry's lookup maps, built once from the configuration.
#[derive(Debug, Clone, Default)]
pub struct Index {
    domini: HashMap<String, usize>,
    applicazioni: HashMap<String, usize>,
    stations: HashMap<String, HashSet<String>>,
}

impl Index {
    pub(super) fn new(config: &Config) -> Self {
        Self {
            domini: config
                .domini
                .iter()
                .enumerate()
                .map(|(i, d)| (d.id.clone(), i))
                .collect(),
            applicazioni: config
                .applicazioni
                .iter()
                .enumerate()
                .map(|(i, a)| (a.id_a2a.clone(), i))
                .collect(),
            stations: config
                .stazioni
                .iter()
                .map(|s| (s.id.clone(), s.domini.iter().cloned().collect()))
                .collect(),
        }
    }
}

impl Config {
    /// A domain by fiscal code.
    pub fn dominio(&self, id: &str) -> Option<&Dominio> {
        self.index().domini.get(id).map(|&i| &self.domini[i])
    }

    /// An application by idA2A.
    pub fn applicazione(&self, id_a2a: &str) -> Option<&Applicazione> {
        self.index()
            .applicazioni
            .get(id_a2a)
            .map(|&i| &self.applicazioni[i])
    }

    /// A creditor a voce may credit: a domain, else a beneficiary.
    pub fn creditore(&self, id: &str) -> Option<Creditore<'_>> {
        match self.dominio(id) {
            Some(d) => Some(Creditore::Dominio(d)),
            None => self
                .beneficiari
                .iter()
                .find(|b| b.id == id)
                .map(Creditore::Beneficiario),
        }
    }

    /// The first station serving domain `id` (GovPay names it in `VER_026`).
    pub fn stazione_of(&self, id: &str) -> Option<&str> {
        self.stazioni
            .iter()
            .find(|s| s.domini.iter().any(|d| d == id))
            .map(|s| s.id.as_str())
    }

    /// The domains served through a station of the broker (None: not one of its stations).
    pub fn station_domains(&self, id_station: &str) -> Option<&HashSet<String>> {
        self.index().stations.get(id_station)
    }

    /// The connector of application `id_a2a`, or why a receipt of it cannot be delivered.
    pub fn connettore(&self, id_a2a: Option<&str>) -> Result<(&Applicazione, &Connettore), String> {
        let Some(id) = id_a2a else {
            return Err("the receipt belongs to no application (unknown notice)".into());
        };
        let app = self
            .applicazione(id)
            .ok_or_else(|| format!("application {id} is not configured"))?;
        let c = app
            .connettore
            .as_ref()
            .ok_or_else(|| format!("application {id} has no connettore"))?;
        Ok((app, c))
    }
}
