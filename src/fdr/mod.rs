//! Reconciliation: the PSPs' settlement flows (FdR) acquired from pagoPA's FdR 3 API
//! ([`acquire`], [`client`]) or imported from `FlussoRiversamento` files ([`xml`]), matched
//! line by line to the receipts Varco stored ([`settle`]), and treasury movements matched to
//! flows and payments ([`treasury`]).

pub mod acquire;
pub mod client;
pub mod settle;
pub mod treasury;
pub mod xml;
