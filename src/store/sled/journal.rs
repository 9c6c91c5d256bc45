//! The embedded engine's event journal: kept in segment files beside sled's own
//! ([`super::segments`]); [`SledJournal`] appends and purges, [`Sled::eventi`],
//! [`Sled::evento`] and [`Sled::all_events`] read. Stores written before keep their events in
//! the `journal` tree, as chunks (`Chunk` below): [`migrate`] moves them into segment files
//! when the store is opened, with their sequences, so their ids stay valid.

use super::segments::{self, SegmentLog};
use super::{Sled, keys};
use crate::domain::evento::Evento;
use crate::store::journal::{Filtro, MAX_SCAN, Pagina, Paging, hex, monotonic, parse_id};
use crate::store::{Result, StoreError};

/// Events of one sled value ("chunk") of the layout before segment files: the recorder packed the events of one drain of its queue,
/// up to [`CHUNK_EVENTS`], into one value, because sled's cost is per key (about 9 µs here
/// whatever the size, 1 µs per event in chunks of 64). The key is the first event's
/// `keys::journal(ms, seq)`; events are numbered by a sequence that never goes back, and their
/// times never go back either (an event stamped before the previous one takes its time), so
/// chunks never overlap and an event's id is `keys::journal(its ms, first seq + index)`.
///
/// Value: the last event's time (8 bytes, as in keys), the number of events (u32 big-endian),
/// then the events as JSON lines (compact JSON holds no raw newline).
struct Chunk<'a> {
    first_ms: i64,
    first_seq: u64,
    last_ms: i64,
    count: u64,
    lines: &'a [u8],
}

const CHUNK_HEADER: usize = 12;
/// Most events per chunk.
pub const CHUNK_EVENTS: usize = 64;

impl<'a> Chunk<'a> {
    fn read(key: &[u8], value: &'a [u8]) -> Option<Self> {
        if value.len() < CHUNK_HEADER {
            return None;
        }
        Some(Self {
            first_ms: keys::journal_millis(key),
            first_seq: keys::journal_seq(key),
            last_ms: keys::journal_millis(&value[..8]),
            count: u64::from(u32::from_be_bytes(value[8..12].try_into().ok()?)),
            lines: &value[CHUNK_HEADER..],
        })
    }

    fn lines(&self) -> impl DoubleEndedIterator<Item = &'a [u8]> + use<'a> {
        self.lines.split(|b| *b == b'\n')
    }

    fn last_seq(&self) -> u64 {
        self.first_seq + self.count.saturating_sub(1)
    }

    /// Key and value of a chunk of `lines` (already JSON).
    #[cfg(test)]
    fn encode(first: (i64, u64), last_ms: i64, lines: &[&[u8]]) -> ([u8; 16], Vec<u8>) {
        let len: usize = lines.iter().map(|l| l.len() + 1).sum();
        let mut value = Vec::with_capacity(CHUNK_HEADER + len);
        value.extend_from_slice(&keys::journal(last_ms, 0)[..8]);
        value.extend_from_slice(&(lines.len() as u32).to_be_bytes());
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                value.push(b'\n');
            }
            value.extend_from_slice(line);
        }
        (keys::journal(first.0, first.1), value)
    }
}

fn decode_line(line: &[u8], ms: i64, seq: u64) -> Result<Evento> {
    let mut e: Evento = super::decode(line)?;
    e.id = hex(&keys::journal(ms, seq));
    Ok(e)
}

/// Reading the journal (whether or not this process records).
impl Sled {
    /// Events matching `filter`, newest first: page `pagina` (from 1) of `per_pagina`, or,
    /// with a cursor, the `per_pagina` after it. A scan of the time window, frame by frame
    /// from the newest; it reads at most [`MAX_SCAN`] events and then hands back a cursor to
    /// continue.
    pub fn eventi(&self, filter: &Filtro, pagina: usize, per_pagina: usize) -> Result<Pagina> {
        let lo_ms = filter.da.map_or(i64::MIN, |d| d.timestamp_millis());
        let mut hi = keys::journal(
            filter.a.map_or(i64::MAX, |d| d.timestamp_millis()),
            u64::MAX,
        );
        let mut below_seq = u64::MAX;
        if let Some(c) = filter.cursore {
            hi = hi.min(c);
            below_seq = keys::journal_seq(&c);
        }
        let mut paging = Paging::new(filter, pagina, per_pagina);
        let mut scanned = 0usize;
        let log = &self.segments;
        let mut next = log.frame_at_or_before(keys::journal_millis(&hi), keys::journal_seq(&hi));
        'frames: while let Some(r) = next {
            let f = r.frame;
            if f.last_ms < lo_ms {
                break;
            }
            next = log.frame_before(f.first_seq);
            let raw = r.read()?;
            if !paging.may_match(&raw) {
                scanned += f.count as usize;
                continue;
            }
            let lines: Vec<&[u8]> = segments::lines(&raw).collect();
            for (i, line) in lines.into_iter().enumerate().rev() {
                let seq = f.first_seq + i as u64;
                if seq >= below_seq || seq < r.floor {
                    continue;
                }
                scanned += 1;
                if scanned > MAX_SCAN {
                    // Continue from this event, itself included.
                    paging.out.cursore = Some(hex(&keys::journal(f.first_ms, seq + 1)));
                    break 'frames;
                }
                // An event's id is its own time with its sequence.
                let id = |e: &Evento| hex(&keys::journal(e.data.timestamp_millis(), seq));
                if !paging.offer(line, id)? {
                    break 'frames;
                }
            }
        }
        Ok(paging.out)
    }

    /// Every event, oldest first (a copy).
    pub fn all_events(&self, f: &mut dyn FnMut(Evento) -> Result<()>) -> Result<()> {
        let mut from = 0u64;
        while let Some(r) = self.segments.frame_from(from) {
            let raw = r.read()?;
            for (i, line) in segments::lines(&raw).enumerate() {
                let seq = r.frame.first_seq + i as u64;
                if seq < from || seq < r.floor {
                    continue;
                }
                let mut e: Evento = super::decode(line)?;
                e.id = hex(&keys::journal(e.data.timestamp_millis(), seq));
                f(e)?;
            }
            from = r.frame.end_seq();
        }
        Ok(())
    }

    /// One event by its id.
    pub fn evento(&self, id: &str) -> Result<Option<Evento>> {
        let Some(key) = parse_id(id) else {
            return Ok(None);
        };
        let (ms, seq) = (keys::journal_millis(&key), keys::journal_seq(&key));
        let Some(r) = self.segments.frame_holding(seq) else {
            return Ok(None);
        };
        let raw = r.read()?;
        match segments::lines(&raw).nth((seq - r.frame.first_seq) as usize) {
            Some(line) => {
                let e = decode_line(line, ms, seq)?;
                Ok((e.data.timestamp_millis() == ms).then_some(e))
            }
            None => Ok(None),
        }
    }
}

/// Moves the events of the journal tree (the layout before segment files) into `log`, in
/// order, then empties the tree. Restartable: chunks whose sequences `log` already holds are
/// skipped, so a move cut short by a crash neither loses nor repeats an event. Returns the
/// number of events moved.
pub(super) fn migrate(tree: &sled::Tree, log: &SegmentLog) -> Result<u64> {
    if tree.is_empty() {
        return Ok(0);
    }
    let moved = log.append_with(|sink| {
        for item in tree.iter() {
            let (k, v) = item?;
            let Some(chunk) = Chunk::read(&k, &v) else {
                continue;
            };
            let (next_seq, last_ms) = sink.next();
            if chunk.count == 0 || chunk.last_seq() < next_seq {
                continue;
            }
            let last = chunk.last_ms.max(last_ms);
            if chunk.first_seq >= next_seq {
                let count = u32::try_from(chunk.count)
                    .map_err(|_| StoreError::Invariant("journal chunk too large".into()))?;
                sink.frame(
                    chunk.first_ms.max(last_ms),
                    chunk.first_seq,
                    last.max(chunk.first_ms),
                    count,
                    chunk.lines,
                )?;
                continue;
            }
            // Partly moved already: the rest of it.
            let rest: Vec<&[u8]> = chunk
                .lines()
                .skip((next_seq - chunk.first_seq) as usize)
                .collect();
            let Some(head) = rest.first() else {
                continue;
            };
            let first_ms = super::decode::<Evento>(head)?
                .data
                .timestamp_millis()
                .max(last_ms);
            sink.frame(
                first_ms,
                next_seq,
                last.max(first_ms),
                rest.len() as u32,
                &rest.join(&b'\n'),
            )?;
        }
        Ok(())
    })?;
    log.sync()?;
    tree.clear()?;
    tree.flush()?;
    if moved > 0 {
        tracing::info!(events = moved, "journal moved from sled into segment files");
    }
    Ok(moved)
}

/// The journal's log for appending and purging: a handle on the store's segment files (see
/// [`super::segments`]), which also keeps the store open while the recorder runs.
#[derive(Debug)]
pub struct SledJournal {
    store: Sled,
}

impl SledJournal {
    /// The log of `store` (counted when the store was opened, so opening does not scan).
    pub fn open(store: &Sled) -> Self {
        Self {
            store: store.clone(),
        }
    }

    /// Events held.
    pub fn count(&self) -> u64 {
        self.store.segments.count()
    }

    /// Writes `batch` as frames of up to [`segments::FRAME_EVENTS`] events (not synced) and
    /// empties it; the number of events written.
    pub fn append(&mut self, batch: &mut Vec<Evento>) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        let mut raw: Vec<u8> = Vec::with_capacity(64 * 1024);
        self.store.segments.append_with(|sink| {
            let (mut seq, mut last_ms) = sink.next();
            let (mut first, mut count) = ((0i64, 0u64), 0u32);
            for mut e in batch.drain(..) {
                let ms = monotonic(&mut e, last_ms);
                if count == 0 {
                    first = (ms, seq);
                    raw.clear();
                } else {
                    raw.push(b'\n');
                }
                serde_json::to_writer(&mut raw, &e)?;
                count += 1;
                seq += 1;
                last_ms = ms;
                if count as usize == segments::FRAME_EVENTS || raw.len() >= segments::FRAME_BYTES {
                    sink.frame(first.0, first.1, ms, count, &raw)?;
                    count = 0;
                }
            }
            if count > 0 {
                sink.frame(first.0, first.1, last_ms, count, &raw)?;
            }
            Ok(())
        })
    }

    /// Makes what was appended durable (fdatasync of the active segment).
    pub fn sync(&mut self) -> Result<()> {
        self.store.segments.sync()
    }

    /// Removes the oldest events that break a bound: older than `cutoff_ms`, or beyond the
    /// newest `max_events` (by moving the floor; whole segments below it are deleted a few
    /// per step). Returns (removed, more may remain).
    pub fn purge_step(
        &mut self,
        cutoff_ms: Option<i64>,
        max_events: Option<u64>,
    ) -> Result<(u64, bool)> {
        self.store.segments.purge_step(cutoff_ms, max_events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip() {
        let lines: [&[u8]; 3] = [br#"{"a":1}"#, b"{}", br#"{"b":"x\ny"}"#];
        let (k, v) = Chunk::encode((5, 40), 9, &lines);
        let c = Chunk::read(&k, &v).unwrap();
        assert_eq!((c.first_ms, c.first_seq, c.last_ms, c.count), (5, 40, 9, 3));
        assert_eq!(c.last_seq(), 42);
        assert_eq!(c.lines().collect::<Vec<_>>(), lines);
    }

    fn event(n: u64, ms: i64) -> Evento {
        use crate::domain::evento::{Categoria, Esito};
        let at = chrono::DateTime::from_timestamp_millis(ms).unwrap();
        Evento::new(
            Categoria::Rest,
            format!("e{n}"),
            at,
            std::time::Duration::from_micros(n),
            Esito::Ok,
        )
    }

    fn all(store: &Sled) -> Vec<Evento> {
        let mut out = Vec::new();
        store
            .all_events(&mut |e| {
                out.push(e);
                Ok(())
            })
            .unwrap();
        out
    }

    fn tipi(events: &[Evento]) -> Vec<String> {
        events.iter().map(|e| e.tipo_evento.clone()).collect()
    }

    /// The old layout's chunk of events `ns` (sequence = n, time = 1000 + n / 3 ms).
    fn old_chunk(ns: std::ops::Range<u64>) -> ([u8; 16], Vec<u8>) {
        let ms = |n: u64| 1_000 + (n / 3) as i64;
        let lines: Vec<Vec<u8>> = ns
            .clone()
            .map(|n| serde_json::to_vec(&event(n, ms(n))).unwrap())
            .collect();
        let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
        Chunk::encode((ms(ns.start), ns.start), ms(ns.end - 1), &refs)
    }

    #[test]
    fn ids_and_numbering_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path(), 16).unwrap();
        let mut log = SledJournal::open(&store);
        let mut batch: Vec<Evento> = (0..300).map(|n| event(n, 5_000 + n as i64)).collect();
        assert_eq!(log.append(&mut batch).unwrap(), 300);
        let before = all(&store);
        drop((log, store));
        let store = Sled::open(dir.path(), 16).unwrap();
        let after = all(&store);
        assert_eq!(before.len(), 300);
        assert_eq!(
            before.iter().map(|e| &e.id).collect::<Vec<_>>(),
            after.iter().map(|e| &e.id).collect::<Vec<_>>()
        );
        for e in [&after[0], &after[150], &after[299]] {
            assert_eq!(
                store.evento(&e.id).unwrap().unwrap().tipo_evento,
                e.tipo_evento
            );
        }
        let mut log = SledJournal::open(&store);
        assert_eq!(log.count(), 300);
        log.append(&mut vec![event(300, 1)]).unwrap();
        let last = all(&store).pop().unwrap();
        // Numbered after the others, and stamped no earlier than the last one.
        assert_eq!(
            crate::store::journal::key_parts(&parse_id(&last.id).unwrap()),
            (5_299, 300)
        );
        let page = store.eventi(&Filtro::default(), 1, 2).unwrap();
        assert_eq!(tipi(&page.risultati), ["e300", "e299"]);
    }

    #[test]
    fn events_of_the_sled_tree_are_moved_into_segments_with_their_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sled::open(dir.path(), 16).unwrap();
        let tree = store.db.open_tree(keys::JOURNAL).unwrap();
        // As the old recorder left them: purged up to 10, then chunks up to 200.
        for range in [10..64, 64..128, 128..130, 130..200] {
            let (k, v) = old_chunk(range);
            tree.insert(k, v).unwrap();
        }
        drop((tree, store));
        let store = Sled::open(dir.path(), 16).unwrap();
        assert!(store.db.open_tree(keys::JOURNAL).unwrap().is_empty());
        let events = all(&store);
        assert_eq!(
            tipi(&events),
            (10..200).map(|n| format!("e{n}")).collect::<Vec<_>>()
        );
        for (e, n) in events.iter().zip(10..) {
            assert_eq!(e.id, hex(&keys::journal(1_000 + (n / 3) as i64, n)));
            assert_eq!(
                store.evento(&e.id).unwrap().unwrap().tipo_evento,
                e.tipo_evento
            );
        }
        let mut log = SledJournal::open(&store);
        assert_eq!(log.count(), 190);
        log.append(&mut vec![event(200, 2_000)]).unwrap();
        let page = store.eventi(&Filtro::default(), 1, 3).unwrap();
        assert_eq!(tipi(&page.risultati), ["e200", "e199", "e198"]);
        assert_eq!(
            page.risultati[0].id,
            hex(&keys::journal(2_000, 200)),
            "numbering goes on after the moved events"
        );
    }

    #[test]
    fn a_move_cut_short_is_finished_without_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let (done, tree) = (db.open_tree("done").unwrap(), db.open_tree("all").unwrap());
        for range in [0..64, 64..100, 100..164] {
            let (k, v) = old_chunk(range.clone());
            tree.insert(k, v.clone()).unwrap();
            if range.start < 100 {
                done.insert(k, v).unwrap();
            }
        }
        let log = SegmentLog::open(dir.path(), segments::SEGMENT_BYTES).unwrap();
        // The first run moved two chunks, then stopped before emptying the tree.
        assert_eq!(migrate(&done, &log).unwrap(), 100);
        // Part of a chunk already there too (a frame written from its middle).
        let (k, v) = old_chunk(100..110);
        let partial = db.open_tree("partial").unwrap();
        partial.insert(k, v).unwrap();
        assert_eq!(migrate(&partial, &log).unwrap(), 10);
        assert_eq!(migrate(&tree, &log).unwrap(), 54);
        assert!(tree.is_empty());
        assert_eq!(log.count(), 164);
        let (mut seqs, mut from) = (Vec::new(), 0);
        while let Some(r) = log.frame_from(from) {
            let raw = r.read().unwrap();
            for (i, line) in segments::lines(&raw).enumerate() {
                let e: Evento = serde_json::from_slice(line).unwrap();
                assert_eq!(e.tipo_evento, format!("e{}", r.frame.first_seq + i as u64));
                seqs.push(r.frame.first_seq + i as u64);
            }
            from = r.frame.end_seq();
        }
        assert_eq!(seqs, (0..164).collect::<Vec<_>>());
    }
}
