//! A response read back from its payload element by the strict reader of its operation; shared
//! by the fuzz target soap_decode (through `#[path]`) and the replay of its findings in
//! tests/attack.rs.

use varco::soap::Response;
use varco::soap::messages::Operation;
use varco::soap::schema::XmlType;

/// The response of `op` in `payload`, or None when it breaks its schema.
pub fn read_response(op: Operation, payload: &varco::soap::xml::Element) -> Option<Response> {
    Some(match op {
        Operation::VerifyPaymentNotice => Response::Verify(XmlType::read(payload).ok()?),
        Operation::GetPayment => Response::GetPayment(XmlType::read(payload).ok()?),
        Operation::GetPaymentV2 => Response::GetPaymentV2(XmlType::read(payload).ok()?),
        Operation::SendRt | Operation::SendRtV2 => {
            Response::SendRt(op, XmlType::read(payload).ok()?)
        }
        Operation::DemandPaymentNotice => Response::Demand(XmlType::read(payload).ok()?),
    })
}
