//! Configuration: the broker, its stations, the creditors (domini) with their accounts and
//! entrate, the tipi pendenza and the applications. Loaded once, validated with the name of the
//! offending key, then only read.
//!
//! Precedence: command-line flags > the `--config` file > the embedded demo configuration
//! (`varco.example.toml`, compiled in).

use crate::domain::iban;
use anyhow::{Context, bail};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The embedded demo configuration (also the documented example).
pub const DEMO_TOML: &str = include_str!("../varco.example.toml");

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The broker (intermediario) whose stations Varco runs.
    pub intermediario: Intermediario,
    /// The listener pagoPA calls.
    #[serde(default)]
    pub nodo: NodoConfig,
    /// The listener gestionali and operators call.
    #[serde(default)]
    pub api: ApiConfig,
    /// The embedded store.
    #[serde(default)]
    pub store: StoreConfig,
    /// Seed demo positions on first start.
    #[serde(default)]
    pub demo: DemoConfig,
    /// Receipt forwarding to gestionali.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// The event journal.
    #[serde(default)]
    pub journal: JournalConfig,
    /// Stations of the broker.
    pub stazioni: Vec<Stazione>,
    /// Creditors.
    pub domini: Vec<Dominio>,
    /// Kinds of position.
    #[serde(default)]
    pub tipi_pendenza: Vec<TipoPendenza>,
    /// Client applications (gestionali).
    #[serde(default)]
    pub applicazioni: Vec<Applicazione>,
    /// Operators of the backoffice API.
    #[serde(default)]
    pub operatori: Vec<Operatore>,
}

/// `[outbox]`: how receipts are forwarded to gestionali.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// First retry delay, ms.
    pub base_delay_ms: u64,
    /// Longest retry delay, ms.
    pub max_delay_ms: u64,
    /// Spread of each delay (0..1, ± that fraction).
    pub jitter: f64,
    /// After this many seconds of failures an entry is parked as dead (never dropped).
    pub horizon_secs: u64,
    /// Deliveries in flight per connector.
    pub parallel: usize,
    /// Timeout of one delivery, ms.
    pub timeout_ms: u64,
    /// On shutdown, how long to wait for deliveries in flight, ms.
    pub shutdown_grace_ms: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            base_delay_ms: 30_000,
            max_delay_ms: 3_600_000,
            jitter: 0.2,
            horizon_secs: 7 * 24 * 3600,
            parallel: 4,
            timeout_ms: 10_000,
            shutdown_grace_ms: 10_000,
        }
    }
}

/// `[journal]`: the event journal (SOAP, REST and outbound calls), bounded by age and count.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JournalConfig {
    /// Record events.
    pub enabled: bool,
    /// Also record request and response bodies (personal data; cut at 64 KiB each).
    pub payloads: bool,
    /// Events older than this many days are purged (0: no age bound).
    pub max_age_days: u64,
    /// The oldest events beyond this many are purged (0: no count bound).
    pub max_events: u64,
    /// Events waiting to be written; when full, new ones are dropped (and counted).
    pub queue: usize,
}

impl Default for JournalConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            payloads: false,
            max_age_days: 90,
            max_events: 10_000_000,
            queue: 65_536,
        }
    }
}

/// `[[operatori]]`: people (or scripts) allowed on the backoffice API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Operatore {
    /// Login.
    pub username: String,
    /// Argon2 PHC hash (`varco hash-password`).
    pub password_hash: String,
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

/// `[nodo]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodoConfig {
    /// Address to listen on.
    #[serde(default = "default_nodo_listen")]
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes (refused with 413 before it is read whole).
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Time a client has to send a request's headers (slow-loris guard), ms.
    #[serde(default = "default_header_timeout")]
    pub header_timeout_ms: u64,
    /// Time a client has to send a request's whole body, counted from when its headers
    /// arrived, ms; then it gets 408 and the connection is closed.
    #[serde(default = "default_nodo_body_timeout")]
    pub body_timeout_ms: u64,
    /// The URL written in the served WSDL's soap:address, as pagoPA reaches the station
    /// (behind a proxy, say); defaults to `http://<listen>/paForNode`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// `[nodo.tls]`: serve HTTPS (reloaded on SIGHUP).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// `[nodo.client_auth]`: every request needs an allowed client certificate (pagoPA's).
    #[serde(default)]
    pub client_auth: Option<ClientAuthConfig>,
    /// `[nodo.access]`: IP allowlist, trusted proxies, the proxy's client-certificate header.
    #[serde(default)]
    pub access: AccessConfig,
}

impl Default for NodoConfig {
    fn default() -> Self {
        Self {
            listen: default_nodo_listen(),
            max_body_bytes: default_max_body(),
            header_timeout_ms: default_header_timeout(),
            body_timeout_ms: default_nodo_body_timeout(),
            public_url: None,
            tls: None,
            client_auth: None,
            access: AccessConfig::default(),
        }
    }
}

fn default_nodo_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_api_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8081))
}
fn default_header_timeout() -> u64 {
    10_000
}
fn default_max_body() -> usize {
    1024 * 1024
}
fn default_nodo_body_timeout() -> u64 {
    10_000
}
fn default_api_body_timeout() -> u64 {
    60_000
}

/// `[api]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Address to listen on.
    #[serde(default = "default_api_listen")]
    pub listen: SocketAddr,
    /// Time a client has to send a request's whole body, counted from when its headers
    /// arrived, ms (bulk loads of up to 256 MiB come this way); then 408 and the connection
    /// is closed.
    #[serde(default = "default_api_body_timeout")]
    pub body_timeout_ms: u64,
    /// `[api.tls]`: serve HTTPS (reloaded on SIGHUP).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// `[api.client_auth]`: every request needs an allowed client certificate.
    #[serde(default)]
    pub client_auth: Option<ClientAuthConfig>,
    /// `[api.access]`: IP allowlist, trusted proxies, the proxy's client-certificate header.
    #[serde(default)]
    pub access: AccessConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: default_api_listen(),
            body_timeout_ms: default_api_body_timeout(),
            tls: None,
            client_auth: None,
            access: AccessConfig::default(),
        }
    }
}

/// `[nodo.tls]` / `[api.tls]`: the listener's own certificate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `[nodo.client_auth]` / `[api.client_auth]`: which client certificates are let in. A
/// certificate is taken from the TLS handshake, or from `access.client_cert_header` when the
/// peer is a trusted proxy; it must chain to `ca` (when given) and match one of `pins` (when
/// given). At least one of the two is required.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientAuthConfig {
    /// PEM file of the CA certificates client certificates must chain to.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// SHA-256 fingerprints of the allowed client certificates (DER), hex with or without
    /// colons, optionally prefixed `sha256:`.
    #[serde(default)]
    pub pins: Vec<String>,
    /// PEM file of intermediate CA certificates, used to build the path from a certificate a
    /// trusted proxy passes (nginx passes the leaf alone) to `ca`. Never trust anchors: only
    /// the certificates of `ca` are. Needs `ca`.
    #[serde(default)]
    pub intermediates: Option<PathBuf>,
}

/// `[nodo.access]` / `[api.access]`: who may connect.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// Client addresses or CIDR ranges allowed (empty: everyone). Behind a trusted proxy the
    /// client address is the one the proxy forwards.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Peers (addresses or CIDR ranges) whose `client_ip_header`, `X-Request-Id` and
    /// client-certificate header are believed. Nobody else's are.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The one header a trusted proxy sets to the client's address; no other header is read
    /// for it. `Forwarded` selects RFC 7239 parsing (`for=`); any other name is read as an
    /// `X-Forwarded-For`-style list. The proxy must overwrite it, never append to what the
    /// client sent (deploy/nginx/varco.conf).
    #[serde(default = "default_client_ip_header")]
    pub client_ip_header: String,
    /// Header in which a trusted proxy passes the client certificate it verified (PEM,
    /// URL-encoded, as nginx's `$ssl_client_escaped_cert`).
    #[serde(default)]
    pub client_cert_header: Option<String>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            trusted_proxies: Vec::new(),
            client_ip_header: default_client_ip_header(),
            client_cert_header: None,
        }
    }
}

fn default_client_ip_header() -> String {
    "X-Forwarded-For".to_owned()
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory of the store.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Page cache size in MiB (bounds resident memory).
    #[serde(default = "default_cache_mb")]
    pub cache_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            cache_mb: default_cache_mb(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("varco-data")
}
fn default_cache_mb() -> u64 {
    256
}

/// `[demo]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Seed the demo positions when the store is empty.
    #[serde(default)]
    pub seed: bool,
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

/// `tipo_contabilita` values and their one-digit codes in transferCategory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TipoContabilita {
    /// 0
    Capitolo,
    /// 1
    Speciale,
    /// 2
    Siope,
    /// 9
    Altro,
}

impl TipoContabilita {
    /// The digit used in `transferCategory` (`<digit>/<codice>`).
    pub fn code(self) -> u8 {
        match self {
            TipoContabilita::Capitolo => 0,
            TipoContabilita::Speciale => 1,
            TipoContabilita::Siope => 2,
            TipoContabilita::Altro => 9,
        }
    }
}

/// Builds transferCategory from the accounting type and code.
pub fn transfer_category(tipo: TipoContabilita, codice: &str) -> String {
    format!("{}/{}", tipo.code(), codice)
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

/// Overrides given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--nodo-listen`
    pub nodo_listen: Option<SocketAddr>,
    /// `--api-listen`
    pub api_listen: Option<SocketAddr>,
}

impl Config {
    /// The embedded demo configuration.
    pub fn demo() -> Self {
        // The demo is compiled in and covered by a test, so it always parses and validates.
        Self::parse(DEMO_TOML, "embedded demo configuration")
            .expect("the demo configuration is valid")
    }

    /// Parses and validates a TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Self> {
        let config: Config =
            toml::from_str(text).with_context(|| format!("{origin}: invalid configuration"))?;
        config
            .validate()
            .with_context(|| format!("{origin}: invalid configuration"))?;
        Ok(config)
    }

    /// Loads `path` (or the demo when `None`) and applies the overrides.
    pub fn load(path: Option<&std::path::Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let mut config = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                Self::parse(&text, &path.display().to_string())?
            }
            None => Self::demo(),
        };
        if let Some(dir) = &overrides.data_dir {
            config.store.data_dir = dir.clone();
        }
        for (i, d) in config.domini.iter_mut().enumerate() {
            if let Some(path) = &d.logo {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("domini[{i}].logo: cannot read {}", path.display()))?;
                if !(bytes.starts_with(b"\x89PNG") || bytes.starts_with(&[0xff, 0xd8])) {
                    bail!(
                        "domini[{i}].logo: {} is not a PNG or JPEG image",
                        path.display()
                    );
                }
                d.logo_bytes = Some(std::sync::Arc::new(bytes));
            }
        }
        if let Some(addr) = overrides.nodo_listen {
            config.nodo.listen = addr;
        }
        if let Some(addr) = overrides.api_listen {
            config.api.listen = addr;
        }
        Ok(config)
    }

    /// Checks every cross-reference and value, naming the key at fault.
    pub fn validate(&self) -> anyhow::Result<()> {
        if !is_fiscal_code_pa(&self.intermediario.id) {
            bail!(
                "intermediario.id: must be 11 digits, found {:?}",
                self.intermediario.id
            );
        }
        crate::edge::validate("nodo", &self.nodo.access, self.nodo.client_auth.as_ref())?;
        crate::edge::validate("api", &self.api.access, self.api.client_auth.as_ref())?;
        if self.nodo.max_body_bytes < 1024 {
            bail!("nodo.max_body_bytes: must be at least 1024");
        }
        if self.nodo.body_timeout_ms == 0 {
            bail!("nodo.body_timeout_ms: must be at least 1");
        }
        if self.api.body_timeout_ms == 0 {
            bail!("api.body_timeout_ms: must be at least 1");
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
            if argon2::password_hash::phc::PasswordHash::new(&a.password_hash).is_err() {
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
            if o.username.is_empty()
                || argon2::password_hash::phc::PasswordHash::new(&o.password_hash).is_err()
            {
                bail!(
                    "operatori[{i}]: needs a username and a PHC password_hash (`varco hash-password`)"
                );
            }
        }
        if !(0.0..=1.0).contains(&self.outbox.jitter)
            || self.outbox.parallel == 0
            || self.outbox.base_delay_ms == 0
        {
            bail!("outbox: jitter must be 0..1, parallel and base_delay_ms at least 1");
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

    /// Whether both listeners are on loopback addresses.
    pub fn loopback_only(&self) -> bool {
        self.nodo.listen.ip().is_loopback() && self.api.listen.ip().is_loopback()
    }

    /// Whether the well-known demo password may be used: only when nobody but this host can
    /// reach Varco, i.e. both listeners on loopback AND no trusted proxy on either (behind a
    /// reverse proxy on the same host, a remote client arrives from loopback too).
    pub fn demo_credentials_allowed(&self) -> bool {
        self.loopback_only()
            && self.nodo.access.trusted_proxies.is_empty()
            && self.api.access.trusted_proxies.is_empty()
    }

    /// A domain by fiscal code.
    pub fn dominio(&self, id: &str) -> Option<&Dominio> {
        self.domini.iter().find(|d| d.id == id)
    }
}

/// The argon2id PHC hash of a password (a fresh random salt each time).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Whether `password` matches a PHC hash.
pub fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    use argon2::password_hash::phc::PasswordHash;
    PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

impl Config {
    /// Refuses the well-known demo password unless [`Config::demo_credentials_allowed`].
    pub fn check_demo_password(&self) -> anyhow::Result<()> {
        if self.demo_credentials_allowed() {
            return Ok(());
        }
        for (i, o) in self.operatori.iter().enumerate() {
            if verify_password("demo", &o.password_hash) {
                bail!(
                    "operatori[{i}].password_hash: operator {} uses the demo password, which is \
                     accepted only while both listeners are on loopback and neither has access.trusted_proxies \
                     (behind a proxy a remote client looks local); set a real one with `varco hash-password`",
                    o.username
                );
            }
        }
        for (i, a) in self.applicazioni.iter().enumerate() {
            if verify_password("demo", &a.password_hash) {
                bail!(
                    "applicazioni[{i}].password_hash: application {} uses the demo password, which is \
                     accepted only while both listeners are on loopback and neither has access.trusted_proxies \
                     (behind a proxy a remote client looks local); set a real one with `varco hash-password`",
                    a.id_a2a
                );
            }
        }
        Ok(())
    }
}

/// `[0-9]{11}`
pub fn is_fiscal_code_pa(s: &str) -> bool {
    s.len() == 11 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Lookup tables built once from the configuration, for the hot path.
#[derive(Debug, Clone)]
pub struct Topology {
    /// The broker id.
    pub broker: String,
    /// station id → domains served through it.
    pub stations: HashMap<String, HashSet<String>>,
}

impl Topology {
    /// Builds the tables.
    pub fn new(config: &Config) -> Self {
        Self {
            broker: config.intermediario.id.clone(),
            stations: config
                .stazioni
                .iter()
                .map(|s| (s.id.clone(), s.domini.iter().cloned().collect()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_configuration_is_valid() {
        let c = Config::demo();
        assert_eq!(c.intermediario.id, "77777777777");
        assert!(c.stazioni.iter().any(|s| s.id == "77777777777_01"));
        assert!(c.loopback_only());
    }

    #[test]
    fn errors_name_the_key() {
        let bad = DEMO_TOML.replacen("aux_digit = 3", "aux_digit = 7", 1);
        let err = format!("{:#}", Config::parse(&bad, "test").unwrap_err());
        assert!(err.contains("domini[0].aux_digit"), "{err}");

        let bad = DEMO_TOML.replacen(
            "IT60X0542811101000000123456",
            "IT60X0542811101000000123457",
            1,
        );
        let err = format!("{:#}", Config::parse(&bad, "test").unwrap_err());
        assert!(err.contains("domini[0].iban[0].iban"), "{err}");

        let bad = format!("{DEMO_TOML}\n[surprise]\nx = 1\n");
        let err = format!("{:#}", Config::parse(&bad, "test").unwrap_err());
        assert!(err.contains("surprise"), "{err}");
    }

    #[test]
    fn overlapping_claims_of_two_applications_are_refused() {
        let hash = Config::demo().applicazioni[0].password_hash.clone();
        let app = |id: &str, domini: &str, extra: &str| {
            format!(
                "[[applicazioni]]\nid_a2a = \"{id}\"\npassword_hash = \"{hash}\"\n\
                 domini = {domini}\ntipi_pendenza = [\"*\"]\n{extra}\n\
                 [applicazioni.connettore]\nurl = \"http://127.0.0.1:9/\"\n"
            )
        };
        let with = |a: &str, b: &str, domini_b: &str| {
            format!(
                "{DEMO_TOML}\n{}\n{}",
                app("uno", r#"["*"]"#, a),
                app("due", domini_b, b)
            )
        };
        let all = r#"["*"]"#;
        let err = format!(
            "{:#}",
            Config::parse(
                &with(
                    r#"iuv_pattern = "^09""#,
                    r#"segregation_codes = ["09"]"#,
                    all
                ),
                "test"
            )
            .unwrap_err()
        );
        assert!(
            err.contains("applicazioni[2]: due claims") && err.contains("e.g. IUV 09"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            Config::parse(
                &with(
                    r#"segregation_codes = ["09"]"#,
                    r#"segregation_codes = ["09"]"#,
                    r#"["77777777777"]"#
                ),
                "test"
            )
            .unwrap_err()
        );
        assert!(err.contains("applicazioni[2]"), "{err}");
        Config::parse(
            &with(
                r#"iuv_pattern = "^08""#,
                r#"segregation_codes = ["09"]"#,
                all,
            ),
            "test",
        )
        .unwrap();
        // An application serving no domain the other serves claims nothing of it.
        Config::parse(
            &with(
                r#"segregation_codes = ["09"]"#,
                r#"segregation_codes = ["09"]"#,
                "[]",
            ),
            "test",
        )
        .unwrap();
    }

    #[test]
    fn demo_password_only_on_loopback() {
        let mut c = Config::demo();
        assert!(verify_password("demo", &c.applicazioni[0].password_hash));
        assert!(!verify_password("demo2", &c.applicazioni[0].password_hash));
        c.check_demo_password().unwrap();
        c.api.listen = "0.0.0.0:8081".parse().unwrap();
        let err = c.check_demo_password().unwrap_err().to_string();
        assert!(err.contains("operatori[0].password_hash"), "{err}");
        c.operatori.clear();
        let err = c.check_demo_password().unwrap_err().to_string();
        assert!(err.contains("applicazioni[0].password_hash"), "{err}");
        c.applicazioni[0].password_hash = hash_password("a real secret").unwrap();
        c.check_demo_password().unwrap();
    }

    #[test]
    fn demo_password_never_behind_a_trusted_proxy() {
        for listener in ["nodo", "api"] {
            let mut c = Config::demo();
            assert!(c.demo_credentials_allowed());
            let access = if listener == "nodo" {
                &mut c.nodo.access
            } else {
                &mut c.api.access
            };
            access.trusted_proxies = vec!["127.0.0.1".into()];
            assert!(c.loopback_only(), "still on loopback");
            assert!(!c.demo_credentials_allowed(), "{listener}");
            let err = c.check_demo_password().unwrap_err().to_string();
            assert!(err.contains("operatori[0].password_hash"), "{err}");
            assert!(err.contains("trusted_proxies"), "{err}");
            c.operatori.clear();
            let err = c.check_demo_password().unwrap_err().to_string();
            assert!(err.contains("applicazioni[0].password_hash"), "{err}");
            for a in &mut c.applicazioni {
                a.password_hash = hash_password("a real secret").unwrap();
            }
            c.check_demo_password().unwrap();
        }
    }

    #[test]
    fn listener_defaults() {
        let c = Config::demo();
        assert_eq!(c.nodo.body_timeout_ms, 10_000);
        assert_eq!(c.api.body_timeout_ms, 60_000);
        assert_eq!(c.nodo.access.client_ip_header, "X-Forwarded-For");
        assert_eq!(c.api.access.client_ip_header, "X-Forwarded-For");
        let bad = DEMO_TOML.replacen("[api]\n", "[api]\nbody_timeout_ms = 0\n", 1);
        let err = format!("{:#}", Config::parse(&bad, "test").unwrap_err());
        assert!(err.contains("api.body_timeout_ms"), "{err}");
    }

    #[test]
    fn logos_are_loaded_once_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let png = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/avviso-demo.png");
        let with_logo = DEMO_TOML.replacen(
            "ufficio = \"Ufficio Tributi\"",
            &format!("ufficio = \"Ufficio Tributi\"\nlogo = \"{png}\""),
            1,
        );
        let path = dir.path().join("c.toml");
        std::fs::write(&path, &with_logo).unwrap();
        let c = Config::load(Some(&path), &Overrides::default()).unwrap();
        assert!(
            c.domini[0]
                .logo_bytes
                .as_ref()
                .is_some_and(|b| b.len() > 1000)
        );
        let not_image = dir.path().join("logo.txt");
        std::fs::write(&not_image, "hello").unwrap();
        std::fs::write(&path, with_logo.replace(png, not_image.to_str().unwrap())).unwrap();
        let err = format!(
            "{:#}",
            Config::load(Some(&path), &Overrides::default()).unwrap_err()
        );
        assert!(err.contains("domini[0].logo"), "{err}");
    }

    #[test]
    fn overrides_win() {
        let o = Overrides {
            data_dir: Some("/tmp/x".into()),
            nodo_listen: Some("127.0.0.1:1".parse().unwrap()),
            api_listen: None,
        };
        let c = Config::load(None, &o).unwrap();
        assert_eq!(c.store.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.nodo.listen.port(), 1);
        assert_eq!(c.api.listen.port(), 8081);
    }
}
