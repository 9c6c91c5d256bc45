//! Listings, as every engine answers them: each application's positions newest first, filtered
//! on a [`Summary`] of each (state, due day, debtor) that the engine keeps beside the position
//! in the same transaction, so a listing reads only the summaries it walks and decodes only the
//! positions of the page it returns. [`Walk`] is the matching both engines feed.
//!
//! A debtor search ([`DebtorTerm`]) walks another index the same way: every position under
//! its debtor's identifier and under each word of the debtor's name ([`name_tokens`]), newest
//! first, whatever application it belongs to.

use crate::domain::{ANONIMO, Pendenza, Stato, StatoEffettivo, rome_today};
use chrono::{DateTime, Datelike, NaiveDate, Utc};

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

/// The filters of a listing (all optional), evaluated on the index.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only this creditor's positions.
    pub dominio: Option<String>,
    /// Only the positions of these creditors (an allowlist; `None`: every creditor's).
    pub domini: Option<Vec<String>>,
    /// Only this debtor's (compared case-insensitively).
    pub debitore: Option<String>,
    /// Only positions in this state at `now`.
    pub stato: Option<StatoFiltro>,
    /// Created at or after.
    pub da: Option<DateTime<Utc>>,
    /// Created at or before.
    pub a: Option<DateTime<Utc>>,
    /// Due on a day in this range (both ends included); positions without a due day never
    /// match.
    pub scadenza_tra: Option<(NaiveDate, NaiveDate)>,
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
    /// The matches the walk counted: the total when it is given, else (a count cut at
    /// [`COUNT_WALK_LIMIT`] entries) a lower bound of it.
    pub counted: usize,
}

impl Page {
    /// The page of a search nothing can match (a total of 0 when counting was asked for).
    pub fn nothing(count: bool) -> Self {
        Self {
            pendenze: Vec::new(),
            total: count.then_some(0),
            more: false,
            counted: 0,
        }
    }
}

/// Index entries a listing walks at most to count its matches: past this the total is not
/// given (the page and `more` still are). An unfiltered listing's total is kept, not counted.
pub const COUNT_WALK_LIMIT: usize = 100_000;

impl Filter {
    /// Whether an entry of `dominio` with `summary` passes the creditor, debtor and state
    /// filters on `today` (a Rome day).
    fn keeps(&self, dominio: &[u8], summary: &Summary, today: NaiveDate) -> bool {
        self.dominio
            .as_ref()
            .is_none_or(|d| d.as_bytes() == dominio)
            && self
                .domini
                .as_ref()
                .is_none_or(|ds| ds.iter().any(|d| d.as_bytes() == dominio))
            && self
                .debitore
                .as_deref()
                .is_none_or(|d| d.eq_ignore_ascii_case(&summary.debitore))
            && self.stato.is_none_or(|s| s.matches(summary, today))
            && self
                .scadenza_tra
                .is_none_or(|(from, to)| summary.scadenza.is_some_and(|d| from <= d && d <= to))
    }

    /// Whether a position passes every filter at `now`: for listings that read positions
    /// directly instead of walking the index (a document's options).
    pub fn admits(&self, p: &Pendenza, now: DateTime<Utc>) -> bool {
        let created = p.created_at;
        self.da.is_none_or(|d| created >= d)
            && self.a.is_none_or(|a| created <= a)
            && self.keeps(p.dominio.as_bytes(), &Summary::of(p), rome_today(now))
    }

    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.dominio.is_none()
            && self.domini.is_none()
            && self.debitore.is_none()
            && self.stato.is_none()
            && self.da.is_none()
            && self.a.is_none()
            && self.scadenza_tra.is_none()
    }
}

/// What a debtor search looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DebtorTerm {
    /// The debtor's identifier (fiscal code / VAT number), compared upper-cased.
    Fiscale(String),
    /// One word of the debtor's name, as `name_tokens` makes it.
    Nome(String),
}

impl DebtorTerm {
    /// The term as the index keeps it: the identifier ASCII-upper-cased, the word
    /// ASCII-lower-cased. None when no position can match: an empty identifier, the anonymous
    /// debtor (`ANONIMO`, never indexed), a word that is not exactly one of [`name_tokens`].
    pub fn normalized(&self) -> Option<DebtorTerm> {
        match self {
            DebtorTerm::Fiscale(f) => fiscal_key(f.trim()).map(DebtorTerm::Fiscale),
            DebtorTerm::Nome(w) => match name_tokens(w).as_mut_slice() {
                [one] => Some(DebtorTerm::Nome(std::mem::take(one))),
                _ => None,
            },
        }
    }

    /// The terms a position is found by, normalized: its debtor's identifier (unless
    /// anonymous) and each word of the debtor's name.
    pub fn of(p: &Pendenza) -> Vec<DebtorTerm> {
        let mut terms = Vec::new();
        terms.extend(fiscal_key(&p.soggetto.identificativo).map(DebtorTerm::Fiscale));
        terms.extend(
            name_tokens(&p.soggetto.anagrafica)
                .into_iter()
                .map(DebtorTerm::Nome),
        );
        terms
    }
}

/// A debtor's identifier as the index keeps it (ASCII-upper-cased), unless it is empty or the
/// anonymous debtor.
fn fiscal_key(identificativo: &str) -> Option<String> {
    let key = identificativo.to_ascii_uppercase();
    (!key.is_empty() && key != ANONIMO).then_some(key)
}

/// The words of a name as the index keeps them: split on every char that is not ASCII
/// alphanumeric, ASCII-lowercased, at least 2 chars, deduplicated, in order of first appearance.
pub fn name_tokens(anagrafica: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    for word in anagrafica.split(|c: char| !c.is_ascii_alphanumeric()) {
        if word.len() < 2 {
            continue;
        }
        let word = word.to_ascii_lowercase();
        if !tokens.contains(&word) {
            tokens.push(word);
        }
    }
    tokens
}

/// The matching of a listing, fed by an engine with index entries newest first (the same
/// rules on every engine): which are on the page, whether more follow, the count.
pub(crate) struct Walk<'a, K> {
    filter: &'a Filter,
    today: NaiveDate,
    oldest: Option<i64>,
    skip: usize,
    take: usize,
    count: bool,
    counting: bool,
    walk_limit: usize,
    walked: usize,
    matched: usize,
    /// The keys of the page's positions, newest first.
    pub page: Vec<K>,
    more: bool,
}

impl<'a, K> Walk<'a, K> {
    /// A walk for a page; `kept_total` is the engine's count of an unfiltered listing, when
    /// it keeps one (then the walk does not count).
    pub fn new(
        filter: &'a Filter,
        now: DateTime<Utc>,
        (skip, take): (usize, usize),
        count: bool,
        kept: bool,
        walk_limit: usize,
    ) -> Self {
        Self {
            filter,
            today: rome_today(now),
            oldest: filter.da.map(|d| d.timestamp_millis()),
            skip,
            take,
            count,
            counting: count && !kept,
            walk_limit,
            walked: 0,
            matched: 0,
            page: Vec::with_capacity(take.min(256)),
            more: false,
        }
    }

    /// Offers the next entry (older than every earlier one); false when the walk is over.
    pub fn offer(
        &mut self,
        created_ms: i64,
        dominio: &[u8],
        summary: &Summary,
        key: impl FnOnce() -> K,
    ) -> bool {
        self.walked += 1;
        if self.counting && self.walked > self.walk_limit {
            self.counting = false;
            // A count alone (no page to fill) has nothing left to learn: stop, rather than walk
            // on to the end looking for one more match.
            if self.more || self.take == 0 {
                return false;
            }
        }
        if self.oldest.is_some_and(|o| created_ms < o) {
            return false;
        }
        if !self.filter.keeps(dominio, summary, self.today) {
            return true;
        }
        self.matched += 1;
        if self.matched > self.skip && self.page.len() < self.take {
            self.page.push(key());
        } else if self.matched > self.skip {
            self.more = true;
            if !self.counting {
                return false;
            }
        }
        true
    }

    /// Whether more entries match after the page.
    pub fn more(&self) -> bool {
        self.more
    }

    /// The matches counted so far (a lower bound of the total when the count was cut).
    pub fn counted(&self) -> usize {
        self.matched
    }

    /// The total: the engine's kept one, else the count when it stayed within the limit.
    pub fn total(&self, kept_total: Option<usize>) -> Option<usize> {
        match kept_total {
            Some(kept) => Some(kept),
            None if self.count && self.walked <= self.walk_limit => Some(self.matched),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_alone_stops_at_the_walk_limit_even_when_nothing_matches() {
        let filter = Filter {
            stato: Some(StatoFiltro::Anomala),
            ..Filter::default()
        };
        let now = Utc::now();
        let regular = Summary {
            stato: Stato::NonEseguita,
            scadenza: None,
            debitore: "X".into(),
            anomala: false,
        };
        let mut walk: Walk<'_, u32> = Walk::new(&filter, now, (0, 0), true, false, 10);
        let walked = (0..1000)
            .take_while(|i| walk.offer(1000 - i, b"d", &regular, || 0))
            .count();
        assert_eq!(walked, 10, "a count of nothing walked to the end");
        assert_eq!((walk.total(None), walk.counted()), (None, 0));
        // A page to fill still walks on past the limit (its `more` must be exact).
        let mut paged: Walk<'_, u32> = Walk::new(&filter, now, (0, 5), true, false, 10);
        let walked = (0..1000)
            .take_while(|i| paged.offer(1000 - i, b"d", &regular, || 0))
            .count();
        assert_eq!(walked, 1000);
    }

    #[test]
    fn names_split_into_lowercase_words_of_two_chars_or_more() {
        assert_eq!(
            name_tokens("Mario ROSSI-Bianchi"),
            ["mario", "rossi", "bianchi"]
        );
        assert_eq!(
            name_tokens("  D'Amico, A. & Figli S.p.A. 2  x9 "),
            ["amico", "figli", "x9"]
        );
        assert_eq!(name_tokens("Rossi rossi ROSSI"), ["rossi"]);
        // Non-ASCII letters split words, as the SQL tokenizer does.
        assert_eq!(name_tokens("Niccolò Müller"), ["niccol", "ller"]);
        assert!(name_tokens("").is_empty());
        assert!(name_tokens("a b-c").is_empty());
        let word = |w: &str| DebtorTerm::Nome(w.into()).normalized();
        assert_eq!(word(" Rossi "), Some(DebtorTerm::Nome("rossi".into())));
        assert_eq!(word("rossi-bianchi"), None);
        assert_eq!(word("r"), None);
        let code = |c: &str| DebtorTerm::Fiscale(c.into()).normalized();
        assert_eq!(
            code(" rssmra80a01h501u"),
            Some(DebtorTerm::Fiscale("RSSMRA80A01H501U".into()))
        );
        assert_eq!(code("anonimo"), None);
        assert_eq!(code(" "), None);
    }

    #[test]
    fn the_creditor_allowlist_filters_every_listing() {
        let summary = Summary {
            stato: Stato::NonEseguita,
            scadenza: None,
            debitore: "X".into(),
            anomala: false,
        };
        let today = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        let only = |ds: &[&str]| Filter {
            domini: Some(ds.iter().map(|d| d.to_string()).collect()),
            ..Filter::default()
        };
        assert!(only(&["1", "77777777777"]).keeps(b"77777777777", &summary, today));
        assert!(!only(&["1"]).keeps(b"77777777777", &summary, today));
        assert!(!only(&[]).keeps(b"77777777777", &summary, today));
        assert!(!only(&[]).is_empty());
        assert!(Filter::default().keeps(b"77777777777", &summary, today));
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
