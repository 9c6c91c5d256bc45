//! Every key of the store is built here, and only here.
//!
//! | tree        | key                                   | value            |
//! |-------------|---------------------------------------|------------------|
//! | `positions` | `<dominio>/<iuv>`                     | JSON `Pendenza`  |
//! | `receipts`  | `<dominio>/<iuv>/<receiptId>`         | JSON `Ricevuta`  |
//! | `attempts`  | `<dominio>/<iuv>/` + u64 big-endian   | JSON `Attivazione` |
//! | `outbox`    | u64 big-endian (oldest first)         | JSON `OutboxEntry` |
//! | `outbox_due`| i64 ms big-endian (offset) + u64 id   | empty: pending entries by next attempt |
//! | `by_app`    | `<idA2A>` NUL `<idPendenza>`          | `<dominio>/<iuv>` (a `positions` key) |
//! | `counters`  | `<dominio>/<segregation code>`        | u64 big-endian: last reference used |
//! | `journal`   | i64 ms big-endian (offset) + u64 sequence, of a chunk's first event | last event's ms (8 bytes) + count (u32) + JSON lines of `Evento` |
//! | `meta`      | a name                                | bytes            |
//!
//! `dominio` is 11 digits and `iuv` is 15 or 17 digits, so `<dominio>/<iuv>/` is an exact
//! prefix of one position's receipts and attempts, whatever the receiptId holds.

/// Tree names.
pub const POSITIONS: &str = "positions";
/// Tree of receipts.
pub const RECEIPTS: &str = "receipts";
/// Tree of activation attempts.
pub const ATTEMPTS: &str = "attempts";
/// Tree of outbox entries.
pub const OUTBOX: &str = "outbox";
/// Index of pending outbox entries by next attempt time.
pub const OUTBOX_DUE: &str = "outbox_due";
/// Index of positions by owning application.
pub const BY_APP: &str = "by_app";
/// Per-domain IUV reference counters.
pub const COUNTERS: &str = "counters";
/// Tree of the event journal.
pub const JOURNAL: &str = "journal";
/// Tree of store metadata.
pub const META: &str = "meta";

/// The layout version written in `meta`.
pub const SCHEMA_VERSION: &[u8] = b"1";
/// Key of the layout version in `meta`.
pub const META_SCHEMA: &[u8] = b"schema_version";

/// `<dominio>/<iuv>`
pub fn position(dominio: &str, iuv: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(dominio.len() + iuv.len() + 1);
    k.extend_from_slice(dominio.as_bytes());
    k.push(b'/');
    k.extend_from_slice(iuv.as_bytes());
    k
}

/// `<dominio>/<iuv>/`: the prefix of a position's receipts and attempts.
pub fn position_children(dominio: &str, iuv: &str) -> Vec<u8> {
    let mut k = position(dominio, iuv);
    k.push(b'/');
    k
}

/// `<dominio>/<iuv>/<receiptId>`
pub fn receipt(dominio: &str, iuv: &str, receipt_id: &str) -> Vec<u8> {
    let mut k = position_children(dominio, iuv);
    k.extend_from_slice(receipt_id.as_bytes());
    k
}

/// `<dominio>/<iuv>/` + id (big-endian, so attempts sort by time of arrival).
pub fn attempt(dominio: &str, iuv: &str, id: u64) -> Vec<u8> {
    let mut k = position_children(dominio, iuv);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// `<idA2A>` NUL `<idPendenza>`: NUL cannot occur in either (the API refuses it), so an
/// application's positions are exactly the keys starting with `<idA2A>` NUL.
pub fn app_position(id_a2a: &str, id_pendenza: &str) -> Vec<u8> {
    let mut k = app_prefix(id_a2a);
    k.extend_from_slice(id_pendenza.as_bytes());
    k
}

/// `<idA2A>` NUL
pub fn app_prefix(id_a2a: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(id_a2a.len() + 24);
    k.extend_from_slice(id_a2a.as_bytes());
    k.push(0);
    k
}

/// `<dominio>/<segregation code>`
pub fn counter(dominio: &str, segregation: &str) -> Vec<u8> {
    position(dominio, segregation)
}

/// Big-endian id: byte order is numeric order, so a scan yields the oldest entry first.
pub fn outbox(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// Next-attempt time (Unix ms, sign bit flipped so byte order is numeric order) then the id.
pub fn outbox_due(millis: i64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&((millis as u64) ^ (1 << 63)).to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The id part of an `outbox_due` key.
pub fn outbox_due_id(key: &[u8]) -> u64 {
    key.get(8..16)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// The time part of an `outbox_due` key (Unix ms).
pub fn outbox_due_millis(key: &[u8]) -> i64 {
    key.get(..8)
        .and_then(|b| b.try_into().ok())
        .map(|b| (u64::from_be_bytes(b) ^ (1 << 63)) as i64)
        .unwrap_or(0)
}

/// Event time (Unix ms, sign bit flipped so byte order is numeric order) then a sequence:
/// events sort by time, so the newest are at the end and the oldest at the start.
pub fn journal(millis: i64, seq: u64) -> [u8; 16] {
    outbox_due(millis, seq)
}

/// The sequence part of a `journal` key.
pub fn journal_seq(key: &[u8]) -> u64 {
    outbox_due_id(key)
}

/// The time part of a `journal` key (Unix ms).
pub fn journal_millis(key: &[u8]) -> i64 {
    outbox_due_millis(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the layout: changing it needs a migration and a new SCHEMA_VERSION.
    #[test]
    fn layout_is_pinned() {
        assert_eq!(
            position("77777777777", "01000000000000144"),
            b"77777777777/01000000000000144"
        );
        assert_eq!(
            receipt("77777777777", "01000000000000144", "abc/def"),
            b"77777777777/01000000000000144/abc/def"
        );
        assert_eq!(
            attempt("77777777777", "01000000000000144", 258),
            b"77777777777/01000000000000144/\0\0\0\0\0\0\x01\x02"
        );
        assert_eq!(outbox(1), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(app_position("demo", "p-1"), b"demo\0p-1");
        assert!(app_position("demo", "x").starts_with(&app_prefix("demo")));
        assert!(!app_position("demo2", "x").starts_with(&app_prefix("demo")));
        assert_eq!(counter("77777777777", "01"), b"77777777777/01");
        assert!(outbox_due(-5, 9) < outbox_due(3, 1));
        assert!(outbox_due(3, 1) < outbox_due(3, 2));
        assert!(outbox_due(3, 2) < outbox_due(1_800_000_000_000, 0));
        assert_eq!(
            (
                outbox_due_millis(&outbox_due(-5, 9)),
                outbox_due_id(&outbox_due(-5, 9))
            ),
            (-5, 9)
        );
        assert!(outbox(255) < outbox(256));
        assert!(
            receipt("77777777777", "01000000000000144", "x")
                .starts_with(&position_children("77777777777", "01000000000000144"))
        );
        assert_eq!(
            journal(1_700_000_000_000, 5),
            [
                0x80, 0, 1, 0x8b, 0xcf, 0xe5, 0x68, 0, 0, 0, 0, 0, 0, 0, 0, 5
            ]
        );
        assert!(journal(-1, u64::MAX) < journal(0, 0));
        assert!(journal(10, u64::MAX) < journal(11, 0));
        assert!(journal(11, 0) < journal(11, 1));
        assert_eq!(
            (
                journal_millis(&journal(1_700_000_000_000, 5)),
                journal_seq(&journal(1_700_000_000_000, 5))
            ),
            (1_700_000_000_000, 5)
        );
        assert_eq!(JOURNAL, "journal");
        assert_eq!(SCHEMA_VERSION, b"1");
    }
}
