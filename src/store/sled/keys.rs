//! Every key of the store is built here, and only here.
//!
//! | tree        | key                                   | value            |
//! |-------------|---------------------------------------|------------------|
//! | `positions` | `<dominio>/<iuv>`                     | JSON `Pendenza`  |
//! | `receipts`  | `<dominio>/<iuv>/<receiptId>`         | JSON `Ricevuta`  |
//! | `attempts`  | `<dominio>/<iuv>/` + u64 big-endian   | JSON `Attivazione` |
//! | `outbox`    | u64 big-endian (oldest first)         | JSON `OutboxEntry` |
//! | `outbox_due`| `<idA2A>` NUL + i64 ms big-endian (offset) + u64 id | empty: pending entries by connector, then next attempt |
//! | `by_app`    | `<idA2A>` NUL `<idPendenza>`          | `<dominio>/<iuv>` (a `positions` key) |
//! | `app_recent`| `<idA2A>` NUL + inverted i64 ms of creation + `<dominio>/<iuv>` | a position's summary (`store::index`): an application's positions, newest first |
//! | `seen`      | `<dominio>/<iuv>`                     | empty: a notice Varco holds a receipt for but no position (never generated) |
//! | `app_counts`| `<idA2A>`                             | u64 big-endian: the application's positions (an unfiltered listing's total) |
//! | `debtors`   | `F` or `N` + u32 big-endian length + term + inverted i64 ms of creation + `<dominio>/<iuv>` | a position's summary: positions by debtor identifier (`F`, upper case) and by word of the debtor's name (`N`), newest first |
//! | `documents` | `<dominio>/<identificativo>`          | JSON array of the document's IUVs, sorted |
//! | `counters`  | `<dominio>/<segregation code>`        | u64 big-endian: last reference used |
//! | `journal`   | (stores written before the segment files: i64 ms big-endian (offset) + u64 sequence of a chunk's first event) | (last event's ms + count (u32) + JSON lines of `Evento`); emptied at open, its events moved to the segment files (`segments.rs`) |
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
/// Index of each application's positions, newest first, with what listings filter on.
pub const APP_RECENT: &str = "app_recent";
/// Notices seen only in receipts (stand-in, broadcast): never handed out by a counter.
pub const SEEN: &str = "seen";
/// The options (IUVs) of each document.
pub const DOCUMENTS: &str = "documents";
/// Index of positions by debtor identifier and by word of the debtor's name, newest first.
pub const DEBTORS: &str = "debtors";
/// Positions per application.
pub const APP_COUNTS: &str = "app_counts";
/// Tree of store metadata.
pub const META: &str = "meta";

/// The layout version written in `meta` (2: `app_recent`, `app_counts`, `seen`, and the outbox
/// due index keyed by application first; 3: `documents`; 4: `debtors`). Older stores are
/// migrated when they are opened.
pub const SCHEMA_VERSION: &[u8] = b"4";
/// Layout 3: what [`crate::store::Store::open`] migrates from by adding `debtors`.
pub const SCHEMA_VERSION_3: &[u8] = b"3";
/// Layout 2: migrated to 3 by adding `documents`, then to 4.
pub const SCHEMA_VERSION_2: &[u8] = b"2";
/// Layout 1: migrated to 2, then 3, then 4.
pub const SCHEMA_VERSION_1: &[u8] = b"1";
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

/// `<dominio>/<identificativo>`: a document's options.
pub fn document(dominio: &str, identificativo: &str) -> Vec<u8> {
    position(dominio, identificativo)
}

/// `<dominio>/<segregation code>`
pub fn counter(dominio: &str, segregation: &str) -> Vec<u8> {
    position(dominio, segregation)
}

/// Big-endian id: byte order is numeric order, so a scan yields the oldest entry first.
pub fn outbox(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// Unix ms with the sign bit flipped: byte order is numeric order, negative times included.
fn ordered_millis(millis: i64) -> [u8; 8] {
    ((millis as u64) ^ (1 << 63)).to_be_bytes()
}

fn millis_of(bytes: &[u8]) -> i64 {
    bytes
        .try_into()
        .map(|b| (u64::from_be_bytes(b) ^ (1 << 63)) as i64)
        .unwrap_or(0)
}

/// A time (ordered) then an id: 16 bytes that sort by time, then id.
fn time_id(millis: i64, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&ordered_millis(millis));
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// `<idA2A>` NUL + next-attempt time + id: each application's pending entries sort by when
/// they are due, so every connector's worker range-scans only its own queue.
pub fn outbox_due(id_a2a: &str, millis: i64, id: u64) -> Vec<u8> {
    let mut k = app_prefix(id_a2a);
    k.extend_from_slice(&time_id(millis, id));
    k
}

/// The application part of an `outbox_due` key.
pub fn outbox_due_app(key: &[u8]) -> &[u8] {
    key.get(..key.len().saturating_sub(17)).unwrap_or(&[])
}

/// The id part of an `outbox_due` key.
pub fn outbox_due_id(key: &[u8]) -> u64 {
    key.len()
        .checked_sub(8)
        .and_then(|at| key[at..].try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// The time part of an `outbox_due` key (Unix ms).
pub fn outbox_due_millis(key: &[u8]) -> i64 {
    key.len()
        .checked_sub(16)
        .map(|at| millis_of(&key[at..at + 8]))
        .unwrap_or(0)
}

/// The first key after every key that starts with `prefix` (for range ends).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    vec![u8::MAX; prefix.len() + 1]
}

/// `<idA2A>` NUL + creation time inverted (newest first) + `<dominio>/<iuv>`.
pub fn app_recent(id_a2a: &str, created_millis: i64, dominio: &str, iuv: &str) -> Vec<u8> {
    let mut k = app_recent_from(id_a2a, created_millis);
    k.extend_from_slice(&position(dominio, iuv));
    k
}

/// The first `app_recent` key of `id_a2a` created at or before `created_millis`.
pub fn app_recent_from(id_a2a: &str, created_millis: i64) -> Vec<u8> {
    let mut k = app_prefix(id_a2a);
    k.extend_from_slice(&inverted_millis(created_millis));
    k
}

fn inverted_millis(millis: i64) -> [u8; 8] {
    let o = ordered_millis(millis);
    (!u64::from_be_bytes(o)).to_be_bytes()
}

/// The creation time (Unix ms) and the `positions` key held by an `app_recent` key, given the
/// length of its application prefix (`app_prefix(id_a2a).len()`).
pub fn app_recent_parts(key: &[u8], prefix_len: usize) -> Option<(i64, &[u8])> {
    let time: [u8; 8] = key.get(prefix_len..prefix_len + 8)?.try_into().ok()?;
    let ordered = (!u64::from_be_bytes(time)).to_be_bytes();
    Some((millis_of(&ordered), key.get(prefix_len + 8..)?))
}

/// The kind byte of a `debtors` key under a debtor's identifier.
pub const DEBTOR_FISCALE: u8 = b'F';
/// The kind byte of a `debtors` key under a word of a debtor's name.
pub const DEBTOR_NOME: u8 = b'N';

/// `kind` + term length (u32 big-endian) + term: the prefix of every `debtors` key of one term.
/// The length makes it exact whatever bytes the term holds (no term's keys start with another's).
pub fn debtor_prefix(kind: u8, term: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(term.len() + 5 + 8 + 30);
    k.push(kind);
    k.extend_from_slice(&u32::try_from(term.len()).unwrap_or(u32::MAX).to_be_bytes());
    k.extend_from_slice(term.as_bytes());
    k
}

/// The first `debtors` key of a term created at or before `created_millis`.
pub fn debtor_from(kind: u8, term: &str, created_millis: i64) -> Vec<u8> {
    let mut k = debtor_prefix(kind, term);
    k.extend_from_slice(&inverted_millis(created_millis));
    k
}

/// Term prefix + creation time inverted (newest first) + `<dominio>/<iuv>`; read it back with
/// [`app_recent_parts`] and the length of [`debtor_prefix`].
pub fn debtor(kind: u8, term: &str, created_millis: i64, dominio: &str, iuv: &str) -> Vec<u8> {
    let mut k = debtor_from(kind, term, created_millis);
    k.extend_from_slice(&position(dominio, iuv));
    k
}

/// Event time (Unix ms, sign bit flipped so byte order is numeric order) then a sequence:
/// events sort by time, so the newest are at the end and the oldest at the start.
pub fn journal(millis: i64, seq: u64) -> [u8; 16] {
    time_id(millis, seq)
}

/// The sequence part of a `journal` key.
pub fn journal_seq(key: &[u8]) -> u64 {
    key.get(8..16)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

/// The time part of a `journal` key (Unix ms).
pub fn journal_millis(key: &[u8]) -> i64 {
    key.get(..8).map(millis_of).unwrap_or(0)
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
        assert!(outbox_due("a", -5, 9) < outbox_due("a", 3, 1));
        assert!(outbox_due("a", 3, 1) < outbox_due("a", 3, 2));
        assert!(outbox_due("a", 3, 2) < outbox_due("a", 1_800_000_000_000, 0));
        // Each application's queue is contiguous, whatever the times.
        assert!(outbox_due("a", i64::MAX, u64::MAX) < outbox_due("b", i64::MIN, 0));
        assert!(outbox_due("ab", 0, 0) > outbox_due("a", i64::MAX, u64::MAX));
        assert!(outbox_due("a", 3, 1).starts_with(&app_prefix("a")));
        assert_eq!(
            outbox_due("app", 1, 2),
            b"app\0\x80\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\x02"
        );
        let k = outbox_due("app", -5, 9);
        assert_eq!(
            (outbox_due_app(&k), outbox_due_millis(&k), outbox_due_id(&k)),
            (&b"app"[..], -5, 9)
        );
        assert_eq!(prefix_end(b"a\0"), b"a\x01");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        // Newest first, and the bound of "created at or before" comes before its entries.
        let older = app_recent("demo", 1_000, "77777777777", "01000000000000144");
        let newer = app_recent("demo", 2_000, "77777777777", "01000000000000245");
        assert!(newer < older);
        assert!(app_recent_from("demo", 2_000) <= newer);
        assert!(app_recent_from("demo", 1_999) > newer);
        assert!(older.starts_with(&app_prefix("demo")));
        assert_eq!(
            app_recent_parts(&older, app_prefix("demo").len()),
            Some((1_000, &b"77777777777/01000000000000144"[..]))
        );
        assert_eq!(
            app_recent("demo", 1_700_000_000_000, "77777777777", "1")[..13],
            *b"demo\0\x7f\xff\xfe\x74\x30\x1a\x97\xff"
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
        assert_eq!(
            (APP_RECENT, SEEN, APP_COUNTS),
            ("app_recent", "seen", "app_counts")
        );
        assert_eq!(document("77777777777", "TARI-1"), b"77777777777/TARI-1");
        assert_eq!(DOCUMENTS, "documents");
        assert_eq!(SCHEMA_VERSION, b"4");
        assert_eq!(DEBTORS, "debtors");
        let older = debtor(
            DEBTOR_NOME,
            "rossi",
            1_000,
            "77777777777",
            "01000000000000144",
        );
        let newer = debtor(
            DEBTOR_NOME,
            "rossi",
            2_000,
            "77777777777",
            "01000000000000245",
        );
        assert!(newer < older);
        assert!(debtor_from(DEBTOR_NOME, "rossi", 2_000) <= newer);
        assert!(debtor_from(DEBTOR_NOME, "rossi", 1_999) > newer);
        let prefix = debtor_prefix(DEBTOR_NOME, "rossi");
        assert_eq!(prefix, b"N\0\0\0\x05rossi");
        assert!(older.starts_with(&prefix));
        assert!(!debtor(DEBTOR_NOME, "rossini", 1, "1", "2").starts_with(&prefix));
        assert!(!debtor(DEBTOR_FISCALE, "rossi", 1, "1", "2").starts_with(&prefix));
        assert_eq!(
            app_recent_parts(&older, prefix.len()),
            Some((1_000, &b"77777777777/01000000000000144"[..]))
        );
    }
}
