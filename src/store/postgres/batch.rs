//! Upsert batches in a handful of round trips, whatever their size.
//!
//! A batch is one transaction with the same outcome as applying its items one after the other
//! (the embedded engine's semantics): an item sees the positions the earlier items of its batch
//! wrote. What changes is how the rows travel. The positions the batch names are read and
//! locked in one query; notice numbers are drawn from each counter locked once, their
//! candidates checked against positions and seen receipts in blocks; the new and the changed
//! positions go back in one `INSERT ... SELECT FROM unnest(...)` and one `UPDATE ... FROM
//! unnest(...)`; each counter is moved once. A position, counter or number another node wrote
//! meanwhile makes a key collide, and the whole transaction runs again.

use super::{exec, row, rows};
use crate::domain::{NoticeNumber, Pendenza};
use crate::store::index::Summary;
use crate::store::{
    Planned, Refused, Result, StoreError, UpsertItem, Upserted, decode, encode, planned_mismatch,
    same_key,
};
use deadpool_postgres::GenericClient;
use std::collections::{HashMap, HashSet, VecDeque};

/// Candidates checked per round trip when drawing notice numbers, at most.
const DRAW_BLOCK: usize = 4096;

/// The highest IUV reference of an aux-3 notice number, plus one.
const REFERENCE_END: i64 = 10i64.pow(13);

type Key = (String, String);

/// The batch's rows as they stand inside its transaction.
#[derive(Default)]
struct Batch {
    /// By (idA2A, idPendenza): the stored positions, then what the batch wrote over them.
    known: HashMap<Key, Pendenza>,
    /// (dominio, iuv) of the positions the batch creates, in order, and their index in `created`.
    created_at: HashMap<Key, usize>,
    created: Vec<Pendenza>,
    /// Positions read from the database that the batch changes, by (dominio, iuv).
    updated: HashMap<Key, Pendenza>,
    /// Notice counters locked by this transaction, by (dominio, segregation code).
    counters: HashMap<Key, Counter>,
}

struct Counter {
    /// The last reference handed out (stored when the batch ends).
    last: i64,
    /// The stored value when the batch locked it.
    stored: i64,
    /// References after `last` checked free, in order.
    free: VecDeque<i64>,
    /// The next reference not yet checked.
    unchecked: i64,
}

/// See [`crate::store::Store::upsert_batch`]; runs inside the caller's transaction.
pub(super) async fn upsert_batch<C: GenericClient + Sync, E: Clone>(
    c: &C,
    items: &[UpsertItem<'_, E>],
) -> Result<Vec<std::result::Result<Upserted, Refused<E>>>> {
    let mut batch = Batch::default();
    batch.read(c, items).await?;
    let mut out = Vec::with_capacity(items.len());
    for (at, item) in items.iter().enumerate() {
        out.push(batch.apply(c, item, items.len() - at).await?);
    }
    batch.write(c).await?;
    Ok(out)
}

impl Batch {
    /// Reads and locks the positions the batch names (in key order, as every writer locks).
    async fn read<C: GenericClient + Sync, E>(
        &mut self,
        c: &C,
        items: &[UpsertItem<'_, E>],
    ) -> Result<()> {
        let apps: Vec<&str> = items.iter().map(|i| i.id_a2a).collect();
        let ids: Vec<&str> = items.iter().map(|i| i.id_pendenza).collect();
        let found = rows(
            c,
            "SELECT body FROM positions
             WHERE (id_a2a, id_pendenza) IN (SELECT * FROM unnest($1::text[], $2::text[]))
             ORDER BY dominio, iuv FOR UPDATE",
            &[&apps, &ids],
        )
        .await?;
        for r in found {
            let p: Pendenza = decode(r.get::<_, &[u8]>(0))?;
            if let (Some(app), Some(id)) = (p.id_a2a.clone(), p.id_pendenza.clone()) {
                self.known.insert((app, id), p);
            }
        }
        Ok(())
    }

    async fn apply<C: GenericClient + Sync, E: Clone>(
        &mut self,
        c: &C,
        item: &UpsertItem<'_, E>,
        remaining: usize,
    ) -> Result<std::result::Result<Upserted, Refused<E>>> {
        let key = (item.id_a2a.to_owned(), item.id_pendenza.to_owned());
        let existing = self.known.get(&key);
        let planned = match (item.rule)(existing) {
            Ok(p) => p,
            Err(e) => return Ok(Err(Refused::Rule(e))),
        };
        match (planned, existing.cloned()) {
            (Planned::Unchanged, Some(p)) => Ok(Ok(Upserted::Unchanged(p))),
            (Planned::Write(p), Some(old)) => {
                same_key(&old, &p)?;
                let at = (p.dominio.clone(), p.iuv.clone());
                match self.created_at.get(&at) {
                    Some(&i) => self.created[i] = p.clone(),
                    None => {
                        self.updated.insert(at, p.clone());
                    }
                }
                self.known.insert(key, p.clone());
                Ok(Ok(Upserted::Updated(p)))
            }
            (
                Planned::Create {
                    mut pendenza,
                    generate,
                },
                None,
            ) => {
                if let Some(seg) = generate {
                    let nav = self.draw(c, &pendenza.dominio, &seg, remaining).await?;
                    pendenza.iuv = nav.iuv().to_owned();
                    pendenza.numero_avviso = nav.as_str().to_owned();
                } else if let Some(holder) =
                    self.holder(c, &pendenza.dominio, &pendenza.iuv).await?
                {
                    return Ok(Err(Refused::NoticeTaken {
                        numero_avviso: pendenza.numero_avviso,
                        holder: holder.owner(),
                    }));
                }
                // The application's id names this position, whatever the rule wrote in it.
                pendenza.id_a2a = Some(item.id_a2a.to_owned());
                pendenza.id_pendenza = Some(item.id_pendenza.to_owned());
                self.created_at.insert(
                    (pendenza.dominio.clone(), pendenza.iuv.clone()),
                    self.created.len(),
                );
                self.created.push(pendenza.clone());
                self.known.insert(key, pendenza.clone());
                Ok(Ok(Upserted::Created(pendenza)))
            }
            (planned, existing) => Err(planned_mismatch(&planned, existing.is_some())),
        }
    }

    /// The position holding (`dominio`, `iuv`): one the batch created, or a stored one.
    async fn holder<C: GenericClient + Sync>(
        &self,
        c: &C,
        dominio: &str,
        iuv: &str,
    ) -> Result<Option<Pendenza>> {
        if let Some(&i) = self.created_at.get(&(dominio.to_owned(), iuv.to_owned())) {
            return Ok(Some(self.created[i].clone()));
        }
        row(
            c,
            "SELECT body FROM positions WHERE dominio = $1 AND iuv = $2",
            &[&dominio, &iuv],
        )
        .await?
        .map(|r| decode(r.get::<_, &[u8]>(0)))
        .transpose()
    }

    /// The next notice number of a domain's counter for a segregation code, skipping every
    /// number held by a position (stored or created by this batch) or seen in a receipt. The
    /// counter's row stays locked until the transaction ends, so two nodes draw one after the
    /// other; `remaining` (the items left in the batch) sizes the blocks of candidates.
    async fn draw<C: GenericClient + Sync>(
        &mut self,
        c: &C,
        dominio: &str,
        seg: &str,
        remaining: usize,
    ) -> Result<NoticeNumber> {
        let key = (dominio.to_owned(), seg.to_owned());
        if !self.counters.contains_key(&key) {
            exec(
                c,
                "INSERT INTO counters (dominio, segregation, last) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
                &[&dominio, &seg],
            )
            .await?;
            let stored: i64 = row(
                c,
                "SELECT last FROM counters WHERE dominio = $1 AND segregation = $2 FOR UPDATE",
                &[&dominio, &seg],
            )
            .await?
            .map_or(0, |r| r.get(0));
            self.counters.insert(
                key.clone(),
                Counter {
                    last: stored,
                    stored,
                    free: VecDeque::new(),
                    unchecked: stored + 1,
                },
            );
        }
        loop {
            let counter = self.counters.get_mut(&key).expect("locked above");
            while let Some(reference) = counter.free.pop_front() {
                let nav = NoticeNumber::aux3(seg, reference as u64);
                // A position created by an earlier item with this very number.
                if self
                    .created_at
                    .contains_key(&(dominio.to_owned(), nav.iuv().to_owned()))
                {
                    continue;
                }
                counter.last = reference;
                return Ok(nav);
            }
            let from = counter.unchecked;
            if from >= REFERENCE_END {
                return Err(StoreError::Invariant(format!(
                    "IUV references exhausted for {dominio}/{seg}"
                )));
            }
            let to = (from + remaining.clamp(1, DRAW_BLOCK) as i64).min(REFERENCE_END);
            let candidates: Vec<String> = (from..to)
                .map(|r| NoticeNumber::aux3(seg, r as u64).iuv().to_owned())
                .collect();
            let taken: HashSet<String> = rows(
                c,
                "SELECT iuv FROM positions WHERE dominio = $1 AND iuv = ANY($2)
                 UNION SELECT iuv FROM seen WHERE dominio = $1 AND iuv = ANY($2)",
                &[&dominio, &candidates],
            )
            .await?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
            let counter = self.counters.get_mut(&key).expect("locked above");
            counter.free.extend(
                (from..to)
                    .zip(&candidates)
                    .filter(|(_, iuv)| !taken.contains(*iuv))
                    .map(|(r, _)| r),
            );
            counter.unchecked = to;
        }
    }

    /// Writes what the batch created and changed, and moves the counters it drew from.
    async fn write<C: GenericClient + Sync>(&self, c: &C) -> Result<()> {
        if !self.created.is_empty() {
            let cols = Columns::of(self.created.iter())?;
            exec(
                c,
                "INSERT INTO positions (dominio, iuv, id_a2a, id_pendenza, created_ms, summary, body,
                                        documento)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[],
                                      $6::bytea[], $7::bytea[], $8::text[])",
                &cols.params(),
            )
            .await?;
        }
        if !self.updated.is_empty() {
            let cols = Columns::of(self.updated.values())?;
            exec(
                c,
                "UPDATE positions p SET id_a2a = u.id_a2a, id_pendenza = u.id_pendenza,
                        created_ms = u.created_ms, summary = u.summary, body = u.body,
                        documento = u.documento
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[],
                             $6::bytea[], $7::bytea[], $8::text[])
                      AS u (dominio, iuv, id_a2a, id_pendenza, created_ms, summary, body, documento)
                 WHERE p.dominio = u.dominio AND p.iuv = u.iuv",
                &cols.params(),
            )
            .await?;
        }
        for ((dominio, seg), counter) in &self.counters {
            if counter.last != counter.stored {
                exec(
                    c,
                    "UPDATE counters SET last = $3 WHERE dominio = $1 AND segregation = $2",
                    &[dominio, seg, &counter.last],
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// Positions as the columns of the `positions` table, one array each.
struct Columns {
    dominio: Vec<String>,
    iuv: Vec<String>,
    id_a2a: Vec<Option<String>>,
    id_pendenza: Vec<Option<String>>,
    created_ms: Vec<i64>,
    summary: Vec<Vec<u8>>,
    body: Vec<Vec<u8>>,
    documento: Vec<Option<String>>,
}

impl Columns {
    fn of<'a>(positions: impl Iterator<Item = &'a Pendenza>) -> Result<Self> {
        let mut cols = Columns {
            dominio: Vec::new(),
            iuv: Vec::new(),
            id_a2a: Vec::new(),
            id_pendenza: Vec::new(),
            created_ms: Vec::new(),
            summary: Vec::new(),
            body: Vec::new(),
            documento: Vec::new(),
        };
        for p in positions {
            cols.dominio.push(p.dominio.clone());
            cols.iuv.push(p.iuv.clone());
            cols.id_a2a.push(p.id_a2a.clone());
            cols.id_pendenza.push(p.id_pendenza.clone());
            cols.created_ms.push(p.created_at.timestamp_millis());
            cols.summary.push(Summary::of(p).encode());
            cols.body.push(encode(p)?);
            cols.documento.push(super::document_of(p));
        }
        Ok(cols)
    }

    fn params(&self) -> [&(dyn tokio_postgres::types::ToSql + Sync); 8] {
        [
            &self.dominio,
            &self.iuv,
            &self.id_a2a,
            &self.id_pendenza,
            &self.created_ms,
            &self.summary,
            &self.body,
            &self.documento,
        ]
    }
}
