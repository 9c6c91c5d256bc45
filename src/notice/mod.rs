//! Payment notices: the 18-digit notice number (numero avviso) and its check digits, the codes
//! printed on a notice (QR, GS1-128, Poste Data Matrix) and the printable PDF avviso.

pub mod number;
pub mod pdf;
pub mod qr;

pub use number::{NoticeError, NoticeNumber};
pub use pdf::{Avviso, PdfError, PostalPart, format_amount, format_date, render};
pub use qr::{CodeError, ModuleMatrix, gs1_payload, poste_datamatrix_payload, qr_payload};
