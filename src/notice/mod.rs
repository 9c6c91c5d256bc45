//! Payment notices: the 18-digit notice number (numero avviso) and its check digits.

pub mod number;

pub use number::{NoticeError, NoticeNumber};
