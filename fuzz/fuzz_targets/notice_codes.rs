//! Notice numbers, amounts and the machine-readable codes of a notice, from arbitrary text.
//!
//! The input is split on `|` (the QR payload's own separator) into fields; the first is read
//! as a notice number, the others feed the amount parsers and the QR / GS1 / Poste payload
//! builders. Nothing may panic, and:
//! - a number that parses keeps its 18 digits, its IUV is a suffix of it, and the check
//!   digits `parse_checked` accepts are the mod-93 ones;
//! - an amount that parses formats back to the same cents;
//! - a payload that can be built has its fixed shape (the Poste one exactly 256 ASCII
//!   characters) and encodes as a QR code / Data Matrix symbol.
#![no_main]

use libfuzzer_sys::fuzz_target;
use varco::domain::NoticeNumber;
use varco::domain::notice_number::check_digits;
use varco::notice::qr;
use varco::domain::money::{format as format_cents, parse_decimal as decimal_to_cents, parse_two_decimals as parse_cents};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fields: Vec<&str> = text.split('|').collect();
    let field = |i: usize| fields.get(i).copied().unwrap_or("");

    for candidate in [field(0), text] {
        notice_number(candidate);
        amounts(candidate);
        let folded = qr::ascii_fold(candidate);
        assert!(
            folded.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{folded:?}"
        );
        if let Ok(digits) = qr::postal_account_digits(candidate) {
            assert!((1..=12).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    // A QR-shaped input: PAGOPA|002|<notice>|<fiscal code>|<cents>|<gln>|<account>|<debtor>|<name>|<subject>
    let (notice, ec, cents) = if field(0) == "PAGOPA" {
        (field(2), field(3), field(4))
    } else {
        (field(0), field(1), field(2))
    };
    let Ok(nav) = NoticeNumber::parse(notice) else {
        return;
    };
    let cents: i64 = cents.parse().unwrap_or(i64::MAX);
    if qr::check_qr_fields(ec, cents).is_ok() {
        let payload = qr::qr_payload(&nav, ec, cents);
        assert!(
            payload.starts_with("PAGOPA|002|") && payload.len() <= 60,
            "{payload}"
        );
        // Decoding our own payload gives the fields back.
        let parts: Vec<&str> = payload.split('|').collect();
        assert_eq!(parts[2], nav.as_str());
        assert_eq!(parts[3], ec);
        assert_eq!(parts[4].parse::<i64>().ok(), Some(cents));
        qr::qr_matrix(&payload).expect("a pagoPA QR payload encodes");
    }
    let gln = field(5);
    if qr::check_gs1_fields(gln, cents).is_ok() {
        let payload = qr::gs1_payload(gln, &nav, cents);
        assert!(payload.bytes().all(|b| b.is_ascii_digit()), "{payload}");
    }
    if let Ok(payload) =
        qr::poste_datamatrix_payload(&nav, ec, field(6), cents, field(7), field(8), field(9))
    {
        assert_eq!(payload.len(), 256, "{payload:?}");
        assert!(
            payload.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "{payload:?}"
        );
        qr::datamatrix_matrix(&payload).expect("a Poste payload encodes");
    }
});

fn notice_number(text: &str) {
    let parsed = NoticeNumber::parse(text);
    let checked = NoticeNumber::parse_checked(text);
    let Ok(n) = parsed else {
        assert!(checked.is_err());
        return;
    };
    assert_eq!(n.as_str(), text);
    assert!(n.aux_digit() <= 3);
    assert!(text.ends_with(n.iuv()));
    assert_eq!(n.grouped().replace(' ', ""), text);
    assert_eq!(n.segregation_code().is_some(), n.aux_digit() == 3);
    assert_eq!(n.application_code().is_some(), n.aux_digit() == 0);
    let mod93 = format!("{:02}", check_digits(&text[..16]));
    assert_eq!(
        checked.is_ok(),
        !n.has_check_digits() || text[16..] == mod93,
        "{text}"
    );
}

fn amounts(text: &str) {
    if let Some(cents) = decimal_to_cents(text) {
        assert!(
            (0..=varco::soap::schema::MAX_CENTS).contains(&cents),
            "{text}"
        );
        assert_eq!(
            decimal_to_cents(&format_cents(cents)),
            Some(cents),
            "{text}"
        );
    }
    if let Some(cents) = parse_cents(text) {
        assert_eq!(decimal_to_cents(text), Some(cents), "{text}");
        assert_eq!(parse_cents(&format_cents(cents)), Some(cents), "{text}");
    }
}
