//! Reconciliation end to end: receipts stored by real SOAP calls, settlement flows imported as
//! `FlussoRiversamento` files or acquired from a fake FdR 3 server on loopback, each line's
//! verdict and each flow check, treasury movements (a whole flow, a single payment, every
//! refusal), and the CSV answers read back. Runs on both engines (`make test` runs it again on
//! PostgreSQL).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestApp;
use common::app::Reply;
use serde_json::{Value, json};

const EC: &str = "77777777777";
const IBAN: &str = "IT60X0542811101000000123456";
const PSP: &str = "ABI03069";

async fn rest(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let req = common::app::request(method, path, Some(common::DEMO_OPERATOR))
        .body(common::app::body(body.map(|b| b.to_string().into_bytes())))
        .unwrap();
    let reply = app.send(req).await;
    (reply.status, reply.json())
}

async fn get_as(app: &TestApp, path: &str, accept: &str) -> Reply {
    let req = Request::get(path)
        .header("authorization", common::basic(common::DEMO_OPERATOR))
        .header("accept", accept)
        .body(Body::empty())
        .unwrap();
    app.send(req).await
}

async fn import(app: &TestApp, xml: &str) -> (StatusCode, Value) {
    let req = Request::post("/api/backoffice/v1/fdr")
        .header("authorization", common::basic(common::DEMO_OPERATOR))
        .header("content-type", "application/xml")
        .body(Body::from(xml.to_owned()))
        .unwrap();
    let reply = app.send(req).await;
    (reply.status, reply.json())
}

/// A position of `cents` (one voce) loaded by the demo application; its notice number.
async fn position(app: &TestApp, id: &str, cents: i64) -> String {
    let importo = format!("{}.{:02}", cents / 100, cents % 100);
    let body = json!({
        "idTipoPendenza": "LIBERO",
        "idDominio": EC,
        "causale": format!("Pendenza {id}"),
        "soggettoPagatore": {"tipo": "F", "identificativo": "RSSMRA80A01H501U", "anagrafica": "Mario Rossi"},
        "importo": importo.parse::<f64>().unwrap(),
        "voci": [{"idVocePendenza": "v1", "importo": importo.parse::<f64>().unwrap(), "descrizione": "Voce", "codEntrata": "TARI"}]
    });
    let req = common::app::request(
        "PUT",
        &format!("/api/pendenze/v2/pendenze/demo/{id}"),
        Some(common::DEMO_APP),
    )
    .body(Body::from(body.to_string()))
    .unwrap();
    let reply = app.send(req).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    reply.json()["numeroAvviso"].as_str().unwrap().to_owned()
}

/// Pays `nav` with a paSendRTV2 of `cents` and receipt id `rid`; asserts it is accepted.
async fn pay(app: &TestApp, nav: &str, rid: &str, cents: i64) {
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    let body = common::receipt_v2(nav, rid).replace("120.00", &amount);
    let answer = app.soap("paSendRTV2", body).await;
    assert!(answer.contains("<outcome>OK</outcome>"), "{answer}");
}

/// The IUV of an aux-3 notice number.
fn iuv(nav: &str) -> String {
    nav[1..].to_owned()
}

/// One line of a flow file: (iuv, iur, transfer index, cents, outcome code).
type Line<'a> = (&'a str, &'a str, u8, i64, u8);

/// A `FlussoRiversamento` of `lines`, its header saying `count` payments for `total` cents.
fn flow_xml(id: &str, lines: &[Line], count: usize, total: i64) -> String {
    let money = |c: i64| format!("{}.{:02}", c / 100, c % 100);
    let mut x = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<fr:FlussoRiversamento xmlns:fr="http://www.digitpa.gov.it/schemas/2011/Pagamenti/">
  <fr:versioneOggetto>1.0</fr:versioneOggetto>
  <fr:identificativoFlusso>{id}</fr:identificativoFlusso>
  <fr:dataOraFlusso>2026-11-30T10:15:00</fr:dataOraFlusso>
  <fr:identificativoUnivocoRegolamento>TRN-{id}</fr:identificativoUnivocoRegolamento>
  <fr:dataRegolamento>2026-11-30</fr:dataRegolamento>
  <fr:istitutoMittente>
    <fr:identificativoUnivocoMittente>
      <fr:tipoIdentificativoUnivoco>B</fr:tipoIdentificativoUnivoco>
      <fr:codiceIdentificativoUnivoco>{PSP}</fr:codiceIdentificativoUnivoco>
    </fr:identificativoUnivocoMittente>
    <fr:denominazioneMittente>Banca di Prova</fr:denominazioneMittente>
  </fr:istitutoMittente>
  <fr:istitutoRicevente>
    <fr:identificativoUnivocoRicevente>
      <fr:tipoIdentificativoUnivoco>G</fr:tipoIdentificativoUnivoco>
      <fr:codiceIdentificativoUnivoco>{EC}</fr:codiceIdentificativoUnivoco>
    </fr:identificativoUnivocoRicevente>
    <fr:denominazioneRicevente>Comune di Demo</fr:denominazioneRicevente>
  </fr:istitutoRicevente>
  <fr:numeroTotalePagamenti>{count}</fr:numeroTotalePagamenti>
  <fr:importoTotalePagamenti>{}</fr:importoTotalePagamenti>
"#,
        money(total)
    );
    for (iuv, iur, idx, cents, code) in lines {
        x.push_str(&format!(
            "  <fr:datiSingoliPagamenti>
    <fr:identificativoUnivocoVersamento>{iuv}</fr:identificativoUnivocoVersamento>
    <fr:identificativoUnivocoRiscossione>{iur}</fr:identificativoUnivocoRiscossione>
    <fr:indiceDatiSingoloPagamento>{idx}</fr:indiceDatiSingoloPagamento>
    <fr:singoloImportoPagato>{}</fr:singoloImportoPagato>
    <fr:codiceEsitoSingoloPagamento>{code}</fr:codiceEsitoSingoloPagamento>
    <fr:dataEsitoSingoloPagamento>2026-11-29</fr:dataEsitoSingoloPagamento>
  </fr:datiSingoliPagamenti>
",
            money(*cents)
        ));
    }
    x.push_str("</fr:FlussoRiversamento>\n");
    x
}

/// A flow file whose header agrees with its lines.
fn balanced(id: &str, lines: &[Line]) -> String {
    flow_xml(id, lines, lines.len(), lines.iter().map(|l| l.3).sum())
}

fn flow_id(n: u32) -> String {
    format!("2026-11-30{PSP}-{n:04}")
}

async fn flow(app: &TestApp, id: &str) -> Value {
    let (s, v) = rest(
        app,
        "GET",
        &format!("/api/ragioneria/v3/flussiRendicontazione/{EC}/{id}"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// (stato, remark codes, idRicevuta) of each line of a flow, in order.
fn verdicts(flow: &Value) -> Vec<(String, Vec<String>, Option<String>)> {
    flow["rendicontazioni"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["stato"].as_str().unwrap().to_owned(),
                l["segnalazioni"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["codice"].as_str().unwrap().to_owned())
                    .collect(),
                l["idRicevuta"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn v(stato: &str, codes: &[&str], receipt: Option<&str>) -> (String, Vec<String>, Option<String>) {
    (
        stato.into(),
        codes.iter().map(|c| (*c).to_owned()).collect(),
        receipt.map(str::to_owned),
    )
}

#[tokio::test]
async fn each_line_is_matched_to_its_receipt_and_each_anomaly_is_coded() {
    let app = TestApp::builder().seed(false).build().await;
    let paid = position(&app, "fdr-paid", 12_000).await;
    let twice = position(&app, "fdr-twice", 5_000).await;
    let unpaid = position(&app, "fdr-unpaid", 3_000).await;
    let revoked = position(&app, "fdr-revoked", 4_000).await;
    let no_rpt = position(&app, "fdr-no-rpt", 2_500).await;
    pay(&app, &paid, "rcpt-paid", 12_000).await;
    pay(&app, &twice, "rcpt-twice-1", 5_000).await;
    pay(&app, &twice, "rcpt-twice-2", 5_000).await;
    pay(&app, &revoked, "rcpt-revoked", 4_000).await;
    let (p, t, u, r, n) = (
        iuv(&paid),
        iuv(&twice),
        iuv(&unpaid),
        iuv(&revoked),
        iuv(&no_rpt),
    );
    let lines: Vec<Line> = vec![
        (&p, "rcpt-paid", 1, 12_000, 0),              // OK
        (&p, "rcpt-paid", 1, 12_000, 0),              // the same line again: 007115
        (&t, "PSP-OWN-IUR", 1, 5_000, 0),             // two receipts, neither named: 007102
        (&u, "rcpt-never", 1, 3_000, 0),              // Varco's notice, no receipt: 007101
        ("99000000000000099", "x-1", 1, 700, 0),      // not Varco's: ALTRO_INTERMEDIARIO
        (&r, "rcpt-revoked", 1, 1_000, 3),            // revoked, not the whole transfer: 007112
        (&n, "no-rpt-1", 1, 2_500, 9),                // no RPT, the position's amount: OK
        ("99000000000000098", "no-rpt-2", 1, 100, 9), // no RPT, no position: 007111
        (&t, "rcpt-twice-1", 1, 4_900, 0),            // amount differs: 007104
    ];
    let id = flow_id(1);
    let (s, header) = import(&app, &balanced(&id, &lines)).await;
    assert_eq!(s, StatusCode::CREATED, "{header}");
    assert_eq!(header["stato"], "Acquisito");
    assert_eq!(header["pagamentiOk"], 2);
    assert_eq!(header["pagamentiAnomali"], 6);
    assert_eq!(header["pagamentiAltroIntermediario"], 1);
    let got = verdicts(&flow(&app, &id).await);
    assert_eq!(
        got,
        vec![
            v("OK", &[], Some("rcpt-paid")),
            v("ANOMALA", &["007115"], None),
            v("ANOMALA", &["007102"], None),
            v("ANOMALA", &["007101"], None),
            v("ALTRO_INTERMEDIARIO", &[], None),
            v("ANOMALA", &["007112"], Some("rcpt-revoked")),
            v("OK", &[], None),
            v("ANOMALA", &["007111"], None),
            v("ANOMALA", &["007104"], Some("rcpt-twice-1")),
        ]
    );
    // The missing receipt is listed for an operator.
    let (s, missing) = rest(
        &app,
        "GET",
        "/api/ragioneria/v3/rendicontazioni?stato=ANOMALA&codice=007101",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{missing}");
    assert_eq!(missing["numRisultati"], 1);
    assert_eq!(missing["risultati"][0]["iuv"], u.as_str());
    assert_eq!(missing["risultati"][0]["idFlusso"], id.as_str());
    // The receipt carries its settlement: the flow and its date.
    let (s, receipt) = rest(
        &app,
        "GET",
        &format!("/api/ragioneria/v3/ricevute/{EC}/{p}/rcpt-paid"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["idFlusso"], id.as_str());
    assert_eq!(
        receipt["dataFlusso"], "2026-11-30T09:15:00Z",
        "10:15 in Rome is 09:15 UTC in November"
    );
    assert_eq!(receipt["riscossioni"][0]["stato"], "RISCOSSA");
    // A receipt no flow settled has no settlement.
    let (_, unsettled) = rest(
        &app,
        "GET",
        &format!("/api/ragioneria/v3/ricevute/{EC}/{t}/rcpt-twice-2"),
        None,
    )
    .await;
    assert!(unsettled.get("idFlusso").is_none(), "{unsettled}");
    assert_eq!(unsettled["riscossioni"], json!([]));
}

#[tokio::test]
async fn a_header_that_disagrees_with_its_lines_makes_the_flow_anomalous() {
    let app = TestApp::builder().seed(false).build().await;
    let nav = position(&app, "fdr-h", 1_000).await;
    pay(&app, &nav, "rcpt-h", 1_000).await;
    let i = iuv(&nav);
    let lines: Vec<Line> = vec![(&i, "rcpt-h", 1, 1_000, 0)];
    let (s, total) = import(&app, &flow_xml(&flow_id(2), &lines, 1, 1_100)).await;
    assert_eq!(s, StatusCode::CREATED, "{total}");
    assert_eq!(total["stato"], "Anomalo");
    assert_eq!(total["segnalazioni"][0]["codice"], "007106");
    let (_, count) = import(&app, &flow_xml(&flow_id(3), &lines, 2, 1_000)).await;
    assert_eq!(count["stato"], "Anomalo");
    assert_eq!(count["segnalazioni"][0]["codice"], "007107");
    let (_, good) = import(&app, &balanced(&flow_id(4), &lines)).await;
    assert_eq!(good["stato"], "Acquisito");
    assert_eq!(good["segnalazioni"], json!([]));
    // Listing by state.
    let (_, anomalous) = rest(
        &app,
        "GET",
        "/api/ragioneria/v3/flussiRendicontazione?statoFlussoRendicontazione=Anomalo",
        None,
    )
    .await;
    assert_eq!(anomalous["numRisultati"], 2, "{anomalous}");
}

#[tokio::test]
async fn an_imported_file_is_validated_stored_once_and_served_back_as_sent() {
    let app = TestApp::builder().seed(false).build().await;
    let nav = position(&app, "fdr-x", 1_000).await;
    pay(&app, &nav, "rcpt-x", 1_000).await;
    let i = iuv(&nav);
    let xml = balanced(&flow_id(5), &[(&i, "rcpt-x", 1, 1_000, 0)]);
    // Not valid: a missing element, a bad amount, not XML at all.
    for bad in [
        xml.replace("<fr:dataRegolamento>2026-11-30</fr:dataRegolamento>", ""),
        xml.replace(
            "<fr:singoloImportoPagato>10.00<",
            "<fr:singoloImportoPagato>10.0<",
        ),
        "not a flow".to_owned(),
    ] {
        let (s, fault) = import(&app, &bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{fault}");
        assert_eq!(fault["codice"], "SINTASSI");
    }
    // Another creditor's flow.
    let (s, fault) = import(&app, &xml.replace(&format!(">{EC}<"), ">12345678901<")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{fault}");
    let (s, _) = import(&app, &xml).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, again) = import(&app, &xml).await;
    assert_eq!(s, StatusCode::OK, "the same flow again changes nothing");
    assert_eq!(again["revisione"], 1);
    let (_, list) = rest(
        &app,
        "GET",
        "/api/ragioneria/v3/flussiRendicontazione",
        None,
    )
    .await;
    assert_eq!(list["numRisultati"], 1);
    let reply = get_as(
        &app,
        &format!(
            "/api/ragioneria/v3/flussiRendicontazione/{EC}/{}",
            flow_id(5)
        ),
        "application/xml",
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), xml, "the file as it was sent");
}

/// PUTs treasury movement `id` of `body`.
async fn movement(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    rest(
        app,
        "PUT",
        &format!("/api/ragioneria/v3/riconciliazioni/{EC}/{id}"),
        Some(body),
    )
    .await
}

fn refused(answer: &(StatusCode, Value), code: &str) {
    assert_eq!(answer.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", answer.1);
    assert_eq!(answer.1["codice"], code, "{}", answer.1);
}

#[tokio::test]
async fn treasury_movements_collect_a_whole_flow_or_one_payment_and_refuse_the_rest() {
    let app = TestApp::builder().seed(false).build().await;
    let a = position(&app, "t-a", 10_000).await;
    let b = position(&app, "t-b", 2_550).await;
    let single = position(&app, "t-single", 7_000).await;
    let twice = position(&app, "t-twice", 1_000).await;
    let unpaid = position(&app, "t-unpaid", 1_000).await;
    let other = position(&app, "t-other", 500).await;
    pay(&app, &other, "r-other", 500).await;
    pay(&app, &a, "r-a", 10_000).await;
    pay(&app, &b, "r-b", 2_550).await;
    pay(&app, &single, "r-single", 7_000).await;
    pay(&app, &twice, "r-twice-1", 1_000).await;
    pay(&app, &twice, "r-twice-2", 1_000).await;
    let (ia, ib) = (iuv(&a), iuv(&b));
    let flusso = flow_id(10);
    let (s, _) = import(
        &app,
        &balanced(
            &flusso,
            &[(&ia, "r-a", 1, 10_000, 0), (&ib, "r-b", 1, 2_550, 0)],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let anomalous = flow_id(11);
    import(
        &app,
        &flow_xml(&anomalous, &[(&ia, "r-a", 1, 10_000, 0)], 1, 9_000),
    )
    .await;

    // The whole flow, by its causale.
    let causale = format!("/PUR/LGPE-RIVERSAMENTO/URI/{flusso}");
    let body = json!({"causale": causale, "importo": 125.50, "sct": "SCT-1", "dataValuta": "2026-12-01", "contoAccredito": IBAN});
    let (s, m) = movement(&app, "mov-1", body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["idFlusso"], flusso.as_str());
    assert_eq!(m["trn"], format!("TRN-{flusso}"));
    assert_eq!(m["riscossioni"].as_array().unwrap().len(), 2);
    let (_, collected) = rest(
        &app,
        "GET",
        &format!("/api/ragioneria/v3/riscossioni?idFlusso={flusso}&statoRiscossione=INCASSATA"),
        None,
    )
    .await;
    assert_eq!(collected["numRisultati"], 2, "{collected}");
    assert_eq!(flow(&app, &flusso).await["idRiconciliazione"], "mov-1");
    // The same movement again is the same answer; the same id for something else is refused.
    let (s, same) = movement(&app, "mov-1", body.clone()).await;
    assert_eq!((s, &same["id"]), (StatusCode::OK, &json!("mov-1")));
    let mut changed = body.clone();
    changed["importo"] = json!(125.00);
    refused(&movement(&app, "mov-1", changed).await, "021409");
    refused(&movement(&app, "mov-2", body.clone()).await, "021413");

    // One payment, by /RFB/.
    let si = iuv(&single);
    let one = json!({"causale": format!("/RFB/{si}/70.00/TXT/TARI"), "importo": 70.00, "sct": 991});
    let (s, m) = movement(&app, "mov-3", one.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    assert_eq!(m["iuv"], si.as_str());
    assert_eq!(m["sct"], "991");
    let (_, r) = rest(
        &app,
        "GET",
        &format!("/api/ragioneria/v3/riscossioni/{EC}/{si}/r-single/1"),
        None,
    )
    .await;
    assert_eq!(r["stato"], "INCASSATA", "{r}");
    assert_eq!(r["idRiconciliazione"], "mov-3");
    refused(&movement(&app, "mov-4", one).await, "021406");

    // Every refusal.
    let with = |extra: Value| {
        let mut b = json!({"importo": 10.00, "sct": "S"});
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    refused(
        &movement(&app, "r1", with(json!({"causale": "bonifico TARI"}))).await,
        "021401",
    );
    refused(
        &movement(&app, "r2", with(json!({"iuv": iuv(&unpaid)}))).await,
        "021402",
    );
    refused(
        &movement(&app, "r3", with(json!({"iuv": iuv(&twice)}))).await,
        "021403",
    );
    refused(
        &movement(
            &app,
            "r4",
            with(json!({"idFlussoRendicontazione": anomalous})),
        )
        .await,
        "021404",
    );
    refused(
        &movement(
            &app,
            "r5",
            with(json!({"idFlussoRendicontazione": flow_id(99)})),
        )
        .await,
        "021405",
    );
    refused(
        &movement(&app, "r6", with(json!({"iuv": iuv(&other)}))).await,
        "021407",
    );
    refused(&movement(&app, "r7", with(json!({}))).await, "021408");
    refused(
        &movement(
            &app,
            "r8",
            with(json!({"iuv": "1", "idFlussoRendicontazione": "2"})),
        )
        .await,
        "021408",
    );
    refused(
        &movement(
            &app,
            "r9",
            with(json!({"iuv": ib, "contoAccredito": "IT02L1234512345123456789012"})),
        )
        .await,
        "021412",
    );
    let (s, f) = rest(
        &app,
        "PUT",
        "/api/ragioneria/v3/riconciliazioni/12345678901/r10",
        Some(with(json!({"iuv": ib}))),
    )
    .await;
    refused(&(s, f), "021410");
    // Nothing refused was recorded.
    let (_, all) = rest(&app, "GET", "/api/ragioneria/v3/riconciliazioni", None).await;
    assert_eq!(all["numRisultati"], 2, "{all}");
}

/// The rows of a CSV answer as maps from header to field.
fn csv_rows(reply: &Reply) -> Vec<std::collections::HashMap<String, String>> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(
        reply.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv"),
        "{:?}",
        reply.headers
    );
    let mut r = csv::Reader::from_reader(reply.body.as_ref());
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn every_list_reads_back_the_same_as_csv() {
    let app = TestApp::builder().seed(false).build().await;
    let mut lines = Vec::new();
    let mut iuvs = Vec::new();
    for n in 0..7 {
        let nav = position(&app, &format!("csv-{n}"), 1_000 + n).await;
        pay(&app, &nav, &format!("r-csv-{n}"), 1_000 + n).await;
        iuvs.push((iuv(&nav), format!("r-csv-{n}"), 1_000 + n));
    }
    for (i, r, c) in &iuvs {
        lines.push((i.as_str(), r.as_str(), 1u8, *c, 0u8));
    }
    // A causale with a comma and quotes, to be quoted in CSV.
    let tricky = flow_id(20);
    import(&app, &balanced(&tricky, &lines[..4])).await;
    import(&app, &balanced(&flow_id(21), &lines[4..])).await;
    movement(
        &app,
        "csv-mov",
        json!({"causale": format!("\"ZZ2\", /PUR/LGPE-RIVERSAMENTO/URI/{tricky}"), "importo": 40.06, "sct": "x"}),
    )
    .await;
    for (path, key) in [
        ("/api/ragioneria/v3/flussiRendicontazione", "idFlusso"),
        ("/api/ragioneria/v3/riscossioni", "iur"),
        ("/api/ragioneria/v3/ricevute", "idRicevuta"),
        ("/api/ragioneria/v3/riconciliazioni", "id"),
        ("/api/ragioneria/v3/rendicontazioni", "iur"),
    ] {
        let json = get_as(
            &app,
            &format!("{path}?risultatiPerPagina=200"),
            "application/json",
        )
        .await
        .json();
        let csv = csv_rows(&get_as(&app, path, "text/csv").await);
        let items = json["risultati"].as_array().unwrap();
        assert_eq!(csv.len(), items.len(), "{path}");
        assert!(!csv.is_empty(), "{path}");
        let mut from_json: Vec<String> = items
            .iter()
            .map(|i| i[key].as_str().unwrap().to_owned())
            .collect();
        let mut from_csv: Vec<String> = csv.iter().map(|r| r[key].clone()).collect();
        from_json.sort();
        from_csv.sort();
        assert_eq!(from_csv, from_json, "{path}");
        if let Some(amount) = csv[0].get("importo").or(csv[0].get("importoTotale")) {
            assert!(amount.contains('.'), "amounts as decimal text: {amount}");
        }
    }
    let movements = csv_rows(&get_as(&app, "/api/ragioneria/v3/riconciliazioni", "text/csv").await);
    assert!(
        movements[0]["causale"].starts_with("\"ZZ2\", /PUR"),
        "{:?}",
        movements[0]
    );
    assert_eq!(movements[0]["importo"], "40.06");
    // A flow's lines as CSV.
    let rows = csv_rows(
        &get_as(
            &app,
            &format!("/api/ragioneria/v3/flussiRendicontazione/{EC}/{tricky}"),
            "text/csv",
        )
        .await,
    );
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0]["importo"], "10.00");
    assert_eq!(rows[0]["stato"], "OK");
    // Pages of a walk over the store: 7 receipts, pages of 2.
    for path in ["ricevute", "riscossioni"] {
        let page = get_as(
            &app,
            &format!("/api/ragioneria/v3/{path}?risultatiPerPagina=2&pagina=2"),
            "application/json",
        )
        .await
        .json();
        assert_eq!(page["numRisultati"], 7, "{page}");
        assert_eq!(page["numPagine"], 4);
        assert_eq!(page["risultati"].as_array().unwrap().len(), 2);
        assert!(
            page["prossimiRisultati"]
                .as_str()
                .unwrap()
                .ends_with("risultatiPerPagina=2&pagina=3"),
            "{page}"
        );
    }
    // Filters apply to CSV too.
    let collected = csv_rows(
        &get_as(
            &app,
            "/api/ragioneria/v3/riscossioni?statoRiscossione=INCASSATA",
            "text/csv",
        )
        .await,
    );
    assert_eq!(collected.len(), 4);
}

#[tokio::test]
async fn the_ragioneria_api_is_for_operators_only() {
    let app = TestApp::builder().seed(false).build().await;
    for who in [None, Some(common::DEMO_APP)] {
        let req = common::app::request("GET", "/api/ragioneria/v3/flussiRendicontazione", who)
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.send(req).await.status, StatusCode::UNAUTHORIZED);
    }
    let reply = get_as(&app, "/api/ragioneria/v3/ricevute", "image/png").await;
    assert_eq!(reply.status, StatusCode::NOT_ACCEPTABLE);
    let (s, _) = rest(
        &app,
        "GET",
        "/api/ragioneria/v3/riscossioni?statoRiscossione=X",
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // The document describing it is public, like the other APIs'.
    let req = Request::get("/api/ragioneria/v3/openapi.json")
        .body(Body::empty())
        .unwrap();
    let doc = app.send(req).await.json();
    let mut paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/flussiRendicontazione",
            "/flussiRendicontazione/{idDominio}/{idFlusso}",
            "/rendicontazioni",
            "/ricevute",
            "/ricevute/{idDominio}/{iuv}/{idRicevuta}",
            "/riconciliazioni",
            "/riconciliazioni/{idDominio}/{id}",
            "/riscossioni",
            "/riscossioni/{idDominio}/{iuv}/{iur}/{indice}",
        ]
    );
    assert!(doc["components"]["schemas"]["NuovaRiconciliazione"].is_object());
}

// ---------------------------------------------------------------------------------------------
// Acquisition from a fake FdR 3 server on loopback

use common::fake_fdr::{FakeFdr, FakeFlow};

const KEY: &str = "chiave-di-prova";

/// The application with FdR 3 acquisition from `fake`: pages of two flows, two attempts per
/// call a few milliseconds apart, no schedule (the tests run it on demand).
fn acquiring(fake: &FakeFdr) -> common::app::TestAppBuilder {
    let url = fake.url();
    TestApp::builder().seed(false).configure(move |c| {
        c.fdr.url = Some(url);
        c.fdr.subscription_key = KEY.into();
        c.fdr.page_size = 2;
        c.fdr.attempts = 2;
        c.fdr.retry_base_ms = 5;
        c.fdr.retry_max_ms = 20;
        c.fdr.timeout_ms = 5_000;
        c.fdr.every_secs = 0;
    })
}

async fn acquire(app: &TestApp) -> Value {
    let (s, report) = rest(app, "POST", "/api/backoffice/v1/fdr/acquisizioni", None).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    report["domini"][0].clone()
}

/// The requests the fake received that fetched the header of flow `fdr`.
fn header_fetches(fake: &FakeFdr, fdr: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.contains(&format!("/fdrs/{fdr}/")) && !r.contains("/payments"))
        .count()
}

async fn flows_listed(app: &TestApp, query: &str) -> Vec<(String, u64, bool)> {
    let (_, list) = rest(
        app,
        "GET",
        &format!("/api/ragioneria/v3/flussiRendicontazione?risultatiPerPagina=200{query}"),
        None,
    )
    .await;
    let mut out: Vec<_> = list["risultati"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["idFlusso"].as_str().unwrap().to_owned(),
                f["revisione"].as_u64().unwrap(),
                f["obsoleto"].as_bool().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn acquisition_takes_each_flow_once_follows_revisions_and_retries_a_failing_one() {
    let fake = FakeFdr::start(KEY);
    let app = acquiring(&fake).build().await;
    let mut iuvs = Vec::new();
    for n in 1..=3 {
        let nav = position(&app, &format!("acq-{n}"), 1_000 * n).await;
        pay(&app, &nav, &format!("r-acq-{n}"), 1_000 * n).await;
        iuvs.push(iuv(&nav));
    }
    let (one, two, three) = (flow_id(31), flow_id(32), flow_id(33));
    // Revision 1 of the first flow reports the second payment short.
    fake.publish(
        FakeFlow::new(EC, &one, PSP)
            .line(&iuvs[0], "r-acq-1", 1, 1_000, "EXECUTED")
            .line(&iuvs[1], "r-acq-2", 1, 1_900, "EXECUTED"),
    );
    fake.publish(FakeFlow::new(EC, &two, PSP).line(&iuvs[2], "r-acq-3", 1, 3_000, "EXECUTED"));
    fake.publish(FakeFlow::new(EC, &three, PSP).line("99000000000000001", "x", 1, 500, "EXECUTED"));
    // The second flow fails as many times as the client tries in one run; a list page is slow.
    fake.fail_flow(&two, 2, 500);
    fake.slow_list_page(2, std::time::Duration::from_millis(300));

    let run = acquire(&app).await;
    assert_eq!(run["listed"], 3, "{run}");
    assert_eq!(run["acquired"], 2, "{run}");
    assert_eq!(run["failed"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(run["failed"][0]["fdr"], two.as_str());
    assert!(
        run["failed"][0]["error"].as_str().unwrap().contains("500"),
        "{run}"
    );
    assert!(
        run.get("publishedGt").is_none(),
        "the first run asks for every flow: {run}"
    );
    let (_, status) = rest(&app, "GET", "/api/backoffice/v1/fdr/acquisizioni", None).await;
    assert_eq!(status["falliti"][0]["fdr"], two.as_str(), "{status}");
    assert_eq!(
        verdicts(&flow(&app, &one).await)[1],
        v("ANOMALA", &["007104"], Some("r-acq-2"))
    );

    // The PSP corrects the first flow; the second one answers now.
    fake.publish(
        FakeFlow::new(EC, &one, PSP)
            .line(&iuvs[0], "r-acq-1", 1, 1_000, "EXECUTED")
            .line(&iuvs[1], "r-acq-2", 1, 2_000, "EXECUTED"),
    );
    fake.clear_requests();
    let run = acquire(&app).await;
    assert_eq!(run["recovered"], 1, "{run}");
    assert_eq!(
        run["listed"], 1,
        "only what was published after the last run: {run}"
    );
    assert_eq!(run["acquired"], 1, "{run}");
    assert_eq!(run["failed"], json!([]), "{run}");
    assert!(
        fake.requests().iter().any(|r| r.contains("publishedGt=")),
        "{:?}",
        fake.requests()
    );
    assert_eq!(
        flows_listed(&app, "").await,
        vec![
            (one.clone(), 1, true),
            (one.clone(), 2, false),
            (two.clone(), 1, false),
            (three.clone(), 1, false)
        ]
    );
    assert_eq!(flows_listed(&app, "&escludiObsoleti=true").await.len(), 3);
    let current = flow(&app, &one).await;
    assert_eq!(current["revisione"], 2);
    assert_eq!(
        verdicts(&current),
        vec![v("OK", &[], Some("r-acq-1")), v("OK", &[], Some("r-acq-2"))]
    );
    let (_, settled) = rest(
        &app,
        "GET",
        &format!("/api/ragioneria/v3/riscossioni/{EC}/{}/r-acq-2/1", iuvs[1]),
        None,
    )
    .await;
    assert_eq!(
        settled["importo"],
        json!(20.00),
        "the revision's amount: {settled}"
    );
    let (_, status) = rest(&app, "GET", "/api/backoffice/v1/fdr/acquisizioni", None).await;
    assert_eq!(status["falliti"], json!([]), "{status}");

    // Nothing new: nothing fetched.
    fake.clear_requests();
    let run = acquire(&app).await;
    assert_eq!(
        (run["listed"].clone(), run["acquired"].clone()),
        (json!(0), json!(0))
    );
    assert_eq!(
        header_fetches(&fake, &one) + header_fetches(&fake, &three),
        0
    );

    // pagoPA's clock runs 40 days ahead: our publishedGt is too old for it (400 FDR-1000),
    // and the run lists every flow instead, fetching none again.
    fake.set_now(chrono::Utc::now() + chrono::Duration::days(40));
    fake.clear_requests();
    let run = acquire(&app).await;
    assert!(run.get("error").is_none(), "{run}");
    assert!(run.get("publishedGt").is_none(), "{run}");
    assert_eq!(run["already"], 3, "{run}");
    assert_eq!(run["acquired"], 0, "{run}");
    let lists: Vec<String> = fake
        .requests()
        .into_iter()
        .filter(|r| r.contains("/fdrs?") || r.ends_with("/fdrs"))
        .collect();
    assert!(lists[0].contains("publishedGt="), "{lists:?}");
    assert!(!lists.last().unwrap().contains("publishedGt="), "{lists:?}");
}

#[tokio::test]
async fn an_acquisition_stopped_halfway_resumes_without_duplicates() {
    let fake = FakeFdr::start(KEY);
    let app = acquiring(&fake).build().await;
    let nav = position(&app, "resume", 1_000).await;
    pay(&app, &nav, "r-resume", 1_000).await;
    let ids: Vec<String> = (41..=44).map(flow_id).collect();
    for id in &ids {
        fake.publish(FakeFlow::new(EC, id, PSP).line(&iuv(&nav), "r-resume", 1, 1_000, "EXECUTED"));
    }
    // The third flow answers late: the run is stopped (as a crash would) while it waits.
    fake.slow_flow(&ids[2], std::time::Duration::from_secs(3));
    let acquisition = varco::fdr::acquire::Acquisition::new(
        app.store.clone(),
        app.config.clone(),
        app.clock.clone(),
    )
    .unwrap()
    .unwrap();
    let stopped =
        tokio::time::timeout(std::time::Duration::from_millis(1_500), acquisition.run()).await;
    assert!(stopped.is_err(), "the run was still going");
    assert_eq!(
        flows_listed(&app, "").await.len(),
        2,
        "two flows stored before the stop"
    );
    // The next run (the scope of the stopped one was released with it) takes the rest.
    fake.slow_flow(&ids[2], std::time::Duration::ZERO);
    fake.clear_requests();
    let run = acquire(&app).await;
    assert_eq!(run["already"], 2, "{run}");
    assert_eq!(run["acquired"], 2, "{run}");
    let stored = flows_listed(&app, "").await;
    assert_eq!(
        stored,
        ids.iter()
            .map(|id| (id.clone(), 1, false))
            .collect::<Vec<_>>()
    );
    for id in &ids[..2] {
        assert_eq!(header_fetches(&fake, id), 0, "{id} was not fetched again");
    }
    // The same payment in four flows settles once, from the first.
    let (_, settled) = rest(
        &app,
        "GET",
        &format!("/api/ragioneria/v3/riscossioni?iuv={}", iuv(&nav)),
        None,
    )
    .await;
    assert_eq!(settled["numRisultati"], 1, "{settled}");
    assert_eq!(settled["risultati"][0]["idFlusso"], ids[0].as_str());
}

#[tokio::test]
async fn one_acquisition_runs_at_a_time_and_an_unconfigured_one_says_so() {
    let fake = FakeFdr::start(KEY);
    let app = acquiring(&fake).build().await;
    fake.publish(FakeFlow::new(EC, &flow_id(51), PSP).line(
        "99000000000000001",
        "x",
        1,
        500,
        "EXECUTED",
    ));
    fake.slow_list_page(1, std::time::Duration::from_secs(4));
    let acquisition = || {
        varco::fdr::acquire::Acquisition::new(
            app.store.clone(),
            app.config.clone(),
            app.clock.clone(),
        )
        .unwrap()
        .unwrap()
    };
    let first = acquisition();
    let running = tokio::spawn(async move { first.run().await.unwrap() });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let second = acquisition().run().await.unwrap();
    assert!(second.skipped.is_some(), "{second:?}");
    assert!(second.domini.is_empty());
    let (s, busy) = rest(&app, "POST", "/api/backoffice/v1/fdr/acquisizioni", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{busy}");
    assert_eq!(busy["codice"], "FDR_002");
    let report = running.await.unwrap();
    assert_eq!(report.domini[0].acquired, 1);
    let plain = TestApp::builder().seed(false).build().await;
    let (s, fault) = rest(&plain, "POST", "/api/backoffice/v1/fdr/acquisizioni", None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{fault}");
    assert_eq!(fault["codice"], "FDR_001");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_runs_the_acquisition_until_stopped() {
    let fake = FakeFdr::start(KEY);
    let app = acquiring(&fake).build().await;
    fake.publish(FakeFlow::new(EC, &flow_id(61), PSP).line(
        "99000000000000001",
        "x",
        1,
        500,
        "EXECUTED",
    ));
    let acquisition = varco::fdr::acquire::Acquisition::new(
        app.store.clone(),
        app.config.clone(),
        app.clock.clone(),
    )
    .unwrap()
    .unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let every = std::time::Duration::from_millis(300);
    let schedule = tokio::spawn(acquisition.schedule(every, stopped));
    let lists = || {
        fake.requests()
            .iter()
            .filter(|r| r.contains("/fdrs?"))
            .count()
    };
    let started = std::time::Instant::now();
    while lists() < 2 && started.elapsed() < std::time::Duration::from_secs(20) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(lists() >= 2, "two runs: {:?}", fake.requests());
    assert_eq!(flows_listed(&app, "").await.len(), 1, "taken once");
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), schedule)
        .await
        .expect("the schedule ends when told")
        .unwrap();
    let (_, status) = rest(&app, "GET", "/api/backoffice/v1/fdr/acquisizioni", None).await;
    assert!(
        status["ultima"]["domini"][0]["listed"].is_number(),
        "{status}"
    );
}
