//! IBAN checks (ISO 13616: country, length, mod-97) and the Italian postal-account test.

/// Whether `iban` is a structurally valid IBAN with correct check digits.
/// Spaces are not accepted: the protocol carries IBANs without them.
pub fn is_valid(iban: &str) -> bool {
    let b = iban.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b[4..]
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        return false;
    }
    if &iban[..2] == "IT" && b.len() != 27 {
        return false;
    }
    // Move the first four characters to the end, letters become 10..35, then mod 97 == 1.
    let rearranged = b[4..].iter().chain(&b[..4]);
    let mut rem: u32 = 0;
    for &c in rearranged {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Whether an Italian IBAN belongs to Poste Italiane (ABI 07601), i.e. a postal account.
pub fn is_postal(iban: &str) -> bool {
    // `get`, not indexing: byte 5 may fall inside a multi-byte character of garbage input.
    iban.len() == 27 && iban.starts_with("IT") && iban.get(5..10) == Some("07601")
}

#[cfg(test)]
mod tests {
    #[test]
    fn postal_check_survives_multibyte_garbage() {
        assert!(!super::is_postal("IT60é111111111111111111111"));
        assert!(super::is_postal("IT70X0760101600000012345678"));
    }

    use super::*;

    #[test]
    fn checks_ibans() {
        assert!(is_valid("IT60X0542811101000000123456"));
        assert!(is_valid("GB82WEST12345698765432"));
        assert!(!is_valid("IT60X0542811101000000123457"));
        assert!(!is_valid("IT60 X054 2811 1010 0000 0123 456"));
        assert!(!is_valid("it60X0542811101000000123456"));
        assert!(is_postal("IT70X0760101600000012345678"));
        assert!(!is_postal("IT60X0542811101000000123456"));
    }
}
