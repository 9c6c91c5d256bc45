//! The operator console (`/console` on the api listener): server-rendered pages in Italian for
//! a creditor's staff — dashboard, positions (search, detail, cancel / reopen, the notice PDF),
//! receipts, anomalies, the outbox to the gestionali, the event journal and the configuration.
//!
//! - **Login** with the `[[operatori]]` credentials, through the same [`Authenticator`] as the
//!   backoffice API (argon2 bounded, failures limited per address and per user). A session is a
//!   random cookie ([`session`]); every form carries the session's CSRF token, checked by a
//!   layer before any handler runs, and the cookie is `SameSite=Strict` as a second fence.
//! - **Domains**: an operator sees the positions, receipts, outbox entries and events of their
//!   `domini` only; a page of another domain is a 403. A `sola_lettura` operator sees the same
//!   pages without the actions, and the actions refuse them.
//! - **Assets** (one stylesheet, one small script) are compiled in; pages send a strict
//!   Content-Security-Policy (`'self'` only) and `no-store`.
//!
//! [`Authenticator`]: crate::api::auth::Authenticator

mod pages;
pub mod session;
pub mod views;

use crate::api::ApiState;
use crate::config::Operatore;
use crate::journal::Journal;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use session::Sessions;
use std::sync::Arc;

/// Where the console is served.
pub const BASE: &str = "/console";
/// Largest form the console takes (a note, a reason, a search).
const MAX_FORM: usize = 64 * 1024;

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    /// Store, configuration, clock, credentials (the REST API's state).
    pub api: ApiState,
    /// The journal, for the actions operators take.
    pub journal: Journal,
    /// Open sessions.
    pub sessions: Arc<Sessions>,
    /// The api listener serves TLS, or sits behind a trusted proxy: cookies are `Secure`.
    pub secure: bool,
    /// The dashboard's figures of the last minute, per set of visible domains.
    pub dashboard: Arc<pages::DashboardCache>,
}

/// The operator behind a request, as the session layer found them.
#[derive(Debug, Clone)]
pub struct Current {
    /// Their configuration (domains, read-only).
    pub op: Operatore,
    /// The session's form token.
    pub csrf: String,
    /// The session's cookie token.
    pub session: String,
}

impl Current {
    /// Whether the operator sees `dominio`.
    pub fn sees(&self, dominio: &str) -> bool {
        self.op.sees(dominio)
    }

    /// Whether the operator may act.
    pub fn acts(&self) -> bool {
        !self.op.sola_lettura
    }
}

/// The console's routes, under [`BASE`].
pub fn router(api: ApiState, journal: Journal) -> Router {
    // Over TLS, or behind a proxy (which production terminates TLS on: deploy/nginx): the
    // cookies are never sent over plain HTTP.
    let listener = &api.nodo.config.api;
    let secure = listener.tls.is_some() || !listener.access.trusted_proxies.is_empty();
    let state = ConsoleState {
        api,
        journal,
        sessions: Arc::default(),
        secure,
        dashboard: Arc::default(),
    };
    let behind_login = Router::new()
        .route("/console/", get(pages::dashboard))
        .route("/console/pendenze", get(pages::pendenze))
        .route("/console/pendenze.csv", get(pages::pendenze_csv))
        .route("/console/pendenze/{dominio}/{iuv}", get(pages::pendenza))
        .route(
            "/console/pendenze/{dominio}/{iuv}/avviso.pdf",
            get(pages::avviso_pdf),
        )
        .route(
            "/console/pendenze/{dominio}/{iuv}/ricevute/{file}",
            get(pages::ricevuta_xml),
        )
        .route(
            "/console/pendenze/{dominio}/{iuv}/{azione}",
            post(pages::cambia_stato),
        )
        .route("/console/ricevute", get(pages::ricevute))
        .route("/console/ricevute.csv", get(pages::ricevute_csv))
        .route("/console/anomalie", get(pages::anomalie))
        .route("/console/anomalie.csv", get(pages::anomalie_csv))
        .route("/console/anomalie/gestita", post(pages::anomalia_gestita))
        .route("/console/rendicontazioni", get(pages::rendicontazioni))
        .route(
            "/console/rendicontazioni.csv",
            get(pages::rendicontazioni_csv),
        )
        .route("/console/outbox", get(pages::outbox))
        .route("/console/outbox.csv", get(pages::outbox_csv))
        .route("/console/outbox/{id}/reinvia", post(pages::reinvia))
        .route("/console/outbox/reinvia-tutte", post(pages::reinvia_tutte))
        .route("/console/giornale", get(pages::giornale))
        .route("/console/giornale.csv", get(pages::giornale_csv))
        .route("/console/giornale/{id}", get(pages::evento))
        .route("/console/configurazione", get(pages::configurazione))
        .route("/console/logout", post(pages::logout))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ));
    let open = Router::new()
        .route("/console/login", get(pages::login_form).post(pages::login))
        .route("/console/static/console.css", get(css))
        .route("/console/static/console.js", get(js));
    behind_login
        .merge(open)
        .route(BASE, get(|| async { Redirect::to("/console/") }))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

const CSS: &str = include_str!("static/console.css");
const JS: &str = include_str!("static/console.js");

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Every console response: a strict Content-Security-Policy, no sniffing, no framing, and no
/// caching of pages (they hold personal data).
async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/console/static/");
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Route layer: the request must belong to a live session of a configured operator (else the
/// login page, coming back here after); a POST must carry the session's CSRF token in its
/// form (else 403, before the handler runs).
async fn require_session(State(state): State<ConsoleState>, req: Request, next: Next) -> Response {
    let session = session::cookie(req.headers(), session::COOKIE)
        .and_then(|id| state.sessions.get(&id).map(|s| (id, s)));
    let found = session.and_then(|(id, s)| {
        let op = state
            .api
            .nodo
            .config
            .operatori
            .iter()
            .find(|o| o.username == s.operator)?
            .clone();
        Some(Current {
            op,
            csrf: s.csrf,
            session: id,
        })
    });
    let Some(current) = found else {
        if req.method() == axum::http::Method::GET {
            let back = req
                .uri()
                .path_and_query()
                .map_or("/console/", |p| p.as_str());
            let to = format!("/console/login?next={}", pages::encode(back));
            return Redirect::to(&to).into_response();
        }
        return pages::refuse_plain(
            StatusCode::UNAUTHORIZED,
            "Sessione scaduta: accedi di nuovo.",
        );
    };
    let mut req = req;
    if req.method() == axum::http::Method::POST {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, MAX_FORM).await {
            Ok(b) => b,
            Err(_) => {
                return pages::refuse_plain(StatusCode::PAYLOAD_TOO_LARGE, "Modulo troppo grande.");
            }
        };
        let token = form_field(&bytes, "csrf");
        if !token.is_some_and(|t| session::same_token(&t, &current.csrf)) {
            tracing::warn!(
                operator = %current.op.username,
                "console form refused: CSRF token missing or wrong"
            );
            return pages::refuse(
                &current,
                StatusCode::FORBIDDEN,
                "Richiesta rifiutata",
                "Il modulo non porta il codice di sicurezza di questa sessione (CSRF): ricarica la pagina e riprova.",
            );
        }
        req = Request::from_parts(parts, axum::body::Body::from(bytes));
    }
    req.extensions_mut().insert(current);
    next.run(req).await
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_field_is_read_from_a_form() {
        assert_eq!(
            form_field(b"motivo=a+b&csrf=abc%21", "csrf").as_deref(),
            Some("abc!")
        );
        assert_eq!(form_field(b"motivo=x", "csrf"), None);
        assert_eq!(form_field(b"\xff\xfe", "csrf"), None);
    }
}
