//! SOAP 1.1 envelopes: decode a request (dispatching on SOAPAction or the body element) and
//! encode a response with only its root element qualified.

use super::fault::{Fault, FaultCode};
use super::messages::{Operation, Request, Response};
use super::schema::XmlWriter;
use super::xml::{self, Element};

/// The SOAP 1.1 envelope namespace.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The SOAP 1.2 envelope namespace (refused, named in the error).
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The paForNode payload namespace.
pub const PAFN_NS: &str = "http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd";

/// Why a request could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A refusal answered in-band, as a KO of operation `op`.
    Fault(Operation, Fault),
    /// Neither SOAPAction nor the body names a paForNode operation: answered with a SOAP Fault.
    UnknownOperation(String),
}

/// Strips optional surrounding double quotes and whitespace from a SOAPAction value.
pub fn clean_action(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
        .trim()
}

/// Decodes a request body. `soap_action` is the raw header value, if any.
pub fn decode(soap_action: Option<&str>, body: &[u8]) -> Result<Request, DecodeError> {
    let action_op = soap_action
        .map(clean_action)
        .and_then(Operation::from_action);
    let extra = |op: Option<Operation>, msg: String| match op {
        Some(op) => DecodeError::Fault(op, Fault::new(FaultCode::SintassiExtraxsd, msg)),
        None => DecodeError::UnknownOperation(msg),
    };

    let root = xml::parse(body).map_err(|e| extra(action_op, e.to_string()))?;
    let payload = match envelope_body(&root) {
        Ok(p) => p,
        Err(msg) => return Err(extra(action_op, msg)),
    };
    let body_op = match payload.ns.as_deref() {
        Some(PAFN_NS) => Operation::from_request_element(&payload.name),
        _ => None,
    };
    let Some(op) = action_op.or(body_op) else {
        return Err(DecodeError::UnknownOperation(format!(
            "no paForNode operation for SOAPAction {:?} and body element {}",
            soap_action.map(clean_action).unwrap_or(""),
            payload.name
        )));
    };
    if payload.name != op.request_element() {
        return Err(extra(
            Some(op),
            format!(
                "SOAPAction {} expects body element {}, found {}",
                op.name(),
                op.request_element(),
                payload.name
            ),
        ));
    }
    if payload.ns.as_deref() != Some(PAFN_NS) {
        return Err(DecodeError::Fault(
            op,
            Fault::new(
                FaultCode::SintassiXsd,
                format!(
                    "{}: element must be in namespace {PAFN_NS}, found {}",
                    payload.name,
                    payload.ns.as_deref().unwrap_or("no namespace")
                ),
            ),
        ));
    }
    Request::read(op, payload)
        .map_err(|e| DecodeError::Fault(op, Fault::new(FaultCode::SintassiXsd, e.to_string())))
}

/// Checks the envelope shape and returns the single element inside Body.
fn envelope_body(root: &Element) -> Result<&Element, String> {
    match root.ns.as_deref() {
        Some(SOAP11_NS) if root.name == "Envelope" => {}
        Some(SOAP12_NS) => return Err("SOAP 1.2 envelopes are not supported; use SOAP 1.1".into()),
        _ => {
            return Err(format!(
                "root element must be the SOAP 1.1 Envelope, found {}",
                root.name
            ));
        }
    }
    if root.has_text() {
        return Err("character data is not allowed in Envelope".into());
    }
    let mut parts = root.children.iter();
    let mut next = parts.next();
    if let Some(h) = next
        && h.is(Some(SOAP11_NS), "Header")
    {
        next = parts.next();
    }
    let body = match next {
        Some(b) if b.is(Some(SOAP11_NS), "Body") => b,
        Some(other) => return Err(format!("expected soap Body, found {}", other.name)),
        None => return Err("the envelope has no Body".into()),
    };
    if let Some(extra) = parts.next() {
        return Err(format!("unexpected element {} after Body", extra.name));
    }
    if body.has_text() {
        return Err("character data is not allowed in Body".into());
    }
    match body.children.as_slice() {
        [payload] => Ok(payload),
        [] => Err("the Body is empty".into()),
        _ => Err("the Body must hold exactly one element".into()),
    }
}

/// Encodes a response envelope.
pub fn encode(response: &Response) -> String {
    let name = response.operation().response_element();
    let mut w = XmlWriter::new();
    w.raw(r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv=""#);
    w.raw(SOAP11_NS);
    w.raw(r#""><soapenv:Body><paf:"#);
    w.raw(name);
    w.raw(r#" xmlns:paf=""#);
    w.raw(PAFN_NS);
    w.raw(r#"">"#);
    response.write_children(&mut w);
    w.raw("</paf:");
    w.raw(name);
    w.raw("></soapenv:Body></soapenv:Envelope>");
    w.out
}

/// A SOAP 1.1 Fault (for requests that name no paForNode operation at all).
pub fn encode_soap_fault(message: &str) -> String {
    let mut w = XmlWriter::new();
    w.raw(r#"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv=""#);
    w.raw(SOAP11_NS);
    w.raw(r#""><soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode>"#);
    w.text("faultstring", message);
    w.raw("</soapenv:Fault></soapenv:Body></soapenv:Envelope>");
    w.out
}

/// Reads a response envelope back (used by `varco replay` and the tests).
pub fn decode_response(body: &[u8]) -> Result<(Operation, Element), String> {
    let root = xml::parse(body).map_err(|e| e.to_string())?;
    let payload = envelope_body(&root)?.clone();
    let op = Operation::ALL
        .into_iter()
        .find(|op| op.response_element() == payload.name && payload.ns.as_deref() == Some(PAFN_NS))
        .ok_or_else(|| format!("{} is not a paForNode response", payload.name))?;
    Ok((op, payload))
}
