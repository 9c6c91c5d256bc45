//! The HTTP side of receipt forwarding: one reqwest client per connector (rustls; a client
//! certificate when configured), `PUT {url}/ricevute/{idDominio}/{iuv}/{idRicevuta}`.

use super::Deliver;
use crate::config::{Config, Connettore};
use crate::domain::OutboxEntry;
use crate::gestionale::client::{authorise, client_for, segment};
use std::collections::HashMap;
use std::time::Duration;

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
