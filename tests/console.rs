//! The operator console (`/console`) on a running gateway: login and sessions, CSRF, the
//! domains an operator may see, read-only operators, searches, actions and exports: first
//! over plain HTTP (on both store engines), then in a real headless Chromium driven over
//! WebDriver, with an accessibility check (axe-core, WCAG 2.1 A and AA) of the main pages.

mod common;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use varco::config::{Config, DEMO_TOML};
use varco::password::hash_password;

/// The second creditor of the test configuration: operator `mario` may not see it.
const OTHER: &str = "12345678901";
/// Operators: (username, password).
const ADMIN: (&str, &str) = ("capo", "la password del capo");
const MARIO: (&str, &str) = ("mario", "la password di mario");
const READER: (&str, &str) = ("lettore", "la password del lettore");

/// A gestionale on loopback that refuses receipts while `refuse` is set.
#[derive(Default)]
struct Gestionale {
    refuse: AtomicBool,
    delivered: AtomicUsize,
}

impl Gestionale {
    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let put = req.method() == hyper::Method::PUT && req.uri().path().starts_with("/ricevute/");
        let _ = req.into_body().collect().await;
        let status = if !put {
            404
        } else if self.refuse.load(Ordering::SeqCst) {
            503
        } else {
            self.delivered.fetch_add(1, Ordering::SeqCst);
            201
        };
        hyper::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    }
}

/// The demo with a second creditor, an application `gest` delivering to the test gestionale,
/// and three operators: one for everything, one for the demo creditor only, one read-only.
fn config(gestionale: SocketAddr, store: varco::config::settings::StoreConfig) -> Config {
    let hash = |p: &str| hash_password(p).unwrap();
    let tail = format!(
        r#"
[[domini]]
id = "{OTHER}"
ragione_sociale = "Comune di Altrove"
aux_digit = 3
segregation_codes = ["02"]

[[domini.iban]]
iban = "IT60X0542811101000000123456"

[[domini.entrate]]
id = "TARI"
descrizione = "Tassa rifiuti"
iban = "IT60X0542811101000000123456"
tipo_contabilita = "ALTRO"
codice_contabilita = "0101101IM"

[[applicazioni]]
id_a2a = "gest"
password_hash = "{app}"
domini = ["*"]
tipi_pendenza = ["*"]
[applicazioni.connettore]
url = "http://{gestionale}/"

[[operatori]]
username = "{admin}"
password_hash = "{admin_hash}"

[[operatori]]
username = "{mario}"
password_hash = "{mario_hash}"
domini = ["77777777777"]

[[operatori]]
username = "{reader}"
password_hash = "{reader_hash}"
sola_lettura = true
"#,
        app = hash("la password del gestionale"),
        admin = ADMIN.0,
        admin_hash = hash(ADMIN.1),
        mario = MARIO.0,
        mario_hash = hash(MARIO.1),
        reader = READER.0,
        reader_hash = hash(READER.1),
    );
    let toml = format!("{DEMO_TOML}{tail}").replacen(
        "domini = [\"77777777777\"]\n",
        &format!("domini = [\"77777777777\", \"{OTHER}\"]\n"),
        1,
    );
    let mut c = Config::parse(&toml, "test").unwrap();
    c.store = store;
    c.nodo.listen = "127.0.0.1:0".parse().unwrap();
    c.api.listen = "127.0.0.1:0".parse().unwrap();
    c.outbox.base_delay_ms = 60_000;
    c.outbox.max_delay_ms = 60_000;
    c
}

/// A running gateway with its gestionale and a few positions of application `gest`.
struct Station {
    gateway: common::InProcess,
    gestionale: Arc<Gestionale>,
    _serving: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

/// A position of `gest`: 120.00 euro of TARI for `debtor` (fiscal code, name) of `dominio`.
fn position(dominio: &str, debtor: (&str, &str)) -> Value {
    json!({
        "idTipoPendenza": "LIBERO",
        "idDominio": dominio,
        "causale": "Tassa rifiuti 2026",
        "soggettoPagatore": {"tipo": "F", "identificativo": debtor.0, "anagrafica": debtor.1},
        "importo": 120.00,
        "dataScadenza": "2099-12-31",
        "voci": [{"idVocePendenza": "tari", "importo": 120.00, "descrizione": "TARI", "codEntrata": "TARI"}]
    })
}

impl Station {
    async fn start() -> Station {
        Station::start_with(|_| {}).await
    }

    /// [`Station::start`] on the test configuration changed by `change`.
    async fn start_with(change: impl FnOnce(&mut Config)) -> Station {
        let dir = tempfile::tempdir().unwrap();
        let gestionale = Arc::new(Gestionale::default());
        let addr: SocketAddr = format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap();
        let g = gestionale.clone();
        let serving = common::serve_http(addr, move |req| g.clone().handle(req)).await;
        let store = common::app::store_config(dir.path()).await;
        let mut c = config(addr, store);
        change(&mut c);
        let gateway = common::InProcess::start(c, varco::domain::clock::system_clock()).await;
        let s = Station {
            gateway,
            gestionale,
            _serving: serving,
            _dir: dir,
        };
        s.put(
            "P-ANNA",
            &position("77777777777", ("BNCNNA85M41F205X", "Anna Bianchi Verdi")),
        )
        .await;
        s.put(
            "P-ALTRO",
            &position(OTHER, ("BNCNNA85M41F205X", "Anna Bianchi Verdi")),
        )
        .await;
        s
    }

    async fn put(&self, id: &str, body: &Value) -> Value {
        let (status, answer) = self
            .rest(
                reqwest::Method::PUT,
                &format!("/api/pendenze/v2/pendenze/gest/{id}"),
                Some(body),
            )
            .await;
        assert!(status == 200 || status == 201, "{status} {answer}");
        answer
    }

    async fn rest(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .request(method, format!("{}{path}", self.gateway.api))
            .basic_auth("gest", Some("la password del gestionale"));
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The REST state of position `id` of `gest`.
    async fn stato(&self, id: &str) -> String {
        let (_, p) = self
            .rest(
                reqwest::Method::GET,
                &format!("/api/pendenze/v2/pendenze/gest/{id}"),
                None,
            )
            .await;
        p["stato"].as_str().unwrap_or_default().to_owned()
    }

    /// Imports a settlement flow of `fixtures/fdr` as an operator would.
    async fn import_flow(&self, file: &str) {
        let res = reqwest::Client::new()
            .post(format!("{}/api/backoffice/v1/fdr", self.gateway.api))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .header("content-type", "application/xml")
            .body(common::fixture(&format!("fdr/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 201, "{}", res.text().await.unwrap());
    }

    /// The notice number of position `id` of `gest`.
    async fn notice(&self, id: &str) -> String {
        let (_, p) = self
            .rest(
                reqwest::Method::GET,
                &format!("/api/pendenze/v2/pendenze/gest/{id}"),
                None,
            )
            .await;
        p["numeroAvviso"].as_str().unwrap().to_owned()
    }

    /// Pays notice `nav` with a paSendRTV2 of 120.00 euro.
    async fn pay(&self, nav: &str, receipt: &str) {
        let (status, body) = common::soap(
            &self.gateway.nodo,
            "paSendRTV2",
            &common::receipt_v2(nav, receipt),
        )
        .await;
        assert_eq!(status, 200);
        assert!(body.contains("<outcome>OK</outcome>"), "{body}");
    }
}

/// A browser-less console client: keeps its session cookie, follows no redirect.
struct Client {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

/// An answer: status, `Location`, `Set-Cookie` values, body.
struct Answer {
    status: u16,
    location: Option<String>,
    set_cookies: Vec<String>,
    body: String,
}

impl Answer {
    /// The session cookie this answer sets (a login's).
    fn session_cookie(&self) -> &str {
        self.set_cookies
            .iter()
            .find(|v| v.starts_with("varco_console="))
            .expect("a session cookie")
    }
}

impl Client {
    fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header("cookie", self.cookie_header())
        };
        let res = req.send().await.unwrap();
        let set_cookies: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect();
        for c in &set_cookies {
            let pair = c.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() && !c.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
        Answer {
            status: res.status().as_u16(),
            location: res
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_owned()),
            set_cookies,
            body: res.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(req).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap());
        self.send(req).await
    }

    /// Logs in as `(user, password)`: the login form's token, then the form.
    async fn login(&mut self, (user, password): (&str, &str)) -> Answer {
        let form = self.get("/console/login").await;
        let token = hidden(&form.body, "csrf").expect("the login form has a token");
        self.post(
            "/console/login",
            &[
                ("username", user),
                ("password", password),
                ("csrf", &token),
                ("next", "/console/"),
            ],
        )
        .await
    }
}

/// The value of hidden field `name` in a page.
fn hidden(page: &str, name: &str) -> Option<String> {
    let at = page.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &page[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sessions_csrf_domains_and_read_only_operators() {
    let s = Station::start().await;
    let mut c = Client::new(&s.gateway.api);

    // Nothing without a session: the login page, coming back afterwards.
    let a = c.get("/console/pendenze?q=anna").await;
    assert_eq!(a.status, 303);
    assert_eq!(
        a.location.as_deref(),
        Some("/console/login?next=%2Fconsole%2Fpendenze%3Fq%3Danna")
    );
    // A wrong password: refused, no session.
    let form = c.get("/console/login").await;
    assert!(form.body.contains("lang=\"it\""));
    let token = hidden(&form.body, "csrf").unwrap();
    let wrong = c
        .post(
            "/console/login",
            &[("username", MARIO.0), ("password", "no"), ("csrf", &token)],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("non corretti"), "{}", wrong.body);
    // A login form without its cookie's token (another site posting it): refused.
    let mut stranger = Client::new(&s.gateway.api);
    let forged = stranger
        .post(
            "/console/login",
            &[("username", MARIO.0), ("password", MARIO.1), ("csrf", "x")],
        )
        .await;
    assert_eq!(forged.status, 403);

    let ok = c.login(MARIO).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let session = ok.session_cookie();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(session.contains(flag), "{session}");
    }
    assert!(!session.contains("Secure"), "plain HTTP: {session}");

    // Searching by fiscal code finds the position of the allowed creditor only.
    let found = c.get("/console/pendenze?q=bncnna85m41f205x").await;
    assert_eq!(found.status, 200);
    assert!(found.body.contains("Anna Bianchi Verdi"));
    assert!(found.body.contains("77777777777"));
    assert!(
        !found.body.contains(OTHER),
        "another creditor's position shown"
    );
    // By a word of the name, and by two.
    let by_name = c.get("/console/pendenze?q=Verdi").await;
    assert!(
        by_name.body.contains("BNCNNA85M41F205X"),
        "{}",
        by_name.body
    );
    let two = c.get("/console/pendenze?q=anna+rossi").await;
    assert!(
        two.body.contains("Nessuna pendenza trovata"),
        "{}",
        two.body
    );
    // The other creditor's position, by its address: 403.
    let nav_other = s.notice("P-ALTRO").await;
    let other = c
        .get(&format!("/console/pendenze/{OTHER}/{}", &nav_other[1..]))
        .await;
    assert_eq!(other.status, 403);
    assert!(other.body.contains("Non sei abilitato"));
    let other_search = c.get(&format!("/console/pendenze?dominio={OTHER}")).await;
    assert_eq!(other_search.status, 403);

    // An action without the form's token: refused before anything changes.
    let nav = s.notice("P-ANNA").await;
    let detail_path = format!("/console/pendenze/77777777777/{}", &nav[1..]);
    let refused = c
        .post(&format!("{detail_path}/annulla"), &[("motivo", "prova")])
        .await;
    assert_eq!(refused.status, 403);
    let wrong_token = c
        .post(
            &format!("{detail_path}/annulla"),
            &[("motivo", "prova"), ("csrf", "0000")],
        )
        .await;
    assert_eq!(wrong_token.status, 403);
    assert_eq!(s.stato("P-ANNA").await, "NON_ESEGUITA");

    // With the token: cancelled, then reopened; both in the journal with the operator.
    let page = c.get(&detail_path).await;
    let csrf = hidden(&page.body, "csrf").unwrap();
    let cancelled = c
        .post(
            &format!("{detail_path}/annulla"),
            &[("motivo", "doppione"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.body);
    assert!(cancelled.body.contains("Pendenza annullata"));
    assert_eq!(s.stato("P-ANNA").await, "ANNULLATA");
    let reopened = c
        .post(
            &format!("{detail_path}/riapri"),
            &[("motivo", "annullata per errore"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(reopened.status, 200);
    assert_eq!(s.stato("P-ANNA").await, "NON_ESEGUITA");
    let journal = c
        .get(&format!("/console/giornale?iuv={nav}&categoria=REST"))
        .await;
    assert!(
        journal.body.contains("POST /console/pendenze/annulla"),
        "{}",
        journal.body
    );
    assert!(journal.body.contains("POST /console/pendenze/riapri"));

    // CSV of a search: the header and the row, read back.
    let csv = c.get("/console/pendenze.csv?q=BNCNNA85M41F205X").await;
    assert_eq!(csv.status, 200);
    let mut reader = csv::Reader::from_reader(csv.body.as_bytes());
    let head = reader.headers().unwrap().clone();
    assert_eq!(&head[2], "numeroAvviso");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][2], nav);
    assert_eq!(&rows[0][10], "120.00");

    // Logout ends the session.
    let page = c.get("/console/").await;
    let csrf = hidden(&page.body, "csrf").unwrap();
    let out = c.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert_eq!(c.get("/console/").await.status, 303);

    // A read-only operator sees the page without its actions, and the actions refuse them.
    let mut reader_c = Client::new(&s.gateway.api);
    assert_eq!(reader_c.login(READER).await.status, 303);
    let page = reader_c.get(&detail_path).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("sola lettura"));
    assert!(
        !page.body.contains("/annulla\""),
        "a cancel form for a reader"
    );
    let csrf = hidden(&page.body, "csrf").unwrap();
    let refused = reader_c
        .post(
            &format!("{detail_path}/annulla"),
            &[("motivo", "x"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(refused.status, 403);
    // The reader sees every creditor.
    let other = reader_c
        .get(&format!("/console/pendenze/{OTHER}/{}", &nav_other[1..]))
        .await;
    assert_eq!(other.status, 200);

    // Events that name no creditor (a gestionale's REST call) are another creditor's data for
    // an operator held to some: not listed, and opened only for a position they see.
    let put_event = |page: &str| -> String {
        let row = page
            .split("<tr>")
            .find(|r| r.contains("PUT /api/pendenze/v2/pendenze/{idA2A}/{idPendenza}"))
            .expect("the load's event on the position's page");
        let at = row.find("/console/giornale/").unwrap() + "/console/giornale/".len();
        row[at..at + 32].to_owned()
    };
    let other_put = put_event(
        &reader_c
            .get(&format!("/console/pendenze/{OTHER}/{}", &nav_other[1..]))
            .await
            .body,
    );
    let own_put = put_event(&reader_c.get(&detail_path).await.body);
    let mut mario = Client::new(&s.gateway.api);
    assert_eq!(mario.login(MARIO).await.status, 303);
    assert_eq!(
        mario
            .get(&format!("/console/giornale/{other_put}"))
            .await
            .status,
        403
    );
    assert_eq!(
        mario
            .get(&format!("/console/giornale/{own_put}"))
            .await
            .status,
        200
    );
    let listed = mario.get("/console/giornale?categoria=REST").await.body;
    assert!(!listed.contains(&other_put) && !listed.contains(&own_put));
    assert_eq!(
        reader_c
            .get(&format!("/console/giornale/{other_put}"))
            .await
            .status,
        200
    );

    // Pages send a strict policy and are not cached.
    let res = reqwest::Client::new()
        .get(format!("{}/console/login", s.gateway.api))
        .send()
        .await
        .unwrap();
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert_eq!(res.headers()["cache-control"], "no-store");

    s.gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_proxy_the_session_cookie_is_secure() {
    // deploy/nginx terminates TLS in front of the api listener: a cookie a browser would send
    // over plain HTTP is never set.
    let s = Station::start_with(|c| c.api.access.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let mut c = Client::new(&s.gateway.api);
    let form = c.get("/console/login").await;
    assert!(
        form.set_cookies.iter().all(|v| v.contains("; Secure")),
        "{:?}",
        form.set_cookies
    );
    let ok = c.login(MARIO).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    let session = ok.session_cookie();
    assert!(session.contains("; Secure"), "{session}");
    s.gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_sent_again_from_the_outbox_page() {
    let s = Station::start().await;
    s.gestionale.refuse.store(true, Ordering::SeqCst);
    let nav = s.notice("P-ANNA").await;
    s.pay(&nav, "d3m0000000000000000000000000c0n5").await;
    // The first delivery fails; the next is a minute away.
    let mut c = Client::new(&s.gateway.api);
    assert_eq!(c.login(ADMIN).await.status, 303);
    let mut failing = String::new();
    for _ in 0..100 {
        failing = c.get("/console/outbox?stato=failing").await.body;
        if failing.contains("In errore") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        failing.contains("d3m0000000000000000000000000c0n5"),
        "{failing}"
    );
    assert!(
        failing.contains("503"),
        "the last error is shown: {failing}"
    );
    let dashboard = c.get("/console/").await.body;
    assert!(dashboard.contains("Notifiche in errore"));

    s.gestionale.refuse.store(false, Ordering::SeqCst);
    let csrf = hidden(&failing, "csrf").unwrap();
    // The entry's own form: `/console/outbox/<id>/reinvia`.
    let id = failing
        .match_indices("/console/outbox/")
        .map(|(at, m)| &failing[at + m.len()..])
        .find(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .map(|rest| rest[..rest.find('/').unwrap()].to_owned())
        .expect("a re-send form");
    let again = c
        .post(&format!("/console/outbox/{id}/reinvia"), &[("csrf", &csrf)])
        .await;
    assert_eq!(again.status, 303, "{}", again.body);
    // Delivered: an OUTBOX event OK in the journal, and out of the outbox.
    let mut delivered = false;
    for _ in 0..100 {
        let events = c
            .get(&format!(
                "/console/giornale?iuv={nav}&categoria=OUTBOX&esito=OK"
            ))
            .await
            .body;
        if events.contains("<td data-label=\"Esito\">OK</td>") {
            delivered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        delivered,
        "not delivered after the re-send: {} delivered; outbox: {}; journal: {}",
        s.gestionale.delivered.load(Ordering::SeqCst),
        c.get("/console/outbox").await.body,
        c.get("/console/giornale?categoria=OUTBOX").await.body
    );
    let pending = c.get("/console/outbox").await.body;
    assert!(
        !pending.contains("d3m0000000000000000000000000c0n5"),
        "{pending}"
    );
    assert_eq!(s.gestionale.delivered.load(Ordering::SeqCst), 1);
    // The receipt is on the detail page, its XML downloadable.
    let detail = c
        .get(&format!("/console/pendenze/77777777777/{}", &nav[1..]))
        .await;
    assert!(detail.body.contains("Pagata"), "{}", detail.body);
    let xml = c
        .get(&format!(
            "/console/pendenze/77777777777/{}/ricevute/d3m0000000000000000000000000c0n5.xml",
            &nav[1..]
        ))
        .await;
    assert_eq!(xml.status, 200);
    assert!(xml.body.contains("paSendRTV2"));
    s.gateway.stop().await;
}

/// Where the screenshots go: `docs/console/` with `VARCO_SCREENSHOTS=1` (to refresh the ones
/// the README shows), else a temporary directory.
fn screenshots() -> (std::path::PathBuf, Option<tempfile::TempDir>) {
    if std::env::var("VARCO_SCREENSHOTS").as_deref() == Ok("1") {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console");
        std::fs::create_dir_all(&dir).unwrap();
        (dir, None)
    } else {
        let tmp = tempfile::tempdir().unwrap();
        (tmp.path().to_owned(), Some(tmp))
    }
}

/// No axe violation on the current page (`label` names it in the failure).
async fn accessible(b: &common::browser::Browser, label: &str) {
    let violations = b.axe(label).await;
    assert!(
        violations.is_empty(),
        "WCAG 2.1 A/AA violations on {label}:\n{}",
        common::browser::describe(&violations)
    );
}

/// Waits (up to 10 s) until the element matching `selector` holds `needle`: after a click,
/// the page before may still be the one shown (read in the page, so an element replaced by
/// the navigation meanwhile is no error).
async fn wait_text(b: &common::browser::Browser, selector: &str, needle: &str) {
    let mut seen = serde_json::Value::Null;
    for _ in 0..100 {
        if let Ok(text) = b
            .client
            .execute(
                "const e = document.querySelector(arguments[0]); return e ? e.innerText : null;",
                vec![json!(selector)],
            )
            .await
        {
            if text.as_str().is_some_and(|t| t.contains(needle)) {
                return;
            }
            seen = text;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("`{selector}` never held {needle:?}; last: {seen}");
}

/// The page fits the window's width: no horizontal scrolling.
async fn fits(b: &common::browser::Browser, label: &str) {
    let wide = b
        .client
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .unwrap();
    let (content, window) = (wide[0].as_u64().unwrap(), wide[1].as_u64().unwrap());
    assert!(
        content <= window,
        "{label}: {content} px of content in a {window} px window"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_works_in_a_real_browser() {
    let s = Station::start().await;
    // A paid position whose receipt the gestionale refuses for now.
    s.put(
        "P-PAGATA",
        &position("77777777777", ("VRDLGU70A01H501X", "Luigi Verdi")),
    )
    .await;
    s.gestionale.refuse.store(true, Ordering::SeqCst);
    let paid = s.notice("P-PAGATA").await;
    s.pay(&paid, "d3m0000000000000000000000000b0w5").await;
    let nav = s.notice("P-ANNA").await;
    let (shots, _tmp) = screenshots();
    let base = s.gateway.api.clone();
    let b = common::browser::Browser::start().await;

    // Login, from the page asked for.
    b.goto(&format!("{base}/console/")).await;
    b.wait_for("form[action='/console/login']").await;
    accessible(&b, "login").await;
    b.fill("#username", ADMIN.0).await;
    b.fill("#password", ADMIN.1).await;
    b.click("button[type=submit]").await;
    wait_text(&b, "h1", "Cruscotto").await;
    accessible(&b, "dashboard").await;
    fits(&b, "dashboard").await;
    b.screenshot(&shots.join("cruscotto.png")).await;

    // Find the demo debtor's position by name, open it.
    b.goto(&format!("{base}/console/pendenze")).await;
    b.fill("#q", "Bianchi").await;
    b.click(".azioni-form button[type=submit]").await;
    b.wait_for("table.tabella").await;
    let found = b.text("table.tabella tbody").await;
    assert!(found.contains("Anna Bianchi Verdi"), "{found}");
    assert!(found.contains(&nav), "{found}");
    accessible(&b, "search").await;
    fits(&b, "search").await;
    b.full_page_screenshot(&shots.join("ricerca.png")).await;
    b.click(&format!(
        "a[href='/console/pendenze/77777777777/{}']",
        &nav[1..]
    ))
    .await;
    wait_text(&b, "h1", &nav).await;
    accessible(&b, "detail").await;
    fits(&b, "detail").await;

    // The notice PDF, downloaded with the session.
    let (status, kind, pdf) = b
        .fetch_bytes(&format!(
            "{base}/console/pendenze/77777777777/{}/avviso.pdf",
            &nav[1..]
        ))
        .await;
    assert_eq!((status, kind.as_str()), (200, "application/pdf"));
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");

    // Cancel and reopen.
    b.fill("#motivo-annulla", "Avviso inviato due volte").await;
    b.click("form[action$='/annulla'] button").await;
    wait_text(&b, "[role=status]", "Pendenza annullata").await;
    assert!(b.text("h1").await.contains("Annullata"));
    b.fill("#motivo-riapri", "Annullato per errore").await;
    b.click("form[action$='/riapri'] button").await;
    wait_text(&b, "[role=status]", "Pendenza riaperta").await;
    assert!(b.text("h1").await.contains("Da pagare"));

    // A form whose CSRF token was tampered with is refused, and nothing changes.
    b.fill("#motivo-annulla", "tentativo").await;
    b.client
        .execute(
            "document.querySelector(\"form[action$='/annulla'] input[name=csrf]\").value = 'x';",
            vec![],
        )
        .await
        .unwrap();
    b.click("form[action$='/annulla'] button").await;
    wait_text(&b, "h1", "Richiesta rifiutata").await;
    assert_eq!(s.stato("P-ANNA").await, "NON_ESEGUITA");

    // The failed receipt, sent again once the gestionale is back.
    b.goto(&format!("{base}/console/outbox?stato=failing"))
        .await;
    let mut listed = b.text("main").await;
    for _ in 0..50 {
        if listed.contains("d3m0000000000000000000000000b0w5") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        b.goto(&format!("{base}/console/outbox?stato=failing"))
            .await;
        listed = b.text("main").await;
    }
    assert!(listed.contains("In errore"), "{listed}");
    accessible(&b, "outbox").await;
    s.gestionale.refuse.store(false, Ordering::SeqCst);
    b.click("form[action$='/reinvia'] button").await;
    wait_text(&b, "[role=status]", "rimessa in coda").await;
    // Delivered: the journal shows the delivery, the outbox no longer holds it.
    let mut delivered = String::new();
    for _ in 0..50 {
        b.goto(&format!(
            "{base}/console/giornale?iuv={paid}&categoria=OUTBOX&esito=OK"
        ))
        .await;
        delivered = b.text("main").await;
        if delivered.contains(&paid[1..]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(delivered.contains(&paid[1..]), "{delivered}");
    b.goto(&format!("{base}/console/outbox")).await;
    assert!(
        !b.text("main")
            .await
            .contains("d3m0000000000000000000000000b0w5")
    );
    // The paid position's page: its receipt, and its events from the load to the delivery.
    b.goto(&format!(
        "{base}/console/pendenze/77777777777/{}",
        &paid[1..]
    ))
    .await;
    let detail = b.text("main").await;
    for seen in [
        "d3m0000000000000000000000000b0w5",
        "PUT /api/pendenze/v2/pendenze/{idA2A}/{idPendenza}",
        "paSendRTV2",
        "POST /console/outbox/reinvia",
    ] {
        assert!(
            detail.contains(seen),
            "{seen} missing from the detail: {detail}"
        );
    }
    accessible(&b, "paid detail").await;
    b.full_page_screenshot(&shots.join("dettaglio.png")).await;
    assert_eq!(s.gestionale.delivered.load(Ordering::SeqCst), 1);

    // The CSV export of a search, read back.
    let (status, kind, csv) = b
        .fetch_bytes(&format!("{base}/console/pendenze.csv?q=Verdi"))
        .await;
    assert_eq!(status, 200);
    assert!(kind.starts_with("text/csv"), "{kind}");
    let mut reader = csv::Reader::from_reader(csv.as_slice());
    let mut navs: Vec<String> = reader.records().map(|r| r.unwrap()[2].to_owned()).collect();
    navs.sort();
    let mut expected = vec![nav.clone(), paid.clone(), s.notice("P-ALTRO").await];
    expected.sort();
    assert_eq!(navs, expected);

    // The reconciliation: an imported flow, one of its two payments never received.
    s.import_flow("2026-12-01ABI03069-0001.xml").await;
    b.goto(&format!("{base}/console/rendicontazioni")).await;
    let flows = b.text("main").await;
    assert!(flows.contains("2026-12-01ABI03069-0001"), "{flows}");
    assert!(flows.contains("Banca di Prova"), "{flows}");
    accessible(&b, "reconciliation").await;
    fits(&b, "reconciliation").await;

    // The other main pages pass the accessibility check too.
    for (path, label) in [
        ("/console/ricevute", "receipts"),
        ("/console/anomalie", "anomalies"),
        ("/console/giornale", "journal"),
        ("/console/configurazione", "configuration"),
    ] {
        b.goto(&format!("{base}{path}")).await;
        b.wait_for("h1").await;
        accessible(&b, label).await;
        fits(&b, label).await;
    }
    let receipts = b.text("body").await;
    assert!(!receipts.contains("password_hash") && !receipts.contains("$argon2"));

    // On a tablet: still no horizontal scrolling.
    b.client.set_window_size(800, 1100).await.unwrap();
    for path in ["/console/", "/console/pendenze?q=Verdi"] {
        b.goto(&format!("{base}{path}")).await;
        b.wait_for("h1").await;
        fits(&b, path).await;
    }
    b.client.set_window_size(1280, 900).await.unwrap();

    // An operator of the demo creditor only: another creditor's page is refused.
    b.goto(&format!("{base}/console/")).await;
    b.click(".slim-utente button").await;
    b.wait_for("#username").await;
    b.fill("#username", MARIO.0).await;
    b.fill("#password", MARIO.1).await;
    b.click("button[type=submit]").await;
    b.wait_for(".griglia-cifre").await;
    let other = s.notice("P-ALTRO").await;
    b.goto(&format!("{base}/console/pendenze/{OTHER}/{}", &other[1..]))
        .await;
    wait_text(&b, "h1", "Accesso negato").await;
    drop(b);
    s.gateway.stop().await;
}
