//! Times the embedded engine's event journal: appending typical SOAP events in the recorder's
//! batches of 1024, as the sled chunks of the layout before segment files did it (a replica of
//! the old `SledJournal::append`: chunks of 64 JSON lines, one sled batch per drain) and as
//! the segment files do it; bytes on disk per event; opening a log of millions of events;
//! reading a page and one event. Process CPU (all threads, sled's flusher included) and wall
//! time. Run: `cargo run --release --example journal_timing [events] [open-events]`
//! (defaults 1000000 and 5000000).

use std::time::{Duration, Instant};
use varco::domain::evento::{Categoria, Esito, Evento};
use varco::store::journal::{Filtro, event_key};
use varco::store::sled::Sled;
use varco::store::sled::journal::SledJournal;
use varco::store::sled::segments::{SEGMENT_BYTES, SegmentLog};

const BATCH: usize = 1024;

/// A paVerifyPaymentNotice as the server records it (no payloads).
fn soap_event(n: u64, t0: i64) -> Evento {
    let at = chrono::DateTime::from_timestamp_millis(t0 + (n / 20) as i64).unwrap_or_default();
    let mut e = Evento::new(
        Categoria::Soap,
        "paVerifyPaymentNotice",
        at,
        Duration::from_micros(180 + n % 97),
        Esito::Ok,
    );
    e.id_dominio = Some("77777777777".into());
    e.iuv = Some(format!("{:017}", 1_000_000 + n));
    e.numero_avviso = Some(format!("3{:017}", 1_000_000 + n));
    e.principal = Some("nodo-pagopa".into());
    e.id_a2a = Some("gestionale-demo".into());
    e
}

/// CPU seconds of this process so far (user + system, every thread).
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        total += if m.is_dir() {
            dir_bytes(&e.path())
        } else {
            m.len()
        };
    }
    total
}

fn report(what: &str, events: u64, wall: Duration, cpu_s: f64, bytes: u64) {
    println!(
        "{what:<26} {events:>8} events  wall {:>6.2} µs/event  cpu {:>6.2} µs/event  {:>6.1} bytes/event on disk",
        wall.as_secs_f64() * 1e6 / events as f64,
        cpu_s * 1e6 / events as f64,
        bytes as f64 / events as f64,
    );
}

/// The old layout: chunks of 64 JSON lines per sled key, one sled batch per drain.
fn sled_chunks(events: u64, t0: i64) {
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(64 << 20)
        .flush_every_ms(Some(500))
        .open()
        .unwrap();
    let tree = db.open_tree("journal").unwrap();
    let (c0, w0) = (cpu(), Instant::now());
    let mut seq = 0u64;
    while seq < events {
        let n = (events - seq).min(BATCH as u64);
        let mut b = sled::Batch::default();
        let mut lines: Vec<Vec<u8>> = Vec::with_capacity(64);
        let mut first = (0i64, 0u64);
        for s in seq..seq + n {
            let e = soap_event(s, t0);
            let ms = e.data.timestamp_millis();
            if lines.is_empty() {
                first = (ms, s);
            }
            lines.push(serde_json::to_vec(&e).unwrap());
            let last_ms = ms;
            if lines.len() == 64 || s + 1 == seq + n {
                let mut value = Vec::new();
                value.extend_from_slice(&event_key(last_ms, 0)[..8]);
                value.extend_from_slice(&(lines.len() as u32).to_be_bytes());
                value.extend_from_slice(&lines.join(&b'\n'));
                b.insert(&event_key(first.0, first.1)[..], value);
                lines.clear();
            }
        }
        tree.apply_batch(b).unwrap();
        seq += n;
    }
    db.flush().unwrap();
    let (cpu_s, wall) = (cpu() - c0, w0.elapsed());
    drop((tree, db));
    report(
        "before: sled chunks",
        events,
        wall,
        cpu_s,
        dir_bytes(dir.path()),
    );
}

/// The segment files, through the store as the recorder uses them.
fn segments(events: u64, t0: i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = Sled::open(dir.path(), 64).unwrap();
    let mut log = SledJournal::open(&store);
    let (c0, w0) = (cpu(), Instant::now());
    let mut seq = 0u64;
    let mut batch = Vec::with_capacity(BATCH);
    while seq < events {
        let n = (events - seq).min(BATCH as u64);
        batch.extend((seq..seq + n).map(|s| soap_event(s, t0)));
        log.append(&mut batch).unwrap();
        seq += n;
    }
    store.flush_blocking().unwrap();
    let (cpu_s, wall) = (cpu() - c0, w0.elapsed());
    report(
        "after: segment files",
        events,
        wall,
        cpu_s,
        dir_bytes(&dir.path().join("journal")),
    );
    // Reading: the newest page, a filtered page, one event.
    let w = Instant::now();
    let page = store.eventi(&Filtro::default(), 1, 50).unwrap();
    println!("  newest page of 50: {:?}", w.elapsed());
    let filter = Filtro {
        iuv: Some(format!("{:017}", 1_000_000 + events / 2)),
        ..Filtro::default()
    };
    let w = Instant::now();
    let found = store.eventi(&filter, 1, 50).unwrap();
    println!(
        "  by IUV (scans every frame, {} found): {:?}",
        found.risultati.len(),
        w.elapsed()
    );
    let id = &page.risultati[10].id;
    let w = Instant::now();
    assert!(store.evento(id).unwrap().is_some());
    println!("  one event by id: {:?}", w.elapsed());
}

/// Opening a log of `events` events (headers only, the last segment's checksums).
fn open_time(events: u64, t0: i64) {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Sled::open(dir.path(), 64).unwrap();
        let mut log = SledJournal::open(&store);
        let mut seq = 0u64;
        let mut batch = Vec::with_capacity(BATCH);
        while seq < events {
            let n = (events - seq).min(BATCH as u64);
            batch.extend((seq..seq + n).map(|s| soap_event(s, t0)));
            log.append(&mut batch).unwrap();
            seq += n;
        }
    }
    let path = dir.path().join("journal");
    let files = std::fs::read_dir(&path).unwrap().count();
    let w = Instant::now();
    let log = SegmentLog::open(&path, SEGMENT_BYTES).unwrap();
    let cold = w.elapsed();
    assert_eq!(log.count(), events);
    drop(log);
    let w = Instant::now();
    let log = SegmentLog::open(&path, SEGMENT_BYTES).unwrap();
    println!(
        "open {} events ({} files, {:.1} MiB): {:?} (again: {:?})",
        log.count(),
        files,
        dir_bytes(&path) as f64 / (1 << 20) as f64,
        cold,
        w.elapsed()
    );
}

/// The recorder's work without a store (building and serialising the events): subtracted
/// mentally from both rows above it.
fn harness(events: u64, t0: i64) {
    let (c0, w0) = (cpu(), Instant::now());
    let mut bytes = 0;
    for s in 0..events {
        bytes += serde_json::to_vec(&soap_event(s, t0)).unwrap().len();
    }
    report("harness: build + JSON", events, w0.elapsed(), cpu() - c0, 0);
    std::hint::black_box(bytes);
}

/// LZ4 alone on frames of 64, 128 and 256 events: compression and decompression per event,
/// bytes per event.
fn frame_sizes(events: u64, t0: i64) {
    let lines: Vec<Vec<u8>> = (0..events)
        .map(|s| serde_json::to_vec(&soap_event(s, t0)).unwrap())
        .collect();
    for per in [64, 128, 256] {
        let raws: Vec<Vec<u8>> = lines.chunks(per).map(|c| c.join(&b'\n')).collect();
        let w = Instant::now();
        let packed: Vec<Vec<u8>> = raws.iter().map(|r| lz4_flex::block::compress(r)).collect();
        let pack = w.elapsed();
        let w = Instant::now();
        for (p, r) in packed.iter().zip(&raws) {
            std::hint::black_box(lz4_flex::block::decompress(p, r.len()).unwrap());
        }
        let unpack = w.elapsed();
        let size: usize = packed.iter().map(Vec::len).sum();
        println!(
            "  LZ4, {per:>3} events per frame: compress {:.2} µs/event, decompress {:.2} µs/event \
             ({:.1} µs per frame), {:.1} bytes/event",
            pack.as_secs_f64() * 1e6 / events as f64,
            unpack.as_secs_f64() * 1e6 / events as f64,
            unpack.as_secs_f64() * 1e6 / raws.len() as f64,
            size as f64 / events as f64,
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().unwrap());
    let events = args.next().unwrap_or(1_000_000);
    let open_events = args.next().unwrap_or(5_000_000);
    let t0 = 1_790_000_000_000;
    let sample = serde_json::to_vec(&soap_event(1, t0)).unwrap();
    println!("event JSON: {} bytes", sample.len());
    harness(events, t0);
    frame_sizes(events.min(200_000), t0);
    sled_chunks(events, t0);
    segments(events, t0);
    open_time(open_events, t0);
}
