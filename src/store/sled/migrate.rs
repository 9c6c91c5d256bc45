//! Layout migrations, run by [`Store::open`](super::Store::open) before anything else reads the
//! store. Each one rebuilds derived trees from the primary ones (positions, receipts, outbox
//! entries), so it can run again from the start if it is interrupted: the version in `meta` is
//! written, and flushed, only after everything else.

use super::{Result, decode, index, keys};
use crate::domain::{OutboxEntry, OutboxState};

/// Version 1 → 2: the listing index (`app_recent`) and the positions per application
/// (`app_counts`), the notices seen only in receipts
/// (`seen`), and the outbox due index keyed by application first.
pub(super) fn v1_to_v2(db: &sled::Db) -> Result<()> {
    let started = std::time::Instant::now();
    let positions = db.open_tree(keys::POSITIONS)?;
    let recent = db.open_tree(keys::APP_RECENT)?;
    let counts = db.open_tree(keys::APP_COUNTS)?;
    let seen = db.open_tree(keys::SEEN)?;
    let receipts = db.open_tree(keys::RECEIPTS)?;
    let outbox = db.open_tree(keys::OUTBOX)?;
    let due = db.open_tree(keys::OUTBOX_DUE)?;

    recent.clear()?;
    counts.clear()?;
    let mut per_app: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut batch = sled::Batch::default();
    let (mut n, mut batched) = (0usize, 0usize);
    for value in positions.iter().values() {
        let p = super::decode_position(&value?)?;
        if let Some((k, v)) = index::entry(&p) {
            batch.insert(k, v);
            n += 1;
            batched += 1;
        }
        if let Some(app) = &p.id_a2a {
            *per_app.entry(app.clone()).or_default() += 1;
        }
        if batched == 10_000 {
            recent.apply_batch(std::mem::take(&mut batch))?;
            batched = 0;
        }
    }
    recent.apply_batch(batch)?;
    for (app, n) in per_app {
        counts.insert(app.as_bytes(), &n.to_be_bytes())?;
    }

    seen.clear()?;
    for key in receipts.iter().keys() {
        let key = key?;
        // `<dominio>/<iuv>/<receiptId>`: dominio and iuv hold no '/'.
        let mut parts = key.splitn(3, |b| *b == b'/');
        let (Some(d), Some(i)) = (parts.next(), parts.next()) else {
            continue;
        };
        let pkey = [d, b"/", i].concat();
        if !positions.contains_key(&pkey)? {
            seen.insert(pkey, &[])?;
        }
    }

    // Version 1 keyed the due index by time alone.
    due.clear()?;
    for value in outbox.iter().values() {
        let e: OutboxEntry = decode(&value?)?;
        if e.stato == OutboxState::Pending {
            due.insert(
                keys::outbox_due(
                    e.id_a2a.as_deref().unwrap_or(""),
                    e.next_attempt_at.timestamp_millis(),
                    e.id,
                ),
                &[],
            )?;
        }
    }
    db.flush()?;
    tracing::info!(
        indexed = n,
        ms = started.elapsed().as_millis() as u64,
        "store migrated to layout 2"
    );
    Ok(())
}

/// Version 2 → 3: the options of each document (`documents`).
pub(super) fn v2_to_v3(db: &sled::Db) -> Result<()> {
    let started = std::time::Instant::now();
    let positions = db.open_tree(keys::POSITIONS)?;
    let documents = db.open_tree(keys::DOCUMENTS)?;
    documents.clear()?;
    let mut members: std::collections::BTreeMap<Vec<u8>, Vec<String>> = Default::default();
    for value in positions.iter().values() {
        let p = super::decode_position(&value?)?;
        if let Some(d) = &p.dettagli.documento {
            members
                .entry(keys::document(&p.dominio, &d.identificativo))
                .or_default()
                .push(p.iuv.clone());
        }
    }
    let n = members.len();
    for (key, mut iuvs) in members {
        iuvs.sort();
        documents.insert(key, super::encode(&iuvs)?)?;
    }
    db.flush()?;
    tracing::info!(
        documents = n,
        ms = started.elapsed().as_millis() as u64,
        "store migrated to layout 3"
    );
    Ok(())
}

/// Version 3 → 4: the positions by debtor identifier and by word of the debtor's name
/// (`debtors`).
pub(super) fn v3_to_v4(db: &sled::Db) -> Result<()> {
    let started = std::time::Instant::now();
    let positions = db.open_tree(keys::POSITIONS)?;
    let debtors = db.open_tree(keys::DEBTORS)?;
    debtors.clear()?;
    let mut batch = sled::Batch::default();
    let (mut n, mut batched) = (0usize, 0usize);
    for value in positions.iter().values() {
        let p = super::decode_position(&value?)?;
        let summary = crate::store::index::Summary::of(&p).encode();
        for k in index::debtor_keys(&p) {
            batch.insert(k, summary.as_slice());
            n += 1;
            batched += 1;
        }
        if batched >= 10_000 {
            debtors.apply_batch(std::mem::take(&mut batch))?;
            batched = 0;
        }
    }
    debtors.apply_batch(batch)?;
    db.flush()?;
    tracing::info!(
        entries = n,
        ms = started.elapsed().as_millis() as u64,
        "store migrated to layout 4"
    );
    Ok(())
}
