//! Payment notices: the codes printed on a notice (QR, GS1-128, Poste Data Matrix) and the
//! printable PDF avviso, for one notice number ([`render`]) or for a document with a single
//! payment and instalments ([`render_document`]). The notice number itself is an id of the
//! domain ([`crate::domain::NoticeNumber`]).

pub mod document;
pub mod pdf;
pub mod qr;

pub use document::{AvvisoDocumento, MAX_RATE, render, render_document};
pub use pdf::{Avviso, Intestazione, Opzione, PdfError, PostalPart, format_amount, format_date};
pub use qr::{CodeError, ModuleMatrix, gs1_payload, poste_datamatrix_payload, qr_payload};
