//! SOAP codec micro-benchmarks: strict decode of each request envelope (`varco::soap::decode`)
//! and encode of each response (`varco::soap::encode`), from the recorded fixtures
//! (`fixtures/soap/<op>/ok.*.xml`). Run: `make bench-micro` (or `cargo bench -p varco-bench
//! --bench soap`).

use varco::soap::messages::{PaSendRtRes, Response};
use varco::soap::schema::{Outcome, XmlType};
use varco::soap::{Operation, decode, encode};

fn main() {
    divan::main();
}

const OPS: [&str; 5] = [
    "paVerifyPaymentNotice",
    "paGetPayment",
    "paGetPaymentV2",
    "paSendRT",
    "paSendRTV2",
];

fn fixture(op: &str, kind: &str) -> Vec<u8> {
    let path = format!(
        "{}/../fixtures/soap/{op}/ok.{kind}.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The typed response of a recorded `ok` exchange.
fn typed_response(op: &str) -> Response {
    let xml = fixture(op, "response");
    let (_, payload) = varco::soap::envelope::decode_response(&xml).expect("fixture response");
    match op {
        "paVerifyPaymentNotice" => Response::Verify(XmlType::read(&payload).unwrap()),
        "paGetPayment" => Response::GetPayment(XmlType::read(&payload).unwrap()),
        "paGetPaymentV2" => Response::GetPaymentV2(XmlType::read(&payload).unwrap()),
        "paSendRT" => Response::SendRt(Operation::SendRt, ok()),
        _ => Response::SendRt(Operation::SendRtV2, ok()),
    }
}

fn ok() -> PaSendRtRes {
    PaSendRtRes {
        outcome: Outcome::Ok,
        fault: None,
    }
}

/// Request envelope → typed request (well-formedness, envelope, schema rules).
#[divan::bench(args = OPS)]
fn decode_request(bencher: divan::Bencher, op: &str) {
    let body = fixture(op, "request");
    assert!(decode(Some(op), &body).is_ok(), "{op} fixture decodes");
    bencher
        .counter(divan::counter::BytesCount::new(body.len()))
        .bench(|| decode(Some(divan::black_box(op)), divan::black_box(&body)));
}

/// Typed response → response envelope.
#[divan::bench(args = OPS)]
fn encode_response(bencher: divan::Bencher, op: &str) {
    let typed = typed_response(op);
    bencher
        .counter(divan::counter::BytesCount::new(encode(&typed).len()))
        .bench(|| encode(divan::black_box(&typed)));
}
