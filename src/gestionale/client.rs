//! HTTP toward a gestionale: one reqwest client per connector (rustls; a client certificate
//! when configured), its credentials on each request, and path segments encoded. Used for
//! verification on the fly here and for receipt forwarding by the outbox.

use crate::config::{Connettore, ConnettoreAuth};
use std::time::Duration;

/// Percent-encodes one path segment (RFC 3986 unreserved characters kept).
pub fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A client for a connector: timeouts, and the client certificate when configured.
pub fn client_for(c: &Connettore, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("varco/", env!("CARGO_PKG_VERSION")));
    if let ConnettoreAuth::ClientCert { cert, key } = &c.auth {
        let mut pem =
            std::fs::read(cert).map_err(|e| anyhow::anyhow!("{}: {e}", cert.display()))?;
        pem.extend(std::fs::read(key).map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?);
        builder = builder.identity(reqwest::Identity::from_pem(&pem)?);
    }
    Ok(builder.build()?)
}

/// Adds the connector's credentials to a request.
pub fn authorise(req: reqwest::RequestBuilder, auth: &ConnettoreAuth) -> reqwest::RequestBuilder {
    match auth {
        ConnettoreAuth::None | ConnettoreAuth::ClientCert { .. } => req,
        ConnettoreAuth::Basic { username, password } => req.basic_auth(username, Some(password)),
        ConnettoreAuth::ApiKey { header, key } => req.header(header.as_str(), key.as_str()),
    }
}
