//! The binding machinery: simple types with their facets, the [`XmlType`] trait, a cursor that
//! reads children in schema order, a writer, and the [`xml_struct!`] macro that turns one
//! declaration per complex type into a Rust struct, a strict reader and a writer.
//!
//! A declaration names each field's element, its cardinality (`one`, `opt`, `many(min, max)`)
//! and its type; facets live in the simple types below. So field names, order, cardinality and
//! facets each have exactly one home, and `messages.rs` reads like the schema it implements.

pub use super::xml::is_xml_char;
use super::xml::{Element, is_xml_space};
use chrono::NaiveDate;
use std::fmt;

/// A schema violation, with the path of the offending element (`qrCode/fiscalCode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Element names from the innermost outwards (reversed when displayed).
    path: Vec<&'static str>,
    /// What is wrong, in words.
    pub problem: String,
}

impl SchemaError {
    /// A new error about the element being read.
    pub fn new(problem: impl Into<String>) -> Self {
        Self {
            path: Vec::new(),
            problem: problem.into(),
        }
    }

    /// Adds the enclosing element's name as the error travels outwards.
    pub fn within(mut self, name: &'static str) -> Self {
        self.path.push(name);
        self
    }

    /// The slash-separated path of the offending element, outermost first.
    pub fn field(&self) -> String {
        let mut parts: Vec<&str> = self.path.clone();
        parts.reverse();
        parts.join("/")
    }
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{}: {}", self.field(), self.problem)
        }
    }
}

/// A type that can be read from and written as one XML element.
pub trait XmlType: Sized {
    /// Reads the content of `el` (its name has already been matched by the caller).
    fn read(el: &Element) -> Result<Self, SchemaError>;
    /// Writes `<name>content</name>`.
    fn write(&self, name: &str, w: &mut XmlWriter);
}

/// Reads the children of a complex-typed element, in order, one field at a time.
pub struct Children<'a> {
    items: &'a [Element],
    pos: usize,
}

impl<'a> Children<'a> {
    /// Starts reading `el`'s children; a complex type has no text of its own.
    pub fn of(el: &'a Element) -> Result<Self, SchemaError> {
        no_attributes(el)?;
        if el.has_text() {
            return Err(SchemaError::new("character data is not allowed here"));
        }
        Ok(Self {
            items: &el.children,
            pos: 0,
        })
    }

    /// The next child if it is called `name`; a qualified child of that name is an error.
    fn next_named(&mut self, name: &'static str) -> Result<Option<&'a Element>, SchemaError> {
        match self.items.get(self.pos) {
            Some(child) if child.name == name => {
                if child.ns.is_some() {
                    return Err(SchemaError::new(format!(
                        "element {name} must not be namespace-qualified"
                    )));
                }
                self.pos += 1;
                Ok(Some(child))
            }
            _ => Ok(None),
        }
    }

    fn missing(&self, name: &'static str) -> SchemaError {
        match self.items.get(self.pos) {
            Some(found) => {
                SchemaError::new(format!("expected element {name}, found {}", found.name))
            }
            None => SchemaError::new(format!("missing required element {name}")),
        }
    }

    /// Exactly one `name`.
    pub fn one<T: XmlType>(&mut self, name: &'static str) -> Result<T, SchemaError> {
        match self.next_named(name)? {
            Some(child) => T::read(child).map_err(|e| e.within(name)),
            None => Err(self.missing(name)),
        }
    }

    /// Zero or one `name`.
    pub fn opt<T: XmlType>(&mut self, name: &'static str) -> Result<Option<T>, SchemaError> {
        match self.next_named(name)? {
            Some(child) => T::read(child).map(Some).map_err(|e| e.within(name)),
            None => Ok(None),
        }
    }

    /// Between `min` and `max` consecutive `name` elements.
    pub fn many<T: XmlType>(
        &mut self,
        name: &'static str,
        min: usize,
        max: usize,
    ) -> Result<Vec<T>, SchemaError> {
        let mut out = Vec::new();
        while let Some(child) = self.next_named(name)? {
            if out.len() == max {
                return Err(SchemaError::new(format!(
                    "at most {max} {name} elements are allowed"
                )));
            }
            out.push(T::read(child).map_err(|e| e.within(name))?);
        }
        if out.len() < min {
            return Err(if out.is_empty() {
                self.missing(name)
            } else {
                SchemaError::new(format!("at least {min} {name} elements are required"))
            });
        }
        Ok(out)
    }

    /// Fails on any child left over: unknown, misplaced or repeated beyond its cardinality.
    pub fn finish(self) -> Result<(), SchemaError> {
        match self.items.get(self.pos) {
            Some(extra) => Err(SchemaError::new(format!(
                "unexpected element {}",
                extra.name
            ))),
            None => Ok(()),
        }
    }
}

fn no_attributes(el: &Element) -> Result<(), SchemaError> {
    match el.foreign_attributes.first() {
        Some((_, name)) => Err(SchemaError::new(format!("unexpected attribute {name}"))),
        None => Ok(()),
    }
}

/// The text of a simple-typed element: no child elements, no attributes.
fn simple_text(el: &Element) -> Result<&str, SchemaError> {
    no_attributes(el)?;
    if let Some(child) = el.children.first() {
        return Err(SchemaError::new(format!(
            "unexpected element {} in a simple value",
            child.name
        )));
    }
    Ok(&el.text)
}

/// The whitespace-collapsed text, as XSD does for decimals, booleans and dates.
fn collapsed(el: &Element) -> Result<&str, SchemaError> {
    Ok(simple_text(el)?.trim_matches(is_xml_space))
}

/// Appends XML-escaped text. Characters XML 1.0 cannot carry at all (most C0 controls,
/// U+FFFE, U+FFFF) are dropped rather than written into an unparseable document; a carriage
/// return is written as a reference, since a parser turns a literal one into a line feed.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            c if !is_xml_char(c) => {}
            '\r' => out.push_str("&#13;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

/// Writes the XML of a response: unqualified children under a qualified root.
#[derive(Debug, Default)]
pub struct XmlWriter {
    /// The document so far.
    pub out: String,
}

impl XmlWriter {
    /// A writer with room for a typical message.
    pub fn new() -> Self {
        Self {
            out: String::with_capacity(2048),
        }
    }
    /// `<name>`
    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }
    /// `</name>`
    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
    /// `<name>escaped text</name>`
    pub fn text(&mut self, name: &str, value: &str) {
        self.open(name);
        escape_into(&mut self.out, value);
        self.close(name);
    }
    /// Appends raw markup (only for fixed, known-good strings).
    pub fn raw(&mut self, markup: &str) {
        self.out.push_str(markup);
    }
}

/// Declares a complex type: a struct, its strict reader and its writer.
///
/// ```ignore
/// xml_struct! {
///     /// ctQrCode
///     pub struct QrCode {
///         fiscal_code: one(FiscalCodePa) = "fiscalCode",
///         notice_number: one(NoticeNumberText) = "noticeNumber",
///     }
/// }
/// ```
/// An optional trailing `exactly_one(a, b);` encodes an `xsd:choice` of two optional fields
/// that sit at the same place in the sequence.
#[macro_export]
macro_rules! xml_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $card:ident ( $($arg:tt)* ) = $xml:literal ),* $(,)?
        }
        $( exactly_one($a:ident, $b:ident); )?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $crate::xml_struct!(@ty $card ($($arg)*)), )*
        }

        impl $crate::soap::schema::XmlType for $name {
            fn read(el: &$crate::soap::xml::Element) -> Result<Self, $crate::soap::schema::SchemaError> {
                let mut children = $crate::soap::schema::Children::of(el)?;
                $( let $field = $crate::xml_struct!(@read children $card ($($arg)*) $xml); )*
                children.finish()?;
                $(
                    if $a.is_some() == $b.is_some() {
                        return Err($crate::soap::schema::SchemaError::new(concat!(
                            "exactly one of ", stringify!($a), " and ", stringify!($b), " is required"
                        )));
                    }
                )?
                Ok(Self { $($field),* })
            }

            fn write(&self, name: &str, w: &mut $crate::soap::schema::XmlWriter) {
                w.open(name);
                self.write_children(w);
                w.close(name);
            }
        }

        impl $name {
            /// Writes the child elements only (the envelope writes a qualified root itself).
            pub fn write_children(&self, w: &mut $crate::soap::schema::XmlWriter) {
                $( $crate::xml_struct!(@write w self.$field, $card, $xml); )*
            }
        }
    };
    (@ty one($t:ty)) => { $t };
    (@ty opt($t:ty)) => { Option<$t> };
    (@ty many($t:ty, $min:expr, $max:expr)) => { Vec<$t> };
    (@read $c:ident one($t:ty) $xml:literal) => { $c.one::<$t>($xml)? };
    (@read $c:ident opt($t:ty) $xml:literal) => { $c.opt::<$t>($xml)? };
    (@read $c:ident many($t:ty, $min:expr, $max:expr) $xml:literal) => { $c.many::<$t>($xml, $min, $max)? };
    (@write $w:ident $v:expr, one, $xml:literal) => {
        $crate::soap::schema::XmlType::write(&$v, $xml, $w)
    };
    (@write $w:ident $v:expr, opt, $xml:literal) => {
        if let Some(v) = &$v { $crate::soap::schema::XmlType::write(v, $xml, $w) }
    };
    (@write $w:ident $v:expr, many, $xml:literal) => {
        for v in &$v { $crate::soap::schema::XmlType::write(v, $xml, $w) }
    };
}

/// Declares a string type restricted by length (in characters) and an optional check.
macro_rules! text_type {
    ($(#[$meta:meta])* $name:ident, $min:expr, $max:expr $(, $check:expr, $what:literal)?) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates `value` against the type's facets.
            pub fn new(value: impl Into<String>) -> Result<Self, SchemaError> {
                let value = value.into();
                let len = value.chars().count();
                if !($min..=$max).contains(&len) {
                    return Err(SchemaError::new(if $min == $max {
                        format!("length must be {} (found {len})", $min)
                    } else {
                        format!("length must be between {} and {} (found {len})", $min, $max)
                    }));
                }
                $(
                    let check: fn(&str) -> bool = $check;
                    if !check(&value) {
                        return Err(SchemaError::new(concat!("must match ", $what)));
                    }
                )?
                Ok(Self(value))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl XmlType for $name {
            fn read(el: &Element) -> Result<Self, SchemaError> {
                Self::new(simple_text(el)?)
            }
            fn write(&self, name: &str, w: &mut XmlWriter) {
                w.text(name, &self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

impl<T: XmlType> XmlType for Box<T> {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        T::read(el).map(Box::new)
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        (**self).write(name, w)
    }
}

/// Truncates to at most `max` characters, on a character boundary.
pub fn truncate_chars(value: &str, max: usize) -> &str {
    match value.char_indices().nth(max) {
        Some((at, _)) => &value[..at],
        None => value,
    }
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

text_type!(/// `common:stText16`
    Text16, 1, 16);
text_type!(/// `tns:stText20`
    Text20, 1, 20);
text_type!(/// `common:stText35`
    Text35, 1, 35);
text_type!(/// `common:stText70`
    Text70, 1, 70);
text_type!(/// `common:stText140`
    Text140, 1, 140);
text_type!(/// `tns:stText210`
    Text210, 1, 210);
text_type!(/// `tns:stIBAN`: 1..35 characters, no pattern (the Nodo checks IBANs itself).
    Iban, 1, 35);
text_type!(/// `tns:stIdentificativoServizio` / `stIdentificativoSoggettoServizio`: exactly 5 characters.
    Text5, 5, 5);
text_type!(/// `common:stFiscalCodePA`: 11 digits.
    FiscalCodePa, 11, 11, all_digits, "[0-9]{11}");
text_type!(/// `common:stNoticeNumber`: 18 digits.
    NoticeNumberText, 18, 18, all_digits, "[0-9]{18}");
text_type!(/// `tns:stEntityUniqueIdentifierValue`: 2..16 characters.
    EntityValue, 2, 16);
text_type!(/// `common:stNazioneProvincia`: two capital letters.
    NazioneProvincia, 2, 2, |s| s.bytes().all(|b| b.is_ascii_uppercase()), "[A-Z]{2}");
text_type!(/// `common:stEMail`: a simple address pattern, at most 256 characters.
    Email, 1, 256, is_email, "[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+(.[a-zA-Z0-9-]+)*");

/// Text made fit for a bounded element: characters XML cannot carry removed, surrounding
/// whitespace trimmed, cut to `max` characters.
pub fn fit_text(value: &str, max: usize) -> String {
    let clean: String = value.chars().filter(|c| is_xml_char(*c)).collect();
    truncate_chars(clean.trim_matches(is_xml_space), max)
        .trim_end_matches(is_xml_space)
        .to_owned()
}

impl Text140 {
    /// Text fitted to 140 characters; an empty text becomes `NA` (minLength is 1).
    pub fn lossy(value: &str) -> Self {
        let fitted = fit_text(value, 140);
        Self(if fitted.is_empty() {
            "NA".into()
        } else {
            fitted
        })
    }
}

impl Text70 {
    /// Text fitted to 70 characters; an empty text becomes `NA`.
    pub fn lossy(value: &str) -> Self {
        let fitted = fit_text(value, 70);
        Self(if fitted.is_empty() {
            "NA".into()
        } else {
            fitted
        })
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b));
    let label_ok =
        |l: &str| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    local_ok && domain.split('.').all(label_ok)
}

/// `xsd:string` with no facet (receiptId, fault texts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Str(pub String);

impl XmlType for Str {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        simple_text(el).map(|t| Str(t.to_owned()))
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        w.text(name, &self.0)
    }
}

/// `xsd:int` (used by `serial`).
impl XmlType for i32 {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        let text = collapsed(el)?;
        let digits = text.strip_prefix('+').unwrap_or(text);
        digits
            .parse::<i32>()
            .ok()
            .filter(|_| !digits.starts_with('-') || text == digits)
            .ok_or_else(|| SchemaError::new(format!("{text:?} is not an xsd:int")))
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        w.text(name, &self.to_string())
    }
}

/// `tns:stIdTransfer`: an `xsd:int` in 1..=5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct IdTransfer(pub u8);

impl XmlType for IdTransfer {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        match i32::read(el) {
            Ok(v @ 1..=5) => Ok(IdTransfer(v as u8)),
            _ => Err(SchemaError::new("must be one of 1, 2, 3, 4, 5")),
        }
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        w.text(name, &self.0.to_string())
    }
}

/// Largest amount the schema allows, in cents (999999999.99).
pub use crate::domain::MAX_CENTS;

/// `common:stAmount`: `\d+\.\d{2}`, at most 999999999.99, held as integer cents.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Amount(pub i64);

/// `tns:stAmountNotZero`: like [`Amount`] but at least 0.01.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct AmountNotZero(pub i64);

impl XmlType for Amount {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        let text = collapsed(el)?;
        crate::domain::money::parse_two_decimals(text)
            .map(Amount)
            .ok_or_else(|| {
                SchemaError::new(format!(
                    "{text:?} must match \\d+\\.\\d{{2}} and be at most 999999999.99"
                ))
            })
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        w.text(name, &crate::domain::money::format(self.0))
    }
}

impl XmlType for AmountNotZero {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        let Amount(cents) = Amount::read(el)?;
        if cents < 1 {
            return Err(SchemaError::new("must be at least 0.01"));
        }
        Ok(AmountNotZero(cents))
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        w.text(name, &crate::domain::money::format(self.0))
    }
}

/// `xsd:boolean`: `true`, `false`, `1`, `0`.
impl XmlType for bool {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        match collapsed(el)? {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(SchemaError::new(format!("{other:?} is not an xsd:boolean"))),
        }
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        w.text(name, if *self { "true" } else { "false" })
    }
}

/// `common:stISODate` (`xsd:date`); a timezone suffix is accepted and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct IsoDate(pub NaiveDate);

fn valid_tz(tz: &str) -> bool {
    if tz.is_empty() || tz == "Z" {
        return true;
    }
    let b = tz.as_bytes();
    b.len() == 6
        && (b[0] == b'+' || b[0] == b'-')
        && b[3] == b':'
        && all_digits(&tz[1..3])
        && all_digits(&tz[4..6])
        && tz[1..3].parse::<u32>().is_ok_and(|h| h <= 14)
        && tz[4..6].parse::<u32>().is_ok_and(|m| m <= 59)
}

fn parse_date_part(text: &str) -> Option<(NaiveDate, &str)> {
    if text.len() < 10 || !text.is_char_boundary(10) {
        return None;
    }
    let (date, rest) = text.split_at(10);
    let b = date.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    if !all_digits(&date[..4]) || !all_digits(&date[5..7]) || !all_digits(&date[8..]) {
        return None;
    }
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .map(|d| (d, rest))
}

impl XmlType for IsoDate {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        let text = collapsed(el)?;
        match parse_date_part(text) {
            Some((date, tz)) if valid_tz(tz) => Ok(IsoDate(date)),
            _ => Err(SchemaError::new(format!("{text:?} is not an xsd:date"))),
        }
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        w.text(name, &self.0.format("%Y-%m-%d").to_string())
    }
}

/// `xsd:dateTime`, kept as the (validated) lexical form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct IsoDateTime(pub String);

impl IsoDateTime {
    /// Checks the lexical form `YYYY-MM-DDThh:mm:ss(.s+)?(Z|±hh:mm)?`.
    pub fn parse(text: &str) -> Option<Self> {
        let (_, rest) = parse_date_part(text)?;
        let time = rest.strip_prefix('T')?;
        if time.len() < 8 || !time.is_char_boundary(8) {
            return None;
        }
        let (hms, mut tail) = time.split_at(8);
        let b = hms.as_bytes();
        if b[2] != b':' || b[5] != b':' {
            return None;
        }
        let h: u32 = hms[..2].parse().ok().filter(|_| all_digits(&hms[..2]))?;
        let m: u32 = hms[3..5].parse().ok().filter(|_| all_digits(&hms[3..5]))?;
        let s: u32 = hms[6..].parse().ok().filter(|_| all_digits(&hms[6..]))?;
        if h > 24 || m > 59 || s > 59 || (h == 24 && (m != 0 || s != 0)) {
            return None;
        }
        if let Some(frac) = tail.strip_prefix('.') {
            let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            tail = &frac[digits..];
        }
        valid_tz(tail).then(|| IsoDateTime(text.to_owned()))
    }
}

impl XmlType for IsoDateTime {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        let text = collapsed(el)?;
        Self::parse(text)
            .ok_or_else(|| SchemaError::new(format!("{text:?} is not an xsd:dateTime")))
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        w.text(name, &self.0)
    }
}

/// `xsd:base64Binary`, kept as its collapsed lexical form (whitespace inside is allowed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Base64Binary(pub String);

/// Whether `text` is base64 (`xsd:base64Binary`, whitespace allowed).
pub fn is_base64(text: &str) -> bool {
    let compact: Vec<u8> = text.bytes().filter(|b| !b" \t\r\n".contains(b)).collect();
    if !compact.len().is_multiple_of(4) {
        return false;
    }
    let pad = compact.iter().rev().take_while(|&&b| b == b'=').count();
    pad <= 2
        && compact[..compact.len() - pad]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

impl XmlType for Base64Binary {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        let text = collapsed(el)?;
        if !is_base64(text) {
            return Err(SchemaError::new("is not valid base64"));
        }
        Ok(Base64Binary(text.to_owned()))
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        w.text(name, &self.0)
    }
}

/// `common:stBase64Binary72`: base64 whose lexical form is 4..72 characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Base64Binary72(pub String);

impl XmlType for Base64Binary72 {
    fn read(el: &Element) -> Result<Self, SchemaError> {
        let Base64Binary(text) = Base64Binary::read(el)?;
        let len = text.chars().count();
        if !(4..=72).contains(&len) || text.contains(['\r', '\n']) {
            return Err(SchemaError::new("must be 4 to 72 base64 characters"));
        }
        Ok(Base64Binary72(text))
    }
    fn write(&self, name: &str, w: &mut XmlWriter) {
        w.text(name, &self.0)
    }
}

/// Declares an enumeration over fixed strings.
macro_rules! enum_type {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum $name { $( #[doc = $text] $variant ),+ }

        impl $name {
            /// The XML text of the value.
            pub fn as_str(self) -> &'static str {
                match self { $( Self::$variant => $text ),+ }
            }
        }

        impl XmlType for $name {
            fn read(el: &Element) -> Result<Self, SchemaError> {
                // Enumerations of xsd:string keep whitespace, so no trimming here.
                match simple_text(el)? {
                    $( $text => Ok(Self::$variant), )+
                    other => Err(SchemaError::new(format!(
                        "{other:?} is not one of {}", [$($text),+].join(", ")
                    ))),
                }
            }
            fn write(&self, name: &str, w: &mut XmlWriter) {
                w.text(name, self.as_str())
            }
        }
    };
}

enum_type!(/// `common:stOutcome`
    Outcome { Ok = "OK", Ko = "KO" });
enum_type!(/// `tns:stEntityUniqueIdentifierType`: natural (F) or legal (G) person.
    EntityType { F = "F", G = "G" });
enum_type!(/// `tns:stAmountOption`
    AmountOption { Eq = "EQ", Ls = "LS", Gt = "GT", Any = "ANY" });
enum_type!(/// `tns:stTransferType`
    TransferType { Postal = "POSTAL", Pagopa = "PAGOPA" });
enum_type!(/// `common:stTipoBolloDigitale`
    TipoBollo { Bollo01 = "01" });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::xml::parse;

    fn el(xml: &str) -> Element {
        parse(xml.as_bytes()).unwrap()
    }

    #[test]
    fn amounts_are_integer_cents() {
        let amount = |text: &str| Amount::read(&el(&format!("<a>{text}</a>"))).ok();
        assert_eq!(amount("120.00"), Some(Amount(12000)));
        assert_eq!(amount("0.01"), Some(Amount(1)));
        assert_eq!(amount("000000000012.34"), Some(Amount(1234)));
        assert_eq!(amount("999999999.99"), Some(Amount(MAX_CENTS)));
        for bad in [
            "1000000000.00",
            "12",
            "12.3",
            "12.345",
            ".50",
            "1,00",
            "-1.00",
            "+1.00",
            "1e2.00",
        ] {
            assert_eq!(amount(bad), None, "{bad}");
        }
        let mut w = XmlWriter::new();
        Amount(5).write("a", &mut w);
        assert_eq!(w.out, "<a>0.05</a>");
        assert!(AmountNotZero::read(&el("<a>0.00</a>")).is_err());
        assert_eq!(Amount::read(&el("<a> 0.00 </a>")).unwrap(), Amount(0));
    }

    #[test]
    fn text_facets_count_characters() {
        assert!(Text35::new("x".repeat(35)).is_ok());
        assert!(Text35::new("è".repeat(35)).is_ok());
        assert!(Text35::new("x".repeat(36)).is_err());
        assert!(Text35::new("").is_err());
        assert!(FiscalCodePa::new("7777777777A").is_err());
        assert!(FiscalCodePa::new(" 7777777777").is_err());
        assert!(Email::new("a.b+c@d-e.it").is_ok());
        assert!(Email::new("a@b..it").is_err());
        assert_eq!(Text140::lossy("").as_str(), "NA");
        assert_eq!(
            Text140::lossy(&"é".repeat(200)).as_str().chars().count(),
            140
        );
    }

    #[test]
    fn dates_booleans_and_ints() {
        assert!(IsoDate::read(&el("<d>2026-11-27</d>")).is_ok());
        assert!(IsoDate::read(&el("<d>2021-07-31+02:00</d>")).is_ok());
        assert!(IsoDate::read(&el("<d>2026-02-30</d>")).is_err());
        assert!(IsoDate::read(&el("<d>27/11/2026</d>")).is_err());
        assert!(IsoDateTime::parse("2026-11-27T10:11:12.123+01:00").is_some());
        assert!(IsoDateTime::parse("2026-11-27T10:11:12").is_some());
        assert!(IsoDateTime::parse("2026-11-27 10:11:12").is_none());
        assert!(bool::read(&el("<b>1</b>")).unwrap());
        assert!(bool::read(&el("<b>yes</b>")).is_err());
        assert_eq!(IdTransfer::read(&el("<i>01</i>")).unwrap(), IdTransfer(1));
        assert!(IdTransfer::read(&el("<i>6</i>")).is_err());
        assert!(Base64Binary72::read(&el("<h>YWJjZA==</h>")).is_ok());
        assert!(Base64Binary72::read(&el("<h>Y!</h>")).is_err());
    }
}
