//! Times the SOAP codec alone (decode a request envelope strictly, encode a response), per
//! message, in-process. Run: `cargo run --release --example codec_timing`.

use std::time::Instant;
use varco::soap::messages::{PaSendRtRes, Response};
use varco::soap::schema::Outcome;

fn main() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/soap");
    let cases = [
        ("paVerifyPaymentNotice", "paVerifyPaymentNotice/ok"),
        ("paGetPaymentV2", "paGetPaymentV2/ok"),
        ("paSendRTV2", "paSendRTV2/ok"),
    ];
    let iterations = 100_000u32;
    for (action, case) in cases {
        let body = std::fs::read(format!("{root}/{case}.request.xml")).unwrap();
        let response = std::fs::read(format!("{root}/{case}.response.xml")).unwrap();
        // Warm up, then time decode.
        for _ in 0..1000 {
            varco::soap::decode(Some(action), &body).unwrap();
        }
        let start = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(
                varco::soap::decode(Some(action), std::hint::black_box(&body)).unwrap(),
            );
        }
        let decode = start.elapsed() / iterations;
        // Encode: the recorded response, decoded into its typed form once.
        let typed = typed_response(action, &response);
        let start = Instant::now();
        for _ in 0..iterations {
            std::hint::black_box(varco::soap::encode(std::hint::black_box(&typed)));
        }
        let encode = start.elapsed() / iterations;
        println!(
            "{action:24} request {:5} B  decode {:>6.2} µs   response {:5} B  encode {:>6.2} µs",
            body.len(),
            decode.as_nanos() as f64 / 1000.0,
            varco::soap::encode(&typed).len(),
            encode.as_nanos() as f64 / 1000.0
        );
    }
}

fn typed_response(action: &str, xml: &[u8]) -> Response {
    use varco::soap::schema::XmlType;
    let (_, payload) = varco::soap::envelope::decode_response(xml).unwrap();
    match action {
        "paVerifyPaymentNotice" => Response::Verify(XmlType::read(&payload).unwrap()),
        "paGetPaymentV2" => Response::GetPaymentV2(XmlType::read(&payload).unwrap()),
        _ => Response::SendRt(
            varco::soap::Operation::SendRtV2,
            PaSendRtRes {
                outcome: Outcome::Ok,
                fault: None,
            },
        ),
    }
}
