//! HTTP Basic authentication of applications and operators against their argon2 hashes, as a
//! layer on the routes that need it: it runs after routing and before any body is read, and
//! hands the caller to the handler as a request extension ([`Caller`], [`Operator`]).
//!
//! argon2 is slow and memory-hungry on purpose (~20 ms and 19 MiB each), which makes it the
//! cheapest way to hurt the server: so verifications are bounded and remembered.
//! - A pair that verified is remembered as a salted SHA-256 digest (salt random per process):
//!   a gestionale loading thousands of positions pays one hash per request.
//! - A pair that failed is remembered too (a bounded set of digests): repeating it costs one
//!   hash as well.
//! - At most one argon2 verification per core runs at once; a bounded number wait, and beyond
//!   that the answer is 429.
//! - Failures are counted per client address and per user name (a leaky bucket each): past the
//!   burst the answer is 429 with `Retry-After`, before any argon2 runs. A user whose right
//!   password is already remembered is not held back by somebody else's failures.
//! - An unknown user costs the same argon2 as a known one (a stand-in hash), so timing does
//!   not tell which user names exist.
//! - The demo password is refused outright unless the demo is reachable only from this host
//!   ([`Config::demo_credentials_allowed`]).

use super::error::ApiError;
use crate::config::Config;
use crate::govpay::validate::Caller;
use crate::password::verify_password;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// An authenticated operator (backoffice), as a request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator(pub String);

/// Failures allowed in a burst, per client address and per user name.
pub const FAILURE_BURST: f64 = 10.0;
/// How fast a burst drains: one failure forgiven every this many seconds.
pub const FAILURE_LEAK_SECS: f64 = 6.0;
/// Verifications waiting for a core, per core, beyond which the answer is 429.
const WAITING_PER_SLOT: usize = 16;
/// Failed pairs remembered (their digests); the set is emptied when it fills.
const REFUSED_CAPACITY: usize = 65_536;
/// Buckets kept; when there are more, the drained ones are dropped first.
const BUCKETS_CAPACITY: usize = 100_000;

/// What is counted against: a client address or a user name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Who {
    Address(IpAddr),
    User(String),
}

/// A leaky bucket of failures.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    level: f64,
    at: Instant,
}

impl Bucket {
    fn drained(self, now: Instant) -> f64 {
        let leaked = now.saturating_duration_since(self.at).as_secs_f64() / FAILURE_LEAK_SECS;
        (self.level - leaked).max(0.0)
    }
}

/// Failure counts per address and per user.
#[derive(Debug, Default)]
struct Limiter {
    buckets: HashMap<Who, Bucket>,
}

impl Limiter {
    /// Seconds to wait when any of `who` is past its burst.
    fn blocked(&self, who: &[Who], now: Instant) -> Option<u64> {
        who.iter()
            .filter_map(|w| self.buckets.get(w))
            .map(|b| b.drained(now))
            .filter(|level| *level >= FAILURE_BURST)
            .map(|level| ((level - FAILURE_BURST + 1.0) * FAILURE_LEAK_SECS).ceil() as u64)
            .max()
    }

    fn fail(&mut self, who: &[Who], now: Instant) {
        if self.buckets.len() >= BUCKETS_CAPACITY {
            self.buckets.retain(|_, b| b.drained(now) > 0.0);
            if self.buckets.len() >= BUCKETS_CAPACITY {
                // Under a flood from more addresses than we keep: start over rather than grow.
                self.buckets.clear();
            }
        }
        for w in who {
            let level = self.buckets.get(w).map_or(0.0, |b| b.drained(now));
            if level < FAILURE_BURST && level + 1.0 >= FAILURE_BURST {
                // Once per crossing, not per refused request: a flood must not flood the log.
                // A user name is whatever the client sent: not logged.
                match w {
                    Who::Address(ip) => {
                        tracing::warn!(client = %ip, "login failures past the limit: this address is answered 429 for a while")
                    }
                    Who::User(_) => tracing::warn!(
                        "login failures past the limit for one user name: answered 429 for a while"
                    ),
                }
            }
            self.buckets.insert(
                w.clone(),
                Bucket {
                    level: level + 1.0,
                    at: now,
                },
            );
        }
    }
}

/// Credentials of the configured applications and operators, with the caches and bounds.
#[derive(Debug)]
pub struct Authenticator {
    apps: HashMap<String, (String, Caller)>,
    operators: HashMap<String, String>,
    salt: [u8; 16],
    verified: RwLock<HashMap<String, [u8; 32]>>,
    refused: Mutex<HashSet<[u8; 32]>>,
    limiter: Mutex<Limiter>,
    slots: Arc<tokio::sync::Semaphore>,
    waiting: AtomicUsize,
    verifications: AtomicU64,
    max_waiting: usize,
    /// Verified against when the user is unknown: the same cost as a real check.
    stand_in_hash: String,
    allow_demo_password: bool,
}

impl Authenticator {
    /// Builds the tables from the configuration.
    pub fn new(config: &Config) -> Arc<Self> {
        let apps = config
            .applicazioni
            .iter()
            .map(|a| (a.id_a2a.clone(), (a.password_hash.clone(), Caller::of(a))))
            .collect();
        let operators = config
            .operatori
            .iter()
            .map(|o| (o.username.clone(), o.password_hash.clone()))
            .collect();
        let slots = std::thread::available_parallelism().map_or(1, |n| n.get());
        // A hash of a random password with the default parameters, like every configured one.
        let stand_in_hash =
            crate::password::hash_password(&uuid::Uuid::new_v4().to_string()).unwrap_or_default();
        Arc::new(Self {
            apps,
            operators,
            salt: *uuid::Uuid::new_v4().as_bytes(),
            verified: RwLock::new(HashMap::new()),
            refused: Mutex::new(HashSet::new()),
            limiter: Mutex::new(Limiter::default()),
            slots: Arc::new(tokio::sync::Semaphore::new(slots)),
            waiting: AtomicUsize::new(0),
            verifications: AtomicU64::new(0),
            max_waiting: slots * WAITING_PER_SLOT,
            stand_in_hash,
            allow_demo_password: config.demo_credentials_allowed(),
        })
    }

    fn digest(&self, key: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(key.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// The application named by an `Authorization: Basic` header, or 401 / 429.
    pub async fn authenticate(
        self: &Arc<Self>,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Caller, ApiError> {
        let (id, password) = basic_credentials(headers).ok_or_else(ApiError::unauthenticated)?;
        let known = self.apps.get(&id);
        self.check(
            &format!("app:{id}"),
            &password,
            known.map(|(hash, _)| hash.as_str()),
            client,
        )
        .await?;
        known
            .map(|(_, caller)| caller.clone())
            .ok_or_else(ApiError::unauthenticated)
    }

    /// The operator named by an `Authorization: Basic` header, or 401 / 429.
    pub async fn authenticate_operator(
        self: &Arc<Self>,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<Operator, ApiError> {
        let (id, password) = basic_credentials(headers).ok_or_else(ApiError::unauthenticated)?;
        self.login_operator(&id, &password, client).await
    }

    /// The operator `id` with `password` (the console's login form): the same checks, caches
    /// and failure limits as a Basic header.
    pub async fn login_operator(
        self: &Arc<Self>,
        id: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<Operator, ApiError> {
        let known = self.operators.get(id);
        self.check(
            &format!("op:{id}"),
            password,
            known.map(String::as_str),
            client,
        )
        .await?;
        Ok(Operator(id.to_owned()))
    }

    /// Checks `password` for `key` (whose hash is `hash`, None when the user is unknown).
    async fn check(
        self: &Arc<Self>,
        key: &str,
        password: &str,
        hash: Option<&str>,
        client: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        let digest = self.digest(key, password);
        let remembered = hash.is_some()
            && self
                .verified
                .read()
                .map(|m| m.get(key) == Some(&digest))
                .unwrap_or(false);
        if remembered {
            return Ok(());
        }
        let who: Vec<Who> = client
            .map(Who::Address)
            .into_iter()
            .chain([Who::User(key.to_owned())])
            .collect();
        if let Some(secs) = self.lock_limiter().blocked(&who, Instant::now()) {
            crate::metrics::auth_check("limited");
            return Err(ApiError::too_many_attempts(secs));
        }
        let known_wrong = (password == "demo" && !self.allow_demo_password)
            || self
                .refused
                .lock()
                .map(|r| r.contains(&digest))
                .unwrap_or(false);
        if known_wrong {
            crate::metrics::auth_check("remembered_wrong");
        }
        let ok = !known_wrong && self.verify(password, hash).await? && hash.is_some();
        if ok {
            if let Ok(mut m) = self.verified.write() {
                m.insert(key.to_owned(), digest);
            }
            return Ok(());
        }
        if !known_wrong && let Ok(mut r) = self.refused.lock() {
            if r.len() >= REFUSED_CAPACITY {
                r.clear();
            }
            r.insert(digest);
        }
        self.lock_limiter().fail(&who, Instant::now());
        Err(ApiError::unauthenticated())
    }

    /// One argon2 verification, when a core is free (429 when too many are waiting).
    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            crate::metrics::auth_check("limited");
            return Err(ApiError::too_many_attempts(1));
        }
        let permit = self.slots.clone().acquire_owned().await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        let permit = permit.map_err(ApiError::internal)?;
        let hash = hash.unwrap_or(&self.stand_in_hash).to_owned();
        let password = password.to_owned();
        self.verifications.fetch_add(1, Ordering::Relaxed);
        crate::metrics::auth_check("argon2");
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            verify_password(&password, &hash)
        })
        .await
        .map_err(ApiError::internal)
    }

    /// argon2 verifications run so far.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn lock_limiter(&self) -> std::sync::MutexGuard<'_, Limiter> {
        self.limiter.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The client address the edge resolved for this request, if it ran.
pub(crate) fn client_of(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<crate::edge::ClientAddr>()
        .map(|c| c.0)
}

/// Route layer: the request must come from a configured application; the [`Caller`] goes to
/// the handler as an extension. Nothing of the body has been read when it refuses.
pub async fn require_application(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    match auth.authenticate(req.headers(), client_of(&req)).await {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Route layer: the request must come from a configured operator ([`Operator`] extension).
pub async fn require_operator(
    State(auth): State<Arc<Authenticator>>,
    mut req: Request,
    next: Next,
) -> Response {
    match auth
        .authenticate_operator(req.headers(), client_of(&req))
        .await
    {
        Ok(operator) => {
            req.extensions_mut().insert(operator);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// `(user, password)` from `Authorization: Basic ...` (the scheme name in any case, RFC 7617).
pub(crate) fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, password) = decoded.split_once(':')?;
    Some((id.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn header(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::AUTHORIZATION,
            value.parse().expect("a header value"),
        );
        h
    }

    fn drain_time(n: u32) -> Duration {
        Duration::from_secs_f64(f64::from(n) * FAILURE_LEAK_SECS)
    }

    #[test]
    fn the_scheme_name_is_case_insensitive() {
        let creds = base64::engine::general_purpose::STANDARD.encode("demo:demo");
        for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
            assert_eq!(
                basic_credentials(&header(&format!("{scheme} {creds}"))),
                Some(("demo".into(), "demo".into())),
                "{scheme}"
            );
        }
        assert_eq!(basic_credentials(&header(&format!("Bearer {creds}"))), None);
        assert_eq!(basic_credentials(&header("Basic")), None);
    }

    #[tokio::test]
    async fn the_demo_password_is_refused_when_others_can_reach_varco() {
        let demo = header(&format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("demo:demo")
        ));
        let config = Config::demo();
        let auth = Authenticator::new(&config);
        assert!(auth.authenticate(&demo, None).await.is_ok());
        // Behind a proxy that forwards other clients (the listeners stay on loopback).
        for listener in ["nodo", "api"] {
            let mut proxied = Config::demo();
            let access = if listener == "nodo" {
                &mut proxied.nodo.access
            } else {
                &mut proxied.api.access
            };
            access.trusted_proxies = vec!["127.0.0.1".into()];
            let auth = Authenticator::new(&proxied);
            let refused = auth.authenticate(&demo, None).await.unwrap_err();
            assert_eq!(
                refused.status,
                axum::http::StatusCode::UNAUTHORIZED,
                "{listener}"
            );
            assert_eq!(auth.verifications(), 0, "refused without an argon2");
        }
    }

    #[test]
    fn buckets_block_past_the_burst_and_drain() {
        let mut l = Limiter::default();
        let now = Instant::now();
        let who = [Who::User("app:x".into())];
        for _ in 0..FAILURE_BURST as u32 - 1 {
            l.fail(&who, now);
        }
        assert_eq!(l.blocked(&who, now), None);
        l.fail(&who, now);
        let wait = l.blocked(&who, now).expect("blocked at the burst");
        assert_eq!(wait, FAILURE_LEAK_SECS as u64);
        // Another user, or another address, is not held back.
        assert_eq!(l.blocked(&[Who::User("app:y".into())], now), None);
        assert_eq!(l.blocked(&who, now + drain_time(1)), None);
    }
}
