//! The event journal (GovPay's "giornale degli eventi"): every SOAP call, REST call and
//! outbound receipt delivery, with its time, operation, ids, outcome and duration, and (only
//! when `[journal] payloads = true`) the payloads.
//!
//! Recording never blocks a request and never adds a flush: [`Journal::record`] hands a boxed
//! event to a bounded channel with `try_send`; one writer thread drains it and writes batches
//! (one sled `Batch` per drain) into the `journal` tree. When the channel is full the event is
//! dropped and counted (`varco_journal_dropped_total`). Under traffic the writer polls the
//! channel every 10 ms instead of being woken per event (a wake-up is a futex call on the
//! request path; it cost a third of verify throughput when measured). Events become durable
//! with sled's periodic flush or the final flush on shutdown ([`Journal::close`] drains the
//! channel first), so the last instants of events may be lost on `kill -9`; receipts never are
//! (they have their own flushed transaction).
//!
//! Storage: events are packed in chunks (`Chunk` below), keyed by time then sequence, so
//! listing newest first and purging the oldest are range scans, and sled pays its per-key cost
//! once per chunk. The same thread purges, in steps between batches: events older than
//! `max_age_days` and the oldest beyond `max_events`, exactly (the chunk on the boundary is
//! rewritten without its older events), at startup, every minute and whenever a write goes
//! over the count bound.

use super::{Result, Store, keys};
use crate::config::JournalConfig;
use crate::domain::Clock;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// Largest payload kept per direction; longer ones are cut with [`TRUNCATED`].
pub const PAYLOAD_CAP: usize = 64 * 1024;
/// Appended to a payload cut at [`PAYLOAD_CAP`].
pub const TRUNCATED: &str = "…[truncated]";
/// Most results per page of [`Journal::list`].
pub const MAX_PAGE: usize = 200;
/// Most events one listing reads before it stops and hands back a cursor.
pub const MAX_SCAN: usize = 1_000_000;
/// Most events written in one batch.
const BATCH: usize = 1024;
/// Most events removed in one purge step (the queue is drained between steps).
const PURGE_CHUNK: usize = 2048;
/// Under traffic, how often the writer looks at the queue.
const TICK: Duration = Duration::from_millis(10);
/// How often the bounds are enforced when nothing else triggers it.
const PURGE_EVERY: Duration = Duration::from_secs(60);

/// What kind of call an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Categoria {
    /// A paForNode call from the Nodo.
    Soap,
    /// A REST call from a gestionale or an operator.
    Rest,
    /// A receipt delivery to a gestionale.
    Outbox,
}

impl Categoria {
    /// Parses `SOAP`, `REST`, `OUTBOX` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "SOAP" => Some(Self::Soap),
            "REST" => Some(Self::Rest),
            "OUTBOX" => Some(Self::Outbox),
            _ => None,
        }
    }
}

/// The outcome, as GovPay names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Esito {
    /// Done (SOAP `OK`, HTTP 2xx/3xx, delivered).
    Ok,
    /// Refused on the merits (SOAP `KO`, HTTP 4xx, a receipt parked for lack of a connector).
    Ko,
    /// Failed (SOAP fault, HTTP 5xx, a delivery that failed and will be retried).
    Fail,
}

impl Esito {
    /// Parses `OK`, `KO`, `FAIL` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_uppercase().as_str() {
            "OK" => Some(Self::Ok),
            "KO" => Some(Self::Ko),
            "FAIL" => Some(Self::Fail),
            _ => None,
        }
    }
}

/// Which side Varco was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Ruolo {
    /// Varco served the call.
    Server,
    /// Varco made the call.
    Client,
}

/// pagoPA identifiers of a SOAP call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatiPagoPa {
    /// `idBrokerPA`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_intermediario: Option<String>,
    /// `idStation`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_stazione: Option<String>,
    /// `idPSP` (receipts).
    #[serde(rename = "idPSP", skip_serializing_if = "Option::is_none")]
    pub id_psp: Option<String>,
    /// `idChannel` (receipts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_canale: Option<String>,
}

/// One direction of a call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Parametri {
    /// HTTP method (requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metodo: Option<String>,
    /// Path, without the query string (requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// HTTP status (responses).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The body, only with `[journal] payloads = true`, cut at 64 KiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
}

/// One journal event, stored as compact JSON; field names follow GovPay's `Evento`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Evento {
    /// The event's key (32 hex digits): the `cursore` to continue a listing after it. Not
    /// stored, filled when read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// When the call ended (the event was recorded); `durataEvento` before it, it started.
    pub data: DateTime<Utc>,
    /// `API_PAGOPA` (SOAP), `API_PENDENZE`, `API_BACKOFFICE` (REST), `API_GESTIONALE` (outbox).
    pub componente: String,
    /// SERVER (Varco answered) or CLIENT (Varco called).
    pub ruolo: Ruolo,
    /// SOAP, REST or OUTBOX.
    pub categoria_evento: Categoria,
    /// The operation: `paVerifyPaymentNotice`, `PUT /api/pendenze/v2/pendenze/{idA2A}/{idPendenza}`.
    pub tipo_evento: String,
    /// OK, KO or FAIL.
    pub esito: Esito,
    /// SOAP fault code, HTTP status, or the outbox's verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sottotipo_esito: Option<String>,
    /// Fault description or delivery error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dettaglio_esito: Option<String>,
    /// Duration in milliseconds (GovPay's unit).
    pub durata_evento: u64,
    /// Duration in microseconds.
    pub durata_us: u64,
    /// Creditor fiscal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_dominio: Option<String>,
    /// Notice number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numero_avviso: Option<String>,
    /// IUV.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iuv: Option<String>,
    /// Receipt id (`receiptId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_ricevuta: Option<String>,
    /// Owning application.
    #[serde(rename = "idA2A", default, skip_serializing_if = "Option::is_none")]
    pub id_a2a: Option<String>,
    /// The application's id of the position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_pendenza: Option<String>,
    /// The authenticated REST user (application or operator).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Outbox entry id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_outbox: Option<u64>,
    /// Delivery attempt number (1 = first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tentativo: Option<u32>,
    /// pagoPA identifiers.
    #[serde(
        rename = "datiPagoPA",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dati_pago_pa: Option<DatiPagoPa>,
    /// The request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parametri_richiesta: Option<Parametri>,
    /// The response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parametri_risposta: Option<Parametri>,
}

impl Evento {
    /// An event of `categoria` started at `data`, taking `elapsed`; the rest empty.
    pub fn new(
        categoria: Categoria,
        tipo_evento: impl Into<String>,
        data: DateTime<Utc>,
        elapsed: Duration,
        esito: Esito,
    ) -> Self {
        let (componente, ruolo) = match categoria {
            Categoria::Soap => ("API_PAGOPA", Ruolo::Server),
            Categoria::Rest => ("API_PENDENZE", Ruolo::Server),
            Categoria::Outbox => ("API_GESTIONALE", Ruolo::Client),
        };
        Self {
            id: String::new(),
            data,
            componente: componente.into(),
            ruolo,
            categoria_evento: categoria,
            tipo_evento: tipo_evento.into(),
            esito,
            sottotipo_esito: None,
            dettaglio_esito: None,
            durata_evento: elapsed.as_millis().min(u64::MAX as u128) as u64,
            durata_us: elapsed.as_micros().min(u64::MAX as u128) as u64,
            id_dominio: None,
            numero_avviso: None,
            iuv: None,
            id_ricevuta: None,
            id_a2a: None,
            id_pendenza: None,
            principal: None,
            id_outbox: None,
            tentativo: None,
            dati_pago_pa: None,
            parametri_richiesta: None,
            parametri_risposta: None,
        }
    }
}

/// A payload as text, cut at [`PAYLOAD_CAP`] bytes (on a character boundary) with a marker.
pub fn payload(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(PAYLOAD_CAP + 4)]);
    if bytes.len() <= PAYLOAD_CAP && text.len() <= PAYLOAD_CAP {
        return text.into_owned();
    }
    let mut end = PAYLOAD_CAP.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{TRUNCATED}", &text[..end])
}

/// Filters of [`Journal::list`]; every one given must match.
#[derive(Debug, Clone, Default)]
pub struct Filtro {
    /// Events at or after.
    pub da: Option<DateTime<Utc>>,
    /// Events at or before.
    pub a: Option<DateTime<Utc>>,
    /// Continue after this event (older than it).
    pub cursore: Option<[u8; 16]>,
    /// Category.
    pub categoria: Option<Categoria>,
    /// Operation (exact).
    pub tipo_evento: Option<String>,
    /// Outcome.
    pub esito: Option<Esito>,
    /// Creditor.
    pub id_dominio: Option<String>,
    /// IUV.
    pub iuv: Option<String>,
    /// Receipt id.
    pub id_ricevuta: Option<String>,
    /// Application.
    pub id_a2a: Option<String>,
    /// The application's position id.
    pub id_pendenza: Option<String>,
}

impl Filtro {
    fn matches(&self, e: &Evento) -> bool {
        fn eq(want: &Option<String>, have: &Option<String>) -> bool {
            want.as_ref().is_none_or(|w| have.as_ref() == Some(w))
        }
        self.da.is_none_or(|d| e.data >= d)
            && self.a.is_none_or(|a| e.data <= a)
            && self.categoria.is_none_or(|c| e.categoria_evento == c)
            && self.esito.is_none_or(|x| e.esito == x)
            && self
                .tipo_evento
                .as_ref()
                .is_none_or(|t| &e.tipo_evento == t)
            && eq(&self.id_dominio, &e.id_dominio)
            && eq(&self.iuv, &e.iuv)
            && eq(&self.id_ricevuta, &e.id_ricevuta)
            && eq(&self.id_a2a, &e.id_a2a)
            && eq(&self.id_pendenza, &e.id_pendenza)
    }

    /// Strings that must occur verbatim in a matching event's JSON: a cheap test before
    /// decoding. Values JSON would escape are left to the exact test.
    fn needles(&self) -> Vec<&[u8]> {
        [
            &self.id_dominio,
            &self.iuv,
            &self.id_ricevuta,
            &self.id_a2a,
            &self.id_pendenza,
            &self.tipo_evento,
        ]
        .into_iter()
        .flatten()
        .filter(|s| s.chars().all(|c| c >= ' ' && c != '"' && c != '\\'))
        .map(|s| s.as_bytes())
        .collect()
    }
}

/// One page of [`Journal::list`].
#[derive(Debug, Clone, Default)]
pub struct Pagina {
    /// Events, newest first.
    pub risultati: Vec<Evento>,
    /// Pass as `cursore` to continue, when more may follow.
    pub cursore: Option<String>,
}

/// Counters of one journal.
#[derive(Debug, Default)]
pub struct JournalStats {
    /// Events written.
    pub written: std::sync::atomic::AtomicU64,
    /// Events dropped (queue full or closed).
    pub dropped: std::sync::atomic::AtomicU64,
    /// Events removed by the purge.
    pub purged: std::sync::atomic::AtomicU64,
    /// Events in the tree (as the writer counts them).
    pub entries: std::sync::atomic::AtomicU64,
}

enum Msg {
    Event(Box<Evento>),
    /// Answered once everything queued before it is written.
    Barrier(mpsc::Sender<()>),
    /// Answered with the number removed once both bounds hold.
    Purge(mpsc::Sender<u64>),
    /// Write what is queued, answer, stop.
    Close(mpsc::Sender<()>),
}

struct Inner {
    tx: Option<SyncSender<Msg>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The writer drains what is queued, then sees the channel closed and ends; waiting for
        // it releases its handle on the database before the store can be reopened.
        drop(self.tx.take());
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// Cheap-to-clone handle to the journal's recorder (reading is [`Store::eventi`]).
#[derive(Clone)]
pub struct Journal {
    payloads: bool,
    inner: Option<Arc<Inner>>,
    /// Counters.
    pub stats: Arc<JournalStats>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("enabled", &self.enabled())
            .field("payloads", &self.payloads)
            .finish()
    }
}

impl Journal {
    /// The journal of `store` per `config`: with `enabled`, a writer thread is started (it
    /// stops when the last handle is dropped or on [`Journal::close`]). `clock` dates the purge.
    pub fn start(store: &Store, config: &JournalConfig, clock: Clock) -> Self {
        let off = Self::disabled();
        if !config.enabled {
            return off;
        }
        let stats = off.stats.clone();
        let (tx, rx) = mpsc::sync_channel(config.queue.max(1));
        let writer = Writer {
            tree: store.journal.clone(),
            store: store.clone(),
            clock,
            max_age: (config.max_age_days > 0)
                .then(|| chrono::Duration::days(config.max_age_days.min(1 << 40) as i64)),
            max_events: (config.max_events > 0).then_some(config.max_events),
            count: 0,
            seq: 0,
            last_ms: i64::MIN,
            owners: std::collections::HashMap::new(),
            stats: stats.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("varco-journal".into())
            .spawn(move || writer.run(rx));
        match spawned {
            Ok(thread) => Self {
                payloads: config.payloads,
                inner: Some(Arc::new(Inner {
                    tx: Some(tx),
                    thread: Mutex::new(Some(thread)),
                })),
                stats,
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot start the journal writer; events are not recorded");
                off
            }
        }
    }

    /// A journal that records nothing.
    pub fn disabled() -> Self {
        Self {
            payloads: false,
            inner: None,
            stats: Arc::new(JournalStats::default()),
        }
    }

    /// True when events are recorded.
    pub fn enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// True when payloads are recorded (and the journal is enabled).
    pub fn payloads(&self) -> bool {
        self.payloads && self.enabled()
    }

    /// Queues an event; never blocks. A full (or closed) queue drops it and counts it.
    pub fn record(&self, event: Evento) {
        let Some(tx) = self.inner.as_ref().and_then(|i| i.tx.as_ref()) else {
            return;
        };
        match tx.try_send(Msg::Event(Box::new(event))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats
                    .dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                crate::metrics::journal_dropped();
            }
        }
    }

    /// Sends a control message and waits for its answer (blocking; not for the request path).
    fn control<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Msg) -> Option<T> {
        let tx = self.inner.as_ref()?.tx.as_ref()?;
        let (ack, answer) = mpsc::channel();
        tx.send(make(ack)).ok()?;
        answer.recv().ok()
    }

    /// Waits until every event recorded before this call is written (blocking).
    pub fn barrier(&self) {
        self.control(Msg::Barrier);
    }

    /// Enforces both bounds now, to the end (blocking); the number of events removed.
    pub fn purge_now(&self) -> u64 {
        self.control(Msg::Purge).unwrap_or(0)
    }

    /// Writes everything queued and stops the writer (blocking); later events are dropped.
    /// Call before the store's final flush.
    pub fn close(&self) {
        self.control(Msg::Close);
        if let Some(t) = self
            .inner
            .as_ref()
            .and_then(|i| i.thread.lock().ok().and_then(|mut t| t.take()))
        {
            let _ = t.join();
        }
    }

    /// Events in the tree as the writer counts them (0 until it has counted at startup).
    pub fn len(&self) -> u64 {
        self.stats
            .entries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// True when [`Journal::len`] is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Events of one sled value ("chunk"): the writer packs the events of one drain of the queue,
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
impl Store {
    /// Events matching `filter`, newest first: page `pagina` (from 1) of `per_pagina`, or,
    /// with a cursor, the `per_pagina` after it. A scan of the time window; it reads at most
    /// [`MAX_SCAN`] events and then hands back a cursor to continue.
    pub fn eventi(&self, filter: &Filtro, pagina: usize, per_pagina: usize) -> Result<Pagina> {
        let per_pagina = per_pagina.clamp(1, MAX_PAGE);
        let lo_ms = filter.da.map_or(i64::MIN, |d| d.timestamp_millis());
        let mut hi = keys::journal(
            filter.a.map_or(i64::MAX, |d| d.timestamp_millis()),
            u64::MAX,
        );
        let mut below_seq = u64::MAX;
        let skip = if let Some(c) = filter.cursore {
            hi = hi.min(c);
            below_seq = keys::journal_seq(&c);
            0
        } else {
            pagina.saturating_sub(1).saturating_mul(per_pagina)
        };
        let needles = filter.needles();
        let (mut matched, mut scanned) = (0usize, 0usize);
        let mut out = Pagina::default();
        'chunks: for item in self.journal.range(..=hi).rev() {
            let (k, v) = item?;
            let Some(chunk) = Chunk::read(&k, &v) else {
                continue;
            };
            if chunk.last_ms < lo_ms {
                break;
            }
            if !needles.iter().all(|n| contains(chunk.lines, n)) {
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
                    out.cursore = Some(hex(&keys::journal(chunk.first_ms, seq + 1)));
                    break 'chunks;
                }
                if !needles.iter().all(|n| contains(line, n)) {
                    continue;
                }
                let mut e: Evento = super::decode(line)?;
                if !filter.matches(&e) {
                    continue;
                }
                matched += 1;
                if matched <= skip {
                    continue;
                }
                if out.risultati.len() == per_pagina {
                    // One more match than the page holds: there is a next page.
                    out.cursore = out.risultati.last().map(|e| e.id.clone());
                    break 'chunks;
                }
                e.id = hex(&keys::journal(e.data.timestamp_millis(), seq));
                out.risultati.push(e);
            }
        }
        Ok(out)
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

/// An event id back into its key; None when it is not 32 hex digits.
pub fn parse_id(id: &str) -> Option<[u8; 16]> {
    if id.len() != 32 || !id.is_ascii() {
        return None;
    }
    let mut key = [0u8; 16];
    for (i, b) in key.iter_mut().enumerate() {
        *b = u8::from_str_radix(&id[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

/// A key as 32 hex digits.
fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

struct Writer {
    tree: sled::Tree,
    store: Store,
    clock: Clock,
    max_age: Option<chrono::Duration>,
    max_events: Option<u64>,
    count: u64,
    /// The next event's sequence number.
    seq: u64,
    /// The last event's time (ms): no event is stamped before it.
    last_ms: i64,
    /// Owning application and position id of recently seen notices.
    owners: std::collections::HashMap<(String, String), (Option<String>, Option<String>)>,
    stats: Arc<JournalStats>,
}

/// Most notices whose owner the writer remembers (then it forgets them all).
const OWNERS: usize = 16_384;

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) {
        // The first and the last chunk give the count (sequences have no gaps) and where to go
        // on from: no scan at startup.
        let first = self.tree.first().ok().flatten();
        let last = self.tree.last().ok().flatten();
        if let (Some((fk, fv)), Some((lk, lv))) = (&first, &last)
            && let (Some(f), Some(l)) = (Chunk::read(fk, fv), Chunk::read(lk, lv))
        {
            self.seq = l.first_seq + l.count;
            self.last_ms = l.last_ms;
            self.count = self.seq.saturating_sub(f.first_seq);
        }
        self.publish();
        let mut purge_pending = true;
        let mut next_purge = Instant::now() + PURGE_EVERY;
        let mut batch: Vec<Evento> = Vec::with_capacity(BATCH);
        // Idle, the writer blocks on the queue (the first event wakes it). Under traffic it
        // polls every TICK instead, so that recording an event never has to wake a thread
        // (a futex call on the request path).
        let mut polling = false;
        let mut backlog = false;
        loop {
            let first = if polling {
                if !backlog && !purge_pending {
                    std::thread::sleep(TICK);
                }
                match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(mpsc::TryRecvError::Empty) => None,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            } else {
                let wait = if purge_pending {
                    Duration::ZERO
                } else {
                    next_purge.saturating_duration_since(Instant::now())
                };
                match rx.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            };
            polling = first.is_some();
            let mut next = first;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Event(e) => batch.push(*e),
                    Msg::Barrier(ack) => {
                        self.write(&mut batch);
                        let _ = ack.send(());
                    }
                    Msg::Purge(ack) => {
                        self.write(&mut batch);
                        let mut removed = 0;
                        loop {
                            let (n, more) = self.purge_step();
                            removed += n;
                            if !more {
                                break;
                            }
                        }
                        let _ = ack.send(removed);
                    }
                    Msg::Close(ack) => {
                        self.write(&mut batch);
                        let _ = ack.send(());
                        return;
                    }
                }
                if batch.len() < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            backlog = batch.len() >= BATCH;
            self.write(&mut batch);
            if self.max_events.is_some_and(|m| self.count > m) {
                purge_pending = true;
            }
            if Instant::now() >= next_purge {
                purge_pending = true;
                next_purge = Instant::now() + PURGE_EVERY;
            }
            if purge_pending {
                purge_pending = self.purge_step().1;
            }
        }
    }

    /// Writes `batch` as chunks in one sled batch (not flushed) and empties it.
    fn write(&mut self, batch: &mut Vec<Evento>) {
        if batch.is_empty() {
            return;
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
        for mut e in batch.drain(..) {
            self.enrich(&mut e);
            let mut ms = e.data.timestamp_millis();
            if ms < self.last_ms {
                ms = self.last_ms;
                e.data = DateTime::from_timestamp_millis(ms).unwrap_or(e.data);
            }
            let line = match serde_json::to_vec(&e) {
                Ok(v) => v,
                Err(err) => {
                    tracing::error!(error = %err, "journal event not encodable");
                    continue;
                }
            };
            if lines.is_empty() {
                first = (ms, self.seq);
                bytes = 0;
            }
            bytes += line.len();
            lines.push(line);
            self.last_ms = ms;
            self.seq += 1;
            n += 1;
            if lines.len() == CHUNK_EVENTS || bytes >= CHUNK_BYTES {
                close(&mut lines, first, ms);
            }
        }
        close(&mut lines, first, self.last_ms);
        match self.tree.apply_batch(b) {
            Ok(()) => {
                self.count += n;
                self.stats
                    .written
                    .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                crate::metrics::journal_written(n);
            }
            Err(err) => tracing::error!(error = %err, events = n, "journal write failed"),
        }
        self.publish();
    }

    /// Adds the owning application of a SOAP call's position when the call did not name it.
    fn enrich(&mut self, e: &mut Evento) {
        if e.categoria_evento != Categoria::Soap || e.id_a2a.is_some() {
            return;
        }
        let (Some(d), Some(iuv)) = (&e.id_dominio, &e.iuv) else {
            return;
        };
        let key = (d.clone(), iuv.clone());
        if let Some((a2a, id)) = self.owners.get(&key) {
            e.id_a2a.clone_from(a2a);
            e.id_pendenza.clone_from(id);
            return;
        }
        // Only a stored position is remembered: its owner never changes.
        if let Ok(Some(p)) = self.store.pendenza(d, iuv) {
            if self.owners.len() >= OWNERS {
                self.owners.clear();
            }
            self.owners
                .insert(key, (p.id_a2a.clone(), p.id_pendenza.clone()));
            e.id_a2a = p.id_a2a;
            e.id_pendenza = p.id_pendenza;
        }
    }

    /// Removes about [`PURGE_CHUNK`] of the oldest events that break a bound (whole chunks,
    /// and the older part of the chunk on the boundary); (removed, more may remain).
    fn purge_step(&mut self) -> (u64, bool) {
        let cutoff = self
            .max_age
            .map(|age| ((self.clock)() - age).timestamp_millis());
        let mut excess = self.max_events.map_or(0, |m| self.count.saturating_sub(m));
        let mut b = sled::Batch::default();
        let mut n = 0u64;
        let mut more = false;
        for item in self.tree.iter() {
            let Ok((k, v)) = item else { break };
            let Some(chunk) = Chunk::read(&k, &v) else {
                b.remove(k);
                continue;
            };
            if n as usize >= PURGE_CHUNK {
                more = true;
                break;
            }
            if excess >= chunk.count || cutoff.is_some_and(|c| chunk.last_ms < c) {
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
            let old = cutoff.map_or(0, |c| times.iter().take_while(|t| **t < c).count());
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
            return (0, false);
        }
        if let Err(err) = self.tree.apply_batch(b) {
            tracing::error!(error = %err, "journal purge failed");
            return (0, false);
        }
        self.count = self.count.saturating_sub(n);
        self.stats
            .purged
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        crate::metrics::journal_purged(n);
        self.publish();
        (n, more)
    }

    fn publish(&self) {
        self.stats
            .entries
            .store(self.count, std::sync::atomic::Ordering::Relaxed);
        crate::metrics::journal_entries(self.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_cut_on_a_character_boundary() {
        assert_eq!(payload(b"<a/>"), "<a/>");
        let long = "è".repeat(PAYLOAD_CAP); // two bytes each
        let cut = payload(long.as_bytes());
        assert!(cut.ends_with(TRUNCATED));
        assert!(cut.len() <= PAYLOAD_CAP + TRUNCATED.len());
        assert_eq!(payload(&vec![b'x'; PAYLOAD_CAP]).len(), PAYLOAD_CAP);
    }

    #[test]
    fn ids_round_trip() {
        let k = keys::journal(1_700_000_000_000, 7);
        assert_eq!(parse_id(&hex(&k)), Some(k));
        assert_eq!(parse_id("zz"), None);
    }

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
