//! The application built in-process for the tests that call its routers without a socket:
//! [`TestApp`] is both routers on a fresh store in a temporary directory, with a clock the test
//! chooses (the system's, a fixed instant, or one it moves by hand) and a configuration (the
//! demo by default). The call helpers send SOAP to the nodo router and JSON with Basic
//! credentials to the api router.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, Response, StatusCode};
use base64::Engine;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tower::ServiceExt;
use varco::app::{AppState, api_router, nodo_router};
use varco::config::{Config, DEMO_TOML};
use varco::domain::Clock;
use varco::journal::Journal;
use varco::nodo::Nodo;
use varco::store::Store;

/// The demo application's credentials.
pub const DEMO_APP: (&str, &str) = ("demo", "demo");
/// The demo operator's credentials (backoffice API).
pub const DEMO_OPERATOR: (&str, &str) = ("admin", "demo");

/// The TOML of application `id_a2a` (every domain and kind of position) whose receipts go to
/// a connettore at `url`.
pub fn application_toml(id_a2a: &str, password_hash: &str, url: &str) -> String {
    format!(
        r#"
[[applicazioni]]
id_a2a = "{id_a2a}"
password_hash = "{password_hash}"
domini = ["*"]
tipi_pendenza = ["*"]
[applicazioni.connettore]
url = "{url}"
"#
    )
}

/// The `idPendenza` of a listing's results (`GET /pendenze`), in order.
pub fn listed_ids(page: &Value) -> Vec<String> {
    page["risultati"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["idPendenza"].as_str().unwrap().to_owned())
        .collect()
}

/// A fresh, empty store on the engine under test (for tests of a part without the
/// application): see [`store_config`].
pub async fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let config = store_config(dir.path()).await;
    let store = Store::connect(&config).await.unwrap();
    (dir, store)
}

/// The settings of a fresh, empty store on the engine under test: PostgreSQL when
/// `VARCO_TEST_PG` names a server (the connection string of its maintenance database; `make
/// test` runs the suite a second time so, on a throwaway cluster), a new database each time;
/// else the embedded store in `dir`.
pub async fn store_config(dir: &std::path::Path) -> varco::config::settings::StoreConfig {
    let mut config = varco::config::settings::StoreConfig {
        data_dir: dir.to_owned(),
        cache_mb: 16,
        ..Default::default()
    };
    if let Some(db) = super::pg::fresh_database().await {
        config.engine = varco::config::settings::StoreEngine::Postgres;
        config.url = Some(db.as_str().into());
        config.pool_size = 4;
        // Hundreds of databases are created on a loaded two-core machine: a connection may
        // take longer than production's budget to be made.
        config.request_budget_ms = 5000;
    }
    config
}

/// A clock that reads `now`, which the test moves.
pub fn manual_clock(start: DateTime<Utc>) -> (Clock, Arc<Mutex<DateTime<Utc>>>) {
    let now = Arc::new(Mutex::new(start));
    let read = now.clone();
    (Arc::new(move || *read.lock().unwrap()), now)
}

/// A clock stopped at `at`.
pub fn fixed_clock(at: DateTime<Utc>) -> Clock {
    Arc::new(move || at)
}

/// The `Authorization` header value for HTTP Basic credentials.
pub fn basic((user, pass): (&str, &str)) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// The content type a REST call of `method` carries (JSON Patch for PATCH).
pub fn content_type_for(method: &str) -> &'static str {
    if method == "PATCH" {
        "application/json-patch+json"
    } else {
        "application/json"
    }
}

/// An answer of a router: status, headers and the whole body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// The body as JSON, `Value::Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The whole body of a response.
pub async fn read_body(resp: Response<Body>) -> Bytes {
    resp.into_body().collect().await.unwrap().to_bytes()
}

/// Sends `req` through `router`; returns status, headers and body.
pub async fn send(router: &Router, req: Request<Body>) -> Reply {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    Reply {
        status,
        headers,
        body: read_body(resp).await,
    }
}

/// Basic credentials (user, password), or none.
pub type Who<'a> = Option<(&'a str, &'a str)>;

/// A REST request to `path` (the whole path, `/api/...`): the content type for `method`, the
/// Basic credentials when given; the caller adds headers and the body.
pub fn request(method: &str, path: &str, who: Who) -> axum::http::request::Builder {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type_for(method))
        // As a gestionale's JSON client sends it (GET /avvisi without it is a 406).
        .header("accept", "application/json");
    match who {
        Some(w) => req.header("authorization", basic(w)),
        None => req,
    }
}

/// A request body, or an empty one.
pub fn body(bytes: Option<Vec<u8>>) -> Body {
    bytes.map(Body::from).unwrap_or_else(Body::empty)
}

/// A gestionale for the outbox worker, in-process: refuses the first `fail` deliveries with
/// `error`, accepts the others, and records when each came (by `clock`).
pub struct ScriptedGestionale {
    pub clock: Clock,
    pub fail: u32,
    pub error: &'static str,
    pub seen: Arc<Mutex<Vec<DateTime<Utc>>>>,
}

impl ScriptedGestionale {
    pub fn new(clock: Clock, fail: u32, error: &'static str) -> Self {
        let seen = Arc::default();
        Self {
            clock,
            fail,
            error,
            seen,
        }
    }
}

impl varco::outbox::Deliver for ScriptedGestionale {
    async fn deliver(
        &self,
        _: &str,
        _: &varco::config::Connettore,
        _: &varco::domain::OutboxEntry,
        _: Vec<u8>,
    ) -> Result<(), String> {
        let mut seen = self.seen.lock().unwrap();
        seen.push((self.clock)());
        if seen.len() as u32 <= self.fail {
            Err(self.error.into())
        } else {
            Ok(())
        }
    }
}

/// How a [`TestApp`] is built: configuration, clock, demo seed.
pub struct TestAppBuilder {
    config: Config,
    clock: Clock,
    now: Option<Arc<Mutex<DateTime<Utc>>>>,
    seed: bool,
    embedded: bool,
}

impl TestAppBuilder {
    /// The clock the application reads.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self.now = None;
        self
    }

    /// A clock stopped at `at`.
    pub fn fixed_clock(self, at: DateTime<Utc>) -> Self {
        self.clock(fixed_clock(at))
    }

    /// A clock starting at `start` that the test moves with [`TestApp::set_now`] and
    /// [`TestApp::advance`].
    pub fn manual_clock(mut self, start: DateTime<Utc>) -> Self {
        let (clock, now) = manual_clock(start);
        self.clock = clock;
        self.now = Some(now);
        self
    }

    /// Whether the demo positions are seeded (at the clock's time); on by default.
    pub fn seed(mut self, seed: bool) -> Self {
        self.seed = seed;
        self
    }

    /// Changes the configuration before the application is built.
    pub fn configure(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// On the embedded store whatever the engine under test (tests of what does not touch
    /// the store's engine, run many times).
    pub fn embedded(mut self) -> Self {
        self.embedded = true;
        self
    }

    /// Both routers on a fresh store (see [`store_config`]).
    pub async fn build(self) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let mut config = self.config;
        config.store = if self.embedded {
            varco::config::settings::StoreConfig {
                data_dir: dir.path().to_owned(),
                cache_mb: 16,
                ..Default::default()
            }
        } else {
            store_config(dir.path()).await
        };
        let store = Store::connect(&config.store).await.unwrap();
        let config = Arc::new(config);
        if self.seed {
            varco::demo::seed(&config, &store, (self.clock)())
                .await
                .unwrap();
        }
        let state = AppState::new(
            Nodo::new(config.clone(), store.clone(), self.clock.clone()),
            Arc::new(AtomicBool::new(true)),
        );
        TestApp {
            api: api_router(state.clone()),
            nodo: nodo_router(state.clone()),
            state,
            store,
            config,
            clock: self.clock,
            now: self.now,
            dir,
        }
    }
}

/// The application in-process: its routers, its store and what it was built with.
pub struct TestApp {
    /// The api router (health, API Pendenze v2, backoffice).
    pub api: Router,
    /// The nodo router (`/paForNode`).
    pub nodo: Router,
    /// The state both routers share (the Nodo's handlers, the authenticator, the journal).
    pub state: AppState,
    pub store: Store,
    pub config: Arc<Config>,
    pub clock: Clock,
    now: Option<Arc<Mutex<DateTime<Utc>>>>,
    /// The store's directory, removed on drop.
    pub dir: tempfile::TempDir,
}

impl TestApp {
    /// The demo configuration, seeded, on the system clock.
    pub async fn demo() -> TestApp {
        Self::builder().build().await
    }

    /// A builder on the demo configuration.
    pub fn builder() -> TestAppBuilder {
        Self::with_config(Config::demo())
    }

    /// A builder on the demo configuration with `tail` appended to its TOML.
    pub fn with_toml_tail(tail: &str) -> TestAppBuilder {
        Self::with_config(Config::parse(&format!("{DEMO_TOML}{tail}"), "test").unwrap())
    }

    /// A builder on `config` (seeded, system clock, unless told otherwise).
    pub fn with_config(config: Config) -> TestAppBuilder {
        TestAppBuilder {
            config,
            clock: varco::domain::system_clock(),
            now: None,
            seed: true,
            embedded: false,
        }
    }

    /// The handlers of the Nodo's operations (to call without HTTP).
    pub fn handlers(&self) -> &Nodo {
        &self.state.nodo
    }

    /// The manual clock's time (see [`TestAppBuilder::manual_clock`]).
    fn now(&self) -> std::sync::MutexGuard<'_, DateTime<Utc>> {
        let now = self.now.as_ref().expect("built with a manual clock");
        now.lock().unwrap()
    }

    /// Sets the manual clock.
    pub fn set_now(&self, at: DateTime<Utc>) {
        *self.now() = at;
    }

    /// Moves the manual clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        *self.now() += by;
    }

    /// The api router with a journal that records nothing (reading through it adds no event).
    pub fn quiet_api(&self) -> Router {
        api_router(AppState {
            journal: Journal::disabled(),
            ..self.state.clone()
        })
    }

    /// POSTs a SOAP body to `/paForNode`; returns the answer's text.
    pub async fn soap(&self, action: &str, body: impl Into<String>) -> String {
        super::soap_through(&self.nodo, action, body.into()).await
    }

    /// Hands the demo receipt for `nav` with id `receipt_id` to the handlers directly (no HTTP,
    /// nothing journaled); asserts it is accepted.
    pub async fn receipt_to_handlers(&self, nav: &str, receipt_id: &str) {
        let receipt = super::receipt_v2(nav, receipt_id);
        let request = varco::soap::decode(Some("paSendRTV2"), receipt.as_bytes()).unwrap();
        let answer = self
            .handlers()
            .handle(request, receipt.as_bytes())
            .await
            .response;
        assert_eq!(answer.outcome().0, varco::soap::schema::Outcome::Ok);
    }

    /// Sends `req` through the api router.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        send(&self.api, req).await
    }
}
