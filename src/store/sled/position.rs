//! How a position is stored in the `positions` tree: a versioned binary value.
//!
//! Positions were stored as JSON (about 720 bytes each, and decoding them was 7.8 % of the
//! server's CPU under verify load: BENCHMARKS.md). A value now starts with a format byte that
//! JSON never starts with (a stored position's JSON starts with `{`):
//!
//! - [`FORMAT_MSGPACK`] (`0x01`): MessagePack with field names (`rmp_serde::to_vec_named`),
//!   self-describing like JSON, so the domain's serde attributes (skipped empty fields,
//!   internally tagged enums) round-trip unchanged;
//! - anything else is read as JSON, the values written before: they stay readable forever, and
//!   `varco store upgrade` ([`super::Sled::upgrade_positions`]) rewrites them.
//!
//! Only the `positions` tree uses this format; every other tree keeps [`super::encode`].

use super::Sled;
use crate::domain::Pendenza;
use crate::store::{Result, StoreError};
use std::ops::Bound;

/// The format byte of MessagePack (named fields) values.
pub const FORMAT_MSGPACK: u8 = 0x01;

/// A position's stored value, in the current format.
pub fn encode_position(p: &Pendenza) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(512);
    out.push(FORMAT_MSGPACK);
    rmp_serde::encode::write_named(&mut out, p)
        .map_err(|e| StoreError::Record(format!("position: {e}")))?;
    Ok(out)
}

/// A position back from its stored value, in any format ever written.
pub fn decode_position(bytes: &[u8]) -> Result<Pendenza> {
    match bytes.split_first() {
        Some((&FORMAT_MSGPACK, body)) => {
            rmp_serde::from_slice(body).map_err(|e| StoreError::Record(format!("position: {e}")))
        }
        _ => Ok(serde_json::from_slice(bytes)?),
    }
}

/// Whether a stored value is in an older format than the one [`encode_position`] writes.
pub fn is_legacy(bytes: &[u8]) -> bool {
    bytes.first() != Some(&FORMAT_MSGPACK)
}

/// What [`Sled::upgrade_positions`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Upgraded {
    /// Positions read.
    pub positions: u64,
    /// Positions rewritten in the current format (the others already were).
    pub converted: u64,
    /// Bytes of the rewritten values before.
    pub bytes_before: u64,
    /// Bytes of the rewritten values after.
    pub bytes_after: u64,
}

impl Sled {
    /// Rewrites every position stored in an older format in the current one, `batch` values
    /// at a time, each batch flushed before the next is read: interrupted, it is simply run
    /// again (values already converted are skipped). Only the encoding changes: each value is
    /// decoded back from its new bytes and compared before it is written, and it is written only
    /// if the old bytes are still there. `progress` is told the running totals after each batch.
    pub fn upgrade_positions(
        &self,
        batch: usize,
        progress: &mut dyn FnMut(&Upgraded),
    ) -> Result<Upgraded> {
        let batch = batch.max(1);
        let mut done = Upgraded::default();
        let mut after: Option<sled::IVec> = None;
        loop {
            let range = match &after {
                Some(k) => self
                    .positions
                    .range::<&[u8], _>((Bound::Excluded(k.as_ref()), Bound::Unbounded)),
                None => self.positions.iter(),
            };
            let mut read = 0usize;
            for entry in range.take(batch) {
                let (key, old) = entry?;
                read += 1;
                done.positions += 1;
                if is_legacy(&old) {
                    let p = decode_position(&old)?;
                    let new = encode_position(&p)?;
                    if decode_position(&new)? != p {
                        return Err(StoreError::Invariant(format!(
                            "position {}: the compact value does not read back the same",
                            String::from_utf8_lossy(&key)
                        )));
                    }
                    // A concurrent writer got there first: its value is in the current format.
                    if self
                        .positions
                        .compare_and_swap(&key, Some(&old), Some(new.as_slice()))?
                        .is_ok()
                    {
                        done.converted += 1;
                        done.bytes_before += old.len() as u64;
                        done.bytes_after += new.len() as u64;
                    }
                }
                after = Some(key);
            }
            if read == 0 {
                break;
            }
            self.db.flush()?;
            progress(&done);
            if read < batch {
                break;
            }
        }
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::documento::{Documento, Soglia};
    use crate::domain::{Accredito, Dettagli, OrigineVoce, Soggetto, Stato, Voce};
    use chrono::{NaiveDate, TimeZone, Utc};
    use serde_json::json;

    fn voce(accredito: Accredito, origine: Option<OrigineVoce>) -> Voce {
        Voce {
            id_voce: "tari".into(),
            importo: 12050,
            descrizione: "TARI 2026".into(),
            descrizione_causale_rpt: None,
            dominio: "77777777777".into(),
            accredito,
            transfer_category: "9/0101101IM".into(),
            metadata: vec![],
            origine,
            contabilita: None,
            dati_allegati: None,
        }
    }

    fn iban() -> Accredito {
        Accredito::Iban {
            iban: "IT60X0542811101000000123456".into(),
            iban_postale: None,
            iban_appoggio: None,
        }
    }

    /// A position with every optional field absent.
    fn bare() -> Pendenza {
        let at = Utc.with_ymd_and_hms(2026, 3, 15, 10, 30, 0).unwrap();
        Pendenza {
            dominio: "77777777777".into(),
            iuv: "010000000000012345".into(),
            numero_avviso: "301010000000000123".into(),
            id_a2a: None,
            id_pendenza: None,
            id_tipo_pendenza: "LIBERO".into(),
            causale: "TARI 2026".into(),
            soggetto: Soggetto::anonimo(),
            importo: 12050,
            data_validita: None,
            data_scadenza: None,
            voci: vec![voce(iban(), None)],
            stato: Stato::NonEseguita,
            anomala: false,
            anomalie: vec![],
            fuori_piano: false,
            dettagli: Dettagli::default(),
            ricevute: vec![],
            created_at: at,
            updated_at: at,
        }
    }

    /// A position with every optional field present, and every variant of the nested enums
    /// across its items.
    fn full() -> Pendenza {
        let day = NaiveDate::from_ymd_opt(2026, 12, 31);
        let mut p = bare();
        p.id_a2a = Some("tributi".into());
        p.id_pendenza = Some("TARI-0001".into());
        p.soggetto = Soggetto {
            tipo: "F".into(),
            identificativo: "RSSMRA80A01H501U".into(),
            anagrafica: "Mario Rossi àèìòù €".into(),
            indirizzo: Some("Via Roma".into()),
            civico: Some("12".into()),
            cap: Some("00100".into()),
            localita: Some("Roma".into()),
            provincia: Some("RM".into()),
            nazione: Some("IT".into()),
            email: Some("mario.rossi@example.com".into()),
            cellulare: Some("+393331234567".into()),
        };
        p.data_validita = day;
        p.data_scadenza = day;
        let mut first = voce(
            Accredito::Iban {
                iban: "IT60X0542811101000000123456".into(),
                iban_postale: Some("IT23A0760103200000012345678".into()),
                iban_appoggio: Some("IT02L1234512345123456789012".into()),
            },
            Some(OrigineVoce::Entrata {
                cod_entrata: "TARI".into(),
            }),
        );
        first.descrizione_causale_rpt = Some("Tassa rifiuti".into());
        first.metadata = vec![("anno".into(), "2026".into()), ("k".into(), String::new())];
        first.contabilita = Some(json!({"quote": [{"capitolo": "1", "importo": 120.5}]}));
        first.dati_allegati = Some(json!({"n": -3, "big": u64::MAX, "f": 0.1, "z": null}));
        let bollo = voce(
            Accredito::Bollo {
                tipo_bollo: "01".into(),
                hash_documento: "cXVlc3RvIMOoIHVuIGhhc2g=".into(),
                provincia_residenza: "RM".into(),
            },
            Some(OrigineVoce::Iban {
                tipo_contabilita: "ALTRO".into(),
                codice_contabilita: "0101108TS".into(),
            }),
        );
        let tassonomia = voce(
            iban(),
            Some(OrigineVoce::Tassonomia {
                codice_tassonomico: "9/0101108TS".into(),
            }),
        );
        p.voci = vec![first, bollo, tassonomia];
        p.stato = Stato::Eseguita;
        p.anomala = true;
        p.anomalie = vec!["pagata due volte".into()];
        p.fuori_piano = true;
        p.dettagli = Dettagli {
            id_unita_operativa: Some("UO1".into()),
            anno_riferimento: Some(-1),
            tassonomia: Some("t".into()),
            tassonomia_avviso: Some("Servizi energetici".into()),
            direzione: Some("d".into()),
            divisione: Some("v".into()),
            dati_allegati: Some(json!([1, "due", {"tre": true}])),
            documento: Some(Documento {
                identificativo: "DOC-1".into(),
                descrizione: "Documento".into(),
                rata: Some(2),
                soglia: Some(Soglia {
                    tipo: "ENTRO".into(),
                    giorni: Some(60),
                }),
                piano: Some("mensile".into()),
            }),
            proprieta: Some(json!({"linguaSecondaria": "de"})),
            nome: Some("n".into()),
            cartella_pagamento: Some("c".into()),
            data_notifica_avviso: NaiveDate::from_ymd_opt(2026, 1, 1),
            data_promemoria_scadenza: NaiveDate::from_ymd_opt(2026, 2, 28),
            descrizione_stato: Some("s".into()),
            uuid: Some("5f0c3f2e-8a1b-4c7d-9e2f-0a1b2c3d4e5f".into()),
        };
        p.ricevute = vec!["r1".into(), "r2".into()];
        p.updated_at = Utc.timestamp_nanos(1_773_570_600_123_456_789);
        p
    }

    /// Every variant the stored value can take: bare, full, each state, documents with and
    /// without instalment, plan and threshold, a stamp-only position.
    fn variants() -> Vec<Pendenza> {
        let mut all = vec![bare(), full()];
        for stato in [Stato::NonEseguita, Stato::Annullata] {
            let mut p = full();
            p.stato = stato;
            all.push(p);
        }
        let documents = [
            Documento {
                identificativo: "D".into(),
                descrizione: "unica".into(),
                rata: None,
                soglia: None,
                piano: None,
            },
            Documento {
                identificativo: "D".into(),
                descrizione: "rata".into(),
                rata: Some(1),
                soglia: None,
                piano: None,
            },
            Documento {
                identificativo: "D".into(),
                descrizione: "ridotto".into(),
                rata: None,
                soglia: Some(Soglia {
                    tipo: "RIDOTTO".into(),
                    giorni: None,
                }),
                piano: None,
            },
        ];
        for d in documents {
            let mut p = bare();
            p.dettagli.documento = Some(d);
            all.push(p);
        }
        let mut stamp = bare();
        stamp.voci = vec![voce(
            Accredito::Bollo {
                tipo_bollo: "01".into(),
                hash_documento: "h".into(),
                provincia_residenza: "MI".into(),
            },
            None,
        )];
        all.push(stamp);
        all
    }

    #[test]
    fn every_variant_round_trips_and_starts_with_the_format_byte() {
        for p in variants() {
            let bytes = encode_position(&p).unwrap();
            assert_eq!(bytes[0], FORMAT_MSGPACK);
            assert!(!is_legacy(&bytes));
            assert_eq!(decode_position(&bytes).unwrap(), p);
        }
    }

    #[test]
    fn json_values_written_before_still_decode() {
        for p in variants() {
            let json = serde_json::to_vec(&p).unwrap();
            assert_eq!(json[0], b'{');
            assert!(is_legacy(&json));
            assert_eq!(decode_position(&json).unwrap(), p);
        }
    }

    #[test]
    fn the_binary_value_is_smaller_than_the_json() {
        let p = full();
        let binary = encode_position(&p).unwrap().len();
        let json = serde_json::to_vec(&p).unwrap().len();
        assert!(binary < json, "{binary} >= {json}");
    }

    #[test]
    fn corrupt_values_are_errors_not_panics() {
        let good = encode_position(&full()).unwrap();
        for cut in [1, 2, good.len() / 2, good.len() - 1] {
            assert!(decode_position(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_position(&[]).is_err());
        assert!(decode_position(&[FORMAT_MSGPACK]).is_err());
        assert!(decode_position(&[0x02, 0x80]).is_err());
        assert!(decode_position(b"{\"dominio\":1}").is_err());
    }

    /// The variants, each with its own notice, all of one application.
    fn stored_variants() -> Vec<Pendenza> {
        variants()
            .into_iter()
            .enumerate()
            .map(|(i, mut p)| {
                let nav = crate::domain::NoticeNumber::aux3("01", i as u64 + 1);
                p.iuv = nav.iuv().to_owned();
                p.numero_avviso = nav.as_str().to_owned();
                p.id_a2a = Some("tributi".into());
                p.id_pendenza = Some(format!("p{i}"));
                p
            })
            .collect()
    }

    /// A store holding `positions` with their indexes, every other one's value written as
    /// JSON, as a store from before the compact format holds it.
    fn mixed_store(dir: &std::path::Path, positions: &[Pendenza]) -> usize {
        let store = Sled::open(dir, 16).unwrap();
        let mut json = 0;
        for (i, p) in positions.iter().enumerate() {
            assert!(store.insert_pendenza(p).unwrap());
            if i % 2 == 0 {
                let key = super::super::keys::position(&p.dominio, &p.iuv);
                store
                    .positions
                    .insert(key, serde_json::to_vec(p).unwrap())
                    .unwrap();
                json += 1;
            }
        }
        store.flush_blocking().unwrap();
        json
    }

    /// Every way the store reads positions returns `positions` exactly.
    fn reads_back(store: &Sled, positions: &[Pendenza]) {
        use crate::store::index::{DebtorTerm, Filter};
        let now = Utc::now();
        for p in positions {
            assert_eq!(
                store.pendenza(&p.dominio, &p.iuv).unwrap().as_ref(),
                Some(p)
            );
            let id = p.id_pendenza.as_deref().unwrap();
            assert_eq!(
                store.pendenza_of_app("tributi", id).unwrap().as_ref(),
                Some(p)
            );
        }
        let sorted = |mut v: Vec<Pendenza>| {
            v.sort_by(|a, b| a.iuv.cmp(&b.iuv));
            v
        };
        let page = store
            .list_pendenze("tributi", &Filter::default(), now, 0, 100, true)
            .unwrap();
        assert_eq!(page.total, Some(positions.len()));
        assert_eq!(sorted(page.pendenze), sorted(positions.to_vec()));
        let documents: Vec<Pendenza> = positions
            .iter()
            .filter(|p| {
                p.dettagli
                    .documento
                    .as_ref()
                    .is_some_and(|d| d.identificativo == "D")
            })
            .cloned()
            .collect();
        assert_eq!(documents.len(), 3);
        assert_eq!(
            sorted(store.documento("77777777777", "D").unwrap()),
            sorted(documents)
        );
        let debtor = DebtorTerm::Fiscale("RSSMRA80A01H501U".into());
        let found = store
            .search_debtor(&debtor, &Filter::default(), now, 0, 100, true)
            .unwrap();
        let full: Vec<Pendenza> = positions
            .iter()
            .filter(|p| p.soggetto.identificativo == "RSSMRA80A01H501U")
            .cloned()
            .collect();
        assert_eq!(full.len(), 3);
        assert_eq!(sorted(found.pendenze), sorted(full));
    }

    #[tokio::test]
    async fn a_store_of_json_positions_reads_copies_and_upgrades_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let positions = stored_variants();
        let json = mixed_store(dir.path(), &positions);
        assert!(json > 0 && json < positions.len());

        // Read as it is, and copied to another store through the positions' decoding.
        let tally_before = {
            let source = crate::store::Store::open(dir.path(), 16).unwrap();
            let other = tempfile::tempdir().unwrap();
            let target = crate::store::Store::open(other.path(), 16).unwrap();
            let copied = crate::store::copy::copy(&source, &target, false)
                .await
                .unwrap();
            assert_eq!(copied.source, copied.target);
            for p in &positions {
                assert_eq!(
                    target.pendenza(&p.dominio, &p.iuv).await.unwrap().as_ref(),
                    Some(p)
                );
            }
            source.tally().await.unwrap()
        };

        let store = Sled::open(dir.path(), 16).unwrap();
        reads_back(&store, &positions);
        let legacy = |s: &Sled| {
            s.positions
                .iter()
                .values()
                .filter(|v| is_legacy(v.as_ref().unwrap()))
                .count()
        };
        assert_eq!(legacy(&store), json);

        // Upgraded in batches smaller than the store: every value tagged, nothing else changed.
        let mut batches = 0;
        let done = store.upgrade_positions(3, &mut |_| batches += 1).unwrap();
        assert_eq!(done.positions, positions.len() as u64);
        assert_eq!(done.converted, json as u64);
        assert!(done.bytes_after < done.bytes_before, "{done:?}");
        assert_eq!(batches, positions.len().div_ceil(3));
        assert_eq!(legacy(&store), 0);
        reads_back(&store, &positions);
        // Run again (an interrupted upgrade is restarted): nothing left to convert.
        let again = store.upgrade_positions(3, &mut |_| {}).unwrap();
        assert_eq!(
            (again.positions, again.converted),
            (positions.len() as u64, 0)
        );
        drop(store);

        let store = crate::store::Store::open(dir.path(), 16).unwrap();
        assert_eq!(store.tally().await.unwrap(), tally_before);
    }

    #[test]
    fn a_layout_1_store_of_json_positions_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let positions = stored_variants();
        mixed_store(dir.path(), &positions);
        {
            // Back to layout 1: the indexes are rebuilt from the positions when opened.
            let store = Sled::open(dir.path(), 16).unwrap();
            store.app_recent.clear().unwrap();
            store.app_counts.clear().unwrap();
            store.debtors.clear().unwrap();
            store.documents.clear().unwrap();
            let meta = store.db.open_tree(super::super::keys::META).unwrap();
            meta.insert(
                super::super::keys::META_SCHEMA,
                super::super::keys::SCHEMA_VERSION_1,
            )
            .unwrap();
            store.flush_blocking().unwrap();
        }
        let store = Sled::open(dir.path(), 16).unwrap();
        reads_back(&store, &positions);
    }
}
