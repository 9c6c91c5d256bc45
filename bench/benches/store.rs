//! Store micro-benchmarks on a temporary store (sled, 64 MiB cache) holding 10,000 positions:
//! the paths verify, activate, receipts and bulk loads take. Run: `make bench-micro` (or
//! `cargo bench -p varco-bench --bench store`).

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use varco::config::Config;
use varco::domain::NoticeNumber;
use varco::domain::{Attivazione, Pendenza, ReceiptStatus, ReceiptVersion, Ricevuta, Stato};
use varco::store::{Planned, Store, UpsertItem};

fn main() {
    divan::main();
}

const PRELOADED: u64 = 10_000;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    config: Config,
    runtime: tokio::runtime::Runtime,
}

fn position(config: &Config, reference: u64, id: &str) -> Pendenza {
    let nav = NoticeNumber::aux3("01", reference);
    let mut p = varco::demo::sample(config, &nav, Utc::now());
    p.id_a2a = Some("demo".into());
    p.id_pendenza = Some(id.into());
    p
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path(), 64).expect("store");
    let config = Config::demo();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for r in 1..=PRELOADED {
        runtime
            .block_on(store.put_pendenza(&position(&config, r, &format!("pre-{r}"))))
            .unwrap();
    }
    store.flush_blocking().unwrap();
    Fixture {
        _dir: dir,
        store,
        config,
        runtime,
    }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

fn next() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A stored position by key, decoded (verify and activate, before the mapping).
#[divan::bench]
fn pendenza_get(bencher: divan::Bencher) {
    let f = fixture();
    let keys: Vec<String> = (1..=PRELOADED)
        .map(|r| NoticeNumber::aux3("01", r).iuv().to_owned())
        .collect();
    let mut i = 0usize;
    bencher.bench_local(|| {
        i = (i + 7919) % keys.len();
        f.runtime
            .block_on(f.store.pendenza("77777777777", &keys[i]))
            .unwrap()
            .unwrap()
    });
}

/// A position decoded from JSON (how the store kept positions before the compact format; see
/// `codec` for the format it uses now).
#[divan::bench]
fn pendenza_decode_json(bencher: divan::Bencher) {
    let config = Config::demo();
    let json = serde_json::to_vec(&position(&config, 1, "p")).unwrap();
    bencher
        .counter(divan::counter::BytesCount::new(json.len()))
        .bench(|| serde_json::from_slice::<Pendenza>(divan::black_box(&json)).unwrap());
}

/// A position encoded to JSON.
#[divan::bench]
fn pendenza_encode_json(bencher: divan::Bencher) {
    let p = position(&Config::demo(), 1, "p");
    bencher.bench(|| serde_json::to_vec(divan::black_box(&p)).unwrap());
}

/// A new position with its application index (transaction), not flushed.
#[divan::bench]
fn pendenza_insert(bencher: divan::Bencher) {
    let f = fixture();
    bencher
        .with_inputs(|| {
            let n = PRELOADED + next();
            position(&f.config, n, &format!("ins-{n}"))
        })
        .bench_local_values(|p| assert!(f.runtime.block_on(f.store.insert_pendenza(&p)).unwrap()));
}

/// An activation attempt (paGetPayment/V2 writes one per call), not flushed.
#[divan::bench]
fn record_attempt(bencher: divan::Bencher) {
    let f = fixture();
    let attempt = Attivazione {
        at: Utc::now(),
        primitiva: "paGetPaymentV2".into(),
        importo_richiesto: Some(12050),
        transfer_type: None,
        payment_note: None,
        id_stazione: "77777777777_01".into(),
    };
    let mut r = 0u64;
    bencher.bench_local(|| {
        r = r % PRELOADED + 1;
        let iuv = NoticeNumber::aux3("01", r);
        f.runtime
            .block_on(f.store.record_attempt("77777777777", iuv.iuv(), &attempt))
            .unwrap()
    });
}

fn ricevuta(reference: u64, receipt_id: String) -> Ricevuta {
    let nav = NoticeNumber::aux3("01", reference);
    Ricevuta {
        dominio: "77777777777".into(),
        iuv: nav.iuv().to_owned(),
        receipt_id,
        numero_avviso: nav.as_str().to_owned(),
        creditor_reference_id: nav.iuv().to_owned(),
        versione: ReceiptVersion::V2,
        esito_pagamento: varco::domain::EsitoPagamento::Ok,
        importo: 12000,
        id_psp: "60000000001".into(),
        psp_denominazione: "PSP Demo".into(),
        id_canale: "60000000001_01".into(),
        descrizione_canale: "app".into(),
        metodo_pagamento: Some("creditCard".into()),
        data_pagamento: Some("2026-03-15T10:30:00".into()),
        commissioni: Some(100),
        stand_in: false,
        transfers: vec![],
        id_stazione: "77777777777_01".into(),
        versante: None,
        received_at: Utc::now(),
        stato: ReceiptStatus::Accettata,
        xml: "x".repeat(3000),
    }
}

fn close(p: Option<&Pendenza>, _: &[Pendenza], _r: &Ricevuta) -> (Option<Pendenza>, ReceiptStatus) {
    let mut p = p.cloned();
    if let Some(p) = &mut p {
        p.stato = Stato::Eseguita;
    }
    (p, ReceiptStatus::Accettata)
}

/// A receipt of a new id for one of the preloaded positions.
fn next_receipt() -> Ricevuta {
    let n = next();
    ricevuta(n % PRELOADED + 1, format!("{n:032x}"))
}

/// Stores a receipt (receipt + position closed + outbox entry, one transaction).
fn apply(f: &Fixture, r: Ricevuta) -> impl Sized {
    f.runtime
        .block_on(f.store.apply_receipt(r, &close, &|_| None, Utc::now()))
        .unwrap()
}

/// A receipt (receipt + position closed + outbox entry, one transaction), without the flush.
#[divan::bench]
fn apply_receipt(bencher: divan::Bencher) {
    let f = fixture();
    bencher
        .with_inputs(next_receipt)
        .bench_local_values(|r| apply(&f, r));
}

/// The same, then `Store::sync` (the group-commit flush a receipt waits for before `OK`),
/// alone: one fsync per receipt, the worst case of the group commit.
#[divan::bench(sample_count = 30, sample_size = 10)]
fn apply_receipt_flushed(bencher: divan::Bencher) {
    let f = fixture();
    bencher.with_inputs(next_receipt).bench_local_values(|r| {
        apply(&f, r);
        f.runtime.block_on(f.store.sync()).unwrap()
    });
}

/// 1,000 new positions in one `upsert_batch` (a bulk-load request is cut into these), with
/// generated notice numbers, not flushed.
#[divan::bench(sample_count = 20, sample_size = 1)]
fn upsert_batch_1000(bencher: divan::Bencher) {
    let f = fixture();
    let template = position(&f.config, 1, "x");
    bencher
        .counter(divan::counter::ItemsCount::new(1000usize))
        .with_inputs(|| {
            let base = next() * 10_000;
            (0..1000)
                .map(|i| format!("batch-{}", base + i))
                .collect::<Vec<String>>()
        })
        .bench_local_values(|ids| {
            let rule = |_: Option<&Pendenza>| -> Result<Planned, String> {
                Ok(Planned::Create {
                    pendenza: template.clone(),
                    generate: Some("01".into()),
                })
            };
            let items: Vec<UpsertItem<'_, String>> = ids
                .iter()
                .map(|id| UpsertItem {
                    id_a2a: "demo",
                    id_pendenza: id,
                    rule: &rule,
                })
                .collect();
            let out = f.runtime.block_on(f.store.upsert_batch(&items)).unwrap();
            assert!(out.iter().all(Result::is_ok));
        });
}

/// A position as gestionali load them (not the demo's minimal one): two items (an IBAN with
/// its postal twin and an entrata; a stamp-free second one with metadata), a debtor with
/// name, fiscal code, e-mail and address, an option of a document, the REST details.
fn rich_position() -> Pendenza {
    use varco::domain::documento::{Documento, Soglia};
    use varco::domain::{Accredito, Dettagli, OrigineVoce, Soggetto, Voce};
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-15T10:30:00.123456Z")
        .unwrap()
        .with_timezone(&Utc);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 31);
    Pendenza {
        dominio: "77777777777".into(),
        iuv: "010000000000012345".into(),
        numero_avviso: "301010000000000123".into(),
        id_a2a: Some("gestionale-tributi".into()),
        id_pendenza: Some("TARI-2026-0000012345".into()),
        id_tipo_pendenza: "TARI".into(),
        causale: "TARI 2026 utenza 12345 - rata unica".into(),
        soggetto: Soggetto {
            tipo: "F".into(),
            identificativo: "RSSMRA80A01H501U".into(),
            anagrafica: "Mario Rossi".into(),
            indirizzo: Some("Via Roma".into()),
            civico: Some("12".into()),
            cap: Some("00100".into()),
            localita: Some("Roma".into()),
            provincia: Some("RM".into()),
            nazione: Some("IT".into()),
            email: Some("mario.rossi@example.com".into()),
            cellulare: None,
        },
        importo: 24050,
        data_validita: day,
        data_scadenza: day,
        voci: vec![
            Voce {
                id_voce: "tari".into(),
                importo: 22000,
                descrizione: "TARI 2026".into(),
                descrizione_causale_rpt: None,
                dominio: "77777777777".into(),
                accredito: Accredito::Iban {
                    iban: "IT60X0542811101000000123456".into(),
                    iban_postale: Some("IT23A0760103200000012345678".into()),
                    iban_appoggio: None,
                },
                transfer_category: "9/0101101IM".into(),
                metadata: vec![],
                origine: Some(OrigineVoce::Entrata {
                    cod_entrata: "TARI".into(),
                }),
                contabilita: None,
                dati_allegati: None,
            },
            Voce {
                id_voce: "tefa".into(),
                importo: 2050,
                descrizione: "TEFA 2026".into(),
                descrizione_causale_rpt: Some("Tributo provinciale TEFA".into()),
                dominio: "80000000001".into(),
                accredito: Accredito::Iban {
                    iban: "IT02L1234512345123456789012".into(),
                    iban_postale: None,
                    iban_appoggio: None,
                },
                transfer_category: "9/0101108TS".into(),
                metadata: vec![("anno".into(), "2026".into())],
                origine: Some(OrigineVoce::Iban {
                    tipo_contabilita: "ALTRO".into(),
                    codice_contabilita: "0101108TS".into(),
                }),
                contabilita: None,
                dati_allegati: None,
            },
        ],
        stato: Stato::NonEseguita,
        anomala: false,
        anomalie: vec![],
        fuori_piano: false,
        dettagli: Dettagli {
            anno_riferimento: Some(2026),
            documento: Some(Documento {
                identificativo: "TARI-2026-12345".into(),
                descrizione: "TARI 2026".into(),
                rata: None,
                soglia: Some(Soglia {
                    tipo: "ENTRO".into(),
                    giorni: Some(60),
                }),
                piano: None,
            }),
            uuid: Some("5f0c3f2e-8a1b-4c7d-9e2f-0a1b2c3d4e5f".into()),
            ..Dettagli::default()
        },
        ricevute: vec![],
        created_at: now,
        updated_at: now,
    }
}

/// Codecs compared for the stored position (each bench's counter is the encoded size).
mod codec {
    use super::{Pendenza, rich_position};
    use divan::black_box;
    use divan::counter::BytesCount;

    type Decoder = fn(&[u8]) -> Pendenza;

    fn json(p: &Pendenza) -> Vec<u8> {
        serde_json::to_vec(p).unwrap()
    }
    fn msgpack(p: &Pendenza) -> Vec<u8> {
        rmp_serde::to_vec_named(p).unwrap()
    }
    fn cbor(p: &Pendenza) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(p, &mut out).unwrap();
        out
    }

    /// The store's own encoding (what `varco::store` writes today).
    #[divan::bench]
    fn encode_store(bencher: divan::Bencher) {
        let p = rich_position();
        let n = varco::store::sled::encode_position(&p).unwrap().len();
        bencher
            .counter(BytesCount::new(n))
            .bench(|| varco::store::sled::encode_position(black_box(&p)).unwrap());
    }

    /// The store's own decoding.
    #[divan::bench]
    fn decode_store(bencher: divan::Bencher) {
        let bytes = varco::store::sled::encode_position(&rich_position()).unwrap();
        bencher
            .counter(BytesCount::new(bytes.len()))
            .bench(|| varco::store::sled::decode_position(black_box(&bytes)).unwrap());
    }

    #[divan::bench(args = ["json", "msgpack", "cbor"])]
    fn encode(bencher: divan::Bencher, format: &str) {
        let p = rich_position();
        let f = match format {
            "json" => json,
            "msgpack" => msgpack,
            _ => cbor,
        };
        bencher
            .counter(BytesCount::new(f(&p).len()))
            .bench(|| f(black_box(&p)));
    }

    #[divan::bench(args = ["json", "msgpack", "cbor"])]
    fn decode(bencher: divan::Bencher, format: &str) {
        let p = rich_position();
        let (bytes, f): (Vec<u8>, Decoder) = match format {
            "json" => (json(&p), |b| serde_json::from_slice(b).unwrap()),
            "msgpack" => (msgpack(&p), |b| rmp_serde::from_slice(b).unwrap()),
            _ => (cbor(&p), |b| ciborium::from_reader(b).unwrap()),
        };
        assert_eq!(f(&bytes), p);
        bencher
            .counter(BytesCount::new(bytes.len()))
            .bench(|| f(black_box(&bytes)));
    }
}
