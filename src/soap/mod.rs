//! SOAP for the Nodo: the XML tree, the bindings, the envelope and the faults; and [`xsd`], the
//! XSD subset engine that checks the service data of spontaneous payments against a schema
//! read at run time. This module knows XML and schemas, and no business rule.

pub mod envelope;
pub mod fault;
pub mod messages;
pub mod schema;
pub mod xml;
pub mod xsd;

pub use envelope::{DecodeError, decode, encode};
pub use fault::{Fault, FaultCode};
pub use messages::{Operation, Request, Response};
