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
    /// A payment of it was irregular (the REST state `ANOMALA`).
    pub anomala: bool,
}

/// The state bit of an irregular payment, beside the stored state in the summary's first byte
/// (entries written before it existed read as regular).
const ANOMALA_BIT: u8 = 0x10;

const NO_DAY: i32 = i32::MIN;

impl Summary {
    /// The summary of a position.
    pub fn of(p: &Pendenza) -> Self {
        Self {
            stato: p.stato,
            scadenza: p.data_scadenza,
            debitore: p.soggetto.identificativo.clone(),
            anomala: p.anomala,
        }
    }

    /// `[state byte][due day: i32 days from CE, big-endian, i32::MIN for none][debtor UTF-8]`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(5 + self.debitore.len());
        let stato = match self.stato {
            Stato::NonEseguita => 0,
            Stato::Eseguita => 1,
            Stato::Annullata => 2,
        };
        v.push(if self.anomala {
            stato | ANOMALA_BIT
        } else {
            stato
        });
        let day = self.scadenza.map_or(NO_DAY, |d| d.num_days_from_ce());
        v.extend_from_slice(&day.to_be_bytes());
        v.extend_from_slice(self.debitore.as_bytes());
        v
    }

    /// Reads an encoded summary.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let first = *bytes.first()?;
        let stato = match first & !ANOMALA_BIT {
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
            anomala: first & ANOMALA_BIT != 0,
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

fn count_of(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}

/// The index entry of a position, for a batch outside a transaction (the migration).
pub(super) fn entry(p: &Pendenza) -> Option<(Vec<u8>, Vec<u8>)> {
    index_key(p).map(|k| (k, Summary::of(p).encode()))
}

/// The trees a write of a position keeps in step with it.
pub(super) struct Derived<'a> {
    /// `app_recent`.
    pub recent: &'a TransactionalTree,
    /// `app_counts`: needed only by writes that may create a position.
    pub counts: Option<&'a TransactionalTree>,
}

/// Writes `p` (replacing `old`, the position stored under the same key, if any) and keeps its
/// index entry (and, for a new position, its application's count) in step, inside the
/// caller's transaction.
pub(super) fn write_position(
    positions: &TransactionalTree,
    derived: &Derived<'_>,
    old: Option<&Pendenza>,
    p: &Pendenza,
) -> TxResult<()> {
    positions.insert(
        keys::position(&p.dominio, &p.iuv),
        super::encode(p).map_err(abort)?,
    )?;
    let recent = derived.recent;
    if old.is_none()
        && let Some(app) = p.id_a2a.as_deref()
    {
        let counts = derived.counts.ok_or_else(|| {
            abort(StoreError::Invariant(
                "a write that creates a position must keep the counts".into(),
            ))
        })?;
        let n = counts.get(app.as_bytes())?.map_or(0, |v| count_of(&v));
        counts.insert(app.as_bytes(), &(n + 1).to_be_bytes())?;
    }
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
    pub stato: Option<StatoFiltro>,
    /// Created at or after.
    pub da: Option<DateTime<Utc>>,
    /// Created at or before.
    pub a: Option<DateTime<Utc>>,
}

/// A state a listing filters on, as API Pendenze v2 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatoFiltro {
    /// This state at `now`; a paid position whose payment was irregular is not `ESEGUITA`
    /// but [`StatoFiltro::Anomala`].
    Stato(StatoEffettivo),
    /// Paid, irregularly (another amount, twice, after cancellation).
    Anomala,
    /// A state Varco never gives (`ESEGUITA_PARZIALE`, `INCASSATA`): nothing matches.
    Mai,
}

impl StatoFiltro {
    /// Whether an entry is in this state on `today` (a Rome day).
    pub fn matches(self, summary: &Summary, today: NaiveDate) -> bool {
        let paid_irregularly = summary.anomala && summary.stato == Stato::Eseguita;
        match self {
            StatoFiltro::Stato(s) => summary.stato_at(today) == s && !paid_irregularly,
            StatoFiltro::Anomala => paid_irregularly,
            StatoFiltro::Mai => false,
        }
    }
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

/// Index entries a listing walks at most to count its matches: past this the total is not
/// given (the page and `more` still are). An unfiltered listing's total is kept, not counted.
pub const COUNT_WALK_LIMIT: usize = 100_000;

impl Filter {
    fn is_empty(&self) -> bool {
        self.dominio.is_none()
            && self.debitore.is_none()
            && self.stato.is_none()
            && self.da.is_none()
            && self.a.is_none()
    }
}

impl super::Store {
    /// The positions of `id_a2a` that match `filter`, newest first: `skip` of them passed over,
    /// at most `take` returned. Walks the index from the newest end of the date range and
    /// decodes only the positions returned. With `count`, the total of an unfiltered listing is
    /// read from `app_counts`; a filtered one's is counted by walking on to the end of the range
    /// (index entries only), at most [`COUNT_WALK_LIMIT`] entries. Blocking: call it off the
    /// async workers.
    pub fn list_pendenze(
        &self,
        id_a2a: &str,
        filter: &Filter,
        now: DateTime<Utc>,
        skip: usize,
        take: usize,
        count: bool,
    ) -> Result<Page> {
        self.list_walking(id_a2a, filter, now, (skip, take), count, COUNT_WALK_LIMIT)
    }

    /// [`Store::list_pendenze`] with the walk limit of the count as a parameter.
    fn list_walking(
        &self,
        id_a2a: &str,
        filter: &Filter,
        now: DateTime<Utc>,
        (skip, take): (usize, usize),
        count: bool,
        walk_limit: usize,
    ) -> Result<Page> {
        let prefix = keys::app_prefix(id_a2a);
        let start = match filter.a {
            Some(a) => keys::app_recent_from(id_a2a, a.timestamp_millis()),
            None => prefix.clone(),
        };
        let end = keys::prefix_end(&prefix);
        let oldest = filter.da.map(|d| d.timestamp_millis());
        let today = rome_today(now);
        let kept_total = (count && filter.is_empty())
            .then(|| self.app_counts.get(id_a2a.as_bytes()))
            .transpose()?
            .map(|v| v.map_or(0, |v| count_of(&v)) as usize);
        let mut counting = count && kept_total.is_none();
        let mut walked = 0usize;
        let mut matched = 0usize;
        let mut page_keys = Vec::with_capacity(take.min(256));
        let mut more = false;
        for item in self.app_recent.range(start..end) {
            walked += 1;
            if counting && walked > walk_limit {
                counting = false;
                if more {
                    break;
                }
            }
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
            if filter.stato.is_some_and(|s| !s.matches(&summary, today)) {
                continue;
            }
            matched += 1;
            if matched > skip && page_keys.len() < take {
                page_keys.push(pkey.to_vec());
            } else if matched > skip {
                more = true;
                if !counting {
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
        let total = match kept_total {
            Some(kept) => Some(kept),
            None if count && walked <= walk_limit => Some(matched),
            None => None,
        };
        Ok(Page {
            pendenze,
            total,
            more,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_kept_or_counted_up_to_the_walk_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path(), 16).unwrap();
        let config = crate::config::Config::demo();
        let now = Utc::now();
        for r in 1..=12 {
            let nav = crate::domain::NoticeNumber::aux3("01", r);
            let mut p = crate::demo::sample(&config, &nav, now);
            p.id_a2a = Some("demo".into());
            p.id_pendenza = Some(format!("p{r}"));
            if r % 2 == 0 {
                p.soggetto.identificativo = "VRDGPP70B02F205X".into();
            }
            assert!(store.insert_pendenza(&p).unwrap());
        }
        let all = Filter::default();
        let even = Filter {
            debitore: Some("VRDGPP70B02F205X".into()),
            ..Filter::default()
        };
        let list = |f: &Filter, limit| {
            store
                .list_walking("demo", f, now, (0, 2), true, limit)
                .unwrap()
        };
        // Unfiltered: the kept count, whatever the limit.
        let page = list(&all, 3);
        assert_eq!(
            (page.total, page.more, page.pendenze.len()),
            (Some(12), true, 2)
        );
        // Filtered: counted while the walk stays within the limit, else left out.
        assert_eq!(list(&even, 100).total, Some(6));
        let capped = list(&even, 5);
        assert_eq!(
            (capped.total, capped.more, capped.pendenze.len()),
            (None, true, 2)
        );
    }

    #[test]
    fn summaries_round_trip() {
        for s in [
            Summary {
                stato: Stato::NonEseguita,
                scadenza: NaiveDate::from_ymd_opt(2026, 3, 31),
                debitore: "RSSMRA80A01H501U".into(),
                anomala: false,
            },
            Summary {
                stato: Stato::Annullata,
                scadenza: None,
                debitore: String::new(),
                anomala: false,
            },
            Summary {
                stato: Stato::Eseguita,
                scadenza: None,
                debitore: "X".into(),
                anomala: true,
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
            anomala: false,
        };
        let day = |d| NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
        assert_eq!(due.stato_at(day(31)), StatoEffettivo::NonEseguita);
        assert_eq!(
            due.stato_at(day(31).succ_opt().unwrap()),
            StatoEffettivo::Scaduta
        );
    }
}
