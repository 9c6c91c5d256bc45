//! The HTTP side of receipt forwarding: one reqwest client per connector (rustls; a client
//! certificate when configured), `PUT {url}/ricevute/{idDominio}/{iuv}/{idRicevuta}`.

use super::Deliver;
use crate::config::{Config, Connettore, ConnettoreAuth};
use crate::domain::OutboxEntry;
use std::collections::HashMap;
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

/// Delivers over HTTP.
pub struct HttpSender {
    clients: HashMap<String, reqwest::Client>,
}

impl HttpSender {
    /// Builds one client per application with a connector.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let mut clients = HashMap::new();
        for a in &config.applicazioni {
            let Some(c) = &a.connettore else { continue };
            clients.insert(
                a.id_a2a.clone(),
                client_for(c, Duration::from_millis(config.outbox.timeout_ms))?,
            );
        }
        Ok(Self { clients })
    }
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

impl Deliver for HttpSender {
    async fn deliver(
        &self,
        id_a2a: &str,
        c: &Connettore,
        entry: &OutboxEntry,
        body: Vec<u8>,
    ) -> Result<(), String> {
        let client = self
            .clients
            .get(id_a2a)
            .ok_or_else(|| format!("no HTTP client for {id_a2a}"))?;
        let url = format!(
            "{}/ricevute/{}/{}/{}",
            c.url.trim_end_matches('/'),
            segment(&entry.dominio),
            segment(&entry.iuv),
            segment(&entry.receipt_id)
        );
        let req = client
            .put(url)
            .header("content-type", "application/json")
            .header(
                "idempotency-key",
                format!("{}/{}/{}", entry.dominio, entry.iuv, entry.receipt_id),
            )
            .body(body);
        let resp = authorise(req, &c.auth)
            .send()
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the gestionale answered HTTP {}",
                resp.status().as_u16()
            ))
        }
    }
}
