//! The machine-readable codes printed on a payment notice, as strings and as module matrices.
//!
//! | code | payload | where |
//! |---|---|---|
//! | pagoPA QR code (ISO/IEC 18004, ECC level M, version 4 = 33×33 modules) | `PAGOPA\|002\|<notice 18>\|<EC fiscal code 11>\|<cents>` | every notice ([`qr_payload`]) |
//! | GS1-128 | `415<GLN 13>8020<notice 18>3902<cents>` | domains with a GLN ([`gs1_payload`]) |
//! | Poste Data Matrix (ECC 200) | `codfase=NBPA;<codeline 50>1P1<...>A`, 256 characters | the Bollettino PA part ([`poste_datamatrix_payload`]) |
//!
//! **Amount in the QR code and in the GS1 string.** pagoPA specifies "amount in euro cents,
//! minimum 2, maximum 11 characters"; the specification's data-model example zero-pads to 10
//! (`0000015000`), GovPay writes at least 4 digits (`0050` for 0,50 €). Varco writes the
//! cents with **at least 2 digits and no other padding** (`12000`, `10099`, `05`): the
//! specification's minimum, identical to GovPay's output for every amount of 10,00 € and more,
//! and what every reader parses, since readers take the field as an integer (the pagoPA
//! TypeScript decoder even accepts 1 to 10 digits).
//!
//! All amounts are integer cents (`i64`); nothing here goes through floating point.

use crate::domain::NoticeNumber;

/// The largest amount a notice can carry: 999.999.999,99 € (11 digits of cents).
pub use crate::domain::MAX_CENTS;

/// The largest amount the Poste codeline can carry: 10 digits of cents (99.999.999,99 €).
pub const MAX_POSTE_CENTS: i64 = 9_999_999_999;

/// Why a code cannot be built from the given fields.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// The creditor's fiscal code is not 11 digits.
    #[error("the creditor fiscal code must be 11 digits, found {0:?}")]
    EcFiscalCode(String),
    /// The amount is not within 1..=[`MAX_CENTS`] (or [`MAX_POSTE_CENTS`] for Poste).
    #[error("amount out of range: {0} cents")]
    Amount(i64),
    /// The GLN is not 13 digits.
    #[error("a GLN must be 13 digits, found {0:?}")]
    Gln(String),
    /// The postal account is neither 1 to 12 digits nor a 27-character Italian IBAN.
    #[error("a postal account is 1 to 12 digits or an Italian postal IBAN, found {0:?}")]
    PostalAccount(String),
    /// The debtor's fiscal code is not 1 to 16 ASCII letters and digits.
    #[error("the debtor fiscal code must be 1 to 16 letters and digits, found {0:?}")]
    DebtorFiscalCode(String),
    /// The barcode library could not encode the payload.
    #[error("cannot encode the symbol: {0}")]
    Symbol(String),
}

/// Checks the fields of the QR payload: an 11-digit creditor fiscal code and 1..=[`MAX_CENTS`].
pub fn check_qr_fields(ec_fiscal_code: &str, cents: i64) -> Result<(), CodeError> {
    if !is_digits(ec_fiscal_code, 11) {
        return Err(CodeError::EcFiscalCode(ec_fiscal_code.to_owned()));
    }
    check_cents(cents, MAX_CENTS)
}

/// The pagoPA QR payload `PAGOPA|002|<notice>|<EC fiscal code>|<cents>` (cents with at least
/// two digits, see the module documentation).
///
/// The fields are written as given: validate them first with [`check_qr_fields`].
pub fn qr_payload(notice: &NoticeNumber, ec_fiscal_code: &str, cents: i64) -> String {
    format!("PAGOPA|002|{notice}|{ec_fiscal_code}|{cents:02}")
}

/// The GS1-128 element string `415<GLN 13>8020<notice 18>3902<cents>`, without FNC1.
///
/// (415) is the payee's GLN, (8020) the payment slip reference (here the notice number),
/// (3902) the amount payable with two decimals, i.e. cents, written with at least two digits
/// as in the QR code. (8020) is a variable-length AI: a GS1-128 encoder must put an FNC1
/// separator between it and (3902). Validate with [`check_gs1_fields`] first.
pub fn gs1_payload(gln: &str, notice: &NoticeNumber, cents: i64) -> String {
    format!("415{gln}8020{notice}3902{cents:02}")
}

/// Checks the fields of the GS1-128 payload: a 13-digit GLN and 1..=[`MAX_CENTS`].
pub fn check_gs1_fields(gln: &str, cents: i64) -> Result<(), CodeError> {
    if !is_digits(gln, 13) {
        return Err(CodeError::Gln(gln.to_owned()));
    }
    check_cents(cents, MAX_CENTS)
}

/// The Poste "Bollettino PA" Data Matrix payload, 256 ASCII characters, fixed widths:
///
/// | field | width | content |
/// |---|---|---|
/// | `codfase=NBPA;` | 13 | fixed |
/// | codeline: `18` + notice | 2 + 18 | notice number |
/// | codeline: `12` + account | 2 + 12 | postal account number, left zero-padded (the last 12 characters of a postal IBAN) |
/// | codeline: `10` + cents | 2 + 10 | amount in cents, left zero-padded |
/// | codeline: `3896` | 4 | fixed (document type 896) |
/// | `1P1` | 3 | fixed |
/// | creditor fiscal code | 11 | 11 digits |
/// | debtor fiscal code | 16 | upper case, right-padded with spaces |
/// | debtor name | 40 | ASCII-folded, truncated or right-padded with spaces |
/// | subject (causale) | 110 | ASCII-folded, truncated or right-padded with spaces |
/// | filler | 12 | spaces |
/// | `A` | 1 | fixed |
///
/// The amount must be within 1..=[`MAX_POSTE_CENTS`].
pub fn poste_datamatrix_payload(
    notice: &NoticeNumber,
    ec_fiscal_code: &str,
    postal_account: &str,
    cents: i64,
    debtor_fiscal_code: &str,
    debtor_name: &str,
    subject: &str,
) -> Result<String, CodeError> {
    if !is_digits(ec_fiscal_code, 11) {
        return Err(CodeError::EcFiscalCode(ec_fiscal_code.to_owned()));
    }
    check_cents(cents, MAX_POSTE_CENTS)?;
    let account = postal_account_digits(postal_account)?;
    let debtor = debtor_fiscal_code.trim();
    if debtor.is_empty() || debtor.len() > 16 || !debtor.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(CodeError::DebtorFiscalCode(debtor_fiscal_code.to_owned()));
    }
    let mut out = String::with_capacity(256);
    out.push_str("codfase=NBPA;");
    out.push_str(&format!("18{notice}12{account:0>12}10{cents:010}3896"));
    out.push_str("1P1");
    out.push_str(ec_fiscal_code);
    push_field(&mut out, &debtor.to_ascii_uppercase(), 16);
    push_field(&mut out, &ascii_fold(debtor_name.trim()), 40);
    push_field(&mut out, &ascii_fold(subject.trim()), 110);
    out.push_str(&" ".repeat(12));
    out.push('A');
    debug_assert_eq!(out.len(), 256);
    Ok(out)
}

/// The postal account number as digits: 1 to 12 digits as given, or the last 12 characters
/// of an Italian postal IBAN (`IT` + 25 characters, spaces ignored).
pub fn postal_account_digits(account: &str) -> Result<String, CodeError> {
    let compact: String = account.chars().filter(|c| !c.is_whitespace()).collect();
    // `get`, not indexing: the text is arbitrary and byte 2 or 15 may fall inside a character.
    let digits = match (compact.len(), compact.get(..2), compact.get(15..)) {
        (27, Some(country), Some(account)) if country.eq_ignore_ascii_case("IT") => account,
        _ => &compact[..],
    };
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CodeError::PostalAccount(account.to_owned()));
    }
    Ok(digits.to_owned())
}

/// Folds text to printable ASCII for the Poste fields: accented Latin letters lose their
/// accents (`à` → `a`, `Ł` → `L`, `ß` → `ss`), typographic quotes and dashes become ASCII,
/// `€` becomes `EUR`, combining marks are dropped, control characters become spaces and any
/// other character becomes `?`.
pub fn ascii_fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(if c.is_ascii_control() { ' ' } else { c });
            continue;
        }
        let folded: &str = match c {
            'À'..='Å' => "A",
            'à'..='å' => "a",
            'Æ' => "AE",
            'æ' => "ae",
            'Ç' | 'Ć' | 'Č' => "C",
            'ç' | 'ć' | 'č' => "c",
            'È'..='Ë' | 'Ě' | 'Ę' => "E",
            'è'..='ë' | 'ě' | 'ę' => "e",
            'Ì'..='Ï' => "I",
            'ì'..='ï' | 'ı' => "i",
            'Ð' | 'Đ' | 'Ď' => "D",
            'ð' | 'đ' | 'ď' => "d",
            'Ñ' | 'Ń' | 'Ň' => "N",
            'ñ' | 'ń' | 'ň' => "n",
            'Ò'..='Ö' | 'Ø' | 'Ő' => "O",
            'ò'..='ö' | 'ø' | 'ő' => "o",
            'Œ' => "OE",
            'œ' => "oe",
            'Ù'..='Ü' | 'Ű' | 'Ů' => "U",
            'ù'..='ü' | 'ű' | 'ů' => "u",
            'Ý' | 'Ÿ' => "Y",
            'ý' | 'ÿ' => "y",
            'Þ' => "TH",
            'þ' => "th",
            'ß' => "ss",
            'Ł' => "L",
            'ł' => "l",
            'Ř' => "R",
            'ř' => "r",
            'Ś' | 'Š' | 'Ş' => "S",
            'ś' | 'š' | 'ş' => "s",
            'Ť' | 'Ţ' => "T",
            'ť' | 'ţ' => "t",
            'Ź' | 'Ż' | 'Ž' => "Z",
            'ź' | 'ż' | 'ž' => "z",
            '‘' | '’' | '‚' | '′' | '´' | '`' => "'",
            '“' | '”' | '„' | '«' | '»' | '″' => "\"",
            '‐' | '‑' | '‒' | '–' | '—' | '−' => "-",
            '…' => "...",
            '€' => "EUR",
            '°' | 'º' => "o",
            'ª' => "a",
            '\u{00A0}' | '\u{2007}' | '\u{202F}' | '\u{2009}' => " ",
            '\u{0300}'..='\u{036F}' => "",
            c if c.is_control() => " ",
            _ => "?",
        };
        out.push_str(folded);
    }
    out
}

/// A two-dimensional symbol as a grid of dark (true) and light modules, without quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleMatrix {
    width: usize,
    modules: Vec<bool>,
}

impl ModuleMatrix {
    /// Builds a matrix from row-major modules (true = dark).
    ///
    /// # Panics
    /// When `width` is zero or does not divide the number of modules.
    pub fn new(width: usize, modules: Vec<bool>) -> Self {
        assert!(width > 0 && modules.len().is_multiple_of(width));
        Self { width, modules }
    }

    /// Modules per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    pub fn height(&self) -> usize {
        self.modules.len() / self.width
    }

    /// Whether the module at column `x`, row `y` is dark.
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        self.modules[y * self.width + x]
    }

    /// The dark modules as non-overlapping rectangles `(x, y, width, height)` in modules:
    /// horizontal runs, merged downwards while the next row has the same run. Drawing one
    /// rectangle each gives a compact vector symbol without seams between modules.
    pub fn dark_rects(&self) -> Vec<(usize, usize, usize, usize)> {
        let mut rects: Vec<(usize, usize, usize, usize)> = Vec::new();
        // Rectangles that reach the previous row, by (x, width) -> index in `rects`.
        let mut open: Vec<((usize, usize), usize)> = Vec::new();
        for y in 0..self.height() {
            let mut next_open = Vec::new();
            let mut x = 0;
            while x < self.width {
                if !self.is_dark(x, y) {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < self.width && self.is_dark(x, y) {
                    x += 1;
                }
                let key = (start, x - start);
                let index = match open.iter().find(|(k, _)| *k == key) {
                    Some(&(_, i)) => {
                        rects[i].3 += 1;
                        i
                    }
                    None => {
                        rects.push((start, y, x - start, 1));
                        rects.len() - 1
                    }
                };
                next_open.push((key, index));
            }
            open = next_open;
        }
        rects
    }
}

/// The QR symbol for `payload` at error correction level M: version 4 (33×33 modules) as the
/// pagoPA notice specifies, or the smallest version that holds the payload when it is longer.
pub fn qr_matrix(payload: &str) -> Result<ModuleMatrix, CodeError> {
    use qrcode::{Color, EcLevel, QrCode, Version};
    let code = QrCode::with_version(payload, Version::Normal(4), EcLevel::M)
        .or_else(|_| QrCode::with_error_correction_level(payload, EcLevel::M))
        .map_err(|e| CodeError::Symbol(e.to_string()))?;
    let width = code.width();
    let modules = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Ok(ModuleMatrix::new(width, modules))
}

/// The square ECC 200 Data Matrix symbol for `payload` (printable ASCII expected).
pub fn datamatrix_matrix(payload: &str) -> Result<ModuleMatrix, CodeError> {
    use datamatrix::{DataMatrix, SymbolList};
    let code = DataMatrix::encode(payload.as_bytes(), SymbolList::default().enforce_square())
        .map_err(|e| CodeError::Symbol(format!("{e:?}")))?;
    let bitmap = code.bitmap();
    let width = bitmap.width();
    Ok(ModuleMatrix::new(width, bitmap.bits().to_vec()))
}

fn check_cents(cents: i64, max: i64) -> Result<(), CodeError> {
    if (1..=max).contains(&cents) {
        Ok(())
    } else {
        Err(CodeError::Amount(cents))
    }
}

fn is_digits(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_digit())
}

/// Appends `value` (ASCII) truncated or right-padded with spaces to exactly `width` bytes.
fn push_field(out: &mut String, value: &str, width: usize) {
    let value = &value[..value.len().min(width)];
    out.push_str(value);
    out.extend(std::iter::repeat_n(' ', width - value.len()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postal_accounts_with_multibyte_characters_are_refused_not_a_panic() {
        // Found by `make fuzz` (notice_codes, crash-ff15345d): 27 bytes whose second
        // character is two bytes long made `compact[..2]` panic.
        let input = "P\u{f8}OPOPA|002|02|34|1\u{0}\u{7f}000\u{0}7";
        assert_eq!(input.len(), 27);
        assert!(postal_account_digits(input).is_err());
        assert!(postal_account_digits("IT60X054281110\u{e9}00000123456").is_err());
        assert_eq!(
            postal_account_digits("IT70 X076 0101 6000 0001 2345 678").as_deref(),
            Ok("000012345678")
        );
    }

    fn notice() -> NoticeNumber {
        NoticeNumber::parse("301000000000000144").unwrap()
    }

    #[test]
    fn qr_payload_examples() {
        // The demo notice: 120,00 €.
        assert_eq!(
            qr_payload(&notice(), "77777777777", 12_000),
            "PAGOPA|002|301000000000000144|77777777777|12000"
        );
        // GovPay's worked example: 100,99 € is written 10099.
        assert_eq!(
            qr_payload(&notice(), "77777777777", 10_099),
            "PAGOPA|002|301000000000000144|77777777777|10099"
        );
        // The specification's data-model example carries 150,00 € zero-padded to ten
        // digits (`0000015000`); we write the same amount without padding.
        let zero = NoticeNumber::parse("000000000000000000").unwrap();
        assert_eq!(
            qr_payload(&zero, "01199250158", 15_000),
            "PAGOPA|002|000000000000000000|01199250158|15000"
        );
        // At least two digits: 5 cents is `05`; the largest amount has 11 digits.
        assert!(qr_payload(&notice(), "77777777777", 5).ends_with("|05"));
        assert!(qr_payload(&notice(), "77777777777", MAX_CENTS).ends_with("|99999999999"));
    }

    #[test]
    fn qr_field_checks() {
        check_qr_fields("77777777777", 1).unwrap();
        check_qr_fields("77777777777", MAX_CENTS).unwrap();
        assert_eq!(check_qr_fields("77777777777", 0), Err(CodeError::Amount(0)));
        assert_eq!(
            check_qr_fields("77777777777", MAX_CENTS + 1),
            Err(CodeError::Amount(MAX_CENTS + 1))
        );
        assert!(matches!(
            check_qr_fields("7777777777", 100),
            Err(CodeError::EcFiscalCode(_))
        ));
        assert!(matches!(
            check_qr_fields("RSSMRA80A01H501U", 100),
            Err(CodeError::EcFiscalCode(_))
        ));
    }

    #[test]
    fn gs1_payload_example() {
        assert_eq!(
            gs1_payload("8001234567890", &notice(), 12_000),
            "41580012345678908020301000000000000144390212000"
        );
        check_gs1_fields("8001234567890", 12_000).unwrap();
        assert!(check_gs1_fields("800123456789", 12_000).is_err());
        assert!(check_gs1_fields("8001234567890", -1).is_err());
    }

    #[test]
    fn poste_payload_fields() {
        let p = poste_datamatrix_payload(
            &notice(),
            "77777777777",
            "1234567",
            12_000,
            "rssmra80a01h501u",
            "Mario Rossi",
            "Tassa rifiuti 2026 – Città di Demo",
        )
        .unwrap();
        assert_eq!(p.len(), 256);
        assert!(p.is_ascii());
        assert_eq!(&p[..13], "codfase=NBPA;");
        // Codeline: 18 + notice, 12 + account, 10 + cents, 3896.
        assert_eq!(
            &p[13..63],
            "18301000000000000144120000012345671000000120003896"
        );
        assert_eq!(&p[63..66], "1P1");
        assert_eq!(&p[66..77], "77777777777");
        assert_eq!(&p[77..93], "RSSMRA80A01H501U");
        assert_eq!(&p[93..133], format!("{:<40}", "Mario Rossi"));
        assert_eq!(
            &p[133..243],
            format!("{:<110}", "Tassa rifiuti 2026 - Citta di Demo")
        );
        assert_eq!(&p[243..255], " ".repeat(12));
        assert_eq!(&p[255..], "A");
    }

    #[test]
    fn poste_payload_truncates_and_checks() {
        let long_name = "Á".repeat(60);
        let p = poste_datamatrix_payload(
            &notice(),
            "77777777777",
            "IT60 X076 0103 2000 0001 2345 678",
            MAX_POSTE_CENTS,
            "01199250158",
            &long_name,
            &"è".repeat(200),
        )
        .unwrap();
        assert_eq!(p.len(), 256);
        // The account is the last 12 characters of the IBAN; the amount fills 10 digits.
        assert_eq!(&p[33..47], "12000012345678");
        assert_eq!(&p[47..59], "109999999999");
        assert_eq!(&p[77..93], "01199250158     ");
        assert_eq!(&p[93..133], "A".repeat(40));
        assert_eq!(&p[133..243], "e".repeat(110));
        for (account, ok) in [
            ("1234567", true),
            ("123456789012", true),
            ("1234567890123", false),
            ("12a4", false),
            ("", false),
        ] {
            assert_eq!(postal_account_digits(account).is_ok(), ok, "{account}");
        }
        let err = |cents, cf| {
            poste_datamatrix_payload(&notice(), "77777777777", "1", cents, cf, "n", "s")
        };
        assert_eq!(err(0, "X"), Err(CodeError::Amount(0)));
        assert_eq!(
            err(MAX_POSTE_CENTS + 1, "X"),
            Err(CodeError::Amount(MAX_POSTE_CENTS + 1))
        );
        assert!(matches!(err(1, ""), Err(CodeError::DebtorFiscalCode(_))));
        assert!(matches!(
            err(1, "RSSMRA80A01H501UX"),
            Err(CodeError::DebtorFiscalCode(_))
        ));
    }

    #[test]
    fn folding() {
        assert_eq!(ascii_fold("àèéìòù ÀÈÉÌÒÙ"), "aeeiou AEEIOU");
        assert_eq!(ascii_fold("L’€ «x» ß Łódź"), "L'EUR \"x\" ss Lodz");
        assert_eq!(ascii_fold("e\u{0301}\tx☃"), "e x?");
    }

    #[test]
    fn qr_matrix_is_version_4_and_decodes() {
        let payload = qr_payload(&notice(), "77777777777", 12_000);
        let m = qr_matrix(&payload).unwrap();
        assert_eq!((m.width(), m.height()), (33, 33));
        // The longest payload still fits version 4 at level M.
        let longest = qr_payload(&notice(), "77777777777", MAX_CENTS);
        assert_eq!(qr_matrix(&longest).unwrap().width(), 33);
        assert_eq!(decode_qr(&m), payload);
        assert_rects_cover_dark_modules(&m);
    }

    #[test]
    fn datamatrix_round_trips() {
        let payload = poste_datamatrix_payload(
            &notice(),
            "77777777777",
            "1234567",
            12_000,
            "RSSMRA80A01H501U",
            "Mario Rossi",
            "Tassa rifiuti 2026",
        )
        .unwrap();
        let m = datamatrix_matrix(&payload).unwrap();
        assert_eq!(m.width(), m.height());
        // 48×48 with this encoder: about 0.5 mm modules in the 25 mm printed square.
        assert!(m.width() <= 52, "{}", m.width());
        let bits: Vec<bool> = (0..m.height())
            .flat_map(|y| (0..m.width()).map(move |x| (x, y)))
            .map(|(x, y)| m.is_dark(x, y))
            .collect();
        assert_rects_cover_dark_modules(&m);
        let decoded = datamatrix::DataMatrix::decode(&bits, m.width()).unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), payload);
    }

    /// The rectangles cover every dark module exactly once and no light one.
    fn assert_rects_cover_dark_modules(m: &ModuleMatrix) {
        let mut covered = vec![0u8; m.width() * m.height()];
        for (x, y, w, h) in m.dark_rects() {
            for yy in y..y + h {
                for xx in x..x + w {
                    covered[yy * m.width() + xx] += 1;
                }
            }
        }
        for y in 0..m.height() {
            for x in 0..m.width() {
                assert_eq!(covered[y * m.width() + x], u8::from(m.is_dark(x, y)));
            }
        }
    }

    /// Renders the matrix at 4 px per module with a 4-module quiet zone and decodes it with
    /// an independent decoder (rqrr).
    fn decode_qr(m: &ModuleMatrix) -> String {
        let scale = 4;
        let side = (m.width() + 8) * scale;
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(side, side, |x, y| {
            let (mx, my) = (x / scale, y / scale);
            let inside = (4..m.width() + 4).contains(&mx) && (4..m.height() + 4).contains(&my);
            if inside && m.is_dark(mx - 4, my - 4) {
                0
            } else {
                255
            }
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }
}
