//! Replays every recorded exchange under fixtures/soap through the router (no socket), in
//! order, on a fresh demo store, and checks each answer; then validates every response Varco
//! emitted against the official pagoPA schema, and cross-checks the requests: a request Varco
//! refused as a schema error must be invalid for the official schema too, and every other one
//! must be valid.

mod common;

use axum::body::Body;
use axum::http::Request;
use chrono::{TimeZone, Utc};
use common::TestApp;
use std::path::Path;
use varco::replay::{compare, load_cases};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_answers_as_recorded_and_validates_against_the_official_schema() {
    let fixed_now = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let app = TestApp::builder().fixed_clock(fixed_now).build().await;

    let cases = load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/soap")).unwrap();
    assert!(cases.len() >= 60, "only {} fixtures", cases.len());
    let mut failures = Vec::new();
    let mut responses = Vec::new();
    let mut requests = Vec::new();
    for case in &cases {
        let mut req = Request::post("/paForNode").header("content-type", "text/xml; charset=utf-8");
        if let Some(a) = &case.soap_action {
            req = req.header("soapaction", a);
        }
        let reply = common::app::send(
            &app.nodo,
            req.body(Body::from(case.request.clone())).unwrap(),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", case.name);
        let body = reply.body;
        if let Err(why) = compare(&case.response, &body) {
            failures.push(format!("{}: {why}", case.name));
        }
        let text = String::from_utf8(body.to_vec()).unwrap();
        let fault = common::element(&text, "faultCode").map(str::to_owned);
        responses.push((case.name.clone(), common::payload_document(&text).unwrap()));
        requests.push((
            case.name.clone(),
            String::from_utf8(case.request.clone()).unwrap(),
            fault,
        ));
    }
    assert!(
        failures.is_empty(),
        "fixtures that differ:\n{}",
        failures.join("\n")
    );

    common::require_schema_check();
    let xsd = common::official_xsd();
    let invalid: Vec<String> = common::validate(&xsd, &responses)
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n)
        .collect();
    assert!(
        invalid.is_empty(),
        "responses invalid for the official schema: {invalid:?}"
    );

    // Requests: schema verdicts must agree with the official schema.
    let mut docs = Vec::new();
    let mut expect_valid = Vec::new();
    for (name, text, fault) in &requests {
        let extra = fault.as_deref() == Some("PAA_SINTASSI_EXTRAXSD");
        if extra || text.contains("soap-envelope\"") {
            continue; // not a paForNode envelope at all: nothing for the schema to say
        }
        let Some(doc) = common::payload_document(text) else {
            continue;
        };
        docs.push((name.clone(), doc));
        expect_valid.push(fault.as_deref() != Some("PAA_SINTASSI_XSD"));
    }
    let verdicts = common::validate(&xsd, &docs);
    let disagree: Vec<String> = verdicts
        .iter()
        .zip(&expect_valid)
        .filter(|((_, official), ours)| official != *ours)
        .map(|((n, official), _)| format!("{n} (official schema says valid={official})"))
        .collect();
    assert!(
        disagree.is_empty(),
        "Varco's schema verdict differs from the official one: {disagree:?}"
    );
    assert!(
        docs.len() >= 50,
        "only {} requests cross-checked",
        docs.len()
    );
}
