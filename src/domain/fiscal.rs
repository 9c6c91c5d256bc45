//! Italian fiscal identifiers: the 16-character codice fiscale of a person (with omocodia) and
//! the 11-digit partita IVA / codice fiscale of an organisation, with their check characters.

/// Whether `cf` is a well-formed personal codice fiscale with a correct check character.
pub fn is_valid_personal(cf: &str) -> bool {
    let b = cf.as_bytes();
    if b.len() != 16
        || !b
            .iter()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    {
        return false;
    }
    // Letters where the layout wants letters; digit places may hold omocodia letters.
    let letters = [0, 1, 2, 3, 4, 5, 8, 11, 15];
    let omocodia = b"LMNPQRSTUV";
    for (i, c) in b.iter().enumerate() {
        if letters.contains(&i) {
            if !c.is_ascii_uppercase() {
                return false;
            }
        } else if !(c.is_ascii_digit() || omocodia.contains(c)) {
            return false;
        }
    }
    if !b"ABCDEHLMPRST".contains(&b[8]) {
        return false;
    }
    const ODD: [u32; 36] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0-9
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23, // A-Z
    ];
    let value = |c: u8| -> usize {
        if c.is_ascii_digit() {
            (c - b'0') as usize
        } else {
            (c - b'A') as usize + 10
        }
    };
    let mut sum = 0u32;
    for (i, &c) in b[..15].iter().enumerate() {
        sum += if i % 2 == 0 {
            ODD[value(c)]
        } else if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A')
        };
    }
    b[15] == b'A' + (sum % 26) as u8
}

/// Whether `piva` is an 11-digit partita IVA (or organisation fiscal code) with a correct
/// check digit.
pub fn is_valid_organisation(piva: &str) -> bool {
    let b = piva.as_bytes();
    if b.len() != 11 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in b[..10].iter().enumerate() {
        let d = u32::from(c - b'0');
        sum += if i % 2 == 0 {
            d
        } else {
            let x = d * 2;
            if x > 9 { x - 9 } else { x }
        };
    }
    (10 - sum % 10) % 10 == u32::from(b[10] - b'0')
}

/// A creditor's (or broker's) fiscal code: 11 digits (`[0-9]{11}`).
pub fn is_fiscal_code_pa(s: &str) -> bool {
    s.len() == 11 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_codes() {
        assert!(is_valid_personal("RSSMRA80A01H501U"));
        assert!(!is_valid_personal("RSSMRA80A01H501V"));
        assert!(!is_valid_personal("RSSMRA80A01H501"));
        assert!(!is_valid_personal("rssmra80a01h501u"));
        // Omocodia: digits replaced by letters, check recomputed.
        assert!(is_valid_personal("RSSMRA80A01H50MM"));
        assert!(!is_valid_personal("RSSMRA80A01H50MU"));
    }

    #[test]
    fn organisation_codes() {
        assert!(is_valid_organisation("00488410010"));
        assert!(is_valid_organisation("01199250158"));
        assert!(!is_valid_organisation("01199250159"));
        assert!(!is_valid_organisation("0119925015"));
    }
}
