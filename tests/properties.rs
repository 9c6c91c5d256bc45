//! Property tests: nothing a network can send makes the decoder panic; decoded requests
//! re-encode to the same typed value; and whatever text a position holds, the responses Varco
//! builds from it stay within the schema's facets (read back by the strict reader).

mod common;

use proptest::prelude::*;
use varco::soap::messages::*;
use varco::soap::schema::{XmlType, XmlWriter};

fn fixture(case: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/soap/{case}.request.xml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), action in "[a-zA-Z\"]{0,24}") {
        let _ = varco::soap::decode(Some(&action), &body);
        let _ = varco::soap::decode(None, &body);
    }

    #[test]
    fn mutated_receipts_never_panic(pos in 0usize..3000, byte in any::<u8>(), insert in any::<bool>()) {
        let mut body = fixture("paSendRTV2/ok");
        let pos = pos % body.len();
        if insert { body.insert(pos, byte) } else { body[pos] = byte }
        let _ = varco::soap::decode(Some("paSendRTV2"), &body);
    }
}

#[test]
fn decoded_requests_round_trip_through_the_writer() {
    for (action, case) in [
        ("paVerifyPaymentNotice", "paVerifyPaymentNotice/ok"),
        ("paGetPayment", "paGetPayment/ok"),
        ("paGetPaymentV2", "paGetPaymentV2/ok"),
        ("paSendRT", "paSendRT/ok"),
        ("paSendRTV2", "paSendRTV2/ok"),
        ("paDemandPaymentNotice", "paDemandPaymentNotice/not-offered"),
    ] {
        let request = varco::soap::decode(Some(action), &fixture(case)).unwrap();
        let op = Operation::from_action(action).unwrap();
        let mut w = XmlWriter::new();
        let name = format!("p:{}", op.request_element());
        macro_rules! write {
            ($r:expr) => {{
                w.raw(&format!(
                    r#"<soapenv:Envelope xmlns:soapenv="{}"><soapenv:Body><{name} xmlns:p="{}">"#,
                    varco::soap::envelope::SOAP11_NS,
                    varco::soap::envelope::PAFN_NS
                ));
                $r.write_children(&mut w);
                w.raw(&format!("</{name}></soapenv:Body></soapenv:Envelope>"));
            }};
        }
        match &request {
            Request::Verify(r) => write!(r),
            Request::GetPayment(r) | Request::GetPaymentV2(r) => write!(r),
            Request::SendRt(r) => write!(r),
            Request::SendRtV2(r) => write!(r),
            Request::Demand(r) => write!(r),
        }
        let again = varco::soap::decode(Some(action), w.out.as_bytes()).unwrap();
        assert_eq!(again, request, "{case}");
    }
}

fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,300}",
        any::<String>(),
        "[ a-zA-Z0-9àèéìòù&<>\"'/]{0,200}",
        Just(String::new()),
        Just("   ".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn responses_built_from_any_position_stay_within_the_facets(
        causale in arb_text(),
        anagrafica in arb_text(),
        identificativo in arb_text(),
        indirizzo in proptest::option::of(arb_text()),
        email in proptest::option::of(arb_text()),
        nazione in proptest::option::of(arb_text()),
        descr in arb_text(),
        amounts in proptest::collection::vec(1i64..=99_999_999_999 / 5, 1..=5),
        meta in proptest::collection::vec((arb_text(), arb_text()), 0..20),
    ) {
        use varco::domain::*;
        // The mapping under test reads what it is given: the embedded store is enough (a
        // database per case would be 300 databases).
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let app = rt.block_on(common::TestApp::builder().seed(false).embedded().build());
        let now = chrono::Utc::now();
        // The demo sample, with every free text and the items replaced by generated ones.
        let nav = varco::domain::NoticeNumber::aux3("01", 1);
        let mut p = varco::demo::sample(&app.config, &nav, now);
        let template = p.voci[0].clone();
        p.voci = amounts.iter().enumerate().map(|(i, a)| Voce {
            id_voce: format!("v{i}"),
            importo: *a,
            descrizione: descr.clone(),
            metadata: meta.clone(),
            ..template.clone()
        }).collect();
        p.importo = amounts.iter().sum();
        p.causale = causale;
        p.soggetto = Soggetto { identificativo, anagrafica, indirizzo, nazione, email, ..p.soggetto.clone() };
        rt.block_on(app.store.put_pendenza(&p)).unwrap();
        let nodo = app.handlers();
        for (action, element) in [("paVerifyPaymentNotice", "paVerifyPaymentNoticeReq"), ("paGetPayment", "paGetPaymentReq"), ("paGetPaymentV2", "paGetPaymentV2Request")] {
            let body = format!(r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><p:{element} xmlns:p="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><idPA>77777777777</idPA><idBrokerPA>77777777777</idBrokerPA><idStation>77777777777_01</idStation><qrCode><fiscalCode>77777777777</fiscalCode><noticeNumber>301000000000000144</noticeNumber></qrCode></p:{element}></s:Body></s:Envelope>"#);
            let request = varco::soap::decode(Some(action), body.as_bytes()).unwrap();
            let response = rt.block_on(nodo.handle(request, body.as_bytes())).response;
            prop_assert_eq!(response.outcome().0, varco::soap::schema::Outcome::Ok);
            let xml = varco::soap::encode(&response);
            let (_, payload) = varco::soap::envelope::decode_response(xml.as_bytes()).unwrap();
            let read_back = match action {
                "paVerifyPaymentNotice" => PaVerifyPaymentNoticeRes::read(&payload).map(|_| ()),
                "paGetPayment" => PaGetPaymentRes::read(&payload).map(|_| ()),
                _ => PaGetPaymentV2Response::read(&payload).map(|_| ()),
            };
            prop_assert!(read_back.is_ok(), "{action}: {:?}\n{xml}", read_back);
        }
    }
}
