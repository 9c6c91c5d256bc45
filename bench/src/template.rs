//! Request bodies: a fixed byte string, or a template whose placeholders are filled per
//! request:
//!
//! * `{{RECEIPT_ID}}`: a unique 32-hex-char id (`--unique-receipts`);
//! * `{{NOTICE}}` and `{{IUV}}`: an aux-3 notice number (18 digits) and its IUV (17 digits)
//!   from a range of references (`--notices FIRST..=LAST`), drawn at random (verify,
//!   activate: many keys, not one hot one) or walked in order (`--sequential-notices`:
//!   receipts, each closing a different position). Both placeholders of one body carry the
//!   same notice.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use bytes::{Bytes, BytesMut};

/// The literal placeholder replaced by `--unique-receipts`.
pub const PLACEHOLDER: &str = "{{RECEIPT_ID}}";
/// Replaced by an 18-digit aux-3 notice number (with `--notices`).
pub const NOTICE: &str = "{{NOTICE}}";
/// Replaced by the 17-digit IUV of the same notice (with `--notices`).
pub const IUV: &str = "{{IUV}}";

/// What fills one placeholder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    ReceiptId,
    Notice,
    Iuv,
}

/// Which notices `{{NOTICE}}` / `{{IUV}}` name: aux digit 3, one segregation code, the
/// references `first..=last` (the numbers Varco draws for positions loaded without one).
#[derive(Clone, Debug)]
pub struct NoticePick {
    segregation: [u8; 2],
    first: u64,
    count: u64,
    sequential: bool,
}

impl NoticePick {
    /// `range` is `FIRST..=LAST` or `FIRST..LAST` (exclusive) or one number.
    pub fn parse(range: &str, segregation: &str, sequential: bool) -> Result<Self> {
        let seg: [u8; 2] = segregation
            .as_bytes()
            .try_into()
            .ok()
            .filter(|s: &[u8; 2]| s.iter().all(u8::is_ascii_digit))
            .with_context(|| format!("segregation code {segregation:?} is not two digits"))?;
        let num = |s: &str| -> Result<u64> {
            s.trim()
                .parse()
                .with_context(|| format!("invalid reference {s:?} in {range:?}"))
        };
        let (first, last) = if let Some((a, b)) = range.split_once("..=") {
            (num(a)?, num(b)?)
        } else if let Some((a, b)) = range.split_once("..") {
            (num(a)?, num(b)?.saturating_sub(1))
        } else {
            let n = num(range)?;
            (n, n)
        };
        if first == 0 || last < first || last >= 10u64.pow(13) {
            bail!("notice reference range {range:?} must be within 1..10^13 and not empty");
        }
        Ok(Self {
            segregation: seg,
            first,
            count: last - first + 1,
            sequential,
        })
    }

    /// The reference for the n-th body of a run.
    fn reference(&self, nonce: u64, n: u64) -> u64 {
        let i = if self.sequential {
            n
        } else {
            mix(nonce ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        };
        self.first + i % self.count
    }
}

/// The 18-digit aux-3 notice number `3 <seg> <reference:013> <check:02>` (check digits are
/// the first 16 digits mod 93, as in pagoPA's specification).
pub fn aux3_notice(segregation: [u8; 2], reference: u64) -> [u8; 18] {
    let mut out = [b'0'; 18];
    out[0] = b'3';
    out[1..3].copy_from_slice(&segregation);
    let mut r = reference;
    for i in (3..16).rev() {
        out[i] = b'0' + (r % 10) as u8;
        r /= 10;
    }
    let check = out[..16]
        .iter()
        .fold(0u32, |acc, &b| (acc * 10 + u32::from(b - b'0')) % 93);
    out[16] = b'0' + (check / 10) as u8;
    out[17] = b'0' + (check % 10) as u8;
    out
}

/// Produces the body of each request. Cheap to clone (shared state is in `Arc`s).
#[derive(Clone, Debug)]
pub enum BodySource {
    /// The same bytes for every request (a reference-counted `Bytes`, no copy).
    Fixed(Bytes),
    /// Template split at the placeholders; `parts.len() == slots.len() + 1`. The counter is
    /// shared by all connections, so receipt ids `format!("{nonce:016x}{counter:016x}")` are
    /// unique within a run; the nonce makes them unique across runs against the same store.
    Template {
        parts: Arc<[Bytes]>,
        slots: Arc<[Slot]>,
        notices: Option<Arc<NoticePick>>,
        nonce: u64,
        counter: Arc<AtomicU64>,
    },
}

impl BodySource {
    /// Builds a source from a body file. With `unique` the file must contain
    /// `{{RECEIPT_ID}}`; with `notices` it must contain `{{NOTICE}}` or `{{IUV}}`, and those
    /// need `notices`. Without `unique`, a receipt placeholder still present is replaced by
    /// one fixed id for the whole run (so the body stays a realistic receipt) and a note is
    /// printed.
    pub fn new(bytes: Vec<u8>, unique: bool, notices: Option<NoticePick>) -> Result<Self> {
        let (parts, slots) = split(&bytes);
        let has = |s: Slot| slots.contains(&s);
        if unique && !has(Slot::ReceiptId) {
            bail!("--unique-receipts given but the body file contains no {PLACEHOLDER}");
        }
        let has_notice = has(Slot::Notice) || has(Slot::Iuv);
        match (&notices, has_notice) {
            (Some(_), false) => bail!("--notices given but the body file has no {NOTICE} / {IUV}"),
            (None, true) => bail!("the body file has {NOTICE} / {IUV}: give --notices"),
            _ => {}
        }
        if slots.is_empty() {
            return Ok(Self::Fixed(Bytes::from(bytes)));
        }
        let template = Self::Template {
            parts: parts.into(),
            slots: slots.into(),
            notices: notices.map(Arc::new),
            nonce: run_nonce(),
            counter: Arc::new(AtomicU64::new(0)),
        };
        if unique || has_notice {
            Ok(template)
        } else {
            eprintln!(
                "note: body contains {PLACEHOLDER} but --unique-receipts is off: \
                 every request uses the same id"
            );
            Ok(Self::Fixed(template.next_body()))
        }
    }

    /// A single body for a one-off request: the receipt placeholder, if present, is
    /// replaced by a fresh id (and notice placeholders by a notice of `notices`).
    pub fn one_shot(bytes: Vec<u8>, notices: Option<NoticePick>) -> Result<Bytes> {
        let unique = split(&bytes).1.contains(&Slot::ReceiptId);
        Ok(Self::new(bytes, unique, notices)?.next_body())
    }

    /// The body for the next request.
    pub fn next_body(&self) -> Bytes {
        match self {
            Self::Fixed(bytes) => bytes.clone(),
            Self::Template {
                parts,
                slots,
                notices,
                nonce,
                counter,
            } => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let id = receipt_id(*nonce, n);
                let notice = notices
                    .as_ref()
                    .map(|p| aux3_notice(p.segregation, p.reference(*nonce, n)));
                let value = |slot: Slot| -> &[u8] {
                    match (slot, &notice) {
                        (Slot::ReceiptId, _) => id.as_bytes(),
                        (Slot::Notice, Some(nav)) => nav,
                        (Slot::Iuv, Some(nav)) => &nav[1..],
                        (_, None) => b"",
                    }
                };
                let len = parts.iter().map(Bytes::len).sum::<usize>()
                    + slots.iter().map(|&s| value(s).len()).sum::<usize>();
                let mut out = BytesMut::with_capacity(len);
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(value(slots[i - 1]));
                    }
                    out.extend_from_slice(part);
                }
                out.freeze()
            }
        }
    }
}

/// A 32-lowercase-hex-char id (the shape of a real pagoPA paymentToken).
pub fn receipt_id(nonce: u64, counter: u64) -> String {
    format!("{nonce:016x}{counter:016x}")
}

/// Splits `bytes` at every placeholder: the literal parts and, between them, the slots.
fn split(bytes: &[u8]) -> (Vec<Bytes>, Vec<Slot>) {
    let needles = [
        (PLACEHOLDER.as_bytes(), Slot::ReceiptId),
        (NOTICE.as_bytes(), Slot::Notice),
        (IUV.as_bytes(), Slot::Iuv),
    ];
    let mut parts = Vec::new();
    let mut slots = Vec::new();
    let mut start = 0;
    let mut i = 0;
    'scan: while i < bytes.len() {
        for (needle, slot) in needles {
            if bytes[i..].starts_with(needle) {
                parts.push(Bytes::copy_from_slice(&bytes[start..i]));
                slots.push(slot);
                i += needle.len();
                start = i;
                continue 'scan;
            }
        }
        i += 1;
    }
    parts.push(Bytes::copy_from_slice(&bytes[start..]));
    (parts, slots)
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A per-run nonce from the clock and the pid (no cryptographic needs: only uniqueness
/// across runs).
fn run_nonce() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    mix(nanos ^ (u64::from(std::process::id()) << 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_id_is_32_hex() {
        let id = receipt_id(0xdead_beef, 42);
        assert_eq!(id, "00000000deadbeef000000000000002a");
        assert_eq!(receipt_id(u64::MAX, u64::MAX).len(), 32);
    }

    #[test]
    fn template_substitutes_every_placeholder_with_a_fresh_id() {
        let src = BodySource::new(
            b"<a>{{RECEIPT_ID}}</a><b>{{RECEIPT_ID}}</b>".to_vec(),
            true,
            None,
        )
        .unwrap();
        let first = String::from_utf8(src.next_body().to_vec()).unwrap();
        let second = String::from_utf8(src.next_body().to_vec()).unwrap();
        assert_ne!(first, second);
        assert!(!first.contains(PLACEHOLDER));
        let id = &first[3..35];
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(first, format!("<a>{id}</a><b>{id}</b>"));
        assert!(second.ends_with("0000000000000001</b>"));
    }

    #[test]
    fn unique_requires_placeholder() {
        assert!(BodySource::new(b"<a/>".to_vec(), true, None).is_err());
        let fixed = BodySource::new(b"<a/>".to_vec(), false, None).unwrap();
        assert_eq!(fixed.next_body(), Bytes::from_static(b"<a/>"));
    }

    #[test]
    fn one_shot_substitutes_if_present() {
        assert_eq!(
            BodySource::one_shot(b"<a/>".to_vec(), None).unwrap(),
            Bytes::from_static(b"<a/>")
        );
        let body = BodySource::one_shot(b"<r>{{RECEIPT_ID}}</r>".to_vec(), None).unwrap();
        assert_eq!(body.len(), 3 + 32 + 4);
        assert!(
            !body
                .windows(PLACEHOLDER.len())
                .any(|w| w == PLACEHOLDER.as_bytes())
        );
    }

    #[test]
    fn placeholder_without_unique_gives_one_fixed_id() {
        let src = BodySource::new(b"x{{RECEIPT_ID}}y".to_vec(), false, None).unwrap();
        let a = src.next_body();
        assert_eq!(a, src.next_body());
        assert_eq!(a.len(), 34);
    }

    #[test]
    fn aux3_notice_matches_varco() {
        // The demo's reference 1 (segregation 01): README and fixtures.
        assert_eq!(&aux3_notice(*b"01", 1), b"301000000000000144");
        assert_eq!(&aux3_notice(*b"01", 11), b"301000000000001154");
    }

    #[test]
    fn notices_fill_notice_and_iuv_consistently() {
        let pick = NoticePick::parse("11..=20", "01", false).unwrap();
        let src = BodySource::new(b"{{NOTICE}}|{{IUV}}".to_vec(), false, Some(pick)).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let body = String::from_utf8(src.next_body().to_vec()).unwrap();
            let (nav, iuv) = body.split_once('|').unwrap();
            assert_eq!(&nav[1..], iuv);
            let reference: u64 = nav[3..16].parse().unwrap();
            assert!((11..=20).contains(&reference));
            seen.insert(reference);
        }
        assert_eq!(seen.len(), 10, "random picks cover the range");
        let seq = NoticePick::parse("5..8", "01", true).unwrap();
        let src = BodySource::new(b"{{NOTICE}}".to_vec(), false, Some(seq)).unwrap();
        let refs: Vec<u64> = (0..4)
            .map(|_| {
                String::from_utf8(src.next_body().to_vec()).unwrap()[3..16]
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(refs, [5, 6, 7, 5]);
        assert!(BodySource::new(b"{{NOTICE}}".to_vec(), false, None).is_err());
        assert!(NoticePick::parse("0..=3", "01", false).is_err());
        assert!(NoticePick::parse("1..=3", "1", false).is_err());
    }
}
