//! Money: integer euro cents everywhere, and the one place where decimal text becomes cents and
//! cents become decimal text, for SOAP (`\d+\.\d{2}`), JSON (a number with at most two decimals,
//! read from its text, never through a float) and the JSON sent to gestionali.

/// An amount in euro cents.
pub type Cents = i64;

/// Largest amount pagoPA carries, in cents (999.999.999,99 €).
pub const MAX_CENTS: Cents = 99_999_999_999;

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// Parses `\d+(\.\d{0,2})?` (euro, at most two decimals, at most 999999999.99) into cents,
/// digit by digit: no floating point anywhere.
pub fn parse_decimal(text: &str) -> Option<Cents> {
    let (units, decimals) = text.split_once('.').unwrap_or((text, ""));
    if units.is_empty() || decimals.len() > 2 || !all_digits(units) || !all_digits(decimals) {
        return None;
    }
    let significant = units.trim_start_matches('0');
    if significant.len() > 9 {
        return None;
    }
    let units: Cents = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    let cents: Cents = format!("{decimals:0<2}").parse().ok()?;
    Some(units * 100 + cents)
}

/// Parses exactly `\d+\.\d{2}` (the SOAP amount) into cents; `None` when malformed or too large.
pub fn parse_two_decimals(text: &str) -> Option<Cents> {
    match text.split_once('.') {
        Some((_, decimals)) if decimals.len() == 2 => parse_decimal(text),
        _ => None,
    }
}

/// Formats cents as `\d+\.\d{2}`.
pub fn format(cents: Cents) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// JSON amounts (`#[serde(with = "crate::domain::money::json")]`): written as a number with
/// two decimals, read from the number's own text.
pub mod json {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Serde `serialize_with`.
    pub fn serialize<S: Serializer>(cents: &i64, s: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(super::format(*cents))
            .map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }

    /// Serde `deserialize_with`: the number's decimal text exactly as sent (never through a
    /// float, which would turn `120.499999999999999` into 120.50), at most two decimals.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(d)?;
        let text = raw.get().trim();
        let is_number = text.starts_with(|c: char| c == '-' || c.is_ascii_digit());
        is_number
            .then(|| super::parse_decimal(text))
            .flatten()
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{text} is not an amount in euro with at most two decimals between 0 and 999999999.99"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_text_and_cents_round_trip() {
        assert_eq!(parse_decimal("120"), Some(12000));
        assert_eq!(parse_decimal("120.5"), Some(12050));
        assert_eq!(parse_decimal("120.50"), Some(12050));
        assert_eq!(parse_decimal("0.01"), Some(1));
        assert_eq!(parse_decimal("999999999.99"), Some(MAX_CENTS));
        for bad in [
            "",
            ".5",
            "1.234",
            "-1",
            "1e2",
            "1000000000.00",
            "1,00",
            " 1",
        ] {
            assert_eq!(parse_decimal(bad), None, "{bad}");
        }
        assert_eq!(parse_two_decimals("120.5"), None);
        assert_eq!(parse_two_decimals("120.50"), Some(12050));
        assert_eq!(format(12050), "120.50");
        assert_eq!(format(7), "0.07");
        for cents in [0, 1, 99, 100, 12345, MAX_CENTS] {
            assert_eq!(parse_two_decimals(&format(cents)), Some(cents));
        }
    }
}
