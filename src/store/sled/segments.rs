//! The embedded engine's event journal as append-only segment files, outside sled (sled's
//! batches of 22 KB chunk values split nodes and spilled into blob files: about 8 % of the
//! server's CPU under verify load).
//!
//! The log lives in its own directory (`<store>/journal/`): segment files named by the sequence
//! of their first event (20 decimal digits, `.seg`), each a run of frames, and a `floor` file.
//! A frame is a header ([`HEADER`] bytes, little-endian: magic, compressed length, raw length,
//! event count, first event's ms, first sequence, last event's ms, checksum of the payload,
//! checksum of the header) and the events of one frame as JSON lines compressed with LZ4 (block
//! format). Events are numbered by a sequence that never goes back and their times never go
//! back either ([`crate::store::journal::monotonic`]), so frames are ordered by both.
//!
//! Only the writer (the recorder's thread, or a migration or an import) appends, with plain
//! writes: no fsync per batch (the recorder may lose its last instants on power loss), an fsync
//! when a segment is closed for the next one past [`SEGMENT_BYTES`] and when the log is synced
//! or dropped. Opening reads the frame headers only (and the checksums of the last segment's
//! payloads, where a crash can leave a torn frame, which is truncated away).
//!
//! Retention moves a floor (the first live sequence, kept in the `floor` file, replaced by a
//! rename, at most once a second and on sync) and deletes the segments wholly below it; readers skip events below the floor.
//! An in-memory index of frames is shared by the writer and the readers; readers hold its lock
//! only to find a frame, never while reading or decoding one.

use crate::store::{Result, StoreError};
use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Bytes of a frame header.
pub const HEADER: usize = 48;
/// First bytes of every frame.
const MAGIC: &[u8; 4] = b"VJF1";
/// A segment is closed (and the next one started) once it holds this many bytes.
pub const SEGMENT_BYTES: u64 = 32 * 1024 * 1024;
/// Most events per frame.
pub const FRAME_EVENTS: usize = 128;
/// A frame is closed once its JSON reaches this many bytes.
pub const FRAME_BYTES: usize = 256 * 1024;
/// Largest raw (uncompressed) frame accepted when reading: a bigger length is corruption.
const MAX_RAW: u32 = 256 * 1024 * 1024;
/// Most segment files deleted in one purge step.
const DELETE_PER_STEP: usize = 16;
/// The file holding the floor.
const FLOOR_FILE: &str = "floor";
/// Least time between two writes of the floor file by the purge.
const FLOOR_EVERY: Duration = Duration::from_secs(1);

fn io_error(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Engine(format!("journal {what} {}: {e}", path.display()))
}

/// One frame as the index knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The segment holding it (its first sequence, the file's name).
    pub segment: u64,
    /// Where its header starts in the segment.
    pub offset: u64,
    /// The first event's time (Unix ms).
    pub first_ms: i64,
    /// The last event's time (Unix ms).
    pub last_ms: i64,
    /// The first event's sequence.
    pub first_seq: u64,
    /// Events held.
    pub count: u32,
    /// Bytes of the compressed payload.
    len: u32,
    /// Bytes of the payload once decompressed.
    raw_len: u32,
    /// Checksum of the compressed payload.
    crc: u32,
}

impl Frame {
    /// The sequence after its last event.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + u64::from(self.count)
    }

    fn header(&self) -> [u8; HEADER] {
        let mut h = [0u8; HEADER];
        h[..4].copy_from_slice(MAGIC);
        h[4..8].copy_from_slice(&self.len.to_le_bytes());
        h[8..12].copy_from_slice(&self.raw_len.to_le_bytes());
        h[12..16].copy_from_slice(&self.count.to_le_bytes());
        h[16..24].copy_from_slice(&self.first_ms.to_le_bytes());
        h[24..32].copy_from_slice(&self.first_seq.to_le_bytes());
        h[32..40].copy_from_slice(&self.last_ms.to_le_bytes());
        h[40..44].copy_from_slice(&self.crc.to_le_bytes());
        let check = crc32fast::hash(&h[..44]);
        h[44..48].copy_from_slice(&check.to_le_bytes());
        h
    }

    /// The frame whose header is `h`, at `offset` of `segment`; None when the header is not
    /// one (wrong magic or checksum, no events, an absurd length).
    fn parse(h: &[u8; HEADER], segment: u64, offset: u64) -> Option<Self> {
        let u32_at = |i: usize| h[i..i + 4].try_into().ok().map(u32::from_le_bytes);
        let u64_at = |i: usize| h[i..i + 8].try_into().ok().map(u64::from_le_bytes);
        if &h[..4] != MAGIC || u32_at(44)? != crc32fast::hash(&h[..44]) {
            return None;
        }
        let f = Self {
            segment,
            offset,
            len: u32_at(4)?,
            raw_len: u32_at(8)?,
            count: u32_at(12)?,
            first_ms: u64_at(16)? as i64,
            first_seq: u64_at(24)?,
            last_ms: u64_at(32)? as i64,
            crc: u32_at(40)?,
        };
        (f.count > 0 && f.raw_len <= MAX_RAW && f.first_ms <= f.last_ms).then_some(f)
    }

    /// Bytes of header and payload.
    fn size(&self) -> u64 {
        HEADER as u64 + u64::from(self.len)
    }
}

/// A frame found in the index, with what it takes to read it.
#[derive(Debug, Clone)]
pub struct FrameRef {
    /// The frame.
    pub frame: Frame,
    /// The first live sequence when it was found: events below it are purged.
    pub floor: u64,
    file: Arc<File>,
}

impl FrameRef {
    /// The frame's events as JSON lines separated by `\n` (checked against its checksum).
    pub fn read(&self) -> Result<Vec<u8>> {
        let f = &self.frame;
        let mut payload = vec![0u8; f.len as usize];
        self.file
            .read_exact_at(&mut payload, f.offset + HEADER as u64)
            .map_err(|e| StoreError::Engine(format!("journal segment {}: read: {e}", f.segment)))?;
        if crc32fast::hash(&payload) != f.crc {
            return Err(StoreError::Engine(format!(
                "journal segment {}: frame at {} fails its checksum",
                f.segment, f.offset
            )));
        }
        lz4_flex::block::decompress(&payload, f.raw_len as usize).map_err(|e| {
            StoreError::Engine(format!(
                "journal segment {}: frame at {}: {e}",
                f.segment, f.offset
            ))
        })
    }
}

/// The lines of a frame's payload.
pub fn lines(raw: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    raw.split(|b| *b == b'\n')
}

/// What readers share with the writer.
#[derive(Debug, Default)]
struct State {
    /// Every frame at or above the floor (partly, for the first), oldest first.
    frames: VecDeque<Frame>,
    /// Segment files by name, each open for reading.
    segments: BTreeMap<u64, Arc<File>>,
    /// The first live sequence.
    floor: u64,
    /// Events at or above the floor.
    count: u64,
}

/// The writer's side: the segment being appended to.
#[derive(Debug)]
struct Active {
    file: File,
    name: u64,
    size: u64,
    /// The next event's sequence.
    next_seq: u64,
    /// The last event's time (ms).
    last_ms: i64,
    /// Reused buffers: the frames being written, one frame's compressed payload.
    out: Vec<u8>,
    packed: Vec<u8>,
    /// The floor in the floor file, and when it was written.
    floor_saved: u64,
    saved_at: Instant,
}

/// The journal's segment files (see the module's documentation).
#[derive(Debug)]
pub struct SegmentLog {
    dir: PathBuf,
    segment_bytes: u64,
    state: RwLock<State>,
    active: Mutex<Active>,
}

fn segment_name(seq: u64) -> String {
    format!("{seq:020}.seg")
}

/// A frame encoded for writing: its index entry (offset relative to the batch) and bytes.
fn encode_frame(
    out: &mut Vec<u8>,
    packed: &mut Vec<u8>,
    raw: &[u8],
    (first_ms, first_seq, last_ms, count): (i64, u64, i64, u32),
) -> Result<Frame> {
    let too_big = || StoreError::Invariant("journal frame too large".into());
    packed.clear();
    packed.resize(lz4_flex::block::get_maximum_output_size(raw.len()), 0);
    let n = lz4_flex::block::compress_into(raw, packed)
        .map_err(|e| StoreError::Engine(format!("journal compression: {e}")))?;
    packed.truncate(n);
    let frame = Frame {
        segment: 0,
        offset: out.len() as u64,
        first_ms,
        last_ms,
        first_seq,
        count,
        len: u32::try_from(n).map_err(|_| too_big())?,
        raw_len: u32::try_from(raw.len()).map_err(|_| too_big())?,
        crc: crc32fast::hash(packed),
    };
    out.extend_from_slice(&frame.header());
    out.extend_from_slice(packed);
    Ok(frame)
}

impl SegmentLog {
    /// Opens (or creates) the log in `dir`, closing segments past `segment_bytes`. A torn
    /// frame at the end of the last segment is truncated away; a damaged frame in an earlier
    /// one ends what is read of it (with a warning).
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
        let floor = read_floor(dir);
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| io_error("list", dir, e))? {
            let entry = entry.map_err(|e| io_error("list", dir, e))?;
            let name = entry.file_name();
            let Some(seq) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            names.push(seq);
        }
        names.sort_unstable();
        let mut state = State {
            floor,
            ..State::default()
        };
        let mut next_seq = floor;
        let mut prev_end = 0u64;
        let mut last_ms = i64::MIN;
        let mut active = None;
        for (i, &name) in names.iter().enumerate() {
            let path = dir.join(segment_name(name));
            let last = i + 1 == names.len();
            let file = File::open(&path).map_err(|e| io_error("open", &path, e))?;
            let (frames, valid) = scan(&file, name, last, prev_end.max(name), &path)?;
            if last {
                let writer = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| io_error("open", &path, e))?;
                let len = writer
                    .metadata()
                    .map_err(|e| io_error("stat", &path, e))?
                    .len();
                if valid < len {
                    tracing::warn!(
                        segment = %path.display(),
                        kept = valid,
                        dropped = len - valid,
                        "journal: torn frame at the end of the last segment truncated"
                    );
                    writer
                        .set_len(valid)
                        .map_err(|e| io_error("truncate", &path, e))?;
                    writer.sync_all().map_err(|e| io_error("sync", &path, e))?;
                }
                active = Some((name, writer, valid));
            }
            next_seq = next_seq.max(name);
            if let Some(f) = frames.last() {
                prev_end = f.end_seq();
                next_seq = next_seq.max(prev_end);
                last_ms = last_ms.max(f.last_ms);
            }
            for f in frames {
                if f.end_seq() > floor {
                    state.count += f.end_seq() - f.first_seq.max(floor);
                    state.frames.push_back(f);
                }
            }
            state.segments.insert(name, Arc::new(file));
        }
        let (name, file, size) = match active {
            Some(active) => active,
            None => {
                let (writer, reader) = create_segment(dir, next_seq)?;
                state.segments.insert(next_seq, Arc::new(reader));
                (next_seq, writer, 0)
            }
        };
        Ok(Self {
            dir: dir.to_path_buf(),
            segment_bytes: segment_bytes.max(1),
            state: RwLock::new(state),
            active: Mutex::new(Active {
                file,
                name,
                size,
                next_seq,
                last_ms,
                out: Vec::new(),
                packed: Vec::new(),
                floor_saved: floor,
                saved_at: Instant::now(),
            }),
        })
    }

    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn active(&self) -> std::sync::MutexGuard<'_, Active> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Events at or above the floor.
    pub fn count(&self) -> u64 {
        self.state().count
    }

    /// The first live sequence.
    pub fn floor(&self) -> u64 {
        self.state().floor
    }

    /// (the next event's sequence, the last event's time): where appending goes on from.
    pub fn next(&self) -> (u64, i64) {
        let a = self.active();
        (a.next_seq, a.last_ms)
    }

    /// Names (first sequences) of the segment files.
    pub fn segments(&self) -> Vec<u64> {
        self.state().segments.keys().copied().collect()
    }

    /// Appends frames built by `fill`, which is handed an encoder for frames of
    /// (first ms, first seq, last ms, count, JSON lines) and the next sequence and last time,
    /// and returns the new ones. The frames must follow on (sequences from the next one up,
    /// times not before the last one). Written, not synced.
    pub fn append_with(&self, fill: impl FnOnce(&mut FrameSink<'_>) -> Result<()>) -> Result<u64> {
        let mut guard = self.active();
        let a = &mut *guard;
        let mut sink = FrameSink {
            log: self,
            active: a,
            pending: Vec::new(),
            added: 0,
        };
        let filled = fill(&mut sink);
        let flushed = sink.flush();
        let added = sink.added;
        filled?;
        flushed?;
        Ok(added)
    }

    /// Moves the floor up to drop events older than `cutoff_ms` and the oldest beyond
    /// `max_events`, exactly, and deletes the segments wholly below it (a few per step).
    /// Returns (events removed, more segments may remain to delete).
    pub fn purge_step(
        &self,
        cutoff_ms: Option<i64>,
        max_events: Option<u64>,
    ) -> Result<(u64, bool)> {
        let mut guard = self.active();
        let a = &mut *guard;
        let (floor, count) = {
            let s = self.state();
            (s.floor, s.count)
        };
        let mut target = floor;
        if let Some(max) = max_events
            && count > max
        {
            target = target.max(self.skip_from(floor, count - max));
        }
        if let Some(cutoff) = cutoff_ms {
            target = target.max(self.first_at_or_after(cutoff, a.next_seq)?);
        }
        let target = target.min(a.next_seq);
        let removed = if target > floor {
            let mut s = self.state_mut();
            let removed = live_between(&s.frames, floor, target);
            s.floor = target;
            s.count = s.count.saturating_sub(removed);
            while s.frames.front().is_some_and(|f| f.end_seq() <= target) {
                s.frames.pop_front();
            }
            removed
        } else {
            0
        };
        // Segments wholly below the floor: those whose successor starts at or below it.
        let doomed: Vec<u64> = {
            let s = self.state();
            let names: Vec<u64> = s.segments.keys().copied().collect();
            names
                .windows(2)
                .take_while(|w| w[1] <= target && w[0] != a.name)
                .map(|w| w[0])
                .collect()
        };
        // The floor file is written at most every FLOOR_EVERY (a purge follows every batch at
        // the count bound), before segments are deleted, and on sync: one a little behind
        // only lets a restart purge again what was purged.
        if target > a.floor_saved && (!doomed.is_empty() || a.saved_at.elapsed() >= FLOOR_EVERY) {
            write_floor(&self.dir, target)?;
            (a.floor_saved, a.saved_at) = (target, Instant::now());
        }
        let more = doomed.len() > DELETE_PER_STEP;
        for name in doomed.into_iter().take(DELETE_PER_STEP) {
            self.state_mut().segments.remove(&name);
            let path = self.dir.join(segment_name(name));
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(segment = %path.display(), error = %e, "journal: cannot delete a purged segment");
            }
        }
        Ok((removed, more))
    }

    /// The sequence `n` live events after `from`.
    fn skip_from(&self, from: u64, mut n: u64) -> u64 {
        let s = self.state();
        let start = s.frames.partition_point(|f| f.end_seq() <= from);
        for f in s.frames.range(start..) {
            let first = f.first_seq.max(from);
            let here = f.end_seq() - first;
            if n < here {
                return first + n;
            }
            n -= here;
        }
        s.frames.back().map_or(from, Frame::end_seq)
    }

    /// The sequence of the first event at or after `cutoff_ms` (`end` when there is none).
    fn first_at_or_after(&self, cutoff_ms: i64, end: u64) -> Result<u64> {
        let found = {
            let s = self.state();
            let i = s.frames.partition_point(|f| f.last_ms < cutoff_ms);
            match s.frames.get(i) {
                None => return Ok(end),
                Some(f) if f.first_ms >= cutoff_ms => return Ok(f.first_seq),
                Some(f) => self.frame_ref(&s, *f),
            }
        };
        let Some(found) = found else {
            return Ok(end);
        };
        let raw = found.read()?;
        for (i, line) in lines(&raw).enumerate() {
            let e: crate::domain::evento::Evento = super::decode(line)?;
            if e.data.timestamp_millis() >= cutoff_ms {
                return Ok(found.frame.first_seq + i as u64);
            }
        }
        Ok(found.frame.end_seq())
    }

    fn frame_ref(&self, s: &State, frame: Frame) -> Option<FrameRef> {
        Some(FrameRef {
            frame,
            floor: s.floor,
            file: s.segments.get(&frame.segment)?.clone(),
        })
    }

    /// The last frame for which `before` holds (`before` is true for a prefix of the
    /// frames), if any of its events is live.
    fn last_where(&self, before: impl Fn(&Frame) -> bool) -> Option<FrameRef> {
        let s = self.state();
        let i = s.frames.partition_point(before).checked_sub(1)?;
        let f = *s.frames.get(i)?;
        (f.end_seq() > s.floor).then(|| self.frame_ref(&s, f))?
    }

    /// The newest frame starting at or before (`ms`, `seq`) (in that order).
    pub fn frame_at_or_before(&self, ms: i64, seq: u64) -> Option<FrameRef> {
        self.last_where(|f| (f.first_ms, f.first_seq) <= (ms, seq))
    }

    /// The newest frame starting before sequence `seq`.
    pub fn frame_before(&self, seq: u64) -> Option<FrameRef> {
        self.last_where(|f| f.first_seq < seq)
    }

    /// The frame holding sequence `seq`, if live.
    pub fn frame_holding(&self, seq: u64) -> Option<FrameRef> {
        self.frame_before(seq.saturating_add(1))
            .filter(|r| seq < r.frame.end_seq() && seq >= r.floor)
    }

    /// The oldest frame holding a live event at or after sequence `seq`.
    pub fn frame_from(&self, seq: u64) -> Option<FrameRef> {
        let s = self.state();
        let from = seq.max(s.floor);
        let i = s.frames.partition_point(|f| f.end_seq() <= from);
        let f = *s.frames.get(i)?;
        self.frame_ref(&s, f)
    }

    /// Writes what was appended to disk.
    pub fn sync(&self) -> Result<()> {
        let mut a = self.active();
        let floor = self.floor();
        if floor > a.floor_saved {
            write_floor(&self.dir, floor)?;
            (a.floor_saved, a.saved_at) = (floor, Instant::now());
        }
        a.file
            .sync_data()
            .map_err(|e| io_error("sync", &self.dir, e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error("sync", &self.dir, e))
    }

    /// Bytes of the segment files.
    pub fn size_on_disk(&self) -> u64 {
        let s = self.state();
        s.segments
            .values()
            .filter_map(|f| f.metadata().ok())
            .map(|m| m.len())
            .sum()
    }
}

impl Drop for SegmentLog {
    fn drop(&mut self) {
        if let Err(e) = self.sync() {
            tracing::warn!(error = %e, "journal: final sync failed");
        }
    }
}

/// Where [`SegmentLog::append_with`] sends frames.
pub struct FrameSink<'a> {
    log: &'a SegmentLog,
    active: &'a mut Active,
    /// Frames encoded, not yet written (offsets relative to `active.out`).
    pending: Vec<Frame>,
    added: u64,
}

impl FrameSink<'_> {
    /// (the next event's sequence, the last event's time).
    pub fn next(&self) -> (u64, i64) {
        (self.active.next_seq, self.active.last_ms)
    }

    /// Adds a frame of `count` events, the JSON lines `raw` (joined by `\n`), the first
    /// at (`first_ms`, `first_seq`), the last at `last_ms`.
    pub fn frame(
        &mut self,
        first_ms: i64,
        first_seq: u64,
        last_ms: i64,
        count: u32,
        raw: &[u8],
    ) -> Result<()> {
        let a = &mut *self.active;
        if count == 0 {
            return Ok(());
        }
        if first_seq < a.next_seq || first_ms < a.last_ms || last_ms < first_ms {
            return Err(StoreError::Invariant(format!(
                "journal frame at seq {first_seq} ({first_ms} ms) does not follow seq {} ({} ms)",
                a.next_seq, a.last_ms
            )));
        }
        if a.size + a.out.len() as u64 >= self.log.segment_bytes {
            self.flush()?;
            self.roll(first_seq)?;
        }
        let a = &mut *self.active;
        let frame = encode_frame(
            &mut a.out,
            &mut a.packed,
            raw,
            (first_ms, first_seq, last_ms, count),
        )?;
        self.pending.push(frame);
        a.next_seq = frame.end_seq();
        a.last_ms = last_ms;
        Ok(())
    }

    /// Writes the pending frames and publishes them to readers.
    fn flush(&mut self) -> Result<()> {
        let a = &mut *self.active;
        if a.out.is_empty() {
            return Ok(());
        }
        if let Err(e) = a.file.write_all(&a.out) {
            // Cut a partial write off, so the next frames follow the last whole one.
            let _ = a.file.set_len(a.size);
            a.out.clear();
            self.pending.clear();
            let (seq, ms) = {
                let s = self.log.state();
                s.frames
                    .back()
                    .map_or((a.name, i64::MIN), |f| (f.end_seq(), f.last_ms))
            };
            (a.next_seq, a.last_ms) = (seq.max(a.name), ms);
            return Err(io_error("write", &self.log.dir, e));
        }
        let mut s = self.log.state_mut();
        for mut f in self.pending.drain(..) {
            f.segment = a.name;
            f.offset += a.size;
            s.count += u64::from(f.count);
            self.added += u64::from(f.count);
            s.frames.push_back(f);
        }
        drop(s);
        a.size += a.out.len() as u64;
        a.out.clear();
        Ok(())
    }

    /// Closes the active segment (synced) and starts the one named `first_seq`.
    fn roll(&mut self, first_seq: u64) -> Result<()> {
        let dir = &self.log.dir;
        self.active
            .file
            .sync_data()
            .map_err(|e| io_error("sync", dir, e))?;
        let (writer, reader) = create_segment(dir, first_seq)?;
        self.log
            .state_mut()
            .segments
            .insert(first_seq, Arc::new(reader));
        let a = &mut *self.active;
        a.file = writer;
        a.name = first_seq;
        a.size = 0;
        Ok(())
    }
}

/// A new, empty segment: (its writer, its reader).
fn create_segment(dir: &Path, name: u64) -> Result<(File, File)> {
    let path = dir.join(segment_name(name));
    let writer = OpenOptions::new()
        .create(true)
        .truncate(false)
        .append(true)
        .read(true)
        .open(&path)
        .map_err(|e| io_error("create", &path, e))?;
    let reader = File::open(&path).map_err(|e| io_error("open", &path, e))?;
    Ok((writer, reader))
}

/// The frames of segment `name` (headers only; also the payloads' checksums when `verify`),
/// and how many bytes of it hold whole frames. Frames must follow on from `expect`.
fn scan(
    file: &File,
    name: u64,
    verify: bool,
    mut expect: u64,
    path: &Path,
) -> Result<(Vec<Frame>, u64)> {
    let len = file
        .metadata()
        .map_err(|e| io_error("stat", path, e))?
        .len();
    let mut frames = Vec::new();
    let mut offset = 0u64;
    let mut header = [0u8; HEADER];
    let mut payload = Vec::new();
    while offset + HEADER as u64 <= len {
        file.read_exact_at(&mut header, offset)
            .map_err(|e| io_error("read", path, e))?;
        let Some(f) = Frame::parse(&header, name, offset) else {
            break;
        };
        if offset + f.size() > len || f.first_seq < expect {
            break;
        }
        if verify {
            payload.resize(f.len as usize, 0);
            file.read_exact_at(&mut payload, offset + HEADER as u64)
                .map_err(|e| io_error("read", path, e))?;
            if crc32fast::hash(&payload) != f.crc {
                break;
            }
        }
        expect = f.end_seq();
        offset += f.size();
        frames.push(f);
    }
    if !verify && offset < len {
        tracing::warn!(
            segment = %path.display(),
            at = offset,
            "journal: a damaged frame ends what is read of this segment"
        );
    }
    Ok((frames, offset))
}

/// Events at or above `from` and below `to` in `frames`.
fn live_between(frames: &VecDeque<Frame>, from: u64, to: u64) -> u64 {
    frames
        .iter()
        .take_while(|f| f.first_seq < to)
        .map(|f| {
            let lo = f.first_seq.max(from);
            let hi = f.end_seq().min(to);
            hi.saturating_sub(lo)
        })
        .sum()
}

/// The floor stored in `dir` (0 when there is none or it cannot be read).
fn read_floor(dir: &Path) -> u64 {
    match std::fs::read(dir.join(FLOOR_FILE)) {
        Ok(b) => match <[u8; 8]>::try_from(b.as_slice()) {
            Ok(b) => u64::from_le_bytes(b),
            Err(_) => {
                tracing::warn!(dir = %dir.display(), "journal: unreadable floor file ignored");
                0
            }
        },
        Err(_) => 0,
    }
}

/// Replaces the floor stored in `dir` (a rename, so it is the old one or the new one).
fn write_floor(dir: &Path, floor: u64) -> Result<()> {
    let tmp = dir.join("floor.tmp");
    std::fs::write(&tmp, floor.to_le_bytes()).map_err(|e| io_error("write", &tmp, e))?;
    let path = dir.join(FLOOR_FILE);
    std::fs::rename(&tmp, &path).map_err(|e| io_error("rename", &path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `frames` frames of `per` events (lines `{"n":seq}`), a millisecond apart.
    fn fill(log: &SegmentLog, frames: u64, per: u64) {
        log.append_with(|sink| {
            for _ in 0..frames {
                let (seq, last) = sink.next();
                let ms = last.max(1_000) + 1;
                let raw: Vec<String> = (seq..seq + per)
                    .map(|n| format!(r#"{{"n":{n}}}"#))
                    .collect();
                sink.frame(ms, seq, ms, per as u32, raw.join("\n").as_bytes())?;
            }
            Ok(())
        })
        .unwrap();
    }

    /// Every live sequence, read back from the lines, oldest first.
    fn live(log: &SegmentLog) -> Vec<u64> {
        let (mut out, mut from) = (Vec::new(), 0);
        while let Some(r) = log.frame_from(from) {
            let raw = r.read().unwrap();
            for (i, line) in lines(&raw).enumerate() {
                let seq = r.frame.first_seq + i as u64;
                let v: serde_json::Value = serde_json::from_slice(line).unwrap();
                assert_eq!(v["n"], seq);
                if seq >= r.floor {
                    out.push(seq);
                }
            }
            from = r.frame.end_seq();
        }
        out
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".seg"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn frames_round_trip_and_reopen_keeps_numbering() {
        let dir = tempfile::tempdir().unwrap();
        let log = SegmentLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        fill(&log, 3, 10);
        assert_eq!((log.count(), log.next().0), (30, 30));
        assert_eq!(log.frame_holding(17).unwrap().frame.first_seq, 10);
        assert!(log.frame_holding(30).is_none());
        drop(log);
        let log = SegmentLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!((log.count(), log.next()), (30, (30, 1_003)));
        fill(&log, 1, 5);
        assert_eq!(live(&log), (0..35).collect::<Vec<_>>());
        // A floor moved within a segment (the file written late) is kept by the sync on drop.
        assert_eq!(log.purge_step(None, Some(25)).unwrap(), (10, false));
        drop(log);
        let log = SegmentLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!((log.count(), log.floor(), log.next().0), (25, 10, 35));
        assert_eq!(live(&log), (10..35).collect::<Vec<_>>());
    }

    #[test]
    fn a_torn_tail_is_truncated_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let seg = dir.path().join(segment_name(0));
        let log = SegmentLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        fill(&log, 3, 10);
        drop(log);
        let whole = std::fs::metadata(&seg).unwrap().len();
        // A frame cut short: the last one loses its end.
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(whole - 5).unwrap();
        drop(f);
        let log = SegmentLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!((log.count(), log.next().0), (20, 20));
        let kept = std::fs::metadata(&seg).unwrap().len();
        assert!(kept < whole - 5, "the torn frame is cut off");
        fill(&log, 1, 10);
        assert_eq!(live(&log), (0..30).collect::<Vec<_>>());
        drop(log);
        // A frame whose payload is damaged (a checksum mismatch), then garbage after it.
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        let len = f.metadata().unwrap().len();
        f.write_at(b"\xff\xff", len - 3).unwrap();
        f.write_at(&[7u8; 100], len).unwrap();
        drop(f);
        let log = SegmentLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!((log.count(), log.next().0), (20, 20));
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), kept);
        assert_eq!(live(&log), (0..20).collect::<Vec<_>>());
        // Nothing but a piece of a header.
        drop(log);
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(10).unwrap();
        drop(f);
        let log = SegmentLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!((log.count(), log.next().0), (0, 0));
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), 0);
    }

    #[test]
    fn retention_moves_the_floor_and_deletes_whole_segments() {
        let dir = tempfile::tempdir().unwrap();
        // Every frame past the first byte starts a new segment.
        let log = SegmentLog::open(dir.path(), 1).unwrap();
        fill(&log, 10, 5);
        assert_eq!(files(dir.path()).len(), 10);
        // The newest 12: the floor goes to 38, in the middle of the segment of 35..40.
        assert_eq!(log.purge_step(None, Some(12)).unwrap(), (38, false));
        assert_eq!((log.count(), log.floor()), (12, 38));
        assert_eq!(live(&log), (38..50).collect::<Vec<_>>());
        assert_eq!(
            files(dir.path()),
            [35, 40, 45].map(segment_name).to_vec(),
            "segments wholly below the floor are gone"
        );
        assert!(log.frame_holding(37).is_none() && log.frame_holding(38).is_some());
        assert_eq!(log.purge_step(None, Some(12)).unwrap(), (0, false));
        // Older than the 9th frame's time (1_009 ms): events 0..40 (38 and 39 were left).
        assert_eq!(log.purge_step(Some(1_008), None).unwrap(), (0, false));
        assert_eq!(log.purge_step(Some(1_009), None).unwrap(), (2, false));
        assert_eq!(log.segments(), [40, 45]);
        drop(log);
        // A restart keeps the floor, the count and the numbering.
        let log = SegmentLog::open(dir.path(), 1).unwrap();
        assert_eq!((log.count(), log.floor(), log.next().0), (10, 40, 50));
        fill(&log, 1, 5);
        assert_eq!(live(&log), (40..55).collect::<Vec<_>>());
        // Everything too old: the active segment stays (it numbers what follows).
        assert_eq!(log.purge_step(Some(i64::MAX), None).unwrap(), (15, false));
        assert_eq!((log.count(), log.segments()), (0, vec![50]));
        drop(log);
        let log = SegmentLog::open(dir.path(), 1).unwrap();
        assert_eq!((log.count(), log.next().0), (0, 55));
    }

    #[test]
    fn frames_that_do_not_follow_on_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = SegmentLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        fill(&log, 1, 5);
        let back = log.append_with(|sink| sink.frame(1_001, 3, 1_001, 1, b"{}"));
        assert!(matches!(back, Err(StoreError::Invariant(_))));
        assert_eq!((log.count(), log.next().0), (5, 5));
    }
}
