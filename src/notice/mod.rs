//! Payment notices: the codes printed on a notice (QR, GS1-128, Poste Data Matrix) and the
//! printable PDF avviso. The notice number itself is an id of the domain
//! ([`crate::domain::NoticeNumber`]).

pub mod pdf;
pub mod qr;

pub use pdf::{Avviso, PdfError, PostalPart, format_amount, format_date, render};
pub use qr::{CodeError, ModuleMatrix, gs1_payload, poste_datamatrix_payload, qr_payload};
