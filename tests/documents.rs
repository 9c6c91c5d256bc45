//! Documents: one debt offered as a single payment or in instalments, loaded through API
//! Pendenze v2 (PUT and tracciato), paid over SOAP under the plan rules, answered by the
//! payment-options REST verify, cancelled in one call. Runs on both engines (`make test`
//! runs it again on PostgreSQL).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{TimeZone, Utc};
use common::TestApp;
use common::app::{Who, send};
use serde_json::{Value, json};
use varco::password::hash_password;

const DEMO: (&str, &str) = common::DEMO_APP;
const SECOND: (&str, &str) = ("seconda", "un'altra password vera");
const EC: &str = "77777777777";

/// The demo with a second application (to own a document of its own).
fn app() -> common::app::TestAppBuilder {
    TestApp::with_toml_tail(&format!(
        r#"
[[applicazioni]]
id_a2a = "seconda"
password_hash = "{}"
domini = ["*"]
tipi_pendenza = ["*"]
"#,
        hash_password(SECOND.1).unwrap()
    ))
}

async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    who: Who<'_>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = common::app::request(method, &format!("/api/pendenze/v2{path}"), who)
        .body(common::app::body(body.map(|b| b.to_string().into_bytes())))
        .unwrap();
    let reply = app.send(req).await;
    let value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    (reply.status, value)
}

/// One option of document `doc`: `rata` None for the single payment.
fn option(doc: &str, rata: Option<u32>, piano: Option<&str>, cents: i64, due: &str) -> Value {
    let importo = cents as f64 / 100.0;
    let mut documento = json!({"identificativo": doc, "descrizione": "TARI 2026"});
    if let Some(r) = rata {
        documento["rata"] = json!(r);
    }
    if let Some(p) = piano {
        documento["piano"] = json!(p);
    }
    json!({
        "idTipoPendenza": "LIBERO",
        "idDominio": EC,
        "causale": match rata { Some(r) => format!("TARI 2026 - rata {r}"), None => "TARI 2026 - rata unica".into() },
        "soggettoPagatore": {"tipo": "F", "identificativo": "RSSMRA80A01H501U", "anagrafica": "Mario Rossi"},
        "importo": importo,
        "dataValidita": due,
        "dataScadenza": due,
        "documento": documento,
        "voci": [{"idVocePendenza": "tari", "importo": importo, "descrizione": "TARI 2026", "codEntrata": "TARI"}]
    })
}

/// The single payment (300.00) and three instalments (100.00 each) of `doc`.
fn plan(doc: &str) -> Vec<(String, Value)> {
    let mut out = vec![(
        format!("{doc}-U"),
        option(doc, None, None, 30_000, "2030-03-31"),
    )];
    for (r, due) in [(1, "2030-03-31"), (2, "2030-06-30"), (3, "2030-09-30")] {
        out.push((
            format!("{doc}-R{r}"),
            option(doc, Some(r), None, 10_000, due),
        ));
    }
    out
}

/// Loads `options` one PUT each; their notice numbers, in order.
async fn put_all(app: &TestApp, who: (&str, &str), options: &[(String, Value)]) -> Vec<String> {
    let mut navs = Vec::new();
    for (id, body) in options {
        let (s, v) = call(
            app,
            "PUT",
            &format!("/pendenze/{}/{id}", who.0),
            Some(who),
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        navs.push(v["numeroAvviso"].as_str().unwrap().to_owned());
    }
    navs
}

fn verify(nav: &str) -> String {
    common::qr_request("paVerifyPaymentNoticeReq", nav, "")
}

fn activate(nav: &str) -> String {
    common::qr_request("paGetPaymentV2Request", nav, "<amount>1.00</amount>")
}

/// `OK`, or the fault code of a SOAP answer.
fn verdict(answer: &str) -> String {
    if answer.contains("<outcome>OK</outcome>") {
        return "OK".into();
    }
    let code = answer
        .split("<faultCode>")
        .nth(1)
        .and_then(|s| s.split("</faultCode>").next())
        .unwrap_or_else(|| panic!("no outcome in {answer}"));
    code.to_owned()
}

async fn verify_and_activate(app: &TestApp, nav: &str) -> (String, String) {
    (
        verdict(&app.soap("paVerifyPaymentNotice", verify(nav)).await),
        verdict(&app.soap("paGetPaymentV2", activate(nav)).await),
    )
}

/// The demo paSendRTV2 for `nav` with id `receipt_id` and amount `cents`.
fn receipt(nav: &str, receipt_id: &str, cents: i64) -> String {
    common::receipt_v2(nav, receipt_id)
        .replace("120.00", &format!("{}.{:02}", cents / 100, cents % 100))
}

async fn pay(app: &TestApp, nav: &str, receipt_id: &str, cents: i64) -> String {
    verdict(
        &app.soap("paSendRTV2", receipt(nav, receipt_id, cents))
            .await,
    )
}

async fn detail(app: &TestApp, id: &str) -> Value {
    let (s, v) = call(
        app,
        "GET",
        &format!("/pendenze/demo/{id}"),
        Some(DEMO),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

async fn document_state(app: &TestApp, id: &str) -> String {
    detail(app, id).await["documento"]["stato"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_document_loaded_by_put_and_by_tracciato_is_read_back_and_listed() {
    let app = app().build().await;
    let navs = put_all(&app, DEMO, &plan("TARI-A")).await;
    assert_eq!(navs.len(), 4);
    let unica = detail(&app, "TARI-A-U").await;
    assert_eq!(unica["documento"]["identificativo"], "TARI-A");
    assert_eq!(unica["documento"]["descrizione"], "TARI 2026");
    assert!(unica["documento"].get("rata").is_none(), "{unica}");
    assert_eq!(unica["documento"]["stato"], "NON_ESEGUITO");
    assert_eq!(detail(&app, "TARI-A-R2").await["documento"]["rata"], 2);

    // The same shape by tracciato.
    let items: Vec<Value> = plan("TARI-B")
        .into_iter()
        .map(|(id, mut body)| {
            body["idA2A"] = json!("demo");
            body["idPendenza"] = json!(id);
            body
        })
        .collect();
    let (s, v) = call(
        &app,
        "POST",
        "/pendenze/tracciati",
        Some(DEMO),
        Some(json!(items)),
    )
    .await;
    assert_eq!((s, v["numOk"].as_u64()), (StatusCode::OK, Some(4)), "{v}");
    assert_eq!(detail(&app, "TARI-B-R3").await["documento"]["rata"], 3);

    // Listed by document: the single payment first, then the instalments in order.
    let (s, list) = call(
        &app,
        "GET",
        "/pendenze?idDocumento=TARI-B",
        Some(DEMO),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = list["risultati"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["idPendenza"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["TARI-B-U", "TARI-B-R1", "TARI-B-R2", "TARI-B-R3"]);
    assert_eq!(list["numRisultati"], 4);
    let (_, page) = call(
        &app,
        "GET",
        "/pendenze?idDocumento=TARI-B&risultatiPerPagina=2&pagina=2",
        Some(DEMO),
        None,
    )
    .await;
    assert_eq!(page["risultati"][0]["idPendenza"], "TARI-B-R2");
    let (_, none) = call(
        &app,
        "GET",
        "/pendenze?idDocumento=NESSUNO",
        Some(DEMO),
        None,
    )
    .await;
    assert_eq!(none["numRisultati"], 0);
    let (s, _) = call(
        &app,
        "GET",
        "/pendenze?idDocumento=no%20spaces",
        Some(DEMO),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Another application may not add options to this creditor's document, nor list it.
    let (s, v) = call(
        &app,
        "PUT",
        "/pendenze/seconda/intrusa",
        Some(SECOND),
        Some(option("TARI-A", Some(4), None, 5_000, "2030-12-31")),
    )
    .await;
    assert_eq!(
        (s, v["codice"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("DOC_001")),
        "{v}"
    );
    let (_, theirs) = call(
        &app,
        "GET",
        "/pendenze?idDocumento=TARI-A",
        Some(SECOND),
        None,
    )
    .await;
    assert_eq!(theirs["numRisultati"], 0);
    // The document's notice: its four codes on one PDF, for its owner only.
    let pdf = |who: (&'static str, &'static str), doc: &str| {
        let req = common::app::request(
            "GET",
            &format!("/api/pendenze/v2/documenti/{EC}/{doc}/avvisi"),
            Some(who),
        )
        .header("accept", "application/pdf")
        .body(Body::empty())
        .unwrap();
        let api = app.api.clone();
        async move { send(&api, req).await }
    };
    let reply = pdf(DEMO, "TARI-A").await;
    assert_eq!(reply.status, StatusCode::OK);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &reply.body).unwrap();
    let text = common::pdf_text(file.path());
    assert!(
        text.contains("Puoi pagare per intero oppure in 3 rate"),
        "{text}"
    );
    assert!(
        text.contains("TARI 2026") && text.contains("300,00") && text.contains("30/09/2030"),
        "{text}"
    );
    for nav in &navs {
        let grouped = varco::domain::NoticeNumber::parse(nav).unwrap().grouped();
        assert!(text.contains(&grouped), "{nav}: {text}");
    }
    assert_eq!(pdf(SECOND, "TARI-A").await.status, StatusCode::FORBIDDEN);
    assert_eq!(pdf(DEMO, "NESSUNO").await.status, StatusCode::NOT_FOUND);
    // A plan name needs an instalment.
    let mut bad = option("TARI-C", None, Some("A"), 5_000, "2030-12-31");
    let (s, v) = call(
        &app,
        "PUT",
        "/pendenze/demo/bad",
        Some(DEMO),
        Some(bad.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    bad["documento"]["rata"] = json!(0);
    let (s, _) = call(&app, "PUT", "/pendenze/demo/bad", Some(DEMO), Some(bad)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn paying_the_single_option_closes_the_instalments() {
    let app = app().build().await;
    let navs = put_all(&app, DEMO, &plan("TARI-S")).await;
    for nav in &navs {
        assert_eq!(
            verify_and_activate(&app, nav).await,
            ("OK".into(), "OK".into())
        );
    }
    assert_eq!(pay(&app, &navs[0], "rt-single", 30_000).await, "OK");
    for nav in &navs[1..] {
        assert_eq!(
            verify_and_activate(&app, nav).await,
            (
                "PAA_PAGAMENTO_DUPLICATO".into(),
                "PAA_PAGAMENTO_DUPLICATO".into()
            ),
            "instalment {nav}"
        );
    }
    assert_eq!(document_state(&app, "TARI-S-R2").await, "ESEGUITO");
    assert_eq!(detail(&app, "TARI-S-R2").await["stato"], "NON_ESEGUITA");
}

#[tokio::test]
async fn paying_an_instalment_closes_the_single_option_and_leaves_the_others_payable() {
    let app = app().build().await;
    let navs = put_all(&app, DEMO, &plan("TARI-R")).await;
    assert_eq!(pay(&app, &navs[1], "rt-r1", 10_000).await, "OK");
    assert_eq!(
        verify_and_activate(&app, &navs[0]).await,
        (
            "PAA_PAGAMENTO_DUPLICATO".into(),
            "PAA_PAGAMENTO_DUPLICATO".into()
        )
    );
    for nav in &navs[2..] {
        assert_eq!(
            verify_and_activate(&app, nav).await,
            ("OK".into(), "OK".into())
        );
    }
    assert_eq!(
        document_state(&app, "TARI-R-U").await,
        "PARZIALMENTE_ESEGUITO"
    );
    assert_eq!(pay(&app, &navs[2], "rt-r2", 10_000).await, "OK");
    assert_eq!(pay(&app, &navs[3], "rt-r3", 10_000).await, "OK");
    assert_eq!(document_state(&app, "TARI-R-R1").await, "ESEGUITO");
    for id in ["TARI-R-R1", "TARI-R-R2", "TARI-R-R3"] {
        let d = detail(&app, id).await;
        assert_eq!(
            (d["stato"].as_str(), d["ricevute"][0]["stato"].as_str()),
            (Some("ESEGUITA"), Some("ACCETTATA")),
            "{id}"
        );
    }
}

#[tokio::test]
async fn instalments_of_two_plans_exclude_each_other() {
    let app = app().build().await;
    let options = vec![
        (
            "P-A1".to_owned(),
            option("TARI-P", Some(1), Some("A"), 15_000, "2030-03-31"),
        ),
        (
            "P-A2".to_owned(),
            option("TARI-P", Some(2), Some("A"), 15_000, "2030-06-30"),
        ),
        (
            "P-B1".to_owned(),
            option("TARI-P", Some(1), Some("B"), 10_000, "2030-03-31"),
        ),
        (
            "P-B2".to_owned(),
            option("TARI-P", Some(2), Some("B"), 10_000, "2030-06-30"),
        ),
        (
            "P-B3".to_owned(),
            option("TARI-P", Some(3), Some("B"), 10_000, "2030-09-30"),
        ),
    ];
    let navs = put_all(&app, DEMO, &options).await;
    assert_eq!(pay(&app, &navs[2], "rt-b1", 10_000).await, "OK");
    assert_eq!(
        verdict(&app.soap("paVerifyPaymentNotice", verify(&navs[0])).await),
        "PAA_PAGAMENTO_DUPLICATO"
    );
    assert_eq!(
        verdict(&app.soap("paVerifyPaymentNotice", verify(&navs[1])).await),
        "PAA_PAGAMENTO_DUPLICATO"
    );
    assert_eq!(
        verdict(&app.soap("paVerifyPaymentNotice", verify(&navs[3])).await),
        "OK"
    );
}

/// Receipts of the single payment and of an instalment at the same instant: both answered
/// `OK`, exactly one counts as the document's payment, the other is kept as an anomaly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_of_two_plans_at_the_same_instant_are_both_kept_and_one_counts() {
    let app = app().build().await;
    for round in 0..4 {
        let doc = format!("TARI-X{round}");
        let navs = put_all(&app, DEMO, &plan(&doc)).await;
        // Two tasks on two workers: the receipts race through the store.
        let send = |nav: &str, id: String, cents: i64| {
            let (router, body) = (app.nodo.clone(), receipt(nav, &id, cents));
            tokio::spawn(async move {
                verdict(&common::soap_through(&router, "paSendRTV2", body).await)
            })
        };
        let (a, b) = (
            send(&navs[0], format!("rt-u-{round}"), 30_000),
            send(&navs[1], format!("rt-1-{round}"), 10_000),
        );
        let (a, b) = (a.await.unwrap(), b.await.unwrap());
        assert_eq!((a.as_str(), b.as_str()), ("OK", "OK"));
        let unica = detail(&app, &format!("{doc}-U")).await;
        let rata = detail(&app, &format!("{doc}-R1")).await;
        let states = [
            unica["ricevute"][0]["stato"].as_str().unwrap(),
            rata["ricevute"][0]["stato"].as_str().unwrap(),
        ];
        let counted = states.iter().filter(|s| **s == "ACCETTATA").count();
        assert_eq!(counted, 1, "round {round}: {states:?}");
        assert_eq!(
            states.iter().filter(|s| **s == "ANOMALA").count(),
            1,
            "{states:?}"
        );
        // Both positions were paid (the money was collected); the loser is flagged.
        for d in [&unica, &rata] {
            assert_eq!(
                d["stato"]
                    .as_str()
                    .map(|s| s == "ESEGUITA" || s == "ANOMALA"),
                Some(true),
                "{d}"
            );
        }
        let loser = if states[0] == "ANOMALA" {
            &unica
        } else {
            &rata
        };
        assert_eq!(loser["anomalo"], true);
        // The document follows the payment that counted.
        let expected = if states[0] == "ACCETTATA" {
            "ESEGUITO"
        } else {
            "PARZIALMENTE_ESEGUITO"
        };
        assert_eq!(unica["documento"]["stato"], expected, "round {round}");
        // Both receipts reach the gestionale's queue.
        let outbox = app.store.outbox().await.unwrap();
        for id in [format!("rt-u-{round}"), format!("rt-1-{round}")] {
            assert_eq!(
                outbox.iter().filter(|e| e.receipt_id == id).count(),
                1,
                "{id}"
            );
        }
    }
}

/// The payment-options REST verify: `GET` and `POST`, options and their states, ODP errors.
async fn options(app: &TestApp, method: &str, nav: &str, query: &str) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(format!(
            "/payment-options/organizations/{EC}/notices/{nav}{query}"
        ))
        .body(Body::empty())
        .unwrap();
    let reply = send(&app.nodo, req).await;
    (
        reply.status,
        serde_json::from_slice(&reply.body).unwrap_or(Value::Null),
    )
}

const IDS: &str = "?idPA=77777777777&idBrokerPA=77777777777&idStation=77777777777_01";

fn statuses(answer: &Value) -> Vec<(String, Vec<String>)> {
    answer["paymentOptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["status"].as_str().unwrap().to_owned(),
                o["installments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|i| i["status"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn payment_options_list_every_option_with_its_state() {
    let app = app().build().await;
    let navs = put_all(&app, DEMO, &plan("TARI-O")).await;
    let (s, a) = options(&app, "GET", &navs[2], IDS).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["organizationFiscalCode"], EC);
    assert_eq!(a["companyName"], "Comune di Demo");
    assert_eq!(a["standin"], false);
    let opts = a["paymentOptions"].as_array().unwrap();
    assert_eq!(opts.len(), 2, "{a}");
    // By due date: the single payment (31 March) before the plan (due 30 September).
    assert_eq!(
        (
            opts[0]["numberOfInstallments"].as_u64(),
            opts[0]["amount"].as_i64()
        ),
        (Some(1), Some(30_000))
    );
    assert_eq!(opts[0]["installments"][0]["nav"], navs[0].as_str());
    assert_eq!(opts[0]["installments"][0]["iuv"], &navs[0][1..]);
    assert_eq!(opts[0]["dueDate"], "2030-03-31T23:59:59");
    assert_eq!(
        (
            opts[1]["numberOfInstallments"].as_u64(),
            opts[1]["amount"].as_i64()
        ),
        (Some(3), Some(30_000))
    );
    assert_eq!(opts[1]["dueDate"], "2030-09-30T23:59:59");
    let plan_navs: Vec<&str> = opts[1]["installments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["nav"].as_str().unwrap())
        .collect();
    assert_eq!(
        plan_navs,
        [navs[1].as_str(), navs[2].as_str(), navs[3].as_str()]
    );
    assert_eq!(opts[1]["installments"][1]["amount"], 10_000);
    assert_eq!(opts[1]["allCCP"], false);
    assert_eq!(
        statuses(&a),
        [
            ("PO_UNPAID".into(), vec!["POI_UNPAID".into()]),
            ("PO_UNPAID".into(), vec!["POI_UNPAID".to_owned(); 3])
        ]
    );
    // POST (pagopa-api's declaration) answers the same.
    let (s, post) = options(&app, "POST", &navs[0], IDS).await;
    assert_eq!((s, statuses(&post)), (StatusCode::OK, statuses(&a)));

    // Instalment 1 paid: the single payment is invalid, the plan partly paid.
    assert_eq!(pay(&app, &navs[1], "rt-o1", 10_000).await, "OK");
    let (_, a) = options(&app, "GET", &navs[0], IDS).await;
    assert_eq!(
        statuses(&a),
        [
            ("PO_INVALID".into(), vec!["POI_INVALID".into()]),
            (
                "PO_PARTIALLY_PAID".into(),
                vec!["POI_PAID".into(), "POI_UNPAID".into(), "POI_UNPAID".into()]
            )
        ]
    );
    assert!(
        a["paymentOptions"][0]["statusReason"]
            .as_str()
            .unwrap()
            .contains(&navs[1])
    );
    // Every instalment paid: 200 with the plan PO_PAID.
    assert_eq!(pay(&app, &navs[2], "rt-o2", 10_000).await, "OK");
    assert_eq!(pay(&app, &navs[3], "rt-o3", 10_000).await, "OK");
    let (s, a) = options(&app, "GET", &navs[3], IDS).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        statuses(&a)[1],
        ("PO_PAID".into(), vec!["POI_PAID".to_owned(); 3])
    );

    // A notice in no document is one option of one instalment.
    let mut loose = option("-", None, None, 4_200, "2030-12-31");
    loose.as_object_mut().unwrap().remove("documento");
    let nav = put_all(&app, DEMO, &[("sciolta".to_owned(), loose)])
        .await
        .remove(0);
    let (s, a) = options(&app, "GET", &nav, IDS).await;
    assert_eq!(a["paymentOptions"][0]["installments"][0]["amount"], 4_200);
    assert_eq!(
        (s, a["paymentOptions"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
}

#[tokio::test]
async fn payment_options_refusals_carry_their_odp_codes() {
    let app = app()
        .manual_clock(Utc.with_ymd_and_hms(2029, 1, 10, 9, 0, 0).unwrap())
        .build()
        .await;
    let navs = put_all(&app, DEMO, &plan("TARI-E")).await;
    let code = |v: &Value| {
        (
            v["httpStatusCode"].as_u64(),
            v["appErrorCode"].as_str().map(str::to_owned),
        )
    };
    let cases = [
        (
            "301999999999999999".to_owned(),
            IDS.to_owned(),
            404,
            "ODP-107",
        ),
        ("12345".to_owned(), IDS.to_owned(), 400, "ODP-101"),
        (
            navs[0].clone(),
            "?idBrokerPA=77777777777&idStation=77777777777_01".to_owned(),
            400,
            "ODP-101",
        ),
        (
            navs[0].clone(),
            IDS.replace("idPA=77777777777", "idPA=11111111111"),
            400,
            "ODP-104",
        ),
        (
            navs[0].clone(),
            IDS.replace("idBrokerPA=77777777777", "idBrokerPA=99999999999"),
            400,
            "ODP-105",
        ),
        (
            navs[0].clone(),
            IDS.replace("77777777777_01", "77777777777_99"),
            400,
            "ODP-106",
        ),
    ];
    for (nav, query, status, odp) in cases {
        let (s, v) = options(&app, "GET", &nav, &query).await;
        assert_eq!(s.as_u16(), status, "{nav}{query}: {v}");
        assert_eq!(code(&v), (Some(status as u64), Some(odp.to_owned())), "{v}");
        assert!(
            v["timestamp"].as_i64().is_some()
                && v["dateTime"].is_string()
                && v["errorMessage"].is_string(),
            "{v}"
        );
    }
    // Every option past its due date: ODP-110.
    app.advance(chrono::Duration::days(700));
    let (s, v) = options(&app, "GET", &navs[1], IDS).await;
    assert_eq!(
        (s.as_u16(), code(&v).1.as_deref()),
        (422, Some("ODP-110")),
        "{v}"
    );
    app.set_now(Utc.with_ymd_and_hms(2029, 1, 10, 9, 0, 0).unwrap());

    // The whole document cancelled in one call: every option ANNULLATA, ODP-111, SOAP too.
    let patch = json!([{"op": "REPLACE", "path": "/stato", "value": "ANNULLATA"}, {"op": "REPLACE", "path": "/descrizioneStato", "value": "Sgravio"}]);
    let (s, v) = call(
        &app,
        "PATCH",
        &format!("/documenti/{EC}/TARI-E"),
        Some(DEMO),
        Some(patch.clone()),
    )
    .await;
    assert_eq!(
        (s, v["numRisultati"].as_u64()),
        (StatusCode::OK, Some(4)),
        "{v}"
    );
    for r in v["risultati"].as_array().unwrap() {
        assert_eq!(r["stato"], "ANNULLATA", "{r}");
    }
    let (s, v) = options(&app, "GET", &navs[2], IDS).await;
    assert_eq!(
        (s.as_u16(), code(&v).1.as_deref()),
        (422, Some("ODP-111")),
        "{v}"
    );
    assert_eq!(
        verdict(&app.soap("paVerifyPaymentNotice", verify(&navs[3])).await),
        "PAA_PAGAMENTO_ANNULLATO"
    );
    // Only the owner may change it; an unknown document is 404.
    let (s, _) = call(
        &app,
        "PATCH",
        &format!("/documenti/{EC}/TARI-E"),
        Some(SECOND),
        Some(patch.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(
        &app,
        "PATCH",
        &format!("/documenti/{EC}/NESSUNO"),
        Some(DEMO),
        Some(patch),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// A payment-options call is journaled like a SOAP call of the Nodo's: its outcome, its fault
/// code, and the notice only when the path held a well-formed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_options_calls_are_journaled() {
    let app = app().build().await;
    let navs = put_all(&app, DEMO, &plan("TARI-J")).await;
    assert_eq!(options(&app, "GET", &navs[0], IDS).await.0, StatusCode::OK);
    assert_eq!(
        options(&app, "GET", "301999999999999999", IDS).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        options(&app, "GET", "12345", IDS).await.0,
        StatusCode::BAD_REQUEST
    );
    let journal = app.state.journal.clone();
    tokio::task::spawn_blocking(move || journal.barrier())
        .await
        .unwrap();
    let req = common::app::request(
        "GET",
        "/api/backoffice/v1/eventi?risultatiPerPagina=100",
        Some(common::DEMO_OPERATOR),
    )
    .body(Body::empty())
    .unwrap();
    let events = send(&app.quiet_api(), req).await.json();
    let calls: Vec<&Value> = events["risultati"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["tipoEvento"] == "paymentOptions")
        .collect();
    // Newest first.
    assert_eq!(calls.len(), 3, "{events:#}");
    assert_eq!(
        (
            calls[2]["esito"].as_str(),
            calls[2]["numeroAvviso"].as_str()
        ),
        (Some("OK"), Some(navs[0].as_str()))
    );
    assert_eq!(calls[2]["idDominio"], EC);
    assert_eq!(calls[1]["esito"], "KO");
    assert_eq!(calls[1]["sottotipoEsito"], "PAA_PAGAMENTO_SCONOSCIUTO");
    assert_eq!(calls[0]["sottotipoEsito"], "PAA_SINTASSI_XSD");
    assert!(calls[0].get("numeroAvviso").is_none(), "{}", calls[0]);
}
