//! The event journal as every engine reads it: the filters of a listing, a page, and event
//! ids (an event's time then its sequence, 16 bytes written as 32 hex digits, ordered as the
//! events are). Each engine appends and purges through its own log ([`super::JournalLog`]);
//! the recorder ([`crate::journal`]) drives it.

use crate::domain::evento::{Categoria, Esito, Evento};
use chrono::{DateTime, Utc};

/// Most results per page of a listing.
pub const MAX_PAGE: usize = 200;
/// Most events one listing reads before it stops and hands back a cursor.
pub const MAX_SCAN: usize = 1_000_000;

/// Filters of a listing ([`super::Store::eventi`]); every one given must match.
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
    /// Whether `e` passes every filter given.
    pub fn matches(&self, e: &Evento) -> bool {
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
    pub(crate) fn needles(&self) -> Vec<&[u8]> {
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

/// The matching of a listing, fed by an engine with events newest first (the same rules on
/// every engine): the filters, the page, the cursor to the next one.
pub(crate) struct Paging<'a> {
    filter: &'a Filtro,
    needles: Vec<&'a [u8]>,
    skip: usize,
    per_pagina: usize,
    matched: usize,
    /// The page so far.
    pub out: Pagina,
}

impl<'a> Paging<'a> {
    /// Page `pagina` (from 1) of `per_pagina`, or the page after the filter's cursor.
    pub fn new(filter: &'a Filtro, pagina: usize, per_pagina: usize) -> Self {
        let per_pagina = per_pagina.clamp(1, MAX_PAGE);
        Self {
            filter,
            needles: filter.needles(),
            skip: if filter.cursore.is_some() {
                0
            } else {
                pagina.saturating_sub(1).saturating_mul(per_pagina)
            },
            per_pagina,
            matched: 0,
            out: Pagina::default(),
        }
    }

    /// Whether `bytes` (an event, or a run of events) may hold a match.
    pub fn may_match(&self, bytes: &[u8]) -> bool {
        self.needles.iter().all(|n| contains(bytes, n))
    }

    /// Offers the next event (its JSON, and how its id follows from it); false once the page
    /// is full (with the cursor to the next page set).
    pub fn offer(
        &mut self,
        line: &[u8],
        id: impl FnOnce(&Evento) -> String,
    ) -> super::Result<bool> {
        if !self.may_match(line) {
            return Ok(true);
        }
        let mut e: Evento = super::decode(line)?;
        if !self.filter.matches(&e) {
            return Ok(true);
        }
        self.matched += 1;
        if self.matched <= self.skip {
            return Ok(true);
        }
        if self.out.risultati.len() == self.per_pagina {
            // One more match than the page holds: there is a next page.
            self.out.cursore = self.out.risultati.last().map(|e| e.id.clone());
            return Ok(false);
        }
        e.id = id(&e);
        self.out.risultati.push(e);
        Ok(true)
    }
}

/// The time an event is written with: its own, or the last written one's when it is earlier
/// (a log's times never go back). Returns the time (ms).
pub(crate) fn monotonic(e: &mut Evento, last_ms: i64) -> i64 {
    let ms = e.data.timestamp_millis();
    if ms < last_ms {
        e.data = DateTime::from_timestamp_millis(last_ms).unwrap_or(e.data);
        return last_ms;
    }
    ms
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Pagina {
    /// Events, newest first.
    pub risultati: Vec<Evento>,
    /// Pass as `cursore` to continue, when more may follow.
    pub cursore: Option<String>,
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

/// The key of the event at `millis` with sequence `seq`: the time with its sign bit flipped
/// (so byte order is numeric order), then the sequence, both big-endian.
pub fn event_key(millis: i64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&((millis as u64) ^ (1 << 63)).to_be_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// The time (Unix ms) and the sequence of an event key.
pub fn key_parts(key: &[u8; 16]) -> (i64, u64) {
    let (time, seq) = key.split_at(8);
    let time: [u8; 8] = time.try_into().unwrap_or_default();
    let seq: [u8; 8] = seq.try_into().unwrap_or_default();
    (
        (u64::from_be_bytes(time) ^ (1 << 63)) as i64,
        u64::from_be_bytes(seq),
    )
}

/// The id of the event at `millis` with sequence `seq`.
pub fn event_id(millis: i64, seq: u64) -> String {
    hex(&event_key(millis, seq))
}

/// A key as 32 hex digits.
pub(crate) fn hex(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip() {
        let k = event_key(1_700_000_000_000, 7);
        assert_eq!(parse_id(&hex(&k)), Some(k));
        assert_eq!(key_parts(&k), (1_700_000_000_000, 7));
        assert!(event_key(-5, 1) < event_key(3, 0) && event_key(3, 0) < event_key(3, 1));
        assert_eq!(parse_id("zz"), None);
    }
}
