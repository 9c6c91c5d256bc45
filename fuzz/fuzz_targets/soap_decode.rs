//! The SOAP surface: any bytes with any SOAPAction.
//!
//! - `soap::decode` never panics, with no SOAPAction, the right one, a quoted one or a wrong one;
//! - a request that decodes is written back by the bindings' writer and decodes to the same
//!   typed value (nothing read is lost or changed by the writer);
//! - the KO answer built for a refused request (whose description may quote the input) is a
//!   response the strict reader accepts and that round-trips;
//! - the bytes read as a response envelope: what the strict response reader accepts
//!   re-encodes to the same typed value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use read_response::read_response;
use varco::soap::messages::*;
use varco::soap::schema::XmlWriter;
use varco::soap::{DecodeError, Response, decode, encode};

#[path = "../../tests/common/read_response.rs"]
mod read_response;

const ACTIONS: [&str; 9] = [
    "paVerifyPaymentNotice",
    "paGetPayment",
    "paGetPaymentV2",
    "paSendRT",
    "paSendRTV2",
    "paDemandPaymentNotice",
    "\"paSendRTV2\"",
    " \"paVerifyPaymentNotice\" ",
    "urn:nope",
];

fuzz_target!(|data: &[u8]| {
    // The action is picked from the input's length: deterministic, so crashes reproduce.
    let action = ACTIONS[data.len() % ACTIONS.len()];
    for soap_action in [None, Some(action)] {
        match decode(soap_action, data) {
            Ok(request) => round_trip_request(&request),
            Err(DecodeError::Fault(op, fault)) => {
                round_trip_response(&Response::ko(op, fault.bean("77777777777")))
            }
            Err(DecodeError::UnknownOperation(message)) => {
                let xml = varco::soap::envelope::encode_soap_fault(&message);
                varco::soap::xml::parse(xml.as_bytes()).expect("the SOAP Fault is well-formed");
            }
        }
    }
    if let Ok((op, payload)) = varco::soap::envelope::decode_response(data)
        && let Some(response) = read_response(op, &payload)
    {
        round_trip_response(&response);
    }
});

fn round_trip_request(request: &Request) {
    let op = varco::nodo::operation_of(request);
    let name = format!("p:{}", op.request_element());
    let mut w = XmlWriter::new();
    w.raw(&format!(
        r#"<soapenv:Envelope xmlns:soapenv="{}"><soapenv:Body><{name} xmlns:p="{}">"#,
        varco::soap::envelope::SOAP11_NS,
        varco::soap::envelope::PAFN_NS
    ));
    match request {
        Request::Verify(r) => r.write_children(&mut w),
        Request::GetPayment(r) | Request::GetPaymentV2(r) => r.write_children(&mut w),
        Request::SendRt(r) => r.write_children(&mut w),
        Request::SendRtV2(r) => r.write_children(&mut w),
        Request::Demand(r) => r.write_children(&mut w),
    }
    w.raw(&format!("</{name}></soapenv:Body></soapenv:Envelope>"));
    let again = decode(Some(op.name()), w.out.as_bytes())
        .unwrap_or_else(|e| panic!("re-encoded request refused: {e:?}\n{}", w.out));
    assert_eq!(
        &again, request,
        "request changed by a round trip:\n{}",
        w.out
    );
}


fn round_trip_response(response: &Response) {
    let xml = encode(response);
    let (op, payload) = varco::soap::envelope::decode_response(xml.as_bytes())
        .unwrap_or_else(|e| panic!("encoded response unreadable: {e}\n{xml}"));
    assert_eq!(op, response.operation());
    let again = read_response(op, &payload)
        .unwrap_or_else(|| panic!("encoded response breaks its schema:\n{xml}"));
    assert_eq!(&again, response, "response changed by a round trip:\n{xml}");
}
