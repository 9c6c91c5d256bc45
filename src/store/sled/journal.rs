//! The event journal on sled: events packed in chunks (`Chunk` below) keyed by time then
//! sequence, so listing newest first and purging the oldest are range scans and sled pays its
//! per-key cost once per chunk; [`SledJournal`] appends and purges (whole chunks, and the chunk
//! on a boundary rewritten without its older events); [`Sled::eventi`] and [`Sled::evento`]
//! read.

use super::{Sled, keys};
use crate::domain::evento::Evento;
use crate::store::Result;
use crate::store::journal::{Filtro, MAX_SCAN, Pagina, Paging, hex, monotonic, parse_id};

/// Most events removed in one purge step (the recorder's queue is drained between steps).
const PURGE_CHUNK: usize = 2048;

/// Events of one sled value ("chunk"): the recorder packs the events of one drain of its queue,
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
/// A chunk is closed once its JSON reaches this many bytes (payloads).
const CHUNK_BYTES: usize = 256 * 1024;

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
    /// with a cursor, the `per_pagina` after it. A scan of the time window; it reads at most
    /// [`MAX_SCAN`] events and then hands back a cursor to continue.
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
        'chunks: for item in self.journal.range(..=hi).rev() {
            let (k, v) = item?;
            let Some(chunk) = Chunk::read(&k, &v) else {
                continue;
            };
            if chunk.last_ms < lo_ms {
                break;
            }
            if !paging.may_match(chunk.lines) {
                scanned += chunk.count as usize;
                continue;
            }
            for (i, line) in chunk
                .lines()
                .enumerate()
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                let seq = chunk.first_seq + i as u64;
                if seq >= below_seq {
                    continue;
                }
                scanned += 1;
                if scanned > MAX_SCAN {
                    // Continue from this event, itself included.
                    paging.out.cursore = Some(hex(&keys::journal(chunk.first_ms, seq + 1)));
                    break 'chunks;
                }
                // An event's id is its own time with its sequence.
                let id = |e: &Evento| hex(&keys::journal(e.data.timestamp_millis(), seq));
                if !paging.offer(line, id)? {
                    break 'chunks;
                }
            }
        }
        Ok(paging.out)
    }

    /// Every event, oldest first (a copy).
    pub fn all_events(&self, f: &mut dyn FnMut(Evento) -> Result<()>) -> Result<()> {
        for item in self.journal.iter() {
            let (k, v) = item?;
            let Some(chunk) = Chunk::read(&k, &v) else {
                continue;
            };
            for (i, line) in chunk.lines().enumerate() {
                let seq = chunk.first_seq + i as u64;
                let mut e: Evento = super::decode(line)?;
                e.id = hex(&keys::journal(e.data.timestamp_millis(), seq));
                f(e)?;
            }
        }
        Ok(())
    }

    /// One event by its id.
    pub fn evento(&self, id: &str) -> Result<Option<Evento>> {
        let Some(key) = parse_id(id) else {
            return Ok(None);
        };
        let Some((k, v)) = self.journal.range(..=key).next_back().transpose()? else {
            return Ok(None);
        };
        let Some(chunk) = Chunk::read(&k, &v) else {
            return Ok(None);
        };
        let (ms, seq) = (keys::journal_millis(&key), keys::journal_seq(&key));
        if seq < chunk.first_seq || seq > chunk.last_seq() {
            return Ok(None);
        }
        match chunk.lines().nth((seq - chunk.first_seq) as usize) {
            Some(line) => {
                let e = decode_line(line, ms, seq)?;
                Ok((e.data.timestamp_millis() == ms).then_some(e))
            }
            None => Ok(None),
        }
    }
}

/// The journal tree as an append-only log: where the next event goes (its sequence, and a time
/// no earlier than the last one's), how many events it holds, appending, purging.
#[derive(Debug)]
pub struct SledJournal {
    tree: sled::Tree,
    count: u64,
    /// The next event's sequence number.
    seq: u64,
    /// The last event's time (ms): no event is stamped before it.
    last_ms: i64,
}

impl SledJournal {
    /// The log of `store`: the first and the last chunk give the count (sequences have no
    /// gaps) and where to go on from, so opening does not scan.
    pub fn open(store: &Sled) -> Self {
        let tree = store.journal.clone();
        let mut log = Self {
            count: 0,
            seq: 0,
            last_ms: i64::MIN,
            tree,
        };
        let first = log.tree.first().ok().flatten();
        let last = log.tree.last().ok().flatten();
        if let (Some((fk, fv)), Some((lk, lv))) = (&first, &last)
            && let (Some(f), Some(l)) = (Chunk::read(fk, fv), Chunk::read(lk, lv))
        {
            log.seq = l.first_seq + l.count;
            log.last_ms = l.last_ms;
            log.count = log.seq.saturating_sub(f.first_seq);
        }
        log
    }

    /// Events held.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Writes `batch` as chunks in one sled batch (not flushed) and empties it; the number of
    /// events written.
    pub fn append(&mut self, batch: &mut Vec<Evento>) -> Result<u64> {
        if batch.is_empty() {
            return Ok(0);
        }
        let mut b = sled::Batch::default();
        let mut n = 0u64;
        let mut lines: Vec<Vec<u8>> = Vec::with_capacity(CHUNK_EVENTS);
        let (mut first, mut bytes) = ((0i64, 0u64), 0usize);
        let mut close = |lines: &mut Vec<Vec<u8>>, first: (i64, u64), last_ms: i64| {
            if !lines.is_empty() {
                let refs: Vec<&[u8]> = lines.iter().map(Vec::as_slice).collect();
                let (k, v) = Chunk::encode(first, last_ms, &refs);
                b.insert(&k[..], v);
                lines.clear();
            }
        };
        let (mut seq, mut last_ms) = (self.seq, self.last_ms);
        for mut e in batch.drain(..) {
            let ms = monotonic(&mut e, last_ms);
            let line = serde_json::to_vec(&e)?;
            if lines.is_empty() {
                first = (ms, seq);
                bytes = 0;
            }
            bytes += line.len();
            lines.push(line);
            last_ms = ms;
            seq += 1;
            n += 1;
            if lines.len() == CHUNK_EVENTS || bytes >= CHUNK_BYTES {
                close(&mut lines, first, ms);
            }
        }
        close(&mut lines, first, last_ms);
        self.tree.apply_batch(b)?;
        (self.seq, self.last_ms) = (seq, last_ms);
        self.count += n;
        Ok(n)
    }

    /// Removes about [`PURGE_CHUNK`] of the oldest events that break a bound: older than
    /// `cutoff_ms`, or beyond the newest `max_events` (whole chunks, and the older part of the
    /// chunk on the boundary). Returns (removed, more may remain).
    pub fn purge_step(
        &mut self,
        cutoff_ms: Option<i64>,
        max_events: Option<u64>,
    ) -> Result<(u64, bool)> {
        let mut excess = max_events.map_or(0, |m| self.count.saturating_sub(m));
        let mut b = sled::Batch::default();
        let mut n = 0u64;
        let mut more = false;
        for item in self.tree.iter() {
            let (k, v) = item?;
            let Some(chunk) = Chunk::read(&k, &v) else {
                b.remove(k);
                continue;
            };
            if n as usize >= PURGE_CHUNK {
                more = true;
                break;
            }
            if excess >= chunk.count || cutoff_ms.is_some_and(|c| chunk.last_ms < c) {
                b.remove(k);
                n += chunk.count;
                excess = excess.saturating_sub(chunk.count);
                continue;
            }
            // The boundary chunk: drop its events older than the cutoff, or its first
            // `excess`, whichever is more; keep the rest under the first kept event's key.
            let lines: Vec<&[u8]> = chunk.lines().collect();
            let times: Vec<i64> = lines
                .iter()
                .map(|l| {
                    super::decode::<Evento>(l)
                        .map(|e| e.data.timestamp_millis())
                        .unwrap_or(i64::MIN)
                })
                .collect();
            let old = cutoff_ms.map_or(0, |c| times.iter().take_while(|t| **t < c).count());
            let drop = old.max(excess as usize).min(lines.len());
            if drop > 0 {
                let first = (times[drop], chunk.first_seq + drop as u64);
                let (nk, nv) = Chunk::encode(first, chunk.last_ms, &lines[drop..]);
                b.remove(k);
                b.insert(&nk[..], nv);
                n += drop as u64;
            }
            break;
        }
        if n == 0 {
            return Ok((0, false));
        }
        self.tree.apply_batch(b)?;
        self.count = self.count.saturating_sub(n);
        Ok((n, more))
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
}
