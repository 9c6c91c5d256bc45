//! HTTP Basic authentication of applications against their argon2 hashes.
//!
//! argon2 is slow on purpose (tens of ms); a gestionale loading thousands of positions must not
//! pay that per request. After one successful verification, the pair is remembered as a salted
//! SHA-256 digest (salt random per process), so later requests cost one hash. The demo password
//! is refused outright unless both listeners are on loopback.

use super::error::ApiError;
use super::validate::Caller;
use crate::config::{Config, verify_password};
use axum::http::HeaderMap;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Credentials of the configured applications, with the verification cache.
#[derive(Debug)]
pub struct Authenticator {
    apps: HashMap<String, (String, Caller)>,
    operators: HashMap<String, String>,
    salt: [u8; 16],
    verified: RwLock<HashMap<String, [u8; 32]>>,
    allow_demo_password: bool,
}

impl Authenticator {
    /// Builds the table from the configuration.
    pub fn new(config: &Config) -> Arc<Self> {
        let apps = config
            .applicazioni
            .iter()
            .map(|a| {
                (
                    a.id_a2a.clone(),
                    (
                        a.password_hash.clone(),
                        Caller {
                            id_a2a: a.id_a2a.clone(),
                            domini: a.domini.clone(),
                            tipi_pendenza: a.tipi_pendenza.clone(),
                        },
                    ),
                )
            })
            .collect();
        let salt = *uuid::Uuid::new_v4().as_bytes();
        let operators = config
            .operatori
            .iter()
            .map(|o| (o.username.clone(), o.password_hash.clone()))
            .collect();
        Arc::new(Self {
            apps,
            operators,
            salt,
            verified: RwLock::new(HashMap::new()),
            allow_demo_password: config.loopback_only(),
        })
    }

    fn digest(&self, id: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(id.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// The application named by an `Authorization: Basic` header, or 401.
    pub async fn authenticate(self: &Arc<Self>, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let (id, password) = basic_credentials(headers).ok_or_else(ApiError::unauthenticated)?;
        let (hash, caller) = self.apps.get(&id).ok_or_else(ApiError::unauthenticated)?;
        self.check(&format!("app:{id}"), &password, hash).await?;
        Ok(caller.clone())
    }

    /// The operator named by an `Authorization: Basic` header, or 401.
    pub async fn authenticate_operator(
        self: &Arc<Self>,
        headers: &HeaderMap,
    ) -> Result<String, ApiError> {
        let (id, password) = basic_credentials(headers).ok_or_else(ApiError::unauthenticated)?;
        let hash = self
            .operators
            .get(&id)
            .ok_or_else(ApiError::unauthenticated)?;
        self.check(&format!("op:{id}"), &password, hash).await?;
        Ok(id)
    }

    async fn check(
        self: &Arc<Self>,
        key: &str,
        password: &str,
        hash: &str,
    ) -> Result<(), ApiError> {
        if password == "demo" && !self.allow_demo_password {
            return Err(ApiError::unauthenticated());
        }
        let digest = self.digest(key, password);
        let cached = self
            .verified
            .read()
            .map(|m| m.get(key) == Some(&digest))
            .unwrap_or(false);
        if cached {
            return Ok(());
        }
        let (hash, pw) = (hash.to_owned(), password.to_owned());
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
            .await
            .map_err(ApiError::internal)?;
        if !ok {
            return Err(ApiError::unauthenticated());
        }
        if let Ok(mut m) = self.verified.write() {
            m.insert(key.to_owned(), digest);
        }
        Ok(())
    }
}

/// `(user, password)` from `Authorization: Basic ...`.
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, password) = decoded.split_once(':')?;
    Some((id.to_owned(), password.to_owned()))
}
