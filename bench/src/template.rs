//! Request bodies: a fixed byte string, or a template whose `{{RECEIPT_ID}}`
//! placeholders get a unique id per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use bytes::{Bytes, BytesMut};

/// The literal placeholder replaced by `--unique-receipts`.
pub const PLACEHOLDER: &str = "{{RECEIPT_ID}}";

/// Produces the body of each request. Cheap to clone (shared state is in `Arc`s).
#[derive(Clone, Debug)]
pub enum BodySource {
    /// The same bytes for every request (a reference-counted `Bytes`, no copy).
    Fixed(Bytes),
    /// Template split at the placeholder; each body is the parts joined by a
    /// fresh id `format!("{nonce:016x}{counter:016x}")`. The counter is shared
    /// by all connections, so ids are unique within a run; the nonce makes
    /// them unique across runs against the same store.
    Template {
        parts: Arc<[Bytes]>,
        nonce: u64,
        counter: Arc<AtomicU64>,
    },
}

impl BodySource {
    /// Builds a source from a body file. With `unique` the file must contain
    /// the placeholder. Without it, a placeholder still present is replaced by
    /// one fixed id for the whole run (so the body stays a realistic receipt)
    /// and a note is printed.
    pub fn new(bytes: Vec<u8>, unique: bool) -> Result<Self> {
        let parts = split(&bytes);
        let nonce = run_nonce();
        if parts.len() == 1 {
            if unique {
                bail!("--unique-receipts given but the body file contains no {PLACEHOLDER}");
            }
            return Ok(Self::Fixed(Bytes::from(bytes)));
        }
        let template = Self::Template {
            parts: parts.into(),
            nonce,
            counter: Arc::new(AtomicU64::new(0)),
        };
        if unique {
            Ok(template)
        } else {
            eprintln!(
                "note: body contains {PLACEHOLDER} but --unique-receipts is off: \
                 every request uses the same id"
            );
            Ok(Self::Fixed(template.next_body()))
        }
    }

    /// A single body for a one-off request: the placeholder, if present, is
    /// replaced by a fresh id; otherwise the bytes are returned unchanged.
    pub fn one_shot(bytes: Vec<u8>) -> Bytes {
        let parts = split(&bytes);
        if parts.len() == 1 {
            return Bytes::from(bytes);
        }
        Self::Template {
            parts: parts.into(),
            nonce: run_nonce(),
            counter: Arc::new(AtomicU64::new(0)),
        }
        .next_body()
    }

    /// The body for the next request.
    pub fn next_body(&self) -> Bytes {
        match self {
            Self::Fixed(bytes) => bytes.clone(),
            Self::Template {
                parts,
                nonce,
                counter,
            } => {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let id = receipt_id(*nonce, n);
                let len =
                    parts.iter().map(Bytes::len).sum::<usize>() + id.len() * (parts.len() - 1);
                let mut out = BytesMut::with_capacity(len);
                for (i, part) in parts.iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(id.as_bytes());
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

/// Splits `bytes` at every occurrence of [`PLACEHOLDER`].
fn split(bytes: &[u8]) -> Vec<Bytes> {
    let needle = PLACEHOLDER.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + needle.len() <= bytes.len() {
        if &bytes[i..i + needle.len()] == needle {
            parts.push(Bytes::copy_from_slice(&bytes[start..i]));
            i += needle.len();
            start = i;
        } else {
            i += 1;
        }
    }
    parts.push(Bytes::copy_from_slice(&bytes[start..]));
    parts
}

/// A per-run nonce from the clock and the pid, mixed with splitmix64 (no
/// cryptographic needs: only uniqueness across runs).
fn run_nonce() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut z = nanos ^ (u64::from(std::process::id()) << 32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
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
        let src =
            BodySource::new(b"<a>{{RECEIPT_ID}}</a><b>{{RECEIPT_ID}}</b>".to_vec(), true).unwrap();
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
        assert!(BodySource::new(b"<a/>".to_vec(), true).is_err());
        let fixed = BodySource::new(b"<a/>".to_vec(), false).unwrap();
        assert_eq!(fixed.next_body(), Bytes::from_static(b"<a/>"));
    }

    #[test]
    fn one_shot_substitutes_if_present() {
        assert_eq!(
            BodySource::one_shot(b"<a/>".to_vec()),
            Bytes::from_static(b"<a/>")
        );
        let body = BodySource::one_shot(b"<r>{{RECEIPT_ID}}</r>".to_vec());
        assert_eq!(body.len(), 3 + 32 + 4);
        assert!(
            !body
                .windows(PLACEHOLDER.len())
                .any(|w| w == PLACEHOLDER.as_bytes())
        );
    }

    #[test]
    fn placeholder_without_unique_gives_one_fixed_id() {
        let src = BodySource::new(b"x{{RECEIPT_ID}}y".to_vec(), false).unwrap();
        let a = src.next_body();
        assert_eq!(a, src.next_body());
        assert_eq!(a.len(), 34);
    }
}
