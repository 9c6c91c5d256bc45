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
        Arc::new(Self {
            apps,
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

    /// The caller named by an `Authorization: Basic` header, or 401.
    pub async fn authenticate(self: &Arc<Self>, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthenticated)?;
        let encoded = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
            .ok_or_else(ApiError::unauthenticated)?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| ApiError::unauthenticated())?;
        let decoded = String::from_utf8(decoded).map_err(|_| ApiError::unauthenticated())?;
        let (id, password) = decoded
            .split_once(':')
            .ok_or_else(ApiError::unauthenticated)?;
        let (hash, caller) = self.apps.get(id).ok_or_else(ApiError::unauthenticated)?;
        if password == "demo" && !self.allow_demo_password {
            return Err(ApiError::unauthenticated());
        }
        let digest = self.digest(id, password);
        let cached = self
            .verified
            .read()
            .map(|m| m.get(id) == Some(&digest))
            .unwrap_or(false);
        if cached {
            return Ok(caller.clone());
        }
        let (hash, pw) = (hash.clone(), password.to_owned());
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &hash))
            .await
            .map_err(ApiError::internal)?;
        if !ok {
            return Err(ApiError::unauthenticated());
        }
        if let Ok(mut m) = self.verified.write() {
            m.insert(id.to_owned(), digest);
        }
        Ok(caller.clone())
    }
}
