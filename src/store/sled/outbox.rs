//! The receipt outbox as stored: entries by id (oldest first) and, for pending ones, a due
//! index keyed by application first ([`keys::outbox_due`]), so each connector's queue is a
//! range of its own and a slow gestionale never stands in front of another's receipts.
//!
//! Every change of an entry is a read-modify-write in one transaction that keeps the due index
//! in step; a delivery attempt finishes with a compare-and-set ([`Sled::finish_delivery`]), so
//! an operator's re-send made while the attempt was in flight is never undone by it.

use super::{Sled, abort, decode, encode, finish, keys};
use crate::domain::{OutboxEntry, OutboxState};
use crate::store::{Due, Result};
use chrono::{DateTime, Utc};
use sled::Transactional;
use sled::transaction::TransactionalTree;

/// The due-index key of a pending entry (none for any other state).
fn due_key(e: &OutboxEntry) -> Option<Vec<u8>> {
    (e.stato == OutboxState::Pending).then(|| {
        keys::outbox_due(
            e.id_a2a.as_deref().unwrap_or(""),
            e.next_attempt_at.timestamp_millis(),
            e.id,
        )
    })
}

/// Writes `next` over `old` (either may be absent) and keeps the due index in step.
pub(super) fn write_entry(
    outbox: &TransactionalTree,
    due: &TransactionalTree,
    old: Option<&OutboxEntry>,
    next: Option<&OutboxEntry>,
) -> super::TxResult<()> {
    if let Some(k) = old.and_then(due_key) {
        due.remove(k)?;
    }
    match (old, next) {
        (_, Some(next)) => {
            outbox.insert(&keys::outbox(next.id), encode(next).map_err(abort)?)?;
            if let Some(k) = due_key(next) {
                due.insert(k, &[])?;
            }
        }
        (Some(old), None) => {
            outbox.remove(&keys::outbox(old.id))?;
        }
        (None, None) => {}
    }
    Ok(())
}

impl Sled {
    /// Every outbox entry, oldest first (a full read: tools and tests; the API pages).
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.outbox.iter().values().map(|v| decode(&v?)).collect()
    }

    /// Entries matching `keep`, oldest first: `skip` of them passed over, at most `take`
    /// returned, and whether more follow. Blocking: call it off the async workers.
    pub fn outbox_page(
        &self,
        keep: &dyn Fn(&OutboxEntry) -> bool,
        skip: usize,
        take: usize,
    ) -> Result<(Vec<OutboxEntry>, bool)> {
        let mut matched = 0usize;
        let mut page = Vec::new();
        for value in self.outbox.iter().values() {
            let entry: OutboxEntry = decode(&value?)?;
            if !keep(&entry) {
                continue;
            }
            matched += 1;
            if matched <= skip {
                continue;
            }
            if page.len() == take {
                return Ok((page, true));
            }
            page.push(entry);
        }
        Ok((page, false))
    }

    /// A pending entry, for a delivery: one process delivers each queue with one worker, so
    /// there is nobody to claim it from.
    pub fn claim_outbox(&self, id: u64) -> Result<Option<OutboxEntry>> {
        Ok(self
            .outbox_entry(id)?
            .filter(|e| e.stato == OutboxState::Pending))
    }

    /// One outbox entry.
    pub fn outbox_entry(&self, id: u64) -> Result<Option<OutboxEntry>> {
        self.outbox
            .get(keys::outbox(id))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Changes an entry with `change` (None: leave it), atomically with the due index; returns
    /// the entry as stored afterwards (None when there is no such entry).
    pub fn update_outbox(
        &self,
        id: u64,
        change: &dyn Fn(&OutboxEntry) -> Option<OutboxEntry>,
    ) -> Result<Option<OutboxEntry>> {
        let key = keys::outbox(id);
        let outcome = (&self.outbox, &self.outbox_due).transaction(|(outbox, due)| {
            let Some(bytes) = outbox.get(key)? else {
                return Ok(None);
            };
            let current: OutboxEntry = decode(&bytes).map_err(abort)?;
            match change(&current) {
                Some(next) => {
                    write_entry(outbox, due, Some(&current), Some(&next))?;
                    Ok(Some(next))
                }
                None => Ok(Some(current)),
            }
        });
        finish(outcome)
    }

    /// Records the end of a delivery attempt that started from `started`: `None` when it was
    /// delivered (the entry goes), else the entry to store (retry later, or parked). A failed
    /// attempt is written only if the entry is still as the attempt found it: an operator's
    /// re-send in the meantime wins. True when something was written.
    pub fn finish_delivery(
        &self,
        started: &OutboxEntry,
        next: Option<&OutboxEntry>,
    ) -> Result<bool> {
        let key = keys::outbox(started.id);
        let outcome = (&self.outbox, &self.outbox_due).transaction(|(outbox, due)| {
            let Some(bytes) = outbox.get(key)? else {
                return Ok(false);
            };
            let current: OutboxEntry = decode(&bytes).map_err(abort)?;
            if next.is_some() && current != *started {
                return Ok(false);
            }
            write_entry(outbox, due, Some(&current), next)?;
            Ok(true)
        });
        finish(outcome)
    }

    /// Pending entries of `id_a2a`'s queue due at or before `until`, earliest first, at most
    /// `limit`: a range scan of the due index (keys only).
    pub fn outbox_due(&self, id_a2a: &str, until: DateTime<Utc>, limit: usize) -> Result<Vec<Due>> {
        let start = keys::app_prefix(id_a2a);
        let end = keys::outbox_due(id_a2a, until.timestamp_millis(), u64::MAX);
        let mut out = Vec::new();
        for key in self.outbox_due.range(start..=end).keys().take(limit) {
            let key = key?;
            out.push(Due {
                at_millis: keys::outbox_due_millis(&key),
                id: keys::outbox_due_id(&key),
            });
        }
        Ok(out)
    }

    /// Each application that has pending entries, with its earliest due time (Unix ms): one
    /// seek per application.
    pub fn outbox_queues(&self) -> Result<Vec<(String, i64)>> {
        let mut out = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        while let Some((key, _)) = self
            .outbox_due
            .range(from.as_slice()..)
            .next()
            .transpose()?
        {
            let app = keys::outbox_due_app(&key).to_vec();
            out.push((
                String::from_utf8_lossy(&app).into_owned(),
                keys::outbox_due_millis(&key),
            ));
            let mut prefix = app;
            prefix.push(0);
            from = keys::prefix_end(&prefix);
        }
        Ok(out)
    }

    /// Number of outbox entries (pending and dead).
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }
}
