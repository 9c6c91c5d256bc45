//! The notice number (numero avviso, NAV): `<aux digit><application or segregation code?><IUV>`.
//!
//! | aux | layout                                   | IUV                 | check digits |
//! |-----|------------------------------------------|---------------------|--------------|
//! | 0   | `0` + application code (2) + base (13) + cd (2) | base + cd (15) | yes |
//! | 1   | `1` + base (17)                          | 17 digits           | no           |
//! | 2   | `2` + base (15) + cd (2)                 | base + cd (17)      | yes          |
//! | 3   | `3` + segregation code (2) + base (13) + cd (2) | seg + base + cd (17) | yes |
//!
//! The check digits are the first 16 digits of the notice number taken as one number, modulo
//! 93, written on two digits.

use std::fmt;

/// Why a string is not an acceptable notice number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    /// Not exactly 18 ASCII digits.
    #[error("a notice number is exactly 18 digits")]
    Format,
    /// First digit outside 0..=3.
    #[error("the aux digit must be 0, 1, 2 or 3, found {0}")]
    AuxDigit(u8),
    /// The check digits do not match.
    #[error("wrong check digits: expected {expected:02}, found {found}")]
    CheckDigits {
        /// What mod 93 gives.
        expected: u8,
        /// What the number carries.
        found: String,
    },
}

/// A structurally valid 18-digit notice number (check digits are verified separately, since
/// legacy numbers in the field carry wrong ones).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NoticeNumber(String);

/// The IUV a notice is stored and journaled under: the notice number's own IUV when the
/// number is a valid notice number, else `creditorReferenceId` (a receipt for a malformed number
/// is still stored and flagged) with `/` written as `_`, so it can never split a store key.
/// `None` when neither is there.
pub fn iuv_of(notice_number: &str, creditor_reference_id: Option<&str>) -> Option<String> {
    match NoticeNumber::parse(notice_number) {
        Ok(n) => Some(n.iuv().to_owned()),
        Err(_) => creditor_reference_id.map(|c| c.replace('/', "_")),
    }
}

impl NoticeNumber {
    /// Parses 18 digits with an aux digit of 0..=3.
    pub fn parse(text: &str) -> Result<Self, NoticeError> {
        if text.len() != 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(NoticeError::Format);
        }
        let aux = text.as_bytes()[0] - b'0';
        if aux > 3 {
            return Err(NoticeError::AuxDigit(aux));
        }
        Ok(Self(text.to_owned()))
    }

    /// Parses and also requires correct check digits (where the scheme has them).
    pub fn parse_checked(text: &str) -> Result<Self, NoticeError> {
        let n = Self::parse(text)?;
        n.verify_check_digits()?;
        Ok(n)
    }

    /// Builds an aux-3 number from a segregation code (2 digits) and a 13-digit reference.
    ///
    /// # Panics
    /// When `segregation` is not 2 digits or `reference` has more than 13 digits: both are
    /// checked when the configuration is loaded and when the counter is advanced.
    pub fn aux3(segregation: &str, reference: u64) -> Self {
        assert!(segregation.len() == 2 && segregation.bytes().all(|b| b.is_ascii_digit()));
        assert!(reference < 10u64.pow(13), "IUV reference over 13 digits");
        let head = format!("3{segregation}{reference:013}");
        let cd = check_digits(&head);
        Self(format!("{head}{cd:02}"))
    }

    /// The 18 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The aux digit (0..=3).
    pub fn aux_digit(&self) -> u8 {
        self.0.as_bytes()[0] - b'0'
    }

    /// The IUV (creditorReferenceId) this number carries.
    pub fn iuv(&self) -> &str {
        match self.aux_digit() {
            0 => &self.0[3..],
            _ => &self.0[1..],
        }
    }

    /// The segregation code (aux 3 only).
    pub fn segregation_code(&self) -> Option<&str> {
        (self.aux_digit() == 3).then(|| &self.0[1..3])
    }

    /// The application code (aux 0 only).
    pub fn application_code(&self) -> Option<&str> {
        (self.aux_digit() == 0).then(|| &self.0[1..3])
    }

    /// Whether this scheme carries check digits (all but aux 1).
    pub fn has_check_digits(&self) -> bool {
        self.aux_digit() != 1
    }

    /// Checks the two last digits against mod 93 of the first 16.
    pub fn verify_check_digits(&self) -> Result<(), NoticeError> {
        if !self.has_check_digits() {
            return Ok(());
        }
        let expected = check_digits(&self.0[..16]);
        let found = &self.0[16..];
        if found.parse::<u8>().ok() == Some(expected) {
            Ok(())
        } else {
            Err(NoticeError::CheckDigits {
                expected,
                found: found.to_owned(),
            })
        }
    }

    /// The number as printed on a notice: groups of four (`3010 0000 0000 0001 44`).
    pub fn grouped(&self) -> String {
        let mut out = String::with_capacity(22);
        for (i, c) in self.0.chars().enumerate() {
            if i > 0 && i % 4 == 0 {
                out.push(' ');
            }
            out.push(c);
        }
        out
    }
}

impl fmt::Display for NoticeNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Remainder modulo 93 of a string of decimal digits, computed digit by digit (no overflow).
pub fn check_digits(digits: &str) -> u8 {
    digits
        .bytes()
        .fold(0u32, |acc, b| (acc * 10 + u32::from(b - b'0')) % 93) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_iuv_of_a_notice_is_its_own_else_the_creditor_reference() {
        let nav = NoticeNumber::aux3("01", 42);
        assert_eq!(
            iuv_of(nav.as_str(), Some("whatever")).as_deref(),
            Some(nav.iuv())
        );
        assert_eq!(iuv_of("12", Some("RF/23/X")).as_deref(), Some("RF_23_X"));
        assert_eq!(iuv_of("12", None), None);
    }

    #[test]
    fn worked_examples_from_the_docs() {
        // Real receipts and GovPay's documentation.
        for ok in [
            "348173447377455101",
            "382202100000000101",
            "347164993070184562",
            "001110000000000164",
            "001340105455507221",
            "302000000000000184",
            "301000000000000144",
        ] {
            NoticeNumber::parse_checked(ok).unwrap();
        }
        // Documentation fixtures with wrong check digits parse, but fail the check.
        let legacy = NoticeNumber::parse("311111111112222222").unwrap();
        assert!(legacy.verify_check_digits().is_err());
        assert_eq!(NoticeNumber::aux3("01", 1).as_str(), "301000000000000144");
        assert_eq!(NoticeNumber::aux3("02", 1).as_str(), "302000000000000184");
    }

    #[test]
    fn iuv_and_codes() {
        let n = NoticeNumber::parse("301000000000000144").unwrap();
        assert_eq!(n.iuv(), "01000000000000144");
        assert_eq!(n.segregation_code(), Some("01"));
        assert_eq!(n.grouped(), "3010 0000 0000 0001 44");
        let n0 = NoticeNumber::parse("001110000000000164").unwrap();
        assert_eq!(n0.iuv(), "110000000000164");
        assert_eq!(n0.application_code(), Some("01"));
        assert_eq!(
            NoticeNumber::parse("401000000000000144"),
            Err(NoticeError::AuxDigit(4))
        );
        assert_eq!(
            NoticeNumber::parse("30100000000000014"),
            Err(NoticeError::Format)
        );
        assert_eq!(
            NoticeNumber::parse("30100000000000014a"),
            Err(NoticeError::Format)
        );
        // aux 1 has no check digits: anything goes.
        NoticeNumber::parse_checked("100000000000000099").unwrap();
    }

    proptest! {
        #[test]
        fn aux3_round_trips(seg in 0u8..100, reference in 0u64..10u64.pow(13)) {
            let seg = format!("{seg:02}");
            let n = NoticeNumber::aux3(&seg, reference);
            let parsed = NoticeNumber::parse_checked(n.as_str()).unwrap();
            prop_assert_eq!(parsed.segregation_code(), Some(seg.as_str()));
            prop_assert_eq!(&parsed.iuv()[2..15], format!("{reference:013}"));
        }

        #[test]
        fn every_single_digit_change_is_detected(seg in 0u8..100, reference in 0u64..10u64.pow(13), pos in 1usize..16, delta in 1u8..10) {
            // Changing one of the 16 digits covered by the check changes the number by
            // d·10^k with 0 < d < 10; 93 = 3·31 divides that only if it divides d·10^k,
            // which it cannot (10^k is coprime to 93 and d < 93, d ∉ {0}): always detected.
            let n = NoticeNumber::aux3(&format!("{seg:02}"), reference);
            let mut bytes = n.as_str().as_bytes().to_vec();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(NoticeNumber::parse_checked(&changed).is_err());
        }
    }
}
