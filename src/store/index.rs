//! The listing index: each application's positions, newest first, with the fields listings
//! filter on, so `GET /pendenze` reads only the index entries it walks and decodes only the
//! positions of the page it returns.
//!
//! One `app_recent` entry per position that names an application (key in [`keys::app_recent`]:
//! application, creation time inverted, position key). Its value is a [`Summary`]: the stored
//! state, the due day and the debtor's identifier. Every write of a position goes through
//! [`write_position`], in the same transaction, so the entry never disagrees with the position.

use super::{Result, StoreError, TxResult, abort, decode, keys};
use crate::domain::{Pendenza, Stato, StatoEffettivo, rome_today};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sled::transaction::TransactionalTree;

/// What a listing may filter on, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The stored state.
    pub stato: Stato,
    /// The due day (SCADUTA after it).
    pub scadenza: Option<NaiveDate>,
    /// The debtor's identifier (fiscal code, VAT number or ANONIMO), as stored (upper case).
    pub debitore: String,
}

const NO_DAY: i32 = i32::MIN;

impl Summary {
    /// The summary of a position.
    pub fn of(p: &Pendenza) -> Self {
        Self {
            stato: p.stato,
            scadenza: p.data_scadenza,
            debitore: p.soggetto.identificativo.clone(),
        }
    }

    /// `[state byte][due day: i32 days from CE, big-endian, i32::MIN for none][debtor UTF-8]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(5 + self.debitore.len());
        v.push(match self.stato {
            Stato::NonEseguita => 0,
            Stato::Eseguita => 1,
            Stato::Annullata => 2,
        });
        let day = self.scadenza.map_or(NO_DAY, |d| d.num_days_from_ce());
        v.extend_from_slice(&day.to_be_bytes());
        v.extend_from_slice(self.debitore.as_bytes());
        v
    }

    /// Reads an encoded summary.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let stato = match *bytes.first()? {
            0 => Stato::NonEseguita,
            1 => Stato::Eseguita,
            2 => Stato::Annullata,
            _ => return None,
        };
        let day = i32::from_be_bytes(bytes.get(1..5)?.try_into().ok()?);
        let scadenza = match day {
            NO_DAY => None,
            d => Some(NaiveDate::from_num_days_from_ce_opt(d)?),
        };
        let debitore = std::str::from_utf8(bytes.get(5..)?).ok()?.to_owned();
        Some(Self {
            stato,
            scadenza,
            debitore,
        })
    }

    /// The state at `today` (a Rome day), as [`Pendenza::stato_at`] derives it.
    pub fn stato_at(&self, today: NaiveDate) -> StatoEffettivo {
        match self.stato {
            Stato::Eseguita => StatoEffettivo::Eseguita,
            Stato::Annullata => StatoEffettivo::Annullata,
            Stato::NonEseguita => match self.scadenza {
                Some(day) if today > day => StatoEffettivo::Scaduta,
                _ => StatoEffettivo::NonEseguita,
            },
        }
    }
}

/// The index key of a position (none when it names no application).
fn index_key(p: &Pendenza) -> Option<Vec<u8>> {
    p.id_a2a
        .as_deref()
        .map(|a| keys::app_recent(a, p.created_at.timestamp_millis(), &p.dominio, &p.iuv))
}

/// The index entry of a position, for a batch outside a transaction (the migration).
pub(super) fn entry(p: &Pendenza) -> Option<(Vec<u8>, Vec<u8>)> {
    index_key(p).map(|k| (k, Summary::of(p).encode()))
}

/// Writes `p` (replacing `old`, the position stored under the same key, if any) and keeps its
/// index entry in step, inside the caller's transaction.
pub(super) fn write_position(
    positions: &TransactionalTree,
    recent: &TransactionalTree,
    old: Option<&Pendenza>,
    p: &Pendenza,
) -> TxResult<()> {
    positions.insert(
        keys::position(&p.dominio, &p.iuv),
        super::encode(p).map_err(abort)?,
    )?;
    let key = index_key(p);
    let summary = Summary::of(p);
    if let Some(old) = old {
        let old_key = index_key(old);
        if old_key == key && Summary::of(old) == summary {
            return Ok(());
        }
        if let Some(k) = old_key.filter(|k| Some(k) != key.as_ref()) {
            recent.remove(k)?;
        }
    }
    if let Some(k) = key {
        recent.insert(k, summary.encode())?;
    }
    Ok(())
}

/// The filters of a listing (all optional), evaluated on the index.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this creditor's positions.
    pub dominio: Option<String>,
    /// Only this debtor's (compared case-insensitively).
    pub debitore: Option<String>,
    /// Only positions in this state at `now`.
    pub stato: Option<StatoEffettivo>,
    /// Created at or after.
    pub da: Option<DateTime<Utc>>,
    /// Created at or before.
    pub a: Option<DateTime<Utc>>,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page {
    /// The positions of the page, newest first.
    pub pendenze: Vec<Pendenza>,
    /// How many positions match in all (when counting was asked for).
    pub total: Option<usize>,
    /// Whether more positions match after this page.
    pub more: bool,
}

impl super::Store {
    /// The positions of `id_a2a` that match `filter`, newest first: `skip` of them passed over,
    /// at most `take` returned. Walks the index from the newest end of the date range and
    /// decodes only the positions returned; with `count`, the index walk goes on to the end of
    /// the range to count the matches (index entries only). Blocking: call it off the async
    /// workers.
    pub fn list_pendenze(
        &self,
        id_a2a: &str,
        filter: &Filter,
        now: DateTime<Utc>,
        skip: usize,
        take: usize,
        count: bool,
    ) -> Result<Page> {
        let prefix = keys::app_prefix(id_a2a);
        let start = match filter.a {
            Some(a) => keys::app_recent_from(id_a2a, a.timestamp_millis()),
            None => prefix.clone(),
        };
        let end = keys::prefix_end(&prefix);
        let oldest = filter.da.map(|d| d.timestamp_millis());
        let today = rome_today(now);
        let mut matched = 0usize;
        let mut page_keys = Vec::with_capacity(take.min(256));
        let mut more = false;
        for item in self.app_recent.range(start..end) {
            let (key, value) = item?;
            let (created, pkey) = keys::app_recent_parts(&key, prefix.len())
                .ok_or_else(|| StoreError::Invariant("a short app_recent key".into()))?;
            if oldest.is_some_and(|o| created < o) {
                break;
            }
            if let Some(d) = &filter.dominio
                && pkey.split(|b| *b == b'/').next() != Some(d.as_bytes())
            {
                continue;
            }
            let summary = Summary::decode(&value)
                .ok_or_else(|| StoreError::Invariant("an unreadable app_recent entry".into()))?;
            if filter
                .debitore
                .as_deref()
                .is_some_and(|d| !d.eq_ignore_ascii_case(&summary.debitore))
            {
                continue;
            }
            if filter.stato.is_some_and(|s| summary.stato_at(today) != s) {
                continue;
            }
            matched += 1;
            if matched > skip && page_keys.len() < take {
                page_keys.push(pkey.to_vec());
            } else if matched > skip {
                more = true;
                if !count {
                    break;
                }
            }
        }
        let mut pendenze = Vec::with_capacity(page_keys.len());
        for pkey in page_keys {
            if let Some(v) = self.positions.get(pkey)? {
                pendenze.push(decode(&v)?);
            }
        }
        Ok(Page {
            pendenze,
            total: count.then_some(matched),
            more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_round_trip() {
        for s in [
            Summary {
                stato: Stato::NonEseguita,
                scadenza: NaiveDate::from_ymd_opt(2026, 3, 31),
                debitore: "RSSMRA80A01H501U".into(),
            },
            Summary {
                stato: Stato::Annullata,
                scadenza: None,
                debitore: String::new(),
            },
        ] {
            assert_eq!(Summary::decode(&s.encode()), Some(s.clone()));
        }
        assert_eq!(Summary::decode(&[7, 0, 0, 0, 0]), None);
        assert_eq!(Summary::decode(&[0, 1]), None);
        let due = Summary {
            stato: Stato::NonEseguita,
            scadenza: NaiveDate::from_ymd_opt(2026, 3, 31),
            debitore: "X".into(),
        };
        let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        assert_eq!(due.stato_at(day(31)), StatoEffettivo::NonEseguita);
        assert_eq!(
            due.stato_at(day(31).succ_opt().unwrap()),
            StatoEffettivo::Scaduta
        );
    }
}
