//! The event journal: SOAP verify / activate / receipt, REST calls and receipt deliveries are
//! recorded with their ids and outcomes; `GET /api/backoffice/v1/eventi` filters and pages;
//! the purge removes exactly the oldest events beyond the age and count bounds; shutdown writes
//! what is queued; payloads are kept only when asked for, and cut.

mod common;

use axum::body::Body;
use chrono::{DateTime, Duration as Days, Utc};
use common::TestApp;
use common::app::{ScriptedGestionale, Who, manual_clock, request, temp_store};
use serde_json::{Value, json};
use std::time::Duration;
use varco::config::{Config, DEMO_TOML, JournalConfig};
use varco::journal::{Categoria, Esito, Evento, Filtro, Journal, PAYLOAD_CAP, TRUNCATED};
use varco::store::Store;

const NAV: &str = "301000000000001053";
const IUV: &str = "01000000000001053";
const RECEIPT: &str = "d3m0000000000000000000000000000a";
const OPERATOR: (&str, &str) = common::DEMO_OPERATOR;
const APP: (&str, &str) = common::DEMO_APP;

/// The demo (with `extra` appended to its TOML) seeded at the clock's time.
fn setup(extra: &str) -> common::app::TestAppBuilder {
    TestApp::with_toml_tail(extra)
}

/// The application: its api's calls are recorded; the journal is read through a quiet router.
struct Varco(TestApp);

impl std::ops::Deref for Varco {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

impl Varco {
    async fn call(&self, method: &str, path: &str, who: Who<'_>, body: Option<String>) -> Answer {
        let req = request(method, path, who);
        let reply = self.send(
            req.body(common::app::body(body.map(String::into_bytes)))
                .unwrap(),
        );
        let reply = reply.await;
        (reply.status.as_u16(), reply.json())
    }

    /// `GET /api/backoffice/v1/eventi?{query}` as the operator (not recorded), after the queue
    /// is written.
    async fn eventi(&self, query: &str) -> Value {
        let journal = self.state.journal.clone();
        tokio::task::spawn_blocking(move || journal.barrier())
            .await
            .unwrap();
        let req = request(
            "GET",
            &format!("/api/backoffice/v1/eventi?{query}"),
            Some(OPERATOR),
        );
        let reply = common::app::send(&self.quiet_api(), req.body(Body::empty()).unwrap()).await;
        let v = reply.json();
        assert_eq!(reply.status, 200, "{v}");
        v
    }
}

/// Status and JSON body (`Null` when not JSON).
type Answer = (u16, Value);

fn tipi(list: &Value) -> Vec<String> {
    list["risultati"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["tipoEvento"].as_str().unwrap().to_owned())
        .collect()
}

fn one<'a>(list: &'a Value, tipo: &str) -> &'a Value {
    let found: Vec<&Value> = list["risultati"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["tipoEvento"] == tipo)
        .collect();
    assert_eq!(found.len(), 1, "one {tipo} in {list:#}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soap_and_rest_calls_are_recorded_filtered_and_paged() {
    let t0: DateTime<Utc> = "2026-11-27T09:00:00Z".parse().unwrap();
    let v = Varco(setup("").manual_clock(t0).build().await);
    let step = |secs: i64| v.advance(Days::seconds(secs));

    // 09:00:00 verify OK, :01 activate OK, :02 receipt OK, :03 a verify of an unknown notice,
    // :04 a REST read of the notice, :05 a REST call with bad credentials.
    let verify = v
        .soap("paVerifyPaymentNotice", &common::fixture("demo/verify.xml"))
        .await;
    assert_eq!(common::element(&verify, "outcome"), Some("OK"), "{verify}");
    step(1);
    let activate = v
        .soap(
            "paGetPaymentV2",
            &common::fixture("demo/get-payment-v2.xml"),
        )
        .await;
    assert_eq!(
        common::element(&activate, "outcome"),
        Some("OK"),
        "{activate}"
    );
    step(1);
    let receipt = v
        .soap("paSendRTV2", &common::fixture("demo/send-rt-v2.xml"))
        .await;
    assert_eq!(
        common::element(&receipt, "outcome"),
        Some("OK"),
        "{receipt}"
    );
    step(1);
    let unknown = common::qr_request("paVerifyPaymentNoticeReq", "301999999999999999", "");
    let ko = v.soap("paVerifyPaymentNotice", &unknown).await;
    assert_eq!(
        common::element(&ko, "faultCode"),
        Some("PAA_PAGAMENTO_SCONOSCIUTO")
    );
    step(1);
    let (s, _) = v
        .call(
            "GET",
            &format!("/api/pendenze/v2/avvisi/77777777777/{NAV}"),
            Some(APP),
            None,
        )
        .await;
    assert_eq!(s, 200);
    step(1);
    let (s, _) = v
        .call(
            "GET",
            "/api/pendenze/v2/pendenze/demo/demo-10",
            Some(("demo", "wrong")),
            None,
        )
        .await;
    assert_eq!(s, 401);
    step(60);

    // Everything, newest first.
    let all = v.eventi("").await;
    assert_eq!(
        tipi(&all),
        [
            "GET /api/pendenze/v2/pendenze/{idA2A}/{idPendenza}",
            "GET /api/pendenze/v2/avvisi/{idDominio}/{numeroAvviso}",
            "paVerifyPaymentNotice",
            "paSendRTV2",
            "paGetPaymentV2",
            "paVerifyPaymentNotice",
        ],
        "{all:#}"
    );
    let events = all["risultati"].as_array().unwrap();
    assert_eq!(all["numRisultati"], 6);
    assert!(all.get("cursore").is_none(), "no more pages");

    // The verify: ids from the request, the owning application from the stored position.
    let verify = &events[5];
    assert_eq!(verify["categoriaEvento"], "SOAP");
    assert_eq!(verify["componente"], "API_PAGOPA");
    assert_eq!(verify["ruolo"], "SERVER");
    assert_eq!(verify["esito"], "OK");
    assert_eq!(verify["data"], "2026-11-27T09:00:00Z");
    assert_eq!(verify["idDominio"], "77777777777");
    assert_eq!(verify["numeroAvviso"], NAV);
    assert_eq!(verify["iuv"], IUV);
    assert_eq!(verify["idA2A"], "demo");
    assert_eq!(verify["idPendenza"], "demo-10");
    assert_eq!(verify["datiPagoPA"]["idStazione"], "77777777777_01");
    assert_eq!(verify["datiPagoPA"]["idIntermediario"], "77777777777");
    assert!(verify["durataUs"].as_u64().is_some());
    assert!(verify.get("sottotipoEsito").is_none());
    assert!(
        verify.get("parametriRichiesta").is_none() && verify.get("parametriRisposta").is_none(),
        "no payloads unless asked for: {verify}"
    );
    // The receipt: its id, the PSP.
    let rt = &events[3];
    assert_eq!(rt["esito"], "OK");
    assert_eq!(rt["idRicevuta"], RECEIPT);
    assert_eq!(rt["iuv"], IUV);
    assert_eq!(
        rt["datiPagoPA"]["idPSP"].as_str().map(|s| !s.is_empty()),
        Some(true)
    );
    assert_eq!(events[4]["esito"], "OK");
    assert_eq!(events[4]["iuv"], IUV);
    // The refused verify.
    let ko = &events[2];
    assert_eq!(ko["esito"], "KO");
    assert_eq!(ko["sottotipoEsito"], "PAA_PAGAMENTO_SCONOSCIUTO");
    assert!(
        ko["dettaglioEsito"]
            .as_str()
            .unwrap()
            .contains("301999999999999999")
    );
    assert!(ko.get("idA2A").is_none());
    // The REST read: route with named parameters, ids from the path, the authenticated user.
    let rest = &events[1];
    assert_eq!(rest["categoriaEvento"], "REST");
    assert_eq!(rest["componente"], "API_PENDENZE");
    assert_eq!(rest["esito"], "OK");
    assert_eq!(rest["sottotipoEsito"], "200");
    assert_eq!(rest["principal"], "demo");
    assert_eq!(rest["idA2A"], "demo");
    assert_eq!(rest["idDominio"], "77777777777");
    assert_eq!(rest["numeroAvviso"], NAV);
    assert_eq!(rest["iuv"], IUV);
    assert_eq!(
        rest["parametriRichiesta"],
        json!({"metodo": "GET", "url": format!("/api/pendenze/v2/avvisi/77777777777/{NAV}")})
    );
    assert_eq!(rest["parametriRisposta"], json!({"status": 200}));
    // Refused credentials: no user is recorded, the path's ids are.
    let refused = &events[0];
    assert_eq!(refused["esito"], "KO");
    assert_eq!(refused["sottotipoEsito"], "401");
    assert!(refused.get("principal").is_none());
    assert_eq!(refused["idA2A"], "demo");
    assert_eq!(refused["idPendenza"], "demo-10");

    // Filters.
    assert_eq!(
        tipi(&v.eventi("categoriaEvento=SOAP&esito=OK").await),
        ["paSendRTV2", "paGetPaymentV2", "paVerifyPaymentNotice"]
    );
    assert_eq!(
        tipi(&v.eventi("esito=KO&categoriaEvento=rest").await).len(),
        1
    );
    assert_eq!(
        tipi(&v.eventi(&format!("idRicevuta={RECEIPT}")).await),
        ["paSendRTV2"]
    );
    assert_eq!(
        tipi(
            &v.eventi(&format!("numeroAvviso={NAV}&categoriaEvento=SOAP"))
                .await
        ),
        ["paSendRTV2", "paGetPaymentV2", "paVerifyPaymentNotice"]
    );
    assert_eq!(tipi(&v.eventi(&format!("iuv={IUV}")).await).len(), 4);
    assert_eq!(
        tipi(&v.eventi("tipoEvento=paVerifyPaymentNotice").await).len(),
        2
    );
    assert_eq!(
        tipi(&v.eventi("idA2A=demo&categoriaEvento=SOAP").await).len(),
        3
    );
    assert_eq!(tipi(&v.eventi("idA2A=altra").await).len(), 0);
    assert_eq!(tipi(&v.eventi("idDominio=11111111111").await).len(), 0);
    // A time window: 09:00:01 ..= 09:00:02.
    assert_eq!(
        tipi(
            &v.eventi("dataDa=2026-11-27T09:00:01Z&dataA=2026-11-27T09:00:02Z")
                .await
        ),
        ["paSendRTV2", "paGetPaymentV2"]
    );
    assert_eq!(tipi(&v.eventi("dataDa=2026-11-28").await).len(), 0);
    assert_eq!(tipi(&v.eventi("dataA=2026-11-27").await).len(), 6);
    assert_eq!(tipi(&v.eventi("dataA=2026-11-26").await).len(), 0);

    // Pages of two: by number, and by cursor, give the same events in the same order.
    let mut by_page = Vec::new();
    for page in 1..=4 {
        let p = v
            .eventi(&format!("risultatiPerPagina=2&pagina={page}"))
            .await;
        assert_eq!(p["pagina"], page);
        by_page.extend(tipi(&p));
        assert_eq!(p.get("cursore").is_some(), page < 3, "page {page}: {p}");
    }
    assert_eq!(by_page, tipi(&all));
    let mut by_cursor = Vec::new();
    let mut query = "risultatiPerPagina=2".to_owned();
    loop {
        let p = v.eventi(&query).await;
        by_cursor.extend(tipi(&p));
        let Some(c) = p["cursore"].as_str() else {
            break;
        };
        assert_eq!(
            p["prossimiRisultati"],
            format!("/api/backoffice/v1/eventi?risultatiPerPagina=2&cursore={c}")
        );
        query = format!("risultatiPerPagina=2&cursore={c}");
    }
    assert_eq!(by_cursor, tipi(&all));
    // A cursor with a filter.
    let first = v.eventi("categoriaEvento=SOAP&risultatiPerPagina=1").await;
    let c = first["cursore"].as_str().unwrap();
    assert_eq!(
        tipi(&v.eventi(&format!("categoriaEvento=SOAP&cursore={c}")).await),
        ["paSendRTV2", "paGetPaymentV2", "paVerifyPaymentNotice"]
    );

    // One event by its id.
    let id = verify["id"].as_str().unwrap();
    let (s, single) = v
        .call(
            "GET",
            &format!("/api/backoffice/v1/eventi/{id}"),
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(&single, verify);
    let (s, _) = v
        .call(
            "GET",
            "/api/backoffice/v1/eventi/00000000000000000000000000000000",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, 404);

    // Operators only; refusals name the parameter.
    for who in [None, Some(APP)] {
        let (s, _) = v.call("GET", "/api/backoffice/v1/eventi", who, None).await;
        assert_eq!(s, 401);
    }
    for (query, field) in [
        ("risultatiPerPagina=201", "risultatiPerPagina"),
        ("pagina=0", "pagina"),
        ("esito=MAYBE", "esito"),
        ("categoriaEvento=FTP", "categoriaEvento"),
        ("dataDa=ieri", "dataDa"),
        ("cursore=xyz", "cursore"),
    ] {
        let (s, fault) = v
            .call(
                "GET",
                &format!("/api/backoffice/v1/eventi?{query}"),
                Some(OPERATOR),
                None,
            )
            .await;
        assert_eq!(s, 400, "{query}: {fault}");
        assert!(fault.to_string().contains(field), "{query}: {fault}");
    }

    // Listed in the backoffice OpenAPI document.
    let (s, doc) = v
        .call("GET", "/api/backoffice/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, 200);
    assert!(doc["paths"]["/eventi"]["get"].is_object(), "{doc}");
    assert!(doc["paths"]["/eventi/{id}"]["get"].is_object());
    assert!(doc["components"]["schemas"]["Evento"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_are_kept_only_when_asked_for_and_cut() {
    let v = Varco(setup("\n[journal]\npayloads = true\n").build().await);
    let verify = common::fixture("demo/verify.xml");
    v.soap("paVerifyPaymentNotice", &verify).await;
    // A REST body over the cap (refused by validation, recorded all the same).
    let big = json!({"causale": "x".repeat(PAYLOAD_CAP + 10)}).to_string();
    let (s, _) = v
        .call(
            "PUT",
            "/api/pendenze/v2/pendenze/demo/grande",
            Some(APP),
            Some(big),
        )
        .await;
    assert_eq!(s, 400);
    // A listing through the recording router: recorded too, with its answer.
    let (s, _) = v
        .call("GET", "/api/backoffice/v1/eventi", Some(OPERATOR), None)
        .await;
    assert_eq!(s, 200);
    let all = v.eventi("").await;
    let soap = one(&all, "paVerifyPaymentNotice");
    assert_eq!(soap["parametriRichiesta"]["payload"], verify);
    let answer = soap["parametriRisposta"]["payload"].as_str().unwrap();
    assert!(
        answer.contains("paVerifyPaymentNoticeRes") && answer.contains("<outcome>OK</outcome>")
    );
    let put = one(&all, "PUT /api/pendenze/v2/pendenze/{idA2A}/{idPendenza}");
    let sent = put["parametriRichiesta"]["payload"].as_str().unwrap();
    assert!(sent.ends_with(TRUNCATED));
    assert_eq!(sent.len(), PAYLOAD_CAP + TRUNCATED.len());
    assert!(sent.starts_with(r#"{"causale":"xxx"#));
    let refusal = put["parametriRisposta"]["payload"].as_str().unwrap();
    assert!(refusal.contains("\"codice\""), "{refusal}");
    assert_eq!(put["parametriRisposta"]["status"], 400);
    let listing = one(&all, "GET /api/backoffice/v1/eventi");
    assert_eq!(listing["componente"], "API_BACKOFFICE");
    assert_eq!(listing["principal"], "admin");
    assert!(
        listing.get("idA2A").is_none(),
        "an operator is no application"
    );
    assert!(
        listing["parametriRisposta"]["payload"]
            .as_str()
            .unwrap()
            .starts_with(r#"{"numRisultati":"#)
    );
}

// ---- receipt deliveries --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_recorded_with_their_failures() {
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$txpmaUcaTJLfScRpnxpbJQ$83oRsvtEd0uMh5d96ffq7JASWGM73E7HtN7QfM5X3DI";
    let extra = common::app::application_toml("gest", hash, "http://127.0.0.1:9/");
    let toml = format!(
        "{}{extra}",
        DEMO_TOML.replace(
            "base_delay_ms = 30000\nmax_delay_ms = 3600000\njitter = 0.2",
            "base_delay_ms = 20\nmax_delay_ms = 20\njitter = 0.0"
        )
    );
    let app = TestApp::with_config(Config::parse(&toml, "test").unwrap())
        .manual_clock(chrono::Utc::now())
        .seed(false)
        .build()
        .await;
    let (config, store, clock) = (app.config.clone(), app.store.clone(), app.clock.clone());
    assert_eq!(config.outbox.base_delay_ms, 20);
    let nav = varco::domain::NoticeNumber::aux3("01", 77);
    let mut p = varco::demo::sample(&config, &nav, clock());
    p.id_a2a = Some("gest".into());
    p.id_pendenza = Some("g-77".into());
    assert!(store.insert_pendenza(&p).await.unwrap());
    app.receipt_to_handlers(nav.as_str(), RECEIPT).await;

    // The application's journal: the demo's `[journal]`, the defaults.
    assert_eq!(
        format!("{:?}", config.journal),
        format!("{:?}", JournalConfig::default())
    );
    let journal = app.state.journal.clone();
    let worker = varco::outbox::Worker::new(
        store.clone(),
        config.clone(),
        ScriptedGestionale::new(clock.clone(), 2, "HTTP 503 from the gestionale"),
        clock,
    )
    .with_journal(journal.clone());
    // One pass per attempt, the clock moved past the 20 ms backoff in between: no sleeping.
    for attempt in 1..=3 {
        assert_eq!(worker.drain_once().await, 1, "attempt {attempt}");
        assert_eq!(
            worker.drain_once().await,
            0,
            "nothing due before the backoff"
        );
        app.advance(chrono::Duration::milliseconds(20));
    }
    assert!(
        store.outbox().await.unwrap().is_empty(),
        "delivered at the third attempt"
    );
    let j = journal.clone();
    tokio::task::spawn_blocking(move || j.barrier())
        .await
        .unwrap();

    let filter = Filtro {
        categoria: Some(Categoria::Outbox),
        ..Filtro::default()
    };
    let page = store.eventi(&filter, 1, 50).await.unwrap();
    let seen: Vec<(Esito, Option<String>, Option<u32>)> = page
        .risultati
        .iter()
        .rev()
        .map(|e| (e.esito, e.sottotipo_esito.clone(), e.tentativo))
        .collect();
    assert_eq!(
        seen,
        [
            (Esito::Fail, Some("failing".into()), Some(1)),
            (Esito::Fail, Some("failing".into()), Some(2)),
            (Esito::Ok, Some("delivered".into()), Some(3)),
        ]
    );
    for e in &page.risultati {
        assert_eq!(e.componente, "API_GESTIONALE");
        assert_eq!(e.id_dominio.as_deref(), Some("77777777777"));
        assert_eq!(e.iuv.as_deref(), Some(nav.iuv()));
        assert_eq!(e.id_ricevuta.as_deref(), Some(RECEIPT));
        assert_eq!(e.id_a2a.as_deref(), Some("gest"));
        assert!(e.id_outbox.is_some());
        assert!(
            e.parametri_richiesta
                .as_ref()
                .is_some_and(|p| p.payload.is_none())
        );
    }
    assert_eq!(
        page.risultati[2].dettaglio_esito.as_deref(),
        Some("HTTP 503 from the gestionale")
    );
    assert_eq!(page.risultati[0].dettaglio_esito, None);
    // The same through the API filter on the application.
    let by_app = Filtro {
        id_a2a: Some("gest".into()),
        esito: Some(Esito::Fail),
        ..Filtro::default()
    };
    assert_eq!(
        store.eventi(&by_app, 1, 50).await.unwrap().risultati.len(),
        2
    );
}

// ---- bounds --------------------------------------------------------------------------------

fn event(n: usize, at: DateTime<Utc>) -> Evento {
    let mut e = Evento::new(
        Categoria::Rest,
        format!("e{n}"),
        at,
        Duration::from_micros(n as u64),
        Esito::Ok,
    );
    e.id_a2a = Some("demo".into());
    e
}

async fn all_tipi(store: &Store) -> Vec<String> {
    let mut out = Vec::new();
    let mut filter = Filtro::default();
    loop {
        let page = store.eventi(&filter, 1, 200).await.unwrap();
        out.extend(page.risultati.iter().map(|e| e.tipo_evento.clone()));
        match page.cursore {
            Some(c) => filter.cursore = varco::journal::parse_id(&c),
            None => return out,
        }
    }
}

fn names(range: impl DoubleEndedIterator<Item = usize>) -> Vec<String> {
    range.rev().map(|n| format!("e{n}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_removes_exactly_the_events_past_the_age_bound() {
    let (_dir, store) = temp_store().await;
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    // Ten events a day apart, day 0 .. day 9; "now" is day 9, nothing is too old.
    let (clock, now) = manual_clock(t0 + Days::days(9));
    let config = JournalConfig {
        max_age_days: 30,
        ..JournalConfig::default()
    };
    let journal = Journal::start(&store, &config, clock);
    for n in 0..10 {
        journal.record(event(n, t0 + Days::days(n as i64)));
    }
    journal.barrier();
    assert_eq!(journal.purge_now(), 0);
    assert_eq!(all_tipi(&store).await, names(0..10));
    // Day 32, 12:00: events of day 0, 1 and 2 are older than 30 days; day 3 at 00:00 is not.
    *now.lock().unwrap() = t0 + Days::days(32) + Days::hours(12);
    assert_eq!(journal.purge_now(), 3);
    assert_eq!(all_tipi(&store).await, names(3..10));
    assert_eq!(journal.len(), 7);
    assert_eq!(
        journal
            .stats
            .purged
            .load(std::sync::atomic::Ordering::Relaxed),
        3
    );
    // Exactly 30 days after day 3: kept (older than, not as old as).
    *now.lock().unwrap() = t0 + Days::days(33);
    assert_eq!(journal.purge_now(), 0);
    // A restart enforces the bound by itself: day 37, 01:00 leaves days 8 and 9.
    journal.close();
    drop(journal);
    let (clock, _) = manual_clock(t0 + Days::days(37) + Days::hours(1));
    let journal = Journal::start(&store, &config, clock);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while journal
        .stats
        .purged
        .load(std::sync::atomic::Ordering::Relaxed)
        < 5
    {
        assert!(std::time::Instant::now() < deadline, "no purge at startup");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(journal.purge_now(), 0);
    assert_eq!(all_tipi(&store).await, names(8..10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_keeps_the_newest_events_within_the_count_bound() {
    let (_dir, store) = temp_store().await;
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let (clock, _) = manual_clock(t0);
    let config = JournalConfig {
        max_events: 10,
        ..JournalConfig::default()
    };
    let journal = Journal::start(&store, &config, clock.clone());
    // More than one purge step's worth, many in the same millisecond (the sequence orders
    // them).
    let total = 5000;
    for n in 0..total {
        journal.record(event(n, t0 + Days::milliseconds((n / 7) as i64)));
    }
    journal.barrier();
    journal.purge_now();
    assert_eq!(all_tipi(&store).await, names(total - 10..total));
    assert_eq!(journal.len(), 10);
    assert_eq!(
        journal
            .stats
            .written
            .load(std::sync::atomic::Ordering::Relaxed),
        total as u64
    );
    // A restart counts what is stored and keeps numbering after it.
    journal.close();
    drop(journal);
    let journal = Journal::start(&store, &config, clock);
    journal.record(event(total, t0 + Days::milliseconds((total / 7) as i64)));
    journal.barrier();
    journal.purge_now();
    assert_eq!(all_tipi(&store).await, names(total - 9..total + 1));
    assert_eq!(journal.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_or_disabled_journal_records_nothing_and_counts_drops() {
    let (_dir, store) = temp_store().await;
    let clock = varco::domain::system_clock();
    let off = Journal::start(
        &store,
        &JournalConfig {
            enabled: false,
            ..JournalConfig::default()
        },
        clock.clone(),
    );
    assert!(!off.enabled() && !off.payloads());
    off.record(event(1, clock()));
    let journal = Journal::start(&store, &JournalConfig::default(), clock.clone());
    journal.record(event(2, clock()));
    journal.close();
    journal.record(event(3, clock()));
    assert_eq!(
        journal
            .stats
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert_eq!(all_tipi(&store).await, ["e2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_the_queued_events() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::parse(DEMO_TOML, "test").unwrap();
    config.store.data_dir = dir.path().to_owned();
    config.nodo.listen = "127.0.0.1:0".parse().unwrap();
    config.api.listen = "127.0.0.1:0".parse().unwrap();
    config.demo.seed = true;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let task = tokio::spawn(varco::server::run(
        config,
        varco::domain::system_clock(),
        async move {
            let _ = stopped.await;
        },
        move |b, _| bound_tx.send(b).unwrap(),
    ));
    let bound = tokio::task::spawn_blocking(move || {
        bound_rx.recv_timeout(Duration::from_secs(20)).unwrap()
    })
    .await
    .unwrap();
    let url = format!("http://{}/paForNode", bound.nodo);
    for _ in 0..20 {
        let (s, body) = common::soap_demo(&url, "paVerifyPaymentNotice").await;
        assert_eq!(s, 200, "{body}");
    }
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    let store = Store::open(dir.path(), 16).unwrap();
    let found = store
        .eventi(
            &Filtro {
                tipo_evento: Some("paVerifyPaymentNotice".into()),
                ..Filtro::default()
            },
            1,
            200,
        )
        .await
        .unwrap();
    assert_eq!(found.risultati.len(), 20);
    assert!(
        found
            .risultati
            .iter()
            .all(|e| e.numero_avviso.as_deref() == Some(NAV))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_cursors_cross_chunks_in_order() {
    let (_dir, store) = temp_store().await;
    let t0: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
    let (clock, _) = manual_clock(t0);
    let journal = Journal::start(&store, &JournalConfig::default(), clock);
    let total = 1000;
    for n in 0..total {
        let mut e = event(n, t0 + Days::milliseconds((n / 3) as i64));
        if n % 10 == 0 {
            e.id_a2a = Some("decimo".into());
        }
        journal.record(e);
    }
    journal.barrier();
    // Every event, by cursor, in pages of 7.
    assert_eq!(all_tipi(&store).await, names(0..total));
    let mut seen = Vec::new();
    let mut filter = Filtro::default();
    loop {
        let page = store.eventi(&filter, 1, 7).await.unwrap();
        assert!(page.risultati.len() <= 7);
        seen.extend(page.risultati.iter().map(|e| e.tipo_evento.clone()));
        match page.cursore {
            Some(c) => filter.cursore = varco::journal::parse_id(&c),
            None => break,
        }
    }
    assert_eq!(seen, names(0..total));
    // By page number, with a filter and a time window.
    let filter = Filtro {
        id_a2a: Some("decimo".into()),
        da: Some(t0 + Days::milliseconds(100)),
        a: Some(t0 + Days::milliseconds(200)),
        ..Filtro::default()
    };
    let expected: Vec<String> = (300..=600)
        .filter(|n| n % 10 == 0)
        .rev()
        .map(|n| format!("e{n}"))
        .collect();
    let mut by_page = Vec::new();
    for pagina in 1..=5 {
        let page = store.eventi(&filter, pagina, 8).await.unwrap();
        by_page.extend(page.risultati.iter().map(|e| e.tipo_evento.clone()));
    }
    assert_eq!(by_page, expected);
    // One event by its id, from the middle of a chunk.
    let page = store.eventi(&Filtro::default(), 10, 50).await.unwrap();
    let middle = &page.risultati[17];
    assert_eq!(
        middle.tipo_evento,
        format!("e{}", total - 1 - (9 * 50 + 17))
    );
    assert_eq!(
        store.evento(&middle.id).await.unwrap().as_ref(),
        Some(middle)
    );
    assert_eq!(journal.len(), total as u64);
}
