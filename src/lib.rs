//! Varco: a pagoPA "paForNode" gateway for an Ente Creditore.
//!
//! The Nodo dei Pagamenti calls Varco over SOAP to verify a notice, activate a payment and
//! deliver its receipt; Varco answers from an embedded store, never loses a receipt, and
//! queues every receipt for the creditor's management system (gestionale).
//!
//! # Layout
//! - [`cli`]: the command line (`serve`, `replay`, `hash-password`).
//! - [`config`]: settings and the creditor registry, loaded and validated once; the embedded demo.
//! - [`password`]: argon2 password hashes.
//! - [`server`]: listeners, readiness, graceful shutdown.
//! - [`edge`]: TLS and mutual TLS, IP allowlists, trusted proxies, request ids.
//! - [`app`]: the nodo and api routers (callable without a socket).
//! - [`api`]: REST for gestionali: API Pendenze v2, its OpenAPI document, notices.
//! - [`soap`]: XML tree, bindings (one declaration per message), envelope, faults.
//! - [`nodo`]: verify, activate (V1/V2), receipt (V1/V2), demand: typed in, typed out.
//! - [`store`]: the only module that knows sled; `store::keys` builds every key;
//!   `store::journal` stores and reads the event journal.
//! - [`journal`]: the event journal's recorder (queue, writer thread, purge schedule).
//! - [`domain`]: positions, items, receipts, attempts, outbox entries: no protocol.
//! - [`notice`]: notice numbers and their check digits.
//! - [`gestionale`]: asks a gestionale about notices Varco does not hold (verification on the fly).
//! - [`outbox`]: forwards stored receipts to gestionali until delivered (worker, backoff, sender).
//! - [`fdr`]: reconciliation: settlement flows (FdR 3 acquisition, `FlussoRiversamento` files),
//!   line matching, treasury movements.
//! - [`servizi`]: spontaneous payments: service data read against its schema, the amount,
//!   the position it becomes.
//! - [`demo`]: the demo positions seeded on first start.
//! - [`metrics`]: Prometheus metrics (`GET /metrics` on the api listener).
//! - [`replay`]: replays recorded exchanges against a running gateway.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod demo;
pub mod domain;
pub mod edge;
pub mod fdr;
pub mod gestionale;
pub mod govpay;
pub mod journal;
pub mod logging;
pub mod metrics;
pub mod nodo;
pub mod notice;
pub mod outbox;
pub mod password;
pub mod replay;
pub mod server;
pub mod servizi;
pub mod soap;
pub mod store;
