//! Reading every record out of the embedded store, and writing records into it, for
//! [`crate::store::copy`]. Writes go through the same paths as the requests' (positions with
//! their indexes and counts, outbox entries with their due index), so the store a copy makes
//! is one Varco could have written itself.

use super::{Sled, decode, encode, keys, outbox};
use crate::domain::{Attivazione, OutboxEntry, Ricevuta};
use crate::store::copy::{BATCH, Record};
use crate::store::{Result, StoreError};

/// `<dominio>/<rest>` split at the first `/`.
fn split_key(key: &[u8]) -> Result<(String, &[u8])> {
    let slash = key
        .iter()
        .position(|b| *b == b'/')
        .ok_or_else(|| StoreError::Invariant("a key without a domain".into()))?;
    Ok((
        String::from_utf8_lossy(&key[..slash]).into_owned(),
        &key[slash + 1..],
    ))
}

impl Sled {
    /// Every record, table by table, in batches of [`BATCH`].
    pub fn export(&self, send: &mut dyn FnMut(Vec<Record>) -> Result<()>) -> Result<()> {
        let mut batch = Vec::with_capacity(BATCH);
        let mut push = |r: Record, batch: &mut Vec<Record>| -> Result<()> {
            batch.push(r);
            if batch.len() == BATCH {
                send(std::mem::take(batch))?;
            }
            Ok(())
        };
        for v in self.positions.iter().values() {
            let p = super::decode_position(&v?)?;
            push(Record::Position(Box::new(p)), &mut batch)?;
        }
        for v in self.receipts.iter().values() {
            let r: Ricevuta = decode(&v?)?;
            push(Record::Receipt(Box::new(r)), &mut batch)?;
        }
        for item in self.attempts.iter() {
            let (k, v) = item?;
            let (dominio, rest) = split_key(&k)?;
            let iuv_end = rest
                .iter()
                .position(|b| *b == b'/')
                .ok_or_else(|| StoreError::Invariant("an attempt key without an IUV".into()))?;
            let attempt: Attivazione = decode(&v)?;
            push(
                Record::Attempt {
                    dominio,
                    iuv: String::from_utf8_lossy(&rest[..iuv_end]).into_owned(),
                    attempt: Box::new(attempt),
                },
                &mut batch,
            )?;
        }
        for v in self.outbox.iter().values() {
            let e: OutboxEntry = decode(&v?)?;
            push(Record::Outbox(Box::new(e)), &mut batch)?;
        }
        for item in self.counters.iter() {
            let (k, v) = item?;
            let (dominio, seg) = split_key(&k)?;
            let last = v
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Invariant("a counter is not 8 bytes".into()))?;
            push(
                Record::Counter {
                    dominio,
                    segregation: String::from_utf8_lossy(seg).into_owned(),
                    last,
                },
                &mut batch,
            )?;
        }
        for k in self.seen.iter().keys() {
            let k = k?;
            let (dominio, iuv) = split_key(&k)?;
            push(
                Record::Seen {
                    dominio,
                    iuv: String::from_utf8_lossy(iuv).into_owned(),
                },
                &mut batch,
            )?;
        }
        let mut events = Vec::new();
        self.all_events(&mut |e| {
            events.push(e);
            Ok(())
        })?;
        for e in events {
            push(Record::Event(Box::new(e)), &mut batch)?;
        }
        if !batch.is_empty() {
            send(batch)?;
        }
        Ok(())
    }

    /// Writes `batch`: positions only where none is stored, the rest as it comes; outbox
    /// entries and events get ids of this store, in the order they come.
    pub fn import(&self, batch: Vec<Record>) -> Result<()> {
        let mut events = Vec::new();
        for r in batch {
            match r {
                Record::Position(p) => {
                    self.insert_pendenza(&p)?;
                }
                Record::Receipt(r) => {
                    self.receipts.insert(
                        keys::receipt(&r.dominio, &r.iuv, &r.receipt_id),
                        encode(&*r)?,
                    )?;
                }
                Record::Attempt {
                    dominio,
                    iuv,
                    attempt,
                } => self.record_attempt(&dominio, &iuv, &attempt)?,
                Record::Outbox(mut e) => {
                    e.id = self.outbox_id()?;
                    let (outbox, due) = (&self.outbox, &self.outbox_due);
                    use sled::Transactional;
                    let written = (outbox, due).transaction(|(outbox, due)| {
                        outbox::write_entry(outbox, due, None, Some(&e))
                    });
                    super::finish(written)?;
                }
                Record::Counter {
                    dominio,
                    segregation,
                    last,
                } => self.set_counter(&dominio, &segregation, last)?,
                Record::Seen { dominio, iuv } => {
                    self.seen.insert(keys::position(&dominio, &iuv), &[])?;
                }
                Record::Event(e) => events.push(*e),
                // Reconciliation's records are written by `Store::import` through `fdr_write`.
                Record::Flow { .. }
                | Record::Settlement(_)
                | Record::Movement(_)
                | Record::FdrMeta { .. } => {}
            }
        }
        if !events.is_empty() {
            let mut log = super::journal::SledJournal::open(self);
            log.append(&mut events)?;
        }
        Ok(())
    }
}
