//! The listing index on sled: each application's positions, newest first, with the fields
//! listings filter on, so `GET /pendenze` reads only the index entries it walks and decodes
//! only the positions of the page it returns.
//!
//! One `app_recent` entry per position that names an application (key in [`keys::app_recent`]:
//! application, creation time inverted, position key). Its value is a [`Summary`]: the stored
//! state, the due day and the debtor's identifier. Every write of a position goes through
//! [`write_position`], in the same transaction, so the entry never disagrees with the position.
//!
//! The debtor search walks `debtors` the same way: one entry per position and term it is found
//! by ([`DebtorTerm::of`]: the debtor's identifier, each word of the name), key in
//! [`keys::debtor`], value its [`Summary`]; [`write_position`] keeps those in step too,
//! removing the entries of the terms a write takes away.

use super::{TxResult, abort, decode, keys};
use crate::domain::Pendenza;
use crate::store::index::{COUNT_WALK_LIMIT, DebtorTerm, Filter, Page, Summary, Walk};
use crate::store::{Result, StoreError};
use chrono::{DateTime, Utc};
use sled::transaction::TransactionalTree;

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

/// The kind byte and text of a normalized debtor term, as `debtors` keys hold them.
fn debtor_kind(term: &DebtorTerm) -> (u8, &str) {
    match term {
        DebtorTerm::Fiscale(f) => (keys::DEBTOR_FISCALE, f),
        DebtorTerm::Nome(n) => (keys::DEBTOR_NOME, n),
    }
}

/// The `debtors` keys of a position: one per term it is found by.
pub(super) fn debtor_keys(p: &Pendenza) -> Vec<Vec<u8>> {
    let created = p.created_at.timestamp_millis();
    DebtorTerm::of(p)
        .iter()
        .map(|t| {
            let (kind, text) = debtor_kind(t);
            keys::debtor(kind, text, created, &p.dominio, &p.iuv)
        })
        .collect()
}

/// Keeps the `debtors` entries of `p` (written over `old`, with its summary) in step: removes
/// the keys only the old position had, writes the new ones (all of them when the summary
/// changed).
fn follow_debtor(
    debtors: &TransactionalTree,
    old: Option<(&Pendenza, &Summary)>,
    p: &Pendenza,
    summary: &Summary,
) -> TxResult<()> {
    let after = debtor_keys(p);
    let before = old.map(|(o, _)| debtor_keys(o)).unwrap_or_default();
    let same_summary = old.is_some_and(|(_, s)| s == summary);
    for k in before.iter().filter(|k| !after.contains(k)) {
        debtors.remove(k.as_slice())?;
    }
    let value = summary.encode();
    for k in after {
        if !same_summary || !before.contains(&k) {
            debtors.insert(k, value.as_slice())?;
        }
    }
    Ok(())
}

/// The trees a write of a position keeps in step with it.
pub(super) struct Derived<'a> {
    /// `app_recent`.
    pub recent: &'a TransactionalTree,
    /// `app_counts`: needed only by writes that may create a position.
    pub counts: Option<&'a TransactionalTree>,
    /// `debtors`.
    pub debtors: &'a TransactionalTree,
    /// `documents`: needed only by writes that may put a position in a document or take it
    /// out of one.
    pub documents: Option<&'a TransactionalTree>,
}

/// The `documents` key of the document `p` is an option of.
fn document_key(p: &Pendenza) -> Option<Vec<u8>> {
    p.dettagli
        .documento
        .as_ref()
        .map(|d| keys::document(&p.dominio, &d.identificativo))
}

/// The IUVs of the document under `key` (inside a transaction).
pub(super) fn document_members(documents: &TransactionalTree, key: &[u8]) -> TxResult<Vec<String>> {
    Ok(match documents.get(key)? {
        Some(v) => decode(&v).map_err(abort)?,
        None => Vec::new(),
    })
}

/// Moves `p` between documents when its document changed (`old`: the position before).
fn follow_document(derived: &Derived<'_>, old: Option<&Pendenza>, p: &Pendenza) -> TxResult<()> {
    let (before, after) = (old.and_then(document_key), document_key(p));
    if before == after {
        return Ok(());
    }
    let documents = derived.documents.ok_or_else(|| {
        abort(StoreError::Invariant(
            "a write that changes a position's document must keep the documents".into(),
        ))
    })?;
    if let Some(k) = before {
        let mut iuvs = document_members(documents, &k)?;
        iuvs.retain(|i| *i != p.iuv);
        if iuvs.is_empty() {
            documents.remove(k)?;
        } else {
            documents.insert(k, super::encode(&iuvs).map_err(abort)?)?;
        }
    }
    if let Some(k) = after {
        let mut iuvs = document_members(documents, &k)?;
        if let Err(at) = iuvs.binary_search(&p.iuv) {
            iuvs.insert(at, p.iuv.clone());
        }
        documents.insert(k, super::encode(&iuvs).map_err(abort)?)?;
    }
    Ok(())
}

/// Writes `p` (replacing `old`, the position stored under the same key, if any) and keeps its
/// index entries (`app_recent`, `debtors`, and, for a new position, its application's count)
/// in step, inside the caller's transaction.
pub(super) fn write_position(
    positions: &TransactionalTree,
    derived: &Derived<'_>,
    old: Option<&Pendenza>,
    p: &Pendenza,
) -> TxResult<()> {
    positions.insert(
        keys::position(&p.dominio, &p.iuv),
        super::encode_position(p).map_err(abort)?,
    )?;
    follow_document(derived, old, p)?;
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
    let old_summary = old.map(Summary::of);
    follow_debtor(derived.debtors, old.zip(old_summary.as_ref()), p, &summary)?;
    if let Some(old) = old {
        let old_key = index_key(old);
        if old_key == key && old_summary.as_ref() == Some(&summary) {
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

impl super::Sled {
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

    /// [`Sled::list_pendenze`](super::Sled::list_pendenze) with the walk limit of the count as a parameter.
    pub(crate) fn list_walking(
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
        let kept_total = (count && filter.is_empty())
            .then(|| self.app_counts.get(id_a2a.as_bytes()))
            .transpose()?
            .map(|v| v.map_or(0, |v| count_of(&v)) as usize);
        let walk = Walk::new(
            filter,
            now,
            (skip, take),
            count,
            kept_total.is_some(),
            walk_limit,
        );
        self.walk_page(&self.app_recent, prefix.len(), start..end, walk, kept_total)
    }

    /// Feeds `walk` with the entries of `tree` in `range` (keys of `prefix_len` bytes of term,
    /// then the creation time inverted and the position key; values summaries) and reads the
    /// positions of its page.
    fn walk_page(
        &self,
        tree: &sled::Tree,
        prefix_len: usize,
        range: std::ops::Range<Vec<u8>>,
        mut walk: Walk<'_, Vec<u8>>,
        kept_total: Option<usize>,
    ) -> Result<Page> {
        for item in tree.range(range) {
            let (key, value) = item?;
            let (created, pkey) = keys::app_recent_parts(&key, prefix_len)
                .ok_or_else(|| StoreError::Invariant("a short index key".into()))?;
            let summary = Summary::decode(&value)
                .ok_or_else(|| StoreError::Invariant("an unreadable index entry".into()))?;
            let dominio = pkey.split(|b| *b == b'/').next().unwrap_or_default();
            if !walk.offer(created, dominio, &summary, || pkey.to_vec()) {
                break;
            }
        }
        let mut pendenze = Vec::with_capacity(walk.page.len());
        for pkey in &walk.page {
            if let Some(v) = self.positions.get(pkey)? {
                pendenze.push(super::decode_position(&v)?);
            }
        }
        Ok(Page {
            pendenze,
            total: walk.total(kept_total),
            more: walk.more(),
            counted: walk.counted(),
        })
    }

    /// The positions whose debtor matches `term` (any application, or none) and `filter`,
    /// newest first: `skip` passed over, at most `take` returned; with `count`, the total when
    /// the walk stayed within [`COUNT_WALK_LIMIT`] entries. Walks only the term's `debtors`
    /// entries, from the newest end of the date range. Blocking: call it off the async workers.
    pub fn search_debtor(
        &self,
        term: &DebtorTerm,
        filter: &Filter,
        now: DateTime<Utc>,
        skip: usize,
        take: usize,
        count: bool,
    ) -> Result<Page> {
        let Some(term) = term.normalized() else {
            return Ok(Page::nothing(count));
        };
        let (kind, text) = debtor_kind(&term);
        let prefix = keys::debtor_prefix(kind, text);
        let start = match filter.a {
            Some(a) => keys::debtor_from(kind, text, a.timestamp_millis()),
            None => prefix.clone(),
        };
        let end = keys::prefix_end(&prefix);
        let walk = Walk::new(filter, now, (skip, take), count, false, COUNT_WALK_LIMIT);
        self.walk_page(&self.debtors, prefix.len(), start..end, walk, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_kept_or_counted_up_to_the_walk_limit() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::super::Sled::open(dir.path(), 16).unwrap();
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
}
