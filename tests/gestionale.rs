//! Talking to the gestionale: receipts forwarded until delivered (failures, downtime, slow and
//! garbage answers, a Varco restart in the middle, dead entries re-sent by the API), the backoff
//! schedule (paused time), and verification on the fly for each kind of answer.

mod common;

use base64::Engine;
use bytes::Bytes;
use common::TestApp;
use common::app::ScriptedGestionale;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use varco::config::{Config, DEMO_TOML};
use varco::domain::NoticeNumber;
use varco::password::hash_password;

// ---- a gestionale, on loopback -------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Ok,
    FailNext(u32),
    Slow(u64),
    /// The next n deliveries hang this many ms, then succeed.
    SlowNext(u32, u64),
    /// The next n deliveries hang this many ms, then fail with 503.
    SlowFailNext(u32, u64),
    Garbage,
}

#[derive(Default)]
struct Gestionale {
    mode: Mutex<Option<Mode>>,
    /// Receipts processed, by idempotency key (each once).
    processed: Mutex<HashSet<String>>,
    /// Deliveries of an already processed receipt (acknowledged, not processed again).
    duplicates: Mutex<u32>,
    /// Every delivery attempt that reached us.
    attempts: Mutex<u32>,
    /// Answers to GET /avvisi/{dominio}/{numero}: (delay ms, status, body).
    avvisi: Mutex<HashMap<String, (u64, u16, String)>>,
    /// Authorization headers seen.
    auth: Mutex<HashSet<String>>,
    /// Receipt bodies received, in order.
    bodies: Mutex<Vec<Value>>,
    /// GET /avvisi calls received.
    avvisi_calls: Mutex<u32>,
}

impl Gestionale {
    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = Some(mode);
    }

    /// What GET /avvisi answers for notice `nav`: after `delay` ms, `status` and `body`.
    fn answer(&self, nav: &str, delay: u64, status: u16, body: String) {
        let mut avvisi = self.avvisi.lock().unwrap();
        avvisi.insert(nav.to_owned(), (delay, status, body));
    }

    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        if let Some(a) = req.headers().get("authorization") {
            self.auth
                .lock()
                .unwrap()
                .insert(a.to_str().unwrap_or("").to_owned());
        }
        let key = req
            .headers()
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap_or("").to_owned());
        let method = req.method().clone();
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let reply = |status: u16, body: String| {
            hyper::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        };
        if method == hyper::Method::GET && path.starts_with("/avvisi/") {
            *self.avvisi_calls.lock().unwrap() += 1;
            let nav = path.rsplit('/').next().unwrap_or("").to_owned();
            let answer = self.avvisi.lock().unwrap().get(&nav).cloned();
            return match answer {
                Some((delay, status, body)) => {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    reply(status, body)
                }
                None => reply(404, "{}".into()),
            };
        }
        *self.attempts.lock().unwrap() += 1;
        let mode = self.mode.lock().unwrap().unwrap_or(Mode::Ok);
        match mode {
            Mode::FailNext(n) if n > 0 => {
                self.set(Mode::FailNext(n - 1));
                return reply(503, "{}".into());
            }
            Mode::Garbage => return reply(500, "<html>Internal Server Error</html>".into()),
            Mode::Slow(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Mode::SlowNext(n, ms) if n > 0 => {
                self.set(Mode::SlowNext(n - 1, ms));
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            Mode::SlowFailNext(n, ms) if n > 0 => {
                self.set(Mode::SlowFailNext(n - 1, ms));
                tokio::time::sleep(Duration::from_millis(ms)).await;
                return reply(503, "{}".into());
            }
            _ => {}
        }
        let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        self.bodies.lock().unwrap().push(parsed.clone());
        let key = key.unwrap_or_default();
        assert_eq!(
            path,
            format!(
                "/ricevute/{}/{}/{}",
                parsed["dominio"]["idDominio"].as_str().unwrap(),
                parsed["iuv"].as_str().unwrap(),
                parsed["idRicevuta"].as_str().unwrap()
            ),
            "the path names the receipt in the body"
        );
        if !self.processed.lock().unwrap().insert(key) {
            *self.duplicates.lock().unwrap() += 1;
        }
        reply(201, "{}".into())
    }
}

/// A mock gestionale on a free loopback port: the mock, its address, and the serving task.
async fn gestionale() -> (Arc<Gestionale>, SocketAddr, tokio::task::JoinHandle<()>) {
    let g = Arc::new(Gestionale::default());
    let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let server = serve(g.clone(), addr).await;
    (g, addr, server)
}

/// Serves `g` on `addr` until the returned handle is aborted (then connections are refused).
async fn serve(g: Arc<Gestionale>, addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    common::serve_http(addr, move |req| g.clone().handle(req)).await
}

// ---- Varco in process ----------------------------------------------------------------------

const GEST_PASSWORD: &str = "una password del gestionale";
const OPERATOR: (&str, &str) = ("operatore", "una password da operatore");

fn config(gestionale: SocketAddr, data_dir: &std::path::Path, extra: &str) -> Config {
    config_with(gestionale, data_dir, extra, "")
}

/// The demo with application `gest` (its connector at `gestionale`, `extra` in its table), an
/// operator, a fast outbox schedule, and `tail` appended.
fn config_with(
    gestionale: SocketAddr,
    data_dir: &std::path::Path,
    extra: &str,
    tail: &str,
) -> Config {
    let toml = format!(
        r#"{}
[[applicazioni]]
id_a2a = "gest"
password_hash = "{}"
domini = ["*"]
tipi_pendenza = ["*"]
segregation_codes = ["09"]
{extra}
[applicazioni.connettore]
url = "http://{gestionale}/"
verify_timeout_ms = 300
auth = {{ tipo = "basic", username = "varco", password = "s3greto" }}

[[operatori]]
username = "{}"
password_hash = "{}"

[outbox]
base_delay_ms = 50
max_delay_ms = 400
jitter = 0.0
timeout_ms = 300
horizon_secs = 2
{tail}"#,
        // The demo without its operators and [outbox] (redefined below).
        DEMO_TOML
            .split("\n# Operators of the backoffice API")
            .next()
            .unwrap()
            .replace(
                r#"segregation_codes = ["01"]"#,
                r#"segregation_codes = ["01", "09"]"#
            ),
        hash_password(GEST_PASSWORD).unwrap(),
        OPERATOR.0,
        hash_password(OPERATOR.1).unwrap()
    );
    let mut c = Config::parse(&toml, "test").unwrap();
    c.store.data_dir = data_dir.to_owned();
    c.nodo.listen = "127.0.0.1:0".parse().unwrap();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c
}

type Running = common::InProcess;

async fn start(c: Config) -> Running {
    Running::start(c, varco::domain::system_clock()).await
}

fn client() -> hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    Full<Bytes>,
> {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

async fn http(method: &str, url: &str, who: (&str, &str), body: Option<Value>) -> (u16, Value) {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", who.0, who.1))
    );
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(
            body.map(|b| b.to_string()).unwrap_or_default(),
        )))
        .unwrap();
    let resp = client().request(req).await.unwrap();
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Creates a position of `gest` over REST and pays it over SOAP; returns the receipt key.
async fn load_and_pay(v: &Running, n: u32) -> String {
    load_and_pay_as(v, "gest", n).await
}

/// Creates a position of application `app` (password [`GEST_PASSWORD`]) and pays it.
async fn load_and_pay_as(v: &Running, app: &str, n: u32) -> String {
    let (s, created) = http(
        "PUT",
        &format!("{}/api/pendenze/v2/pendenze/{app}/p{n}", v.api),
        (app, GEST_PASSWORD),
        Some(json!({
            "idTipoPendenza": "LIBERO", "idDominio": "77777777777", "causale": format!("Retta {n}"),
            "soggettoPagatore": {"tipo": "F", "identificativo": "RSSMRA80A01H501U", "anagrafica": "Mario Rossi"},
            "importo": 120.00,
            "voci": [{"idVocePendenza": "retta", "importo": 120.00, "descrizione": "Retta", "codEntrata": "TARI"}]
        })),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let nav = created["numeroAvviso"].as_str().unwrap().to_owned();
    let rid = format!("rcpt-{app}-{n}");
    let receipt = common::receipt_v2(&nav, &rid);
    let (_, body) = common::soap(&v.nodo, "paSendRTV2", &receipt).await;
    assert_eq!(common::element(&body, "outcome"), Some("OK"), "{body}");
    format!("77777777777/{}/{rid}", &nav[1..])
}

async fn until(what: &str, secs: u64, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_are_delivered_once_through_failures_downtime_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (g, addr, mut server) = gestionale().await;
    let v = start(config(addr, dir.path(), "")).await;
    let mut expected = HashSet::new();

    // 1. The first three deliveries fail: retried until accepted.
    g.set(Mode::FailNext(3));
    for n in 0..3 {
        expected.insert(load_and_pay(&v, n).await);
    }
    until("three receipts delivered", 10, || {
        g.processed.lock().unwrap().len() == 3
    })
    .await;
    assert!(*g.attempts.lock().unwrap() >= 6);
    assert!(g.auth.lock().unwrap().contains(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("varco:s3greto")
    )));

    // 2. Garbage answers, then slow ones (over the 300 ms delivery timeout), then good ones.
    g.set(Mode::Garbage);
    expected.insert(load_and_pay(&v, 3).await);
    tokio::time::sleep(Duration::from_millis(300)).await;
    g.set(Mode::Slow(600));
    tokio::time::sleep(Duration::from_millis(700)).await;
    g.set(Mode::Ok);
    until("the fourth receipt delivered", 10, || {
        g.processed.lock().unwrap().len() == 4
    })
    .await;

    // 3. The gestionale goes down; receipts keep coming; Varco restarts in the middle.
    server.abort();
    let _ = (&mut server).await;
    for n in 4..7 {
        expected.insert(load_and_pay(&v, n).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    v.stop().await;
    let v = start(config(addr, dir.path(), "")).await;
    expected.insert(load_and_pay(&v, 7).await);
    let _server = serve(g.clone(), addr).await;

    // Everything arrives; the gestionale processed each receipt exactly once.
    until("all receipts delivered", 15, || {
        g.processed.lock().unwrap().len() == expected.len()
    })
    .await;
    assert_eq!(*g.processed.lock().unwrap(), expected);
    // Delivered entries leave the outbox (dead ones would stay).
    let mut left = Value::Null;
    for _ in 0..100 {
        left = http(
            "GET",
            &format!("{}/api/backoffice/v1/outbox", v.api),
            OPERATOR,
            None,
        )
        .await
        .1;
        if left["risultati"].as_array().is_some_and(|a| a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(left["risultati"], json!([]), "{left}");
    v.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_entries_are_listed_and_sent_again_by_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let g = Arc::new(Gestionale::default());
    let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    // Down from the start: with a 2 s horizon the entry is parked as dead.
    let v = start(config(addr, dir.path(), "")).await;
    let key = load_and_pay(&v, 0).await;
    let url = format!("{}/api/backoffice/v1/outbox", v.api);
    let mut dead = Value::Null;
    for _ in 0..200 {
        dead = http("GET", &format!("{url}?stato=dead"), OPERATOR, None)
            .await
            .1;
        if dead["risultati"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let entry = &dead["risultati"][0];
    assert_eq!(entry["stato"], "dead", "{dead}");
    assert!(entry["tentativi"].as_u64().unwrap() >= 2);
    assert!(
        entry["ultimoErrore"]
            .as_str()
            .unwrap()
            .contains("request failed"),
        "{entry}"
    );
    assert_eq!(
        http("GET", &format!("{url}?stato=nope"), OPERATOR, None)
            .await
            .0,
        400
    );
    assert_eq!(
        http("GET", &url, ("gest", GEST_PASSWORD), None).await.0,
        401,
        "applications are not operators"
    );

    // The gestionale comes back; nothing happens until an operator asks.
    let _server = serve(g.clone(), addr).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(g.processed.lock().unwrap().is_empty());
    let id = entry["id"].as_u64().unwrap();
    let (s, again) = http("POST", &format!("{url}/{id}/retry"), OPERATOR, None).await;
    assert_eq!(
        (s, again["stato"].as_str()),
        (200, Some("failing")),
        "queued again, with its history: {again}"
    );
    until("the re-sent receipt delivered", 10, || {
        g.processed.lock().unwrap().contains(&key)
    })
    .await;
    assert_eq!(
        http("POST", &format!("{url}/999999/retry"), OPERATOR, None)
            .await
            .0,
        404
    );
    v.stop().await;
}

// ---- the schedule, with paused time --------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn the_backoff_schedule_is_honoured() {
    let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut c = app_config(addr, "");
    c.outbox.horizon_secs = 3600;
    // Time moves only when the worker sleeps: the clock is tokio's (paused) clock.
    let origin = chrono::Utc::now();
    let start = tokio::time::Instant::now();
    let clock: varco::domain::Clock =
        Arc::new(move || origin + chrono::Duration::from_std(start.elapsed()).unwrap());
    // Tokio's paused clock fires every timeout at once when the test idles: a database's I/O
    // cannot run under it, so the schedule is checked on the embedded store.
    let v = TestApp::with_config(c)
        .clock(clock.clone())
        .seed(false)
        .embedded()
        .build()
        .await;
    let (c, store) = (v.config.clone(), v.store.clone());
    // A stored receipt of application `gest`, with its outbox entry.
    let nav = varco::domain::NoticeNumber::aux3("09", 1);
    let mut p = varco::demo::sample(&c, &nav, origin);
    p.id_a2a = Some("gest".into());
    assert!(store.insert_pendenza(&p).await.unwrap());
    v.receipt_to_handlers(nav.as_str(), "d3m0000000000000000000000000000a")
        .await;

    let gestionale = ScriptedGestionale::new(clock.clone(), 4, "refused");
    let seen = gestionale.seen.clone();
    let worker = varco::outbox::Worker::new(store.clone(), c, gestionale, clock);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(stop_rx));
    while seen.lock().unwrap().len() < 5 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_tx.send(true);
    task.await.unwrap();
    let times = seen.lock().unwrap().clone();
    let gaps: Vec<i64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds())
        .collect();
    // base 50 ms, doubling, capped at 400 ms, no jitter.
    assert_eq!(gaps, vec![50, 100, 200, 400], "{times:?}");
    assert!(
        store.outbox().await.unwrap().is_empty(),
        "delivered on the fifth attempt"
    );
}

// ---- verification on the fly ---------------------------------------------------------------

fn verificata(nav: &str, importo: f64) -> String {
    json!({
        "stato": "NON_ESEGUITA",
        "pendenza": {
            "idA2A": "gest", "idPendenza": format!("ext-{nav}"), "idTipoPendenza": "LIBERO", "idDominio": "77777777777",
            "causale": "Retta mensa dicembre", "numeroAvviso": nav, "importo": importo,
            "soggettoPagatore": {"tipo": "F", "identificativo": "RSSMRA80A01H501U", "anagrafica": "Mario Rossi"},
            "voci": [{"idVocePendenza": "mensa", "importo": importo, "descrizione": "Mensa", "codEntrata": "TARI"}]
        }
    })
    .to_string()
}

async fn verify(router: &axum::Router, nav: &str) -> String {
    let body = common::qr_request("paVerifyPaymentNoticeReq", nav, "");
    common::soap_through(router, "paVerifyPaymentNotice", body).await
}

/// The application on `c`, not seeded (its store in a directory of its own).
async fn app(c: Config) -> TestApp {
    TestApp::with_config(c).seed(false).build().await
}

/// The gestionale configuration (see [`config`]) for an application in-process.
fn app_config(gestionale: SocketAddr, extra: &str) -> Config {
    config(gestionale, std::path::Path::new("set-by-TestApp"), extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_notices_are_verified_at_the_gestionale() {
    let (g, addr, server) = gestionale().await;
    let v = app(app_config(addr, "")).await;
    let (store, r) = (&v.store, &v.nodo);
    let nav = |n| {
        varco::domain::NoticeNumber::aux3("09", n)
            .as_str()
            .to_owned()
    };
    {
        let mut a = g.avvisi.lock().unwrap();
        a.insert(nav(1), (0, 200, verificata(&nav(1), 45.10)));
        a.insert(
            nav(2),
            (
                0,
                200,
                json!({"stato": "ANNULLATA", "descrizioneStato": "sgravio"}).to_string(),
            ),
        );
        a.insert(nav(3), (0, 200, json!({"stato": "SCADUTA"}).to_string()));
        a.insert(
            nav(4),
            (0, 200, json!({"stato": "SCONOSCIUTA"}).to_string()),
        );
        a.insert(nav(5), (2000, 200, verificata(&nav(5), 10.0)));
        a.insert(nav(6), (0, 200, verificata(&nav(7), 10.0)));
        a.insert(nav(8), (0, 200, "<html>oops</html>".into()));
        a.insert(nav(9), (0, 503, "{}".into()));
    }
    let fault = |xml: &str| common::element(xml, "faultCode").map(str::to_owned);

    let ok = verify(r, &nav(1)).await;
    assert_eq!(common::element(&ok, "amount"), Some("45.10"), "{ok}");
    let stored = store
        .pendenza("77777777777", &nav(1)[1..])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.id_a2a.as_deref(), stored.importo),
        (Some("gest"), 4510)
    );
    assert_eq!(
        fault(&verify(r, &nav(2)).await).as_deref(),
        Some("PAA_PAGAMENTO_ANNULLATO")
    );
    assert_eq!(
        fault(&verify(r, &nav(3)).await).as_deref(),
        Some("PAA_PAGAMENTO_SCADUTO")
    );
    assert_eq!(
        fault(&verify(r, &nav(4)).await).as_deref(),
        Some("PAA_PAGAMENTO_SCONOSCIUTO")
    );
    // A gestionale that fails (too slow, another notice's answer, garbage, an error) about a
    // notice Varco does not hold: PAA_SYSTEM_ERROR, not "unknown" (GovPay's
    // avvisi-get-semantica.feature and avvisi-get-sintattica.feature).
    let started = std::time::Instant::now();
    assert_eq!(
        fault(&verify(r, &nav(5)).await).as_deref(),
        Some("PAA_SYSTEM_ERROR")
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the 300 ms budget holds: {:?}",
        started.elapsed()
    );
    assert_eq!(
        fault(&verify(r, &nav(6)).await).as_deref(),
        Some("PAA_SYSTEM_ERROR"),
        "another notice's answer is refused"
    );
    assert!(
        store
            .pendenza("77777777777", &nav(7)[1..])
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        fault(&verify(r, &nav(8)).await).as_deref(),
        Some("PAA_SYSTEM_ERROR")
    );
    assert_eq!(
        fault(&verify(r, &nav(9)).await).as_deref(),
        Some("PAA_SYSTEM_ERROR")
    );
    // A notice no application claims is never asked about.
    assert_eq!(
        fault(&verify(r, "301000000000099919").await).as_deref(),
        Some("PAA_PAGAMENTO_SCONOSCIUTO")
    );

    // Once stored, the gestionale being down does not matter.
    server.abort();
    let again = verify(r, &nav(1)).await;
    assert_eq!(common::element(&again, "outcome"), Some("OK"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_positions_are_refreshed_or_answered_from_the_stored_copy() {
    let (g, addr, server) = gestionale().await;
    for mandatory in [false, true] {
        let extra = if mandatory {
            "verifica_obbligatoria = true\n"
        } else {
            ""
        };
        // A stored position of `gest` whose validity day has passed.
        let (v, nav) = app_with_stale(addr, extra, 20, "gest").await;
        let (store, r) = (&v.store, &v.nodo);
        // The gestionale answers with a new amount: refreshed.
        g.answer(nav.as_str(), 0, 200, verificata(nav.as_str(), 130.0));
        let fresh = verify(r, nav.as_str()).await;
        assert_eq!(common::element(&fresh, "amount"), Some("130.00"), "{fresh}");
        // Make it stale again, and the gestionale fail.
        store
            .update_pendenza(
                "77777777777",
                nav.iuv(),
                &|cur: &varco::domain::Pendenza| -> Result<_, ()> {
                    let mut n = cur.clone();
                    n.data_validita = chrono::NaiveDate::from_ymd_opt(2020, 1, 1);
                    Ok(Some(n))
                },
            )
            .await
            .unwrap();
        g.answer(nav.as_str(), 0, 500, "{}".into());
        let answer = verify(r, nav.as_str()).await;
        if mandatory {
            assert_eq!(
                common::element(&answer, "faultCode"),
                Some("PAA_SYSTEM_ERROR"),
                "{answer}"
            );
        } else {
            assert_eq!(
                common::element(&answer, "amount"),
                Some("130.00"),
                "{answer}"
            );
        }
    }
    server.abort();
}

// ---- hardening (issue 11) ------------------------------------------------------------------

/// A second application, `gest2`, with its own gestionale at `addr` (no claims).
fn second_app(addr: SocketAddr) -> String {
    let hash = hash_password(GEST_PASSWORD).unwrap();
    common::app::application_toml("gest2", &hash, &format!("http://{addr}/"))
}

/// The gestionale config with `tail` appended and the outbox tuned for hanging deliveries.
fn config_hanging(
    gestionale: SocketAddr,
    data_dir: &std::path::Path,
    tail: &str,
    parallel: usize,
) -> Config {
    let mut c = config_with(gestionale, data_dir, "", tail);
    c.outbox.parallel = parallel;
    c.outbox.timeout_ms = 8000;
    c.outbox.horizon_secs = 3600;
    c.outbox.shutdown_grace_ms = 200;
    c
}

async fn delivered(g: &Gestionale, key: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if g.processed.lock().unwrap().contains(key) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Issue 11, item 24: with `outbox.parallel = 2`, a receipt hanging at the gestionale does not
/// hold back the next receipt of the same connector; and item 25: the payer reaches the
/// gestionale as `versante`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_delivery_does_not_hold_back_the_next_one_of_its_connector() {
    let dir = tempfile::tempdir().unwrap();
    let (g, addr, _server) = gestionale().await;
    g.set(Mode::SlowNext(1, 4000));
    let v = start(config_hanging(addr, dir.path(), "", 2)).await;
    let first = load_and_pay(&v, 1).await;
    until("the first delivery in flight", 5, || {
        *g.attempts.lock().unwrap() >= 1
    })
    .await;
    let second = load_and_pay(&v, 2).await;
    assert!(
        delivered(&g, &second, Duration::from_millis(2000)).await,
        "the second receipt waited for the hanging first one"
    );
    assert!(
        !g.processed.lock().unwrap().contains(&first),
        "still hanging"
    );
    let body = g.bodies.lock().unwrap()[0].clone();
    assert_eq!(
        body["versante"]["identificativo"], "RSSMRA80A01H501U",
        "{body}"
    );
    assert_eq!(body["versante"]["anagrafica"], "Mario Rossi", "{body}");
    // As API Ente Creditore v2 has it (GovPay's ricevute-put.feature): the model, the types
    // its enumerations list, and times to the second without an offset (Europe/Rome).
    assert_eq!(body["modello"], "Pagamento ad iniziativa PSP", "{body}");
    assert_eq!(
        (&body["rpt"]["tipo"], &body["rt"]["tipo"]),
        (&json!("ctPaymentPA"), &json!("ctReceipt"))
    );
    assert_eq!(body["dataPagamento"], "2026-03-15T10:30:00", "{body}");
    assert_eq!(
        body["pendenza"]["dominio"]["idDominio"], "77777777777",
        "{body}"
    );
    let caricamento = body["pendenza"]["dataCaricamento"].as_str().unwrap();
    assert!(chrono::NaiveDate::parse_from_str(caricamento, "%Y-%m-%d").is_ok());
    assert!(body["pendenza"]["UUID"].is_string(), "{body}");
    let data = body["data"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(data, "%Y-%m-%dT%H:%M:%S").is_ok(),
        "{data}"
    );
    assert!(delivered(&g, &first, Duration::from_secs(6)).await);
    v.stop().await;
}

/// Issue 11, item 11: one connector's gestionale hanging on every delivery does not delay
/// another connector's receipts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_gestionale_does_not_hold_back_another_connector() {
    let dir = tempfile::tempdir().unwrap();
    let (slow, slow_addr, _s1) = gestionale().await;
    let (fast, fast_addr, _s2) = gestionale().await;
    slow.set(Mode::Slow(5000));
    let v = start(config_hanging(
        slow_addr,
        dir.path(),
        &second_app(fast_addr),
        2,
    ))
    .await;
    for n in 0..3 {
        load_and_pay(&v, n).await;
    }
    until("the slow gestionale busy", 5, || {
        *slow.attempts.lock().unwrap() >= 2
    })
    .await;
    let other = load_and_pay_as(&v, "gest2", 9).await;
    assert!(
        delivered(&fast, &other, Duration::from_millis(2000)).await,
        "a healthy gestionale's receipt waited behind a hanging one"
    );
    assert!(slow.processed.lock().unwrap().is_empty());
    v.stop().await;
}

/// Issue 11, item 19: an operator's re-send made while a delivery attempt is in flight is not
/// undone when that attempt fails: the receipt is tried again at once, not after the backoff.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resend_during_a_failing_attempt_is_not_undone() {
    let dir = tempfile::tempdir().unwrap();
    let (g, addr, _server) = gestionale().await;
    g.set(Mode::SlowFailNext(1, 800));
    let mut c = config_hanging(addr, dir.path(), "", 1);
    // A failed attempt would be retried only after a minute.
    c.outbox.base_delay_ms = 60_000;
    c.outbox.max_delay_ms = 60_000;
    let v = start(c).await;
    let key = load_and_pay(&v, 1).await;
    until("the attempt in flight", 5, || {
        *g.attempts.lock().unwrap() >= 1
    })
    .await;
    let url = format!("{}/api/backoffice/v1/outbox", v.api);
    let (_, listed) = http("GET", &url, OPERATOR, None).await;
    let id = listed["risultati"][0]["id"].as_u64().unwrap();
    let (s, _) = http("POST", &format!("{url}/{id}/retry"), OPERATOR, None).await;
    assert_eq!(s, 200);
    assert!(
        delivered(&g, &key, Duration::from_secs(3)).await,
        "the re-send was undone by the failing attempt"
    );
    v.stop().await;
}

/// Issue 11, item 22: the operator's outbox list comes a page at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_list_is_paged() {
    let dir = tempfile::tempdir().unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    // Nobody listens: every entry stays in the outbox.
    let v = start(config_hanging(addr, dir.path(), "", 1)).await;
    for n in 0..5 {
        load_and_pay(&v, n).await;
    }
    let url = format!("{}/api/backoffice/v1/outbox?risultatiPerPagina=2", v.api);
    let (s, first) = http("GET", &url, OPERATOR, None).await;
    assert_eq!(s, 200, "{first}");
    assert_eq!(first["risultati"].as_array().unwrap().len(), 2, "{first}");
    let next = first["prossimiRisultati"].as_str().unwrap();
    assert!(
        next.contains("pagina=2") && next.contains("risultatiPerPagina=2"),
        "{next}"
    );
    let (_, third) = http("GET", &format!("{url}&pagina=3"), OPERATOR, None).await;
    assert_eq!(third["risultati"].as_array().unwrap().len(), 1, "{third}");
    assert!(third.get("prossimiRisultati").is_none(), "{third}");
    let ids: Vec<u64> = first["risultati"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert!(ids[0] < ids[1], "oldest first: {ids:?}");
    let (s, _) = http("GET", &format!("{url}&pagina=0"), OPERATOR, None).await;
    assert_eq!(s, 400);
    v.stop().await;
}

/// The application on the gestionale at `addr` (with `extra`), holding a stale position of
/// `owner` for notice `reference` of segregation code 09.
async fn app_with_stale(
    addr: SocketAddr,
    extra: &str,
    reference: u64,
    owner: &str,
) -> (TestApp, NoticeNumber) {
    let v = app(app_config(addr, extra)).await;
    let nav = NoticeNumber::aux3("09", reference);
    assert!(
        v.store
            .insert_pendenza(&stale(&v.config, &nav, owner))
            .await
            .unwrap()
    );
    (v, nav)
}

fn stale(c: &Config, nav: &varco::domain::NoticeNumber, owner: &str) -> varco::domain::Pendenza {
    let mut p = varco::demo::sample(c, nav, chrono::Utc::now());
    p.id_a2a = Some(owner.into());
    p.data_validita = chrono::NaiveDate::from_ymd_opt(2020, 1, 1);
    p
}

async fn pay(router: &axum::Router, nav: &varco::domain::NoticeNumber, receipt_id: &str) -> String {
    common::soap_through(
        router,
        "paSendRTV2",
        common::receipt_v2(nav.as_str(), receipt_id),
    )
    .await
}

/// Issue 11, item 1: a receipt committed while Varco waits for the gestionale's answer is never
/// undone by the refresh, whatever the gestionale answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_stored_during_a_refresh_is_never_undone() {
    let (g, addr, _server) = gestionale().await;
    let fault = |xml: &str| common::element(xml, "faultCode").map(str::to_owned);
    let cases = [
        (
            "refreshed",
            30,
            verificata(varco::domain::NoticeNumber::aux3("09", 30).as_str(), 130.0),
        ),
        ("cancelled", 31, json!({"stato": "ANNULLATA"}).to_string()),
        ("unknown", 32, json!({"stato": "SCONOSCIUTA"}).to_string()),
    ];
    for (what, reference, answer) in cases {
        // A stored position of `gest` whose validity day has passed.
        let (v, nav) = app_with_stale(addr, "", reference, "gest").await;
        let (store, r) = (&v.store, &v.nodo);
        // The gestionale answers after 250 ms (the budget is 300 ms).
        g.answer(nav.as_str(), 250, 200, answer);
        let asking = tokio::spawn({
            let r = r.clone();
            let nav = nav.as_str().to_owned();
            async move { verify(&r, &nav).await }
        });
        tokio::time::sleep(Duration::from_millis(80)).await;
        let paid = pay(r, &nav, &format!("race-{reference}")).await;
        assert_eq!(
            common::element(&paid, "outcome"),
            Some("OK"),
            "{what}: {paid}"
        );
        let answered = asking.await.unwrap();
        assert_eq!(
            fault(&answered).as_deref(),
            Some("PAA_PAGAMENTO_DUPLICATO"),
            "{what}: {answered}"
        );
        let p = store
            .pendenza("77777777777", nav.iuv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.stato, varco::domain::Stato::Eseguita, "{what}");
        assert_eq!(p.ricevute, [format!("race-{reference}")], "{what}");
        assert_eq!(p.importo, 12000, "{what}: the paid amount stays");
        assert_eq!(
            fault(&verify(r, nav.as_str()).await).as_deref(),
            Some("PAA_PAGAMENTO_DUPLICATO"),
            "{what}"
        );
    }
}

/// Issue 11, item 4: a gestionale is asked only about its own application's positions: a
/// position another application loaded is answered from the store, and keeps its owner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_never_touches_another_applications_position() {
    let (g, addr, _server) = gestionale().await;
    // Segregation code 09 is `gest`'s, but this position was loaded by `demo`.
    let (v, nav) = app_with_stale(addr, "", 40, "demo").await;
    let (store, r) = (&v.store, &v.nodo);
    g.answer(nav.as_str(), 0, 200, verificata(nav.as_str(), 999.0));
    let answer = verify(r, nav.as_str()).await;
    assert_eq!(
        common::element(&answer, "amount"),
        Some("120.00"),
        "{answer}"
    );
    assert_eq!(
        *g.avvisi_calls.lock().unwrap(),
        0,
        "gest was asked about demo's notice"
    );
    let p = store
        .pendenza("77777777777", nav.iuv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((p.id_a2a.as_deref(), p.importo), (Some("demo"), 12000));
}

/// Issue 11, item 5: the owner saying SCONOSCIUTA is answered PAA_PAGAMENTO_SCONOSCIUTO even
/// when Varco holds a stored copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_to_the_gestionale_is_unknown_even_with_a_stored_copy() {
    let (g, addr, _server) = gestionale().await;
    let (v, nav) = app_with_stale(addr, "", 41, "gest").await;
    let r = &v.nodo;
    g.answer(
        nav.as_str(),
        0,
        200,
        json!({"stato": "SCONOSCIUTA", "descrizioneStato": "rimossa"}).to_string(),
    );
    let answer = verify(r, nav.as_str()).await;
    assert_eq!(
        common::element(&answer, "faultCode"),
        Some("PAA_PAGAMENTO_SCONOSCIUTO"),
        "{answer}"
    );
}
