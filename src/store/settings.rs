//! `[store]`: which engine holds the data and how to reach it. The store owns its settings
//! (the configuration embeds them), so it is handed what it needs and reads nothing else.

use serde::Deserialize;
use std::path::PathBuf;

/// The environment variable a PostgreSQL password may come from (when neither the URL nor
/// `store.password_file` gives one).
pub const STORE_PASSWORD_ENV: &str = "VARCO_STORE_PASSWORD";

/// Which engine holds the data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreEngine {
    /// Embedded, in `store.data_dir` (one node).
    #[default]
    Sled,
    /// PostgreSQL at `store.url` (any number of nodes).
    Postgres,
}

/// A connection URL that never prints its password.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct DbUrl(String);

impl DbUrl {
    /// The URL as written, password included: for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DbUrl {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl std::fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // postgres://user:secret@host/db -> postgres://user:***@host/db; key=value forms
        // drop a password=... pair's value.
        let s = &self.0;
        let shown = match (s.find("://"), s.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let creds = &s[scheme + 3..at];
                match creds.find(':') {
                    Some(colon) => format!("{}:***{}", &s[..scheme + 3 + colon], &s[at..]),
                    None => s.clone(),
                }
            }
            _ => s
                .split_whitespace()
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect::<Vec<_>>()
                .join(" "),
        };
        f.write_str(&shown)
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The engine: `sled` (default) or `postgres`.
    #[serde(default)]
    pub engine: StoreEngine,
    /// Directory of the embedded store.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Page cache size in MiB (bounds resident memory; embedded store).
    #[serde(default = "default_cache_mb")]
    pub cache_mb: u64,
    /// PostgreSQL: a `postgres://` URL or key=value string (several hosts for a failover,
    /// with `target_session_attrs=read-write`).
    #[serde(default)]
    pub url: Option<DbUrl>,
    /// PostgreSQL: a file holding the password (else `VARCO_STORE_PASSWORD`, else the URL's).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// PostgreSQL: connections per node.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// PostgreSQL: the server-side `statement_timeout` of every session (ms).
    #[serde(default = "default_statement_timeout_ms")]
    pub statement_timeout_ms: u64,
    /// PostgreSQL: the longest one store call may take on Varco's side (ms), whatever the
    /// server does; past it SOAP answers PAA_SYSTEM_ERROR and REST 503. Well under the Nodo's
    /// 7 s.
    #[serde(default = "default_request_budget_ms")]
    pub request_budget_ms: u64,
    /// PostgreSQL: `synchronous_commit` for Varco's sessions (`on`, `remote_apply`,
    /// `remote_write`, `local`; `off` is refused: it acknowledges receipts not yet on disk).
    /// Unset: the server's setting.
    #[serde(default)]
    pub synchronous_commit: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            engine: StoreEngine::default(),
            data_dir: default_data_dir(),
            cache_mb: default_cache_mb(),
            url: None,
            password_file: None,
            pool_size: default_pool_size(),
            statement_timeout_ms: default_statement_timeout_ms(),
            request_budget_ms: default_request_budget_ms(),
            synchronous_commit: None,
        }
    }
}

fn default_pool_size() -> usize {
    16
}
fn default_statement_timeout_ms() -> u64 {
    1500
}
fn default_request_budget_ms() -> u64 {
    2000
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("varco-data")
}
fn default_cache_mb() -> u64 {
    256
}
