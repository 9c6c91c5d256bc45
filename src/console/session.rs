//! Console sessions: a random token in a cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over
//! TLS, path `/console`), the operator and a CSRF token kept in memory beside it. A session
//! ends on logout, after [`IDLE`] without a request, or [`ABSOLUTE`] after login, whichever
//! comes first. Sessions live in the process: a restart logs everyone out, and on several nodes
//! the balancer keeps an operator on one node (or they log in again).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie.
pub const COOKIE: &str = "varco_console";
/// The cookie of the login form (its CSRF token, before there is a session).
pub const LOGIN_COOKIE: &str = "varco_console_login";
/// A session ends after this long without a request.
pub const IDLE: Duration = Duration::from_secs(30 * 60);
/// And this long after login in any case.
pub const ABSOLUTE: Duration = Duration::from_secs(8 * 60 * 60);
/// Sessions kept at most; past it the oldest logins are dropped first.
const CAPACITY: usize = 10_000;

/// One operator's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The operator's username.
    pub operator: String,
    /// The token every form of this session carries.
    pub csrf: String,
    started: Instant,
    seen: Instant,
}

/// The sessions of this process.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// A new random token: 256 bits from the operating system's generator, hex.
pub fn token() -> String {
    let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    let mut s = String::with_capacity(64);
    for byte in a.as_bytes().iter().chain(b.as_bytes()) {
        s.push_str(&format!("{byte:02x}"));
    }
    s
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for `operator`: its cookie token.
    pub fn open(&self, operator: &str) -> String {
        let now = Instant::now();
        let id = token();
        let mut map = self.lock();
        map.retain(|_, s| alive(s, now));
        if map.len() >= CAPACITY
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.started)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            id.clone(),
            Session {
                operator: operator.to_owned(),
                csrf: token(),
                started: now,
                seen: now,
            },
        );
        id
    }

    /// The live session of cookie token `id`, marked as seen now.
    pub fn get(&self, id: &str) -> Option<Session> {
        let now = Instant::now();
        let mut map = self.lock();
        let live = map.get(id).is_some_and(|s| alive(s, now));
        if !live {
            map.remove(id);
            return None;
        }
        let s = map.get_mut(id)?;
        s.seen = now;
        Some(s.clone())
    }

    /// Ends the session of cookie token `id`.
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Ends every session of `operator` (after a change of their rights, say).
    pub fn close_all_of(&self, operator: &str) {
        self.lock().retain(|_, s| s.operator != operator);
    }

    #[cfg(test)]
    fn age(&self, id: &str, by: Duration) {
        if let Some(s) = self.lock().get_mut(id) {
            s.seen -= by;
            s.started -= by;
        }
    }
}

fn alive(s: &Session, now: Instant) -> bool {
    now.duration_since(s.seen) < IDLE && now.duration_since(s.started) < ABSOLUTE
}

/// The `Set-Cookie` value of `name` = `value` for the console's paths.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<Duration>) -> String {
    let mut c = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    c
}

/// The `Set-Cookie` value that removes cookie `name`.
pub fn clear_cookie(name: &str, secure: bool) -> String {
    set_cookie(name, "", secure, Some(Duration::ZERO))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Compares two tokens in time independent of where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_distinct() {
        let (a, b) = (token(), token());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn a_session_ends_on_logout_idleness_and_age() {
        let s = Sessions::default();
        let id = s.open("mario");
        let got = s.get(&id).expect("live");
        assert_eq!(got.operator, "mario");
        assert_ne!(got.csrf, id, "the CSRF token is not the cookie");
        s.close(&id);
        assert!(s.get(&id).is_none());

        let id = s.open("mario");
        s.age(&id, IDLE + Duration::from_secs(1));
        assert!(s.get(&id).is_none(), "idle too long");

        let id = s.open("anna");
        s.close_all_of("anna");
        assert!(s.get(&id).is_none());
        assert!(s.get("not-a-session").is_none());
    }

    #[test]
    fn cookies_are_read_and_written_strictly() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            "a=1; varco_console=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("abc"));
        assert_eq!(cookie(&h, "varco"), None);
        let c = set_cookie(COOKIE, "x", true, None);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(!set_cookie(COOKIE, "x", false, None).contains("Secure"));
        assert!(clear_cookie(COOKIE, false).contains("Max-Age=0"));
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("ab", "abc"));
    }
}
