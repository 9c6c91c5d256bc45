//! Verification on the fly: asking the gestionale about a notice Varco does not hold, or whose
//! validity date has passed (`GET {url}/avvisi/{idDominio}/{numeroAvviso}`, GovPay's "API Ente
//! Creditore v2"), within a budget well under the Nodo's 7 s.

pub mod client;

use crate::config::{Applicazione, Config};
use crate::domain::NoticeNumber;
use crate::domain::Pendenza;
use crate::govpay::pendenza::PendenzaTracciato;
use crate::govpay::validate::{self, Caller};
use chrono::{DateTime, Utc};
use client::{authorise, client_for, segment};
use regex::Regex;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;

/// What the gestionale said about a notice.
#[derive(Debug, Clone, PartialEq)]
pub enum Verifica {
    /// Payable: the position to store and answer from.
    Pendenza(Box<Pendenza>),
    /// Cancelled.
    Annullata(String),
    /// Expired.
    Scaduta(String),
    /// Unknown to the gestionale.
    Sconosciuta(String),
}

/// Why the gestionale gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerificaError {
    /// No answer within the budget.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// Connection or HTTP failure.
    #[error("{0}")]
    Transport(String),
    /// An answer that is not a PendenzaVerificata, or a position that breaks the rules.
    #[error("invalid answer: {0}")]
    Invalid(String),
    /// An answer about another notice or creditor.
    #[error("the answer contradicts the request: {0}")]
    Contradiction(String),
}

/// `PendenzaVerificata`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendenzaVerificata {
    stato: String,
    #[serde(default)]
    descrizione_stato: Option<String>,
    #[serde(default)]
    pendenza: Option<PendenzaTracciato>,
}

/// The gestionali Varco may ask, with their clients and IUV patterns.
pub struct Gestionale {
    clients: HashMap<String, reqwest::Client>,
    patterns: HashMap<String, Regex>,
}

impl Gestionale {
    /// Builds clients for the applications that own notices outside Varco.
    pub fn new(config: &Config) -> Self {
        let mut clients = HashMap::new();
        let mut patterns = HashMap::new();
        for a in &config.applicazioni {
            let Some(c) = &a.connettore else { continue };
            match client_for(c, Duration::from_millis(c.verify_timeout_ms)) {
                Ok(client) => {
                    clients.insert(a.id_a2a.clone(), client);
                }
                Err(e) => {
                    tracing::error!(id_a2a = %a.id_a2a, error = %e, "cannot build the gestionale client")
                }
            }
            if let Some(p) = a.iuv_pattern.as_deref().and_then(|p| Regex::new(p).ok()) {
                patterns.insert(a.id_a2a.clone(), p);
            }
        }
        Self { clients, patterns }
    }

    /// The application that owns `nav` in `dominio` outside Varco, if any.
    pub fn owner<'c>(
        &self,
        config: &'c Config,
        dominio: &str,
        nav: &NoticeNumber,
    ) -> Option<&'c Applicazione> {
        config.applicazioni.iter().find(|a| {
            a.connettore.is_some()
                && a.domini.iter().any(|d| d == "*" || d == dominio)
                && (self
                    .patterns
                    .get(&a.id_a2a)
                    .is_some_and(|p| p.is_match(nav.iuv()))
                    || nav
                        .segregation_code()
                        .is_some_and(|s| a.segregation_codes.iter().any(|c| c == s)))
        })
    }

    /// Asks `app`'s gestionale about `nav`.
    pub async fn verify(
        &self,
        config: &Config,
        app: &Applicazione,
        dominio: &str,
        nav: &NoticeNumber,
        now: DateTime<Utc>,
    ) -> Result<Verifica, VerificaError> {
        let c = app
            .connettore
            .as_ref()
            .ok_or_else(|| VerificaError::Transport("no connettore".into()))?;
        let client = self
            .clients
            .get(&app.id_a2a)
            .ok_or_else(|| VerificaError::Transport("no client for the connettore".into()))?;
        let url = format!(
            "{}/avvisi/{}/{}",
            c.url.trim_end_matches('/'),
            segment(dominio),
            segment(nav.as_str())
        );
        let budget = c.verify_timeout_ms;
        let call = async {
            let resp = authorise(
                client.get(url).header("accept", "application/json"),
                &c.auth,
            )
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    VerificaError::Timeout(budget)
                } else {
                    VerificaError::Transport(e.to_string())
                }
            })?;
            let status = resp.status();
            let body = resp
                .bytes()
                .await
                .map_err(|e| VerificaError::Transport(e.to_string()))?;
            if !status.is_success() {
                return Err(VerificaError::Transport(format!(
                    "HTTP {}",
                    status.as_u16()
                )));
            }
            Ok(body)
        };
        let body = tokio::time::timeout(Duration::from_millis(budget), call)
            .await
            .map_err(|_| VerificaError::Timeout(budget))??;
        let answer: PendenzaVerificata =
            serde_json::from_slice(&body).map_err(|e| VerificaError::Invalid(e.to_string()))?;
        let why = answer.descrizione_stato.unwrap_or_default();
        match answer.stato.as_str() {
            "ANNULLATA" => return Ok(Verifica::Annullata(why)),
            "SCADUTA" => return Ok(Verifica::Scaduta(why)),
            "SCONOSCIUTA" => return Ok(Verifica::Sconosciuta(why)),
            "NON_ESEGUITA" => {}
            other => return Err(VerificaError::Invalid(format!("stato {other:?}"))),
        }
        let item = answer
            .pendenza
            .ok_or_else(|| VerificaError::Invalid("NON_ESEGUITA without a pendenza".into()))?;
        if item.id_a2a != app.id_a2a {
            return Err(VerificaError::Contradiction(format!(
                "idA2A {} is not {}",
                item.id_a2a, app.id_a2a
            )));
        }
        if item.pendenza.id_dominio != dominio {
            return Err(VerificaError::Contradiction(format!(
                "idDominio {} is not {dominio}",
                item.pendenza.id_dominio
            )));
        }
        match item.pendenza.numero_avviso.as_deref() {
            Some(n) if n == nav.as_str() => {}
            Some(n) => {
                return Err(VerificaError::Contradiction(format!(
                    "numeroAvviso {n} is not {nav}"
                )));
            }
            None => {
                return Err(VerificaError::Contradiction(format!(
                    "no numeroAvviso (expected {nav})"
                )));
            }
        }
        let caller = Caller {
            id_a2a: app.id_a2a.clone(),
            domini: app.domini.clone(),
            tipi_pendenza: app.tipi_pendenza.clone(),
        };
        let validated =
            validate::nuova_pendenza(config, &caller, &item.id_pendenza, &item.pendenza, now)
                .map_err(|e| VerificaError::Invalid(e.to_string()))?;
        Ok(Verifica::Pendenza(Box::new(validated.pendenza)))
    }
}
