//! SOAP for the Nodo: the XML tree, the bindings, the envelope and the faults.
//! This module knows XML and the schema, and no business rule.

pub mod envelope;
pub mod fault;
pub mod messages;
pub mod schema;
pub mod xml;

pub use envelope::{DecodeError, decode, encode};
pub use fault::{Fault, FaultCode};
pub use messages::{Operation, Request, Response};
