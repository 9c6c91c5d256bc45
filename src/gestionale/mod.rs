//! Verification on the fly: asking the gestionale about a notice Varco does not hold, or whose
//! validity date has passed (`GET {url}/avvisi/{idDominio}/{numeroAvviso}`, GovPay's "API Ente
//! Creditore v2"), within a budget well under the Nodo's 7 s.

pub mod client;

use crate::config::{Applicazione, Config, Servizio};
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

/// An answer about another notice or creditor, in GovPay's words.
fn contradiction() -> VerificaError {
    VerificaError::Contradiction(
        "I campi IdDominio e NumeroAvviso della pendenza ricevuta dal servizio di verifica non corrispondono ai parametri di input."
            .into(),
    )
}

/// `PendenzaVerificata`
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PendenzaVerificata {
    #[serde(default)]
    stato: Option<serde_json::Value>,
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

    /// Sends `build`'s request to `app`'s gestionale within its verification budget and reads
    /// the `PendenzaVerificata` it answers.
    async fn ask(
        &self,
        app: &Applicazione,
        build: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Result<Answer, VerificaError> {
        let c = app
            .connettore
            .as_ref()
            .ok_or_else(|| VerificaError::Transport("no connettore".into()))?;
        let client = self
            .clients
            .get(&app.id_a2a)
            .ok_or_else(|| VerificaError::Transport("no client for the connettore".into()))?;
        let budget = c.verify_timeout_ms;
        let request = authorise(
            build(client, c.url.trim_end_matches('/')).header("accept", "application/json"),
            &c.auth,
        );
        let call = async {
            let resp = request.send().await.map_err(|e| {
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
        match answer.stato.as_ref().and_then(|s| s.as_str()) {
            Some("ANNULLATA") => return Ok(Answer::Other(Verifica::Annullata(why))),
            Some("SCADUTA") => return Ok(Answer::Other(Verifica::Scaduta(why))),
            Some("SCONOSCIUTA") => return Ok(Answer::Other(Verifica::Sconosciuta(why))),
            Some("NON_ESEGUITA") => {}
            // GovPay's texts, which name the field.
            _ => {
                return Err(VerificaError::Invalid(match answer.stato {
                    None | Some(serde_json::Value::Null) => {
                        "Stato pendenza non gestito: null".to_owned()
                    }
                    Some(other) => {
                        let shown = other.to_string();
                        format!(
                            "stato: {} is not NON_ESEGUITA, ANNULLATA, SCADUTA or SCONOSCIUTA",
                            crate::soap::schema::truncate_chars(&shown, 40)
                        )
                    }
                }));
            }
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
        Ok(Answer::Payable(Box::new(item)))
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
        let path = format!("/avvisi/{}/{}", segment(dominio), segment(nav.as_str()));
        let item = match self
            .ask(app, |c, base| c.get(format!("{base}{path}")))
            .await?
        {
            Answer::Other(v) => return Ok(v),
            Answer::Payable(item) => item,
        };
        // An answer about another creditor or notice is refused before its content (a
        // notice number that is not 18 digits is a fault of the content, named as such).
        let other_notice = item.pendenza.numero_avviso.as_deref().is_some_and(|n| {
            n.len() == 18 && n.bytes().all(|b| b.is_ascii_digit()) && n != nav.as_str()
        });
        if item.pendenza.id_dominio != dominio || other_notice {
            return Err(contradiction());
        }
        let validated = validated(config, app, &item, now)?;
        // Checked after the answer's own rules, as GovPay does.
        if validated.pendenza.dominio != dominio || validated.pendenza.numero_avviso != nav.as_str()
        {
            return Err(contradiction());
        }
        Ok(Verifica::Pendenza(Box::new(validated.pendenza)))
    }

    /// Asks the gestionale of `servizio`'s application the position for a spontaneous payment
    /// (`POST {url}/servizi/{idServizio}`): `richiesta` names the creditor, the service, the
    /// idPendenza Varco will give the position, and the service data as JSON. The answer is a
    /// `PendenzaVerificata` without a notice number (Varco draws it from the creditor's
    /// counter) for that idPendenza, creditor and tipo pendenza.
    pub async fn price(
        &self,
        config: &Config,
        servizio: &Servizio,
        richiesta: &serde_json::Value,
        id_pendenza: &str,
        now: DateTime<Utc>,
    ) -> Result<(Verifica, Option<String>), VerificaError> {
        let app = config
            .applicazione(&servizio.id_a2a)
            .ok_or_else(|| VerificaError::Transport("no such application".into()))?;
        let path = format!("/servizi/{}", segment(&servizio.id_servizio));
        let item = match self
            .ask(app, |c, base| {
                c.post(format!("{base}{path}")).json(richiesta)
            })
            .await?
        {
            Answer::Other(v) => return Ok((v, None)),
            Answer::Payable(item) => item,
        };
        let mismatch = |what: String| VerificaError::Contradiction(what);
        if item.id_pendenza != id_pendenza {
            return Err(mismatch(format!(
                "idPendenza {} is not the {id_pendenza} Varco asked for",
                crate::soap::schema::truncate_chars(&item.id_pendenza, 40)
            )));
        }
        if item.pendenza.id_dominio != servizio.dominio {
            return Err(mismatch(format!(
                "idDominio {} is not the service's {}",
                crate::soap::schema::truncate_chars(&item.pendenza.id_dominio, 40),
                servizio.dominio
            )));
        }
        if let Some(t) = &item.pendenza.id_tipo_pendenza
            && t != &servizio.tipo_pendenza
        {
            return Err(mismatch(format!(
                "idTipoPendenza {} is not the service's {}",
                crate::soap::schema::truncate_chars(t, 40),
                servizio.tipo_pendenza
            )));
        }
        if item.pendenza.numero_avviso.is_some() {
            return Err(VerificaError::Invalid(
                "numeroAvviso must be absent: Varco draws the notice number".into(),
            ));
        }
        let mut item = *item;
        item.pendenza.id_tipo_pendenza = Some(servizio.tipo_pendenza.clone());
        let validated = validated(config, app, &item, now)?;
        Ok((
            Verifica::Pendenza(Box::new(validated.pendenza)),
            validated.generate,
        ))
    }
}

/// A gestionale's position, checked with the rules of a load by that application.
fn validated(
    config: &Config,
    app: &Applicazione,
    item: &PendenzaTracciato,
    now: DateTime<Utc>,
) -> Result<validate::Validated, VerificaError> {
    validate::nuova_pendenza(
        config,
        &Caller::of(app),
        &item.id_pendenza,
        &item.pendenza,
        now,
    )
    .map_err(|e| {
        VerificaError::Invalid(match e {
            validate::Refusal::Rule { dettaglio, .. } => dettaglio,
            other => other.to_string(),
        })
    })
}

/// What a gestionale answered, before the checks of the question asked.
enum Answer {
    /// NON_ESEGUITA, with its position.
    Payable(Box<PendenzaTracciato>),
    /// Cancelled, expired or unknown.
    Other(Verifica),
}
