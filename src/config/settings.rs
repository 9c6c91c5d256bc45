//! The settings of the process: listeners (with their TLS, client-certificate and access
//! rules), the store, the outbox, the journal, the demo. What the creditors are is in
//! [`super::registry`].

use super::Config;
use anyhow::{Context, bail};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

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

/// `[fdr]`: settlement flows, acquired from pagoPA's FdR 3 API for organisations.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FdrConfig {
    /// Base URL of the API (production:
    /// `https://api.platform.pagopa.it/fdr-org/service/v1`); none: no acquisition, flows
    /// come only from files.
    pub url: Option<String>,
    /// The broker's APIM subscription key (`Ocp-Apim-Subscription-Key`).
    pub subscription_key: String,
    /// Seconds between scheduled acquisitions (0: only on demand).
    pub every_secs: u64,
    /// Flows asked per list page (1..1000).
    pub page_size: u32,
    /// Timeout of one call, ms.
    pub timeout_ms: u64,
    /// Attempts of one call before it counts as failed.
    pub attempts: u32,
    /// First backoff between attempts, ms (doubled each time).
    pub retry_base_ms: u64,
    /// Longest backoff, ms.
    pub retry_max_ms: u64,
    /// A flow that failed this many runs is left to an operator.
    pub max_flow_failures: u32,
    /// Flows acquired more than this many days ago are removed (0: kept for ever).
    pub retention_days: u64,
}

impl Default for FdrConfig {
    fn default() -> Self {
        Self {
            url: None,
            subscription_key: String::new(),
            every_secs: 7200,
            page_size: 1000,
            timeout_ms: 30_000,
            attempts: 4,
            retry_base_ms: 2000,
            retry_max_ms: 8000,
            max_flow_failures: 10,
            retention_days: 3650,
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

pub use crate::store::settings::{DbUrl, STORE_PASSWORD_ENV, StoreConfig, StoreEngine};

/// `[demo]`
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoConfig {
    /// Seed the demo positions when the store is empty.
    #[serde(default)]
    pub seed: bool,
}

impl Config {
    /// Checks the store's settings.
    fn validate_store(&self) -> anyhow::Result<()> {
        let s = &self.store;
        if s.engine == StoreEngine::Postgres && s.url.is_none() {
            bail!("store.url: required with engine = \"postgres\"");
        }
        if !(1..=6000).contains(&s.request_budget_ms) {
            bail!("store.request_budget_ms: must be 1..6000 (the Nodo gives up at 7 s)");
        }
        if s.statement_timeout_ms == 0 || s.pool_size == 0 {
            bail!("store: statement_timeout_ms and pool_size must be at least 1");
        }
        if let Some(sc) = &s.synchronous_commit
            && !["on", "remote_apply", "remote_write", "local"].contains(&sc.as_str())
        {
            bail!(
                "store.synchronous_commit: {sc:?} is not one of on, remote_apply, remote_write, local (off would acknowledge receipts that are not on disk)"
            );
        }
        Ok(())
    }

    fn validate_fdr(&self) -> anyhow::Result<()> {
        let f = &self.fdr;
        if let Some(url) = &f.url {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                bail!("fdr.url: must be an http(s) URL");
            }
            if f.subscription_key.is_empty() {
                bail!("fdr.subscription_key: required with fdr.url");
            }
        }
        if !(1..=1000).contains(&f.page_size) {
            bail!("fdr.page_size: must be 1..1000 (the API's limit)");
        }
        if f.attempts == 0 || f.timeout_ms == 0 || f.retry_base_ms == 0 {
            bail!("fdr: attempts, timeout_ms and retry_base_ms must be at least 1");
        }
        Ok(())
    }

    /// Checks the settings of the listeners and the outbox, naming the key at fault.
    pub(super) fn validate_settings(&self) -> anyhow::Result<()> {
        validate_access("nodo", &self.nodo.access, self.nodo.client_auth.as_ref())?;
        validate_access("api", &self.api.access, self.api.client_auth.as_ref())?;
        self.validate_store()?;
        self.validate_fdr()?;
        if self.nodo.max_body_bytes < 1024 {
            bail!("nodo.max_body_bytes: must be at least 1024");
        }
        if self.nodo.body_timeout_ms == 0 {
            bail!("nodo.body_timeout_ms: must be at least 1");
        }
        if self.api.body_timeout_ms == 0 {
            bail!("api.body_timeout_ms: must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.outbox.jitter)
            || self.outbox.parallel == 0
            || self.outbox.base_delay_ms == 0
        {
            bail!("outbox: jitter must be 0..1, parallel and base_delay_ms at least 1");
        }
        Ok(())
    }
}

/// A SHA-256 fingerprint of a certificate's DER.
pub type Fingerprint = [u8; 32];

/// Where a trusted proxy puts the client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIpHeader {
    /// RFC 7239 `Forwarded: for=...`.
    Forwarded,
    /// A comma-separated list of addresses, oldest first (`X-Forwarded-For` and the like).
    List(http::HeaderName),
}

impl ClientIpHeader {
    /// Parses `access.client_ip_header`.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        let name = http::HeaderName::try_from(name.trim())
            .with_context(|| format!("{name:?} is not a header name"))?;
        Ok(if name == http::header::FORWARDED {
            Self::Forwarded
        } else {
            Self::List(name)
        })
    }
}

/// Parses `10.0.0.0/8`, `192.0.2.7` or `::1`.
pub fn parse_net(text: &str) -> anyhow::Result<IpNet> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    let ip: IpAddr = text
        .parse()
        .with_context(|| format!("{text:?} is neither an address nor a CIDR range"))?;
    Ok(IpNet::from(ip))
}

/// Parses a SHA-256 fingerprint: 64 hex digits, colons allowed, optional `sha256:` prefix.
pub fn parse_pin(text: &str) -> anyhow::Result<Fingerprint> {
    let t = text.trim();
    let t = t
        .strip_prefix("sha256:")
        .or_else(|| t.strip_prefix("SHA256:"))
        .unwrap_or(t);
    let hex: String = t.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{text:?} is not a SHA-256 fingerprint (64 hex digits)");
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex");
    }
    Ok(out)
}

/// Checks the syntax of a listener's access settings (files are read when serving starts).
pub fn validate_access(
    key: &str,
    access: &AccessConfig,
    client_auth: Option<&ClientAuthConfig>,
) -> anyhow::Result<()> {
    for (i, a) in access.allow.iter().enumerate() {
        parse_net(a).with_context(|| format!("{key}.access.allow[{i}]"))?;
    }
    for (i, a) in access.trusted_proxies.iter().enumerate() {
        parse_net(a).with_context(|| format!("{key}.access.trusted_proxies[{i}]"))?;
    }
    ClientIpHeader::parse(&access.client_ip_header)
        .with_context(|| format!("{key}.access.client_ip_header"))?;
    if let Some(h) = &access.client_cert_header {
        http::HeaderName::try_from(h.as_str())
            .with_context(|| format!("{key}.access.client_cert_header: not a header name"))?;
        if access.trusted_proxies.is_empty() {
            bail!(
                "{key}.access.client_cert_header: needs {key}.access.trusted_proxies (only a trusted proxy's header is believed)"
            );
        }
    }
    if let Some(ca) = client_auth {
        if ca.ca.is_none() && ca.pins.is_empty() {
            bail!("{key}.client_auth: give a CA bundle (ca), pinned fingerprints (pins), or both");
        }
        for (i, p) in ca.pins.iter().enumerate() {
            parse_pin(p).with_context(|| format!("{key}.client_auth.pins[{i}]"))?;
        }
        if ca.intermediates.is_some() && ca.ca.is_none() {
            bail!(
                "{key}.client_auth.intermediates: needs {key}.client_auth.ca (intermediates lead to a CA; they are never trusted on their own)"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_parse_in_the_usual_spellings() {
        let hex = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_pin(&hex).unwrap(), [0xab; 32]);
        assert_eq!(parse_pin(&format!("sha256:{colons}")).unwrap(), [0xab; 32]);
        assert!(parse_pin("abcd").is_err());
        assert!(parse_pin(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn settings_are_validated_with_their_key() {
        let access = AccessConfig {
            client_cert_header: Some("X-SSL-Client-Cert".into()),
            ..Default::default()
        };
        let e = validate_access("nodo", &access, None).unwrap_err();
        assert!(format!("{e:#}").contains("nodo.access.client_cert_header"));
        let access = AccessConfig {
            allow: vec!["10.0.0.0/33".into()],
            ..Default::default()
        };
        let e = validate_access("api", &access, None).unwrap_err();
        assert!(format!("{e:#}").contains("api.access.allow[0]"));
        let e = validate_access(
            "nodo",
            &AccessConfig::default(),
            Some(&ClientAuthConfig::default()),
        )
        .unwrap_err();
        assert!(format!("{e:#}").contains("nodo.client_auth"));
        let access = AccessConfig {
            client_ip_header: "X Forwarded For".into(),
            ..Default::default()
        };
        let e = validate_access("api", &access, None).unwrap_err();
        assert!(
            format!("{e:#}").contains("api.access.client_ip_header"),
            "{e:#}"
        );
        let auth = ClientAuthConfig {
            pins: vec!["ab".repeat(32)],
            intermediates: Some("intermediates.pem".into()),
            ..Default::default()
        };
        let e = validate_access("nodo", &AccessConfig::default(), Some(&auth)).unwrap_err();
        assert!(
            format!("{e:#}").contains("nodo.client_auth.intermediates"),
            "{e:#}"
        );
    }
}
