//! Bulk load through the API Pendenze: `POST /api/pendenze/v2/pendenze/tracciati`, in chunks,
//! one request at a time on one keep-alive connection.
//!
//! Each chunk is a JSON array of positions shaped like `bench/tracciato.py`'s (one voce of
//! 120.50, no `numeroAvviso`, so Varco draws aux-3 numbers from the domain's counter). Varco
//! answers a chunk once every position of it is stored and flushed, so positions per second
//! here is durable bulk-load throughput. The notice references Varco drew for the first and
//! the last position are reported, so the load runs can target exactly the loaded notices.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use serde_json::{Value, json};

use crate::client::{Conn, Target, basic_auth};

/// What to load.
#[derive(Debug)]
pub struct PreloadConfig {
    pub target: Target,
    pub user: String,
    pub password: String,
    pub count: u64,
    pub chunk: u64,
    /// Index of the first position (idPendenza `<prefix>-<index:010>`), so loads can add up.
    pub start: u64,
    pub id_prefix: String,
    pub id_dominio: String,
}

/// What a preload did.
#[derive(Debug)]
pub struct PreloadReport {
    pub positions: u64,
    pub errors: u64,
    pub elapsed: Duration,
    pub first_notice: Option<String>,
    pub last_notice: Option<String>,
    /// Slowest chunk, seconds (a stall shows here).
    pub slowest_chunk: f64,
}

impl PreloadReport {
    pub fn rate(&self) -> f64 {
        self.positions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn reference(notice: &Option<String>) -> Option<u64> {
        notice.as_deref()?.get(3..16)?.parse().ok()
    }

    pub fn line(&self) -> String {
        format!(
            "op=preload positions={} errors={} seconds={:.2} positions_per_s={:.0} slowest_chunk_s={:.2} first_notice={} last_notice={} first_reference={} last_reference={}",
            self.positions,
            self.errors,
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.slowest_chunk,
            self.first_notice.as_deref().unwrap_or("-"),
            self.last_notice.as_deref().unwrap_or("-"),
            Self::reference(&self.first_notice).unwrap_or(0),
            Self::reference(&self.last_notice).unwrap_or(0),
        )
    }

    pub fn to_json(&self) -> Value {
        json!({
            "op": "preload",
            "positions": self.positions,
            "errors": self.errors,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "positions_per_s": self.rate(),
            "slowest_chunk_s": self.slowest_chunk,
            "first_notice": self.first_notice,
            "last_notice": self.last_notice,
            "first_reference": Self::reference(&self.first_notice),
            "last_reference": Self::reference(&self.last_notice),
        })
    }
}

/// First names and surnames of the debtors (common Italian ones).
const NOMI: [&str; 23] = [
    "Mario",
    "Anna",
    "Giuseppe",
    "Maria",
    "Luigi",
    "Giulia",
    "Francesco",
    "Sara",
    "Antonio",
    "Paola",
    "Giovanni",
    "Laura",
    "Marco",
    "Elena",
    "Andrea",
    "Chiara",
    "Luca",
    "Franca",
    "Roberto",
    "Silvia",
    "Stefano",
    "Rita",
    "Paolo",
];
const COGNOMI: [&str; 29] = [
    "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
    "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo",
    "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso",
    "Ferrara", "Galli", "Martini",
];

/// The debtor of position `i`: every ten positions share one (a fiscal-code-shaped
/// identifier, `RSSMRA80A` and seven digits, and a name from the lists above), so a console
/// search by debtor finds ten and a search by a surname one in 29.
pub fn debtor(i: u64) -> (String, String) {
    let d = i / 10;
    (
        format!("RSSMRA80A{:07}", d % 10_000_000),
        format!(
            "{} {}",
            NOMI[(d % 23) as usize],
            COGNOMI[((d / 23) % 29) as usize]
        ),
    )
}

/// The JSON body of one chunk: positions `from..to`.
pub fn chunk_body(config: &PreloadConfig, from: u64, to: u64) -> Vec<u8> {
    let mut s = String::with_capacity(((to - from) * 420) as usize + 2);
    s.push('[');
    for i in from..to {
        if i > from {
            s.push(',');
        }
        let (cf, name) = debtor(i);
        let _ = write!(
            s,
            concat!(
                r#"{{"idA2A":"{a2a}","idPendenza":"{prefix}-{i:010}","idTipoPendenza":"LIBERO","#,
                r#""idDominio":"{dom}","causale":"TARI 2026 utenza {i}","#,
                r#""soggettoPagatore":{{"tipo":"F","identificativo":"{cf}","anagrafica":"{name}"}},"#,
                r#""importo":120.50,"dataScadenza":"2099-12-31","#,
                r#""voci":[{{"idVocePendenza":"tari","importo":120.50,"descrizione":"TARI 2026","codEntrata":"TARI"}}]}}"#
            ),
            a2a = config.user,
            prefix = config.id_prefix,
            dom = config.id_dominio,
            i = i,
            cf = cf,
            name = name,
        );
    }
    s.push(']');
    s.into_bytes()
}

/// Loads `config.count` positions, chunk by chunk.
pub async fn run(config: PreloadConfig) -> Result<PreloadReport> {
    if config.chunk == 0 {
        bail!("--chunk must be at least 1");
    }
    let auth = basic_auth(&config.user, &config.password)?;
    let json_type = HeaderValue::from_static("application/json");
    let mut conn = Conn::open(&config.target).await?;
    let mut report = PreloadReport {
        positions: 0,
        errors: 0,
        elapsed: Duration::ZERO,
        first_notice: None,
        last_notice: None,
        slowest_chunk: 0.0,
    };
    let end = config.start + config.count;
    let started = Instant::now();
    let mut next_progress = started + Duration::from_secs(10);
    let mut from = config.start;
    while from < end {
        let to = (from + config.chunk).min(end);
        let body = Bytes::from(chunk_body(&config, from, to));
        if conn.ready().await.is_err() {
            conn = Conn::open(&config.target).await?;
            conn.ready().await?;
        }
        let t = Instant::now();
        let (status, response) = conn
            .post(
                &config.target,
                json_type.clone(),
                &[("Authorization", auth.clone())],
                body,
            )
            .await
            .with_context(|| format!("chunk {from}..{to}"))?;
        report.slowest_chunk = report.slowest_chunk.max(t.elapsed().as_secs_f64());
        if status != StatusCode::OK {
            bail!(
                "chunk {from}..{to}: HTTP {status}: {}",
                String::from_utf8_lossy(&response[..response.len().min(500)])
            );
        }
        let out: Value = serde_json::from_slice(&response).context("tracciato response")?;
        let n = out["numPendenze"].as_u64().unwrap_or(0);
        let errors = out["numErrori"].as_u64().unwrap_or(0);
        if n != to - from {
            bail!("chunk {from}..{to}: {n} results");
        }
        report.positions += n;
        report.errors += errors;
        let notice = |i: usize| {
            out["risultati"][i]["numeroAvviso"]
                .as_str()
                .map(str::to_owned)
        };
        if report.first_notice.is_none() {
            report.first_notice = notice(0);
        }
        report.last_notice = notice(n as usize - 1).or(report.last_notice.take());
        from = to;
        if Instant::now() >= next_progress {
            eprintln!(
                "preload: {} / {} positions, {:.0}/s",
                report.positions,
                config.count,
                report.positions as f64 / started.elapsed().as_secs_f64()
            );
            next_progress += Duration::from_secs(10);
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_is_a_json_array_of_positions() {
        let config = PreloadConfig {
            target: Target::parse("http://127.0.0.1:1/").unwrap(),
            user: "demo".into(),
            password: "demo".into(),
            count: 2,
            chunk: 2,
            start: 7,
            id_prefix: "b".into(),
            id_dominio: "77777777777".into(),
        };
        let v: Value = serde_json::from_slice(&chunk_body(&config, 7, 9)).unwrap();
        assert_eq!(v.as_array().unwrap().len(), 2);
        assert_eq!(v[1]["idPendenza"], "b-0000000008");
        assert_eq!(v[0]["voci"][0]["importo"], 120.5);
    }
}
