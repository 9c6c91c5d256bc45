//! kvlab: redb 4 measured against sled 0.34.7 on Varco's own key/value layout.
//!
//! Each position is written as Varco writes it: its JSON (`varco::domain::Pendenza`, built by
//! `varco::demo::sample` as the micro-benchmarks build them) under `<dominio>/<iuv>` in
//! `positions`, and its `app_recent` index entry (key `keys::app_recent`, 42 bytes; value the
//! listing `Summary`) in the same atomic commit. A receipt-like update reads a position,
//! rewrites it and inserts a receipt (`keys::receipt`, JSON `Ricevuta` without its XML) in
//! `receipts`, in one durable commit.
//!
//! `kvlab all --engine sled|redb --n N` runs every phase of one engine, each phase in a child
//! process of its own (the load; open, reads and updates; a load killed with SIGKILL; the
//! recovery), measures the directory with `du -sb`, deletes it, appends one JSON line to
//! `--out` and prints the Markdown row. `kvlab table FILE` prints the table of a JSON-lines file.
//!
//! `kvlab reopen` times consecutive clean reopens of a loaded store. With the environment
//! variable `KVLAB_REDB_QUICK_REPAIR` set, redb commits with quick-repair (rows labelled so).
//!
//! Run: `cargo run --release -p varco-bench --example kvlab -- all --engine redb --n 1000000`.
//! Results of the runs on the shared 2-core machine: `bench/kvlab-results.jsonl` (one line per
//! engine and N), progress and load averages in `bench/kvlab-runs.log`.

use std::io::{BufRead, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde_json::{Value, json};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use varco::config::Config;
use varco::domain::{
    EsitoPagamento, NoticeNumber, Pendenza, ReceiptStatus, ReceiptVersion, Ricevuta, Stato,
};
use varco::store::index::Summary;
use varco::store::sled::keys;

/// Positions per durable commit in the bulk load.
const BATCH: u64 = 10_000;
/// The segregation code of every generated notice.
const SEGREGATION: &str = "01";
/// The application every generated position belongs to.
const APP: &str = "demo";
/// Cache of either engine, MiB (sled's `cache_capacity`, redb's `set_cache_size`).
const CACHE_MB: usize = 256;

const POSITIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new(keys::POSITIONS);
const RECENT: TableDefinition<&[u8], &[u8]> = TableDefinition::new(keys::APP_RECENT);
const RECEIPTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new(keys::RECEIPTS);
/// With this variable set (to anything), redb commits with quick-repair (allocator state saved
/// in each commit, two-phase commit), so that the open after a crash does not walk the file.
const QUICK_REPAIR_ENV: &str = "KVLAB_REDB_QUICK_REPAIR";

fn quick_repair() -> bool {
    std::env::var_os(QUICK_REPAIR_ENV).is_some()
}

#[derive(Parser)]
#[command(about = "redb against sled on Varco's key/value layout")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Engine {
    Sled,
    Redb,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Sled => "sled",
            Engine::Redb => "redb",
        }
    }

    /// The name, with the redb variant measured.
    fn label(self) -> &'static str {
        match self {
            Engine::Redb if quick_repair() => "redb (quick-repair)",
            e => e.name(),
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Every phase of one engine, each in a child process; appends a JSON line to `out`.
    All {
        #[arg(long, value_enum)]
        engine: Engine,
        #[arg(long)]
        n: u64,
        /// Store directory (default /tmp/kvlab-<engine>-<n>); deleted at the end.
        #[arg(long)]
        dir: Option<PathBuf>,
        #[arg(long, default_value = "kvlab.jsonl")]
        out: PathBuf,
        /// Seconds of each read and update phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Keep the directory (to look at it afterwards).
        #[arg(long)]
        keep: bool,
    },
    /// Loads positions `start+1 ..= start+n` in durable commits of 10,000.
    Load {
        #[arg(long, value_enum)]
        engine: Engine,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 0)]
        start: u64,
        #[arg(long)]
        n: u64,
        /// Prints `ack <positions>` on stdout after each durable commit.
        #[arg(long)]
        ack: bool,
    },
    /// Opens a loaded store (timed, with its first read), then reads and updates.
    Serve {
        #[arg(long, value_enum)]
        engine: Engine,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        n: u64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Opens a store after a crash (timed), checks the acknowledged positions are there.
    Recover {
        #[arg(long, value_enum)]
        engine: Engine,
        #[arg(long)]
        dir: PathBuf,
        /// Positions loaded cleanly before the crashed load.
        #[arg(long)]
        n: u64,
        /// Positions the crashed load had acknowledged.
        #[arg(long)]
        acked: u64,
    },
    /// Opens a loaded store `times` times in a row (each timed with its first read), closing it
    /// cleanly in between.
    Reopen {
        #[arg(long, value_enum)]
        engine: Engine,
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        n: u64,
        #[arg(long, default_value_t = 3)]
        times: u32,
    },
    /// Prints the Markdown table of a JSON-lines file written by `all`.
    Table { file: PathBuf },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::All {
            engine,
            n,
            dir,
            out,
            seconds,
            keep,
        } => {
            let dir =
                dir.unwrap_or_else(|| PathBuf::from(format!("/tmp/kvlab-{}-{n}", engine.name())));
            let record = all(engine, n, &dir, seconds, keep)?;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&out)
                .with_context(|| out.display().to_string())?;
            writeln!(f, "{record}")?;
            println!("{}", table_header());
            println!("{}", table_row(&record));
        }
        Cmd::Load {
            engine,
            dir,
            start,
            n,
            ack,
        } => println!("{}", load(engine, &dir, start, n, ack)?),
        Cmd::Serve {
            engine,
            dir,
            n,
            seconds,
        } => println!("{}", serve(engine, &dir, n, seconds)?),
        Cmd::Recover {
            engine,
            dir,
            n,
            acked,
        } => println!("{}", recover(engine, &dir, n, acked)?),
        Cmd::Reopen {
            engine,
            dir,
            n,
            times,
        } => {
            let (_, dominio) = demo_config();
            let mut runs = Vec::new();
            for _ in 0..times {
                let (kv, t) = restart(engine, &dir, &dominio, n)?;
                kv.close()?;
                runs.push(t);
            }
            println!("{}", json!({ "engine": engine.label(), "reopens": runs }));
        }
        Cmd::Table { file } => {
            let text =
                std::fs::read_to_string(&file).with_context(|| file.display().to_string())?;
            println!("{}", table_header());
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                println!("{}", table_row(&serde_json::from_str(line)?));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The data: Varco's own types, keys and encodings.

/// The notice of reference `r`.
fn notice(r: u64) -> NoticeNumber {
    NoticeNumber::aux3(SEGREGATION, r)
}

/// Position `r`, as the API's bulk load would store it (application `demo`).
fn position(config: &Config, r: u64, now: DateTime<Utc>) -> Pendenza {
    let mut p = varco::demo::sample(config, &notice(r), now);
    p.id_a2a = Some(APP.into());
    p.id_pendenza = Some(format!("lab-{r:010}"));
    p
}

/// The `positions` key of reference `r`.
fn position_key(dominio: &str, r: u64) -> Vec<u8> {
    keys::position(dominio, notice(r).iuv())
}

/// The four byte strings a new position writes: positions key and JSON, index key and value.
struct Record {
    pkey: Vec<u8>,
    pvalue: Vec<u8>,
    ikey: Vec<u8>,
    ivalue: Vec<u8>,
}

fn record(config: &Config, r: u64, now: DateTime<Utc>) -> Result<Record> {
    let p = position(config, r, now);
    Ok(Record {
        pkey: keys::position(&p.dominio, &p.iuv),
        pvalue: serde_json::to_vec(&p)?,
        ikey: keys::app_recent(APP, p.created_at.timestamp_millis(), &p.dominio, &p.iuv),
        ivalue: Summary::of(&p).encode(),
    })
}

/// A receipt for the position of reference `r`, without its XML (the small record the update
/// inserts).
fn ricevuta(dominio: &str, r: u64, receipt_id: String) -> Ricevuta {
    let nav = notice(r);
    Ricevuta {
        dominio: dominio.into(),
        iuv: nav.iuv().to_owned(),
        receipt_id,
        numero_avviso: nav.as_str().to_owned(),
        creditor_reference_id: nav.iuv().to_owned(),
        versione: ReceiptVersion::V2,
        esito_pagamento: EsitoPagamento::Ok,
        importo: 12000,
        id_psp: "60000000001".into(),
        psp_denominazione: "PSP Demo".into(),
        id_canale: "60000000001_01".into(),
        descrizione_canale: "app".into(),
        metodo_pagamento: Some("creditCard".into()),
        data_pagamento: Some("2026-03-15T10:30:00".into()),
        commissioni: Some(100),
        stand_in: false,
        transfers: vec![],
        id_stazione: format!("{dominio}_01"),
        versante: None,
        received_at: Utc::now(),
        stato: ReceiptStatus::Accettata,
        xml: String::new(),
    }
}

/// The position closed by a receipt: decoded, marked paid, encoded again.
fn closed(stored: &[u8]) -> Result<Vec<u8>> {
    let mut p: Pendenza = serde_json::from_slice(stored)?;
    p.stato = Stato::Eseguita;
    p.updated_at = Utc::now();
    Ok(serde_json::to_vec(&p)?)
}

// ---------------------------------------------------------------------------------------------
// The engines.

enum Kv {
    Sled {
        db: sled::Db,
        positions: sled::Tree,
        recent: sled::Tree,
        receipts: sled::Tree,
    },
    Redb(redb::Database),
}

/// A redb write transaction as the lab commits them: durable at commit, quick-repair when
/// asked for.
fn redb_write(db: &redb::Database) -> Result<redb::WriteTransaction> {
    let mut tx = db.begin_write()?;
    tx.set_durability(redb::Durability::Immediate)?;
    tx.set_quick_repair(quick_repair());
    Ok(tx)
}

impl Kv {
    fn open(engine: Engine, dir: &Path) -> Result<Kv> {
        std::fs::create_dir_all(dir)?;
        Ok(match engine {
            Engine::Sled => {
                // As `varco::store::sled::Sled::open` configures it.
                let db = sled::Config::new()
                    .path(dir)
                    .cache_capacity((CACHE_MB as u64) * 1024 * 1024)
                    .flush_every_ms(Some(500))
                    .open()?;
                Kv::Sled {
                    positions: db.open_tree(keys::POSITIONS)?,
                    recent: db.open_tree(keys::APP_RECENT)?,
                    receipts: db.open_tree(keys::RECEIPTS)?,
                    db,
                }
            }
            Engine::Redb => {
                let file = dir.join("varco.redb");
                let existed = file.exists();
                let db = redb::Database::builder()
                    .set_cache_size(CACHE_MB * 1024 * 1024)
                    .create(file)?;
                if !existed {
                    let tx = redb_write(&db)?;
                    tx.open_table(POSITIONS)?;
                    tx.open_table(RECENT)?;
                    tx.open_table(RECEIPTS)?;
                    tx.commit()?;
                }
                Kv::Redb(db)
            }
        })
    }

    /// Writes a batch of new positions with their index entries, atomically and durably.
    fn load(&self, batch: &[Record]) -> Result<()> {
        match self {
            Kv::Sled {
                db,
                positions,
                recent,
                ..
            } => {
                (positions, recent)
                    .transaction(|(p, i)| {
                        for r in batch {
                            p.insert(r.pkey.as_slice(), r.pvalue.as_slice())?;
                            i.insert(r.ikey.as_slice(), r.ivalue.as_slice())?;
                        }
                        Ok::<_, ConflictableTransactionError<()>>(())
                    })
                    .map_err(|e| anyhow!("sled transaction: {e:?}"))?;
                db.flush()?;
            }
            Kv::Redb(db) => {
                let tx = redb_write(db)?;
                {
                    let mut p = tx.open_table(POSITIONS)?;
                    let mut i = tx.open_table(RECENT)?;
                    for r in batch {
                        p.insert(r.pkey.as_slice(), r.pvalue.as_slice())?;
                        i.insert(r.ikey.as_slice(), r.ivalue.as_slice())?;
                    }
                }
                tx.commit()?;
            }
        }
        Ok(())
    }

    /// Calls `f` with the stored value of `key` (false when absent).
    fn read(&self, key: &[u8], f: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<bool> {
        match self {
            Kv::Sled { positions, .. } => match positions.get(key)? {
                Some(v) => f(&v).map(|()| true),
                None => Ok(false),
            },
            Kv::Redb(db) => {
                let tx = db.begin_read()?;
                let t = tx.open_table(POSITIONS)?;
                match t.get(key)? {
                    Some(v) => f(v.value()).map(|()| true),
                    None => Ok(false),
                }
            }
        }
    }

    /// A receipt: reads the position, rewrites it closed, inserts the receipt; one atomic,
    /// durable commit (sled: the transaction, then `Db::flush` from this thread). False when
    /// the position is absent.
    fn receipt(&self, pkey: &[u8], rkey: &[u8], rvalue: &[u8]) -> Result<bool> {
        match self {
            Kv::Sled {
                db,
                positions,
                receipts,
                ..
            } => {
                let found = (positions, receipts)
                    .transaction(|(p, r)| {
                        let Some(old) = p.get(pkey)? else {
                            return Ok(false);
                        };
                        let new = closed(&old)
                            .map_err(|e| ConflictableTransactionError::Abort(e.to_string()))?;
                        p.insert(pkey, new)?;
                        r.insert(rkey, rvalue)?;
                        Ok(true)
                    })
                    .map_err(|e| anyhow!("sled transaction: {e:?}"))?;
                db.flush()?;
                Ok(found)
            }
            Kv::Redb(db) => {
                let tx = redb_write(db)?;
                let found = {
                    let mut p = tx.open_table(POSITIONS)?;
                    let old = p.get(pkey)?.map(|v| v.value().to_vec());
                    match old {
                        Some(old) => {
                            p.insert(pkey, closed(&old)?.as_slice())?;
                            tx.open_table(RECEIPTS)?.insert(rkey, rvalue)?;
                            true
                        }
                        None => false,
                    }
                };
                tx.commit()?;
                Ok(found)
            }
        }
    }

    /// Positions stored (sled walks the whole tree).
    fn count(&self) -> Result<u64> {
        Ok(match self {
            Kv::Sled { positions, .. } => positions.len() as u64,
            Kv::Redb(db) => db.begin_read()?.open_table(POSITIONS)?.len()?,
        })
    }

    /// Makes everything durable and closes the store.
    fn close(self) -> Result<()> {
        match self {
            Kv::Sled { db, .. } => {
                db.flush()?;
                drop(db);
            }
            Kv::Redb(db) => drop(db),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The phases (each in its own process).

/// VmRSS and VmHWM of this process, MiB.
fn memory() -> Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    json!({ "rss_mib": field("VmRSS:"), "hwm_mib": field("VmHWM:") })
}

fn demo_config() -> (Config, String) {
    let config = Config::demo();
    let dominio = config.domini[0].id.clone();
    (config, dominio)
}

/// Loads positions `start+1 ..= start+n`: a builder thread encodes the next batch while the
/// engine commits this one.
fn load(engine: Engine, dir: &Path, start: u64, n: u64, ack: bool) -> Result<Value> {
    let t_open = Instant::now();
    let kv = Kv::open(engine, dir)?;
    let open_s = t_open.elapsed().as_secs_f64();
    let (tx, rx) = mpsc::sync_channel::<Result<Vec<Record>>>(1);
    let builder = std::thread::spawn(move || {
        let (config, _) = demo_config();
        let mut next = start + 1;
        while next <= start + n {
            let end = (next + BATCH).min(start + n + 1);
            let now = Utc::now();
            let batch = (next..end).map(|r| record(&config, r, now)).collect();
            if tx.send(batch).is_err() {
                return;
            }
            next = end;
        }
    });
    let t0 = Instant::now();
    let (mut done, mut engine_s, mut slowest) = (0u64, 0f64, 0f64);
    let (mut value_bytes, mut index_bytes) = (0u64, 0u64);
    let mut marks: Vec<(u64, f64)> = vec![(0, 0.0)];
    for batch in rx {
        let batch = batch?;
        value_bytes += batch.iter().map(|r| r.pvalue.len() as u64).sum::<u64>();
        index_bytes += batch
            .iter()
            .map(|r| (r.ikey.len() + r.ivalue.len()) as u64)
            .sum::<u64>();
        let t = Instant::now();
        kv.load(&batch)?;
        let s = t.elapsed().as_secs_f64();
        engine_s += s;
        slowest = slowest.max(s);
        done += batch.len() as u64;
        if ack {
            println!("ack {done}");
            std::io::stdout().flush()?;
        }
        if done % 1_000_000 == 0 {
            let at = t0.elapsed().as_secs_f64();
            let last = marks.last().copied().unwrap_or((0, 0.0));
            eprintln!(
                "{}: {done} loaded, {:.1} s, last 1M at {:.0}/s",
                engine.name(),
                at,
                (done - last.0) as f64 / (at - last.1).max(1e-9)
            );
            marks.push((done, at));
        }
    }
    let wall_s = t0.elapsed().as_secs_f64();
    builder
        .join()
        .map_err(|_| anyhow!("the builder thread panicked"))?;
    let mem = memory();
    let t_close = Instant::now();
    kv.close()?;
    let close_s = t_close.elapsed().as_secs_f64();
    // The last million: from the mark 1M before the end (or the whole load when smaller).
    let from = marks
        .iter()
        .rev()
        .find(|(d, _)| done.saturating_sub(*d) >= 1_000_000.min(done))
        .copied()
        .unwrap_or((0, 0.0));
    Ok(json!({
        "positions": done,
        "open_s": open_s,
        "load_s": wall_s,
        "load_per_s": done as f64 / wall_s.max(1e-9),
        "engine_s": engine_s,
        "engine_per_s": done as f64 / engine_s.max(1e-9),
        "last_1m_per_s": (done - from.0) as f64 / (wall_s - from.1).max(1e-9),
        "slowest_commit_s": slowest,
        "close_s": close_s,
        "avg_value_bytes": value_bytes as f64 / done.max(1) as f64,
        "avg_index_entry_bytes": index_bytes as f64 / done.max(1) as f64,
        "memory_after_load": mem,
    }))
}

/// Reads for `seconds` on 2 threads: uniformly random existing positions, with or without the
/// JSON decode into `Pendenza`.
fn reads(kv: &Kv, dominio: &str, n: u64, seconds: u64, decode: bool) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let results: Vec<Result<(u64, Histogram<u64>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2u64)
            .map(|t| {
                s.spawn(move || -> Result<(u64, Histogram<u64>)> {
                    let mut rng = fastrand::Rng::with_seed(t + 1);
                    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
                    let mut count = 0u64;
                    while Instant::now() < deadline {
                        let key = position_key(dominio, rng.u64(1..=n));
                        let t0 = Instant::now();
                        let found = kv.read(&key, &mut |v| {
                            if decode {
                                let p: Pendenza = serde_json::from_slice(v)?;
                                std::hint::black_box(p);
                            } else {
                                std::hint::black_box(v.len());
                            }
                            Ok(())
                        })?;
                        h.record(t0.elapsed().as_nanos() as u64)?;
                        if !found {
                            bail!("position {key:?} missing");
                        }
                        count += 1;
                    }
                    Ok((count, h))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a reader panicked")))
            })
            .collect()
    });
    let mut total = 0u64;
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for r in results {
        let (c, h) = r?;
        total += c;
        all.add(&h)?;
    }
    Ok(json!({
        "per_s": total as f64 / seconds as f64,
        "p50_us": all.value_at_quantile(0.50) as f64 / 1000.0,
        "p99_us": all.value_at_quantile(0.99) as f64 / 1000.0,
        "max_us": all.max() as f64 / 1000.0,
    }))
}

/// Receipt-like durable updates for `seconds` on `threads` threads.
fn updates(kv: &Kv, dominio: &str, n: u64, seconds: u64, threads: u64) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let t0 = Instant::now();
    let results: Vec<Result<(u64, Histogram<u64>)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<(u64, Histogram<u64>)> {
                    let mut rng = fastrand::Rng::with_seed(1000 + t);
                    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
                    let mut count = 0u64;
                    while Instant::now() < deadline {
                        let r = rng.u64(1..=n);
                        let receipt_id = format!("{:032x}", rng.u128(..));
                        let rkey = keys::receipt(dominio, notice(r).iuv(), &receipt_id);
                        let rvalue = serde_json::to_vec(&ricevuta(dominio, r, receipt_id))?;
                        let pkey = position_key(dominio, r);
                        let c0 = Instant::now();
                        if !kv.receipt(&pkey, &rkey, &rvalue)? {
                            bail!("position {pkey:?} missing");
                        }
                        h.record(c0.elapsed().as_nanos() as u64)?;
                        count += 1;
                    }
                    Ok((count, h))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a writer panicked")))
            })
            .collect()
    });
    let elapsed = t0.elapsed().as_secs_f64();
    let mut total = 0u64;
    let mut all = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for r in results {
        let (c, h) = r?;
        total += c;
        all.add(&h)?;
    }
    Ok(json!({
        "threads": threads,
        "commits_per_s": total as f64 / elapsed,
        "p50_ms": all.value_at_quantile(0.50) as f64 / 1e6,
        "p99_ms": all.value_at_quantile(0.99) as f64 / 1e6,
    }))
}

/// Open (timed) and the first random read (timed): restart-to-ready.
fn restart(engine: Engine, dir: &Path, dominio: &str, n: u64) -> Result<(Kv, Value)> {
    let t0 = Instant::now();
    let kv = Kv::open(engine, dir)?;
    let open_s = t0.elapsed().as_secs_f64();
    let key = position_key(dominio, fastrand::Rng::with_seed(7).u64(1..=n));
    let found = kv.read(&key, &mut |v| {
        let _: Pendenza = serde_json::from_slice(v)?;
        Ok(())
    })?;
    if !found {
        bail!("the first read found nothing");
    }
    let ready_s = t0.elapsed().as_secs_f64();
    Ok((kv, json!({ "open_s": open_s, "ready_s": ready_s })))
}

fn serve(engine: Engine, dir: &Path, n: u64, seconds: u64) -> Result<Value> {
    let (_, dominio) = demo_config();
    let (kv, restart) = restart(engine, dir, &dominio, n)?;
    let memory_after_open = memory();
    let get = reads(&kv, &dominio, n, seconds, false)?;
    let get_decode = reads(&kv, &dominio, n, seconds, true)?;
    let memory_after_reads = memory();
    let upd1 = updates(&kv, &dominio, n, seconds, 1)?;
    let upd16 = updates(&kv, &dominio, n, seconds, 16)?;
    let memory_after_updates = memory();
    kv.close()?;
    Ok(json!({
        "restart": restart,
        "memory_after_open": memory_after_open,
        "reads_get": get,
        "reads_get_decode": get_decode,
        "memory_after_reads": memory_after_reads,
        "updates_1": upd1,
        "updates_16": upd16,
        "memory_after_updates": memory_after_updates,
    }))
}

fn recover(engine: Engine, dir: &Path, n: u64, acked: u64) -> Result<Value> {
    let (_, dominio) = demo_config();
    let (kv, restart) = restart(engine, dir, &dominio, n)?;
    // Every acknowledged position must be there and decode; count the unacknowledged ones
    // that made it too (at most one batch).
    let (mut lost, mut torn, mut extra) = (0u64, 0u64, 0u64);
    for r in n + 1..=n + acked + BATCH {
        let mut bad = false;
        let found = kv.read(&position_key(&dominio, r), &mut |v| {
            bad = serde_json::from_slice::<Pendenza>(v).is_err();
            Ok(())
        })?;
        torn += u64::from(found && bad);
        if r <= n + acked {
            lost += u64::from(!found);
        } else {
            extra += u64::from(found);
        }
    }
    let count = kv.count()?;
    kv.close()?;
    Ok(json!({
        "restart": restart,
        "acked": acked,
        "acked_lost": lost,
        "torn": torn,
        "unacked_persisted": extra,
        "positions_after": count,
    }))
}

// ---------------------------------------------------------------------------------------------
// The orchestration.

fn child(args: &[String]) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap_or_else(|_| "kvlab".into()));
    c.args(args).stderr(Stdio::inherit());
    c
}

/// Runs a phase to its end; its result is the last line of its standard output.
fn run_phase(args: &[String]) -> Result<Value> {
    eprintln!("kvlab {}", args.join(" "));
    let out = child(args).stdout(Stdio::piped()).output()?;
    if !out.status.success() {
        bail!("kvlab {} failed: {}", args.join(" "), out.status);
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().context("no result line")?;
    Ok(serde_json::from_str(last)?)
}

fn du(dir: &Path) -> Result<u64> {
    let out = Command::new("du").arg("-sb").arg(dir).output()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .context("du -sb")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Loads in a child, kills it with SIGKILL after a few acknowledged commits (at a random point
/// of the next one); returns the acknowledged count.
fn crash(engine: Engine, dir: &Path, n: u64) -> Result<u64> {
    let args: Vec<String> = [
        "load",
        "--engine",
        engine.name(),
        "--dir",
        &dir.display().to_string(),
        "--start",
        &n.to_string(),
        "--n",
        "1000000",
        "--ack",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    eprintln!("kvlab {} (to be killed)", args.join(" "));
    let mut c = child(&args).stdout(Stdio::piped()).spawn()?;
    let stdout = c.stdout.take().context("child stdout")?;
    let (tx, rx) = mpsc::channel::<u64>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
            if let Some(v) = line.strip_prefix("ack ").and_then(|v| v.parse().ok()) {
                let _ = tx.send(v);
            }
        }
    });
    let mut acked = 0;
    let mut last = Instant::now();
    let mut gap = Duration::from_millis(100);
    for _ in 0..5 {
        acked = rx.recv_timeout(Duration::from_secs(600))?;
        gap = last.elapsed();
        last = Instant::now();
    }
    // Somewhere inside the next commit.
    std::thread::sleep(gap.mul_f64(fastrand::f64() * 0.9));
    c.kill()?;
    c.wait()?;
    reader
        .join()
        .map_err(|_| anyhow!("the ack reader panicked"))?;
    acked = rx.try_iter().last().unwrap_or(acked).max(acked);
    Ok(acked)
}

fn all(engine: Engine, n: u64, dir: &Path, seconds: u64, keep: bool) -> Result<Value> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    let d = dir.display().to_string();
    let loadavg_before = loadavg();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<String>>();
    let load = run_phase(&s(&[
        "load",
        "--engine",
        engine.name(),
        "--dir",
        &d,
        "--n",
        &n.to_string(),
    ]))?;
    let bytes = du(dir)?;
    let serve = run_phase(&s(&[
        "serve",
        "--engine",
        engine.name(),
        "--dir",
        &d,
        "--n",
        &n.to_string(),
        "--seconds",
        &seconds.to_string(),
    ]))?;
    let bytes_after_updates = du(dir)?;
    let acked = crash(engine, dir, n)?;
    let recover = run_phase(&s(&[
        "recover",
        "--engine",
        engine.name(),
        "--dir",
        &d,
        "--n",
        &n.to_string(),
        "--acked",
        &acked.to_string(),
    ]))?;
    if !keep {
        std::fs::remove_dir_all(dir)?;
    }
    Ok(json!({
        "engine": engine.label(),
        "n": n,
        "at": Utc::now().to_rfc3339(),
        "loadavg_before": loadavg_before,
        "loadavg_after": loadavg(),
        "load": load,
        "bytes_on_disk": bytes,
        "bytes_per_position": bytes as f64 / n as f64,
        "bytes_on_disk_after_updates": bytes_after_updates,
        "serve": serve,
        "crash": recover,
    }))
}

fn table_header() -> String {
    [
        "| engine | N | bulk pos/s (last 1M) | B/position | restart s (open+1st read) | after kill -9 s (lost acked) | get/s (p99 µs) | get+decode/s (p99 µs) | RSS after load / reads / updates MiB (HWM) | updates/s 1 thr | updates/s 16 thr |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    .join("\n")
}

fn table_row(r: &Value) -> String {
    let f = |p: &str| r.pointer(p).and_then(Value::as_f64).unwrap_or(f64::NAN);
    format!(
        "| {} | {} | {:.0} ({:.0}) | {:.0} | {:.3} | {:.3} ({}) | {:.0} ({:.0}) | {:.0} ({:.0}) | {:.0} / {:.0} / {:.0} ({:.0}) | {:.0} | {:.0} |",
        r["engine"].as_str().unwrap_or("?"),
        r["n"],
        f("/load/load_per_s"),
        f("/load/last_1m_per_s"),
        f("/bytes_per_position"),
        f("/serve/restart/ready_s"),
        f("/crash/restart/ready_s"),
        r.pointer("/crash/acked_lost").unwrap_or(&Value::Null),
        f("/serve/reads_get/per_s"),
        f("/serve/reads_get/p99_us"),
        f("/serve/reads_get_decode/per_s"),
        f("/serve/reads_get_decode/p99_us"),
        f("/load/memory_after_load/rss_mib"),
        f("/serve/memory_after_reads/rss_mib"),
        f("/serve/memory_after_updates/rss_mib"),
        f("/serve/memory_after_updates/hwm_mib"),
        f("/serve/updates_1/commits_per_s"),
        f("/serve/updates_16/commits_per_s"),
    )
}
