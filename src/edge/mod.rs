//! The network edge of each listener: who may connect and with which client certificate,
//! before a request reaches a handler.
//!
//! Two deployments are covered. Varco terminates TLS itself ([`tls`]): the client certificate
//! comes from the handshake. Or a reverse proxy terminates it: the proxy's own address is a
//! *trusted proxy*, the client's address comes from the one header the proxy is configured to
//! set (`access.client_ip_header`: `X-Forwarded-For` by default, or RFC 7239 `Forwarded`), and
//! the certificate the proxy verified comes in a configured header. No other forwarding header
//! is read, and nobody else's forwarding headers are believed.
//!
//! Checks happen as early as the information exists: a peer outside the allowlist is dropped at
//! accept; a handshake certificate that is not pinned drops the connection; what depends on
//! forwarded headers is checked per request by [`guard`], which answers 403 and never calls the
//! handler. [`guard`] also hands the resolved client address to handlers ([`ClientAddr`]) and
//! answers 408 when a request body outlives its deadline ([`deadline`]).

pub mod deadline;
pub mod tls;

use crate::config::{
    AccessConfig, ClientAuthConfig, ClientIpHeader, Fingerprint, parse_net, parse_pin,
    validate_access,
};
use anyhow::Context;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tracing::Instrument;

/// What the accept loop knows about a connection, attached to each of its requests.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The client certificate presented in the TLS handshake (already verified).
    pub client_cert: Option<Arc<CertificateDer<'static>>>,
}

/// The client address of a request as [`guard`] resolved it (the TCP peer, or what a trusted
/// proxy forwarded in `access.client_ip_header`), in the request's extensions for handlers and
/// middleware (per-client rate limits, logs): `req.extensions().get::<ClientAddr>()` or the
/// `Extension<ClientAddr>` extractor. Present on every request that came through a listener;
/// absent only when a router is called in-process (tests), where there is no peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientAddr(pub IpAddr);

/// Access rules of one listener, parsed once.
#[derive(Debug)]
pub struct Policy {
    /// Listener name, for logs.
    pub listener: &'static str,
    allow: Vec<IpNet>,
    trusted: Vec<IpNet>,
    client_ip_header: ClientIpHeader,
    cert_header: Option<HeaderName>,
    client_auth: Option<ClientAuth>,
}

/// Accepted client certificates.
#[derive(Debug)]
pub struct ClientAuth {
    /// Verifies a certificate passed by a proxy against the CA bundle.
    ca: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    /// `client_auth.intermediates`: path elements between a proxy-passed leaf and the CA
    /// (never trust anchors).
    intermediates: Vec<CertificateDer<'static>>,
    pins: Vec<Fingerprint>,
}

/// Extra certificates a proxy's header may carry after the leaf that are used as intermediates
/// (more are ignored: a real chain is two or three deep).
const MAX_HEADER_INTERMEDIATES: usize = 4;

/// Why a request or connection was refused (logged; the client only sees 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client address is not in the allowlist.
    AddressNotAllowed,
    /// No client certificate, from the handshake or a trusted proxy.
    NoCertificate,
    /// The certificate is not pinned or does not chain to the CA.
    CertificateNotAllowed,
    /// A trusted proxy sent a certificate header that does not hold a certificate.
    CertificateUnreadable,
    /// A trusted proxy sent a `Forwarded` / `X-Forwarded-For` that does not parse.
    ForwardedUnreadable,
}

impl Refusal {
    /// Stable name (logs, metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AddressNotAllowed => "address_not_allowed",
            Self::NoCertificate => "no_client_certificate",
            Self::CertificateNotAllowed => "client_certificate_not_allowed",
            Self::CertificateUnreadable => "client_certificate_unreadable",
            Self::ForwardedUnreadable => "forwarded_header_unreadable",
        }
    }
}

/// SHA-256 of a certificate's DER, the value pins are compared with.
pub fn fingerprint(der: &[u8]) -> Fingerprint {
    Sha256::digest(der).into()
}

impl Policy {
    /// Builds a listener's policy (reads the CA bundle).
    pub fn new(
        listener: &'static str,
        access: &AccessConfig,
        client_auth: Option<&ClientAuthConfig>,
    ) -> anyhow::Result<Self> {
        validate_access(listener, access, client_auth)?;
        let nets = |v: &[String]| {
            v.iter()
                .map(|a| parse_net(a))
                .collect::<Result<Vec<_>, _>>()
        };
        let client_auth = match client_auth {
            None => None,
            Some(c) => Some(ClientAuth {
                ca: match &c.ca {
                    Some(path) => Some(
                        tls::client_verifier(path, true)
                            .with_context(|| format!("{listener}.client_auth.ca"))?,
                    ),
                    None => None,
                },
                intermediates: match &c.intermediates {
                    Some(path) => tls::load_certs(path)
                        .with_context(|| format!("{listener}.client_auth.intermediates"))?,
                    None => Vec::new(),
                },
                pins: c
                    .pins
                    .iter()
                    .map(|p| parse_pin(p))
                    .collect::<Result<_, _>>()?,
            }),
        };
        Ok(Self {
            listener,
            allow: nets(&access.allow)?,
            trusted: nets(&access.trusted_proxies)?,
            client_ip_header: ClientIpHeader::parse(&access.client_ip_header)?,
            cert_header: access
                .client_cert_header
                .as_deref()
                .map(HeaderName::try_from)
                .transpose()?,
            client_auth,
        })
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&canonical(ip)))
    }

    fn allowed(&self, ip: IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|n| n.contains(&canonical(ip)))
    }

    /// At accept: a peer that is neither allowed nor a trusted proxy is dropped at once.
    pub fn admit_peer(&self, peer: IpAddr) -> Result<(), Refusal> {
        if self.allowed(peer) || self.is_trusted(peer) {
            Ok(())
        } else {
            Err(Refusal::AddressNotAllowed)
        }
    }

    /// After the TLS handshake: the presented certificate must be pinned (the CA was checked
    /// by the handshake). A missing certificate is left to [`Policy::check`], since a trusted
    /// proxy may pass one in a header.
    pub fn admit_handshake(&self, cert: Option<&CertificateDer<'_>>) -> Result<(), Refusal> {
        match (&self.client_auth, cert) {
            (Some(auth), Some(cert)) if !auth.pins.is_empty() => {
                if auth.pins.contains(&fingerprint(cert)) {
                    Ok(())
                } else {
                    Err(Refusal::CertificateNotAllowed)
                }
            }
            _ => Ok(()),
        }
    }

    /// The client address of a request: the peer, or what a trusted peer forwards in
    /// `access.client_ip_header` (no other header is read).
    pub fn client_addr(
        &self,
        peer: IpAddr,
        headers: &axum::http::HeaderMap,
    ) -> Result<IpAddr, Refusal> {
        if !self.is_trusted(peer) {
            return Ok(peer);
        }
        let forwarded = match &self.client_ip_header {
            ClientIpHeader::Forwarded => forwarded_chain(headers),
            ClientIpHeader::List(name) => address_list(headers, name),
        }
        .ok_or(Refusal::ForwardedUnreadable)?;
        // Walk from the nearest hop back: the first address that is not one of our proxies is
        // the client (anything further left was written by the client and is not believed).
        let mut client = peer;
        for hop in forwarded.iter().rev() {
            client = *hop;
            if !self.is_trusted(*hop) {
                break;
            }
        }
        Ok(client)
    }

    /// Every per-request check: the client address against the allowlist, and the client
    /// certificate (handshake, or a trusted proxy's header) against the CA and pins.
    pub fn check(
        &self,
        conn: &ConnInfo,
        headers: &axum::http::HeaderMap,
    ) -> Result<IpAddr, Refusal> {
        let client = self.client_addr(conn.peer.ip(), headers)?;
        if !self.allowed(client) {
            return Err(Refusal::AddressNotAllowed);
        }
        let Some(auth) = &self.client_auth else {
            return Ok(client);
        };
        if conn.client_cert.is_some() {
            // Verified by the handshake (CA) and at accept (pins).
            return Ok(client);
        }
        let from_proxy = match &self.cert_header {
            Some(name) if self.is_trusted(conn.peer.ip()) => headers.get(name),
            _ => None,
        };
        let Some(value) = from_proxy.filter(|v| !v.is_empty()) else {
            return Err(Refusal::NoCertificate);
        };
        let mut chain = certs_from_header(value).ok_or(Refusal::CertificateUnreadable)?;
        let der = chain.remove(0);
        if !auth.pins.is_empty() && !auth.pins.contains(&fingerprint(&der)) {
            return Err(Refusal::CertificateNotAllowed);
        }
        if let Some(ca) = &auth.ca {
            // Path building: the configured intermediates and whatever the proxy passed after
            // the leaf. Only `ca` holds trust anchors, so neither can make a certificate
            // trusted by itself.
            chain.truncate(MAX_HEADER_INTERMEDIATES);
            let intermediates: Vec<CertificateDer<'_>> = if chain.is_empty() {
                auth.intermediates.clone()
            } else {
                auth.intermediates.iter().cloned().chain(chain).collect()
            };
            ca.verify_client_cert(&der, &intermediates, rustls::pki_types::UnixTime::now())
                .map_err(|_| Refusal::CertificateNotAllowed)?;
        }
        Ok(client)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, as a dual-stack socket reports them) are
/// compared as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The hops of RFC 7239 `Forwarded` headers, oldest first; an empty list when none is sent.
/// `None` when one does not parse (an element without `for=`, or a `for=` that is not an
/// address).
pub fn forwarded_chain(headers: &axum::http::HeaderMap) -> Option<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(axum::http::header::FORWARDED) {
        for element in value.to_str().ok()?.split(',') {
            let for_value = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
            })?;
            hops.push(parse_forwarded_node(for_value)?);
        }
    }
    Some(hops)
}

/// The addresses of `X-Forwarded-For`-style headers named `name` (comma-separated, oldest
/// first); an empty list when none is sent, `None` when one does not parse.
pub fn address_list(headers: &axum::http::HeaderMap, name: &HeaderName) -> Option<Vec<IpAddr>> {
    let mut hops = Vec::new();
    for value in headers.get_all(name) {
        for part in value.to_str().ok()?.split(',') {
            hops.push(parse_forwarded_node(part.trim())?);
        }
    }
    Some(hops)
}

/// `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn parse_forwarded_node(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_matches('"');
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = t.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    t.parse::<SocketAddr>().ok().map(|s| s.ip())
}

/// The certificates of a proxy's header, leaf first (never empty): URL-encoded PEM, as nginx's
/// `$ssl_client_escaped_cert` sends the leaf (a plain PEM with its newlines folded to spaces
/// is accepted too). Certificates after the leaf, as some proxies pass the chain, are returned
/// as they come; the caller uses them as intermediates only.
pub fn certs_from_header(value: &HeaderValue) -> Option<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let decoded = percent_encoding::percent_decode(value.as_bytes())
        .decode_utf8()
        .ok()?;
    let text = decoded.trim();
    // Proxies that put a PEM on one line replace its newlines with spaces; restore them
    // around the armour so the base64 body parses.
    let text = text
        .replace(
            "-----BEGIN CERTIFICATE----- ",
            "-----BEGIN CERTIFICATE-----\n",
        )
        .replace(" -----END CERTIFICATE-----", "\n-----END CERTIFICATE-----")
        .replace("----- -----", "-----\n-----");
    let certs = CertificateDer::pem_slice_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    (!certs.is_empty()).then_some(certs)
}

/// Creates a request id (16 hex digits).
fn new_request_id() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// A proxy's `X-Request-Id` is kept when it is a plain token.
fn usable_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    (!text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)))
    .then(|| text.to_owned())
}

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Middleware on every listener (the outermost layer): names the request (id, client
/// address), runs the [`Policy`] checks and answers 403 without calling the handler when one
/// fails; otherwise puts the resolved [`ClientAddr`] in the request's extensions and calls the
/// handler. When the request's body outlived its deadline ([`deadline::BodyDeadline`]), the
/// handler's answer is replaced by 408 with `Connection: close`.
pub async fn guard(State(policy): State<Arc<Policy>>, mut req: Request, next: Next) -> Response {
    let conn = req.extensions().get::<ConnInfo>().cloned();
    let trusted_peer = conn
        .as_ref()
        .is_some_and(|c| policy.is_trusted(c.peer.ip()));
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .filter(|_| trusted_peer)
        .and_then(usable_request_id)
        .unwrap_or_else(new_request_id);
    let client = match &conn {
        None => None, // In-process (tests through the router): nothing to check.
        Some(conn) => match policy.check(conn, req.headers()) {
            Ok(ip) => Some(ip),
            Err(refusal) => {
                crate::metrics::edge_refused(policy.listener, refusal.as_str());
                tracing::warn!(
                    request_id = %id,
                    listener = policy.listener,
                    peer = %conn.peer,
                    reason = refusal.as_str(),
                    "request refused at the edge"
                );
                let mut response = (
                    StatusCode::FORBIDDEN,
                    axum::Json(serde_json::json!({
                        "categoria": "AUTORIZZAZIONE",
                        "codice": "403",
                        "descrizione": "Accesso negato",
                        "dettaglio": refusal.as_str(),
                    })),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&id) {
                    response.headers_mut().insert(REQUEST_ID.clone(), v);
                }
                return response;
            }
        },
    };
    let span = match client {
        Some(ip) => {
            req.extensions_mut().insert(ClientAddr(ip));
            tracing::info_span!("request", id = %id, client = %ip)
        }
        None => tracing::info_span!("request", id = %id),
    };
    let body_deadline = req.extensions_mut().remove::<deadline::BodyDeadline>();
    let mut response = next.run(req).instrument(span).await;
    if body_deadline.is_some_and(|d| d.expired()) {
        crate::metrics::edge_refused(policy.listener, "body_timeout");
        tracing::warn!(
            request_id = %id,
            listener = policy.listener,
            client = ?client,
            handler_status = response.status().as_u16(),
            "request body not received within the deadline: 408, connection closed"
        );
        response = deadline::timeout_response();
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn policy(allow: &[&str], trusted: &[&str]) -> Policy {
        policy_reading(allow, trusted, "X-Forwarded-For")
    }

    fn policy_reading(allow: &[&str], trusted: &[&str], client_ip_header: &str) -> Policy {
        let access = AccessConfig {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            client_ip_header: client_ip_header.into(),
            client_cert_header: None,
        };
        Policy::new("nodo", &access, None).unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::try_from(*k).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_headers_are_believed_only_from_trusted_proxies() {
        let p = policy(&[], &["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 10.0.0.2")]);
        assert_eq!(p.client_addr(ip("10.0.0.1"), &h), Ok(ip("203.0.113.9")));
        assert_eq!(
            p.client_addr(ip("198.51.100.1"), &h),
            Ok(ip("198.51.100.1"))
        );
        // A client that writes its own X-Forwarded-For gets the rightmost untrusted hop.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9")]);
        assert_eq!(p.client_addr(ip("10.0.0.1"), &h), Ok(ip("203.0.113.9")));
        let h = headers(&[("x-forwarded-for", "not-an-ip")]);
        assert_eq!(
            p.client_addr(ip("10.0.0.1"), &h),
            Err(Refusal::ForwardedUnreadable)
        );
        // No header from the proxy: the proxy itself is the client.
        assert_eq!(
            p.client_addr(ip("10.0.0.1"), &HeaderMap::new()),
            Ok(ip("10.0.0.1"))
        );
    }

    #[test]
    fn only_the_configured_client_ip_header_is_read() {
        let trusted = ip("10.0.0.1");
        let spoofed = [
            ("forwarded", "for=192.0.2.10"),
            ("x-real-ip", "192.0.2.10"),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        // Default: X-Forwarded-For alone; a Forwarded the client wrote is not looked at
        // (it used to win over X-Forwarded-For, and nginx passed it through).
        let p = policy(&["192.0.2.10"], &["10.0.0.0/8"]);
        assert_eq!(
            p.client_addr(trusted, &headers(&spoofed)),
            Ok(ip("203.0.113.9"))
        );
        let conn = ConnInfo {
            peer: SocketAddr::new(trusted, 5000),
            client_cert: None,
        };
        assert_eq!(
            p.check(&conn, &headers(&spoofed)),
            Err(Refusal::AddressNotAllowed)
        );
        // A Forwarded that would not even parse is ignored too.
        let h = headers(&[
            ("forwarded", "nonsense"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(p.client_addr(trusted, &h), Ok(ip("203.0.113.9")));
        // Only Forwarded (RFC 7239) when so configured, whatever X-Forwarded-For says.
        let p = policy_reading(&[], &["10.0.0.0/8"], "forwarded");
        let h = headers(&[
            ("forwarded", r#"for="[2001:db8::7]:4711";proto=https"#),
            ("x-forwarded-for", "1.2.3.4"),
        ]);
        assert_eq!(p.client_addr(trusted, &h), Ok(ip("2001:db8::7")));
        let h = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(p.client_addr(trusted, &h), Ok(trusted));
        let h = headers(&[("forwarded", "for=1.2.3.4, for=203.0.113.9;by=10.0.0.1")]);
        assert_eq!(p.client_addr(trusted, &h), Ok(ip("203.0.113.9")));
        let h = headers(&[("forwarded", "proto=https")]);
        assert_eq!(
            p.client_addr(trusted, &h),
            Err(Refusal::ForwardedUnreadable)
        );
        // Any other name: an X-Forwarded-For-style list in that header only.
        let p = policy_reading(&[], &["10.0.0.0/8"], "X-Real-IP");
        let h = headers(&[
            ("x-real-ip", "198.51.100.4"),
            ("x-forwarded-for", "1.2.3.4"),
            ("forwarded", "for=1.2.3.5"),
        ]);
        assert_eq!(p.client_addr(trusted, &h), Ok(ip("198.51.100.4")));
    }

    #[tokio::test]
    async fn the_guard_hands_the_resolved_client_address_to_handlers() {
        use axum::Extension;
        use tower::ServiceExt;
        let policy = Arc::new(policy(&[], &["127.0.0.1"]));
        let router = axum::Router::new()
            .route(
                "/",
                axum::routing::get(|addr: Option<Extension<ClientAddr>>| async move {
                    addr.map(|Extension(ClientAddr(ip))| ip.to_string())
                        .unwrap_or_default()
                }),
            )
            .layer(axum::middleware::from_fn_with_state(policy, guard));
        let call = |peer: &str, xff: Option<&str>| {
            let mut req = axum::http::Request::get("/");
            if let Some(xff) = xff {
                req = req.header("x-forwarded-for", xff);
            }
            let mut req = req.body(axum::body::Body::empty()).unwrap();
            req.extensions_mut().insert(ConnInfo {
                peer: SocketAddr::new(ip(peer), 4000),
                client_cert: None,
            });
            let router = router.clone();
            async move {
                let resp = router.oneshot(req).await.unwrap();
                let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
                String::from_utf8(body.to_vec()).unwrap()
            }
        };
        assert_eq!(call("127.0.0.1", Some("203.0.113.9")).await, "203.0.113.9");
        assert_eq!(
            call("198.51.100.1", Some("203.0.113.9")).await,
            "198.51.100.1"
        );
        assert_eq!(call("127.0.0.1", None).await, "127.0.0.1");
    }

    #[test]
    fn a_proxy_header_may_carry_the_chain_after_the_leaf() {
        let a = "-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n";
        let b = "-----BEGIN CERTIFICATE-----\nMAMCAQI=\n-----END CERTIFICATE-----\n";
        let one = HeaderValue::from_str(&a.replace('\n', "%0A")).unwrap();
        assert_eq!(certs_from_header(&one).unwrap().len(), 1);
        let two = HeaderValue::from_str(&format!("{a}{b}").replace('\n', "%0A")).unwrap();
        let chain = certs_from_header(&two).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1].as_ref(), [0x30, 0x03, 0x02, 0x01, 0x02]);
        let folded = HeaderValue::from_str(&format!("{a}{b}").replace('\n', " ")).unwrap();
        assert_eq!(certs_from_header(&folded).unwrap().len(), 2);
        assert!(certs_from_header(&HeaderValue::from_static("garbage")).is_none());
    }

    #[test]
    fn allowlist_applies_to_the_resolved_client() {
        let p = policy(&["20.86.139.154", "192.0.2.0/24"], &["127.0.0.1"]);
        let conn = |peer: &str| ConnInfo {
            peer: SocketAddr::new(ip(peer), 5000),
            client_cert: None,
        };
        assert!(p.check(&conn("192.0.2.77"), &HeaderMap::new()).is_ok());
        assert_eq!(
            p.check(&conn("198.51.100.1"), &HeaderMap::new()),
            Err(Refusal::AddressNotAllowed)
        );
        let via_proxy = headers(&[("x-forwarded-for", "20.86.139.154")]);
        assert!(p.check(&conn("127.0.0.1"), &via_proxy).is_ok());
        // The same header from an untrusted peer is ignored.
        assert_eq!(
            p.check(&conn("198.51.100.1"), &via_proxy),
            Err(Refusal::AddressNotAllowed)
        );
        assert!(p.admit_peer(ip("::ffff:192.0.2.5")).is_ok());
        assert!(p.admit_peer(ip("127.0.0.1")).is_ok());
        assert!(p.admit_peer(ip("198.51.100.1")).is_err());
    }
}
