//! GovPay's wire shapes and rules, shared by the REST API (what gestionali load), verification on
//! the fly (what a gestionale answers) and receipt forwarding (what a gestionale receives):
//! [`pendenza`] (the `NuovaPendenza` JSON), [`validate`] (every rule a position must pass, with
//! its own refusal type), [`ricevuta`] (the `Ricevuta` JSON of API Ente Creditore v2). Knows
//! JSON and the rules; no HTTP, no store.

pub mod faults;
pub mod pendenza;
pub mod ricevuta;
pub mod validate;
