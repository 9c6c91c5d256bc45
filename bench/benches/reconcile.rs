//! Reconciliation throughput: settlement-flow lines matched per second on a store holding
//! `BENCH_FDR_RECEIPTS` paid positions (1,000,000 by default), each with its receipt. Flows of
//! `BENCH_FDR_FLOW_LINES` lines (5,000) name receipts drawn at random, `BENCH_FDR_FLOWS` of them
//! (20); each is stored and reconciled by the code path of an import or an acquisition
//! (`varco::fdr::settle::store_flow`: the reads of each IUV's position, receipts and
//! settlements, the pure matching, one atomic write, the flush). The preloaded store is kept in
//! `BENCH_FDR_DIR` (default /tmp/varco-fdr-bench) and reused by the next run.
//! Run: `make bench-fdr`.

use chrono::{NaiveDate, TimeZone, Utc};
use std::sync::Arc;
use std::time::Instant;
use varco::config::Config;
use varco::domain::fdr::{Esito, FlowKey, Flusso, Fonte, Linea, Mittente, StatoFlusso};
use varco::domain::{
    EsitoPagamento, NoticeNumber, Pendenza, ReceiptStatus, ReceiptTransfer, ReceiptVersion,
    Ricevuta, Stato,
};
use varco::store::Store;
use varco::store::copy::Record;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const RECEIPT_XML: &str = include_str!("../../fixtures/demo/send-rt-v2.xml");

fn receipt(config: &Config, reference: u64) -> (Pendenza, Ricevuta) {
    let nav = NoticeNumber::aux3("01", reference);
    let now = Utc::now();
    let mut p = varco::demo::sample(config, &nav, now);
    p.id_a2a = Some("demo".into());
    p.id_pendenza = Some(format!("bench-{reference}"));
    p.stato = Stato::Eseguita;
    let r = Ricevuta {
        dominio: p.dominio.clone(),
        iuv: p.iuv.clone(),
        receipt_id: format!("rcpt-{reference:010}"),
        numero_avviso: p.numero_avviso.clone(),
        creditor_reference_id: p.iuv.clone(),
        versione: ReceiptVersion::V2,
        esito_pagamento: EsitoPagamento::Ok,
        importo: p.importo,
        id_psp: "ABI03069".into(),
        psp_denominazione: "PSP".into(),
        id_canale: "ABI03069_01".into(),
        descrizione_canale: "app".into(),
        metodo_pagamento: None,
        data_pagamento: None,
        commissioni: None,
        stand_in: false,
        transfers: p
            .voci
            .iter()
            .enumerate()
            .map(|(i, v)| ReceiptTransfer {
                id_transfer: i as u8 + 1,
                importo: v.importo,
                dominio: p.dominio.clone(),
                iban: None,
                causale: "TARI".into(),
                categoria: "9/0101101IM".into(),
            })
            .collect(),
        id_stazione: "77777777777_01".into(),
        versante: None,
        received_at: now,
        stato: ReceiptStatus::Accettata,
        xml: RECEIPT_XML.into(),
    };
    (p, r)
}

fn main() {
    let receipts = env("BENCH_FDR_RECEIPTS", 1_000_000) as u64;
    let flows = env("BENCH_FDR_FLOWS", 20);
    let per_flow = env("BENCH_FDR_FLOW_LINES", 5_000);
    let dir = std::env::var("BENCH_FDR_DIR").unwrap_or_else(|_| "/tmp/varco-fdr-bench".into());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let config = Arc::new(Config::demo());
    let store = Store::open(std::path::Path::new(&dir), 512).expect("store");
    let marker = std::path::Path::new(&dir).join(format!("preloaded-{receipts}"));
    runtime.block_on(async {
        if !marker.exists() {
            // Loaded as a copy between stores writes them (`Store::import`: positions through
            // their indexes, receipts as records), in batches: appends only. Storing them one
            // `apply_receipt` at a time, with their outbox entries, stalled sled 0.34.7 twice
            // here (a deadlock inside its log: `bump_tip` waiting, under the segment
            // accountant's lock, on a file truncation queued behind threads that need that
            // lock), after 25,000 and 250,000 receipts.
            let started = Instant::now();
            let mut batch = Vec::with_capacity(2_000);
            for reference in 1..=receipts {
                let (p, r) = receipt(&config, reference);
                batch.push(Record::Position(Box::new(p)));
                batch.push(Record::Receipt(Box::new(r)));
                if batch.len() >= 2_000 {
                    store.import(std::mem::take(&mut batch)).await.unwrap();
                }
                if reference % 100_000 == 0 {
                    store.sync().await.unwrap();
                    eprintln!("preloaded {reference} receipts in {:.0?}", started.elapsed());
                }
            }
            store.import(batch).await.unwrap();
            store.sync().await.unwrap();
            store.flush_blocking().unwrap();
            std::fs::write(&marker, b"").unwrap();
            eprintln!("preload: {receipts} positions and receipts in {:.1?}", started.elapsed());
        }
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        let mut total_lines = 0usize;
        let mut ok = 0u64;
        let run = std::process::id();
        let started = Instant::now();
        for f in 0..flows {
            let mut linee = Vec::with_capacity(per_flow);
            for _ in 0..per_flow {
                let reference = fastrand::u64(1..=receipts);
                let (_, r) = receipt(&config, reference);
                linee.push(Linea::new(
                    r.iuv.clone(),
                    r.receipt_id.clone(),
                    Some(1),
                    r.transfers[0].importo,
                    Esito::Executed,
                    day,
                ));
            }
            let flusso = Flusso {
                key: FlowKey {
                    dominio: "77777777777".into(),
                    id_flusso: format!("2026-11-30ABI03069-{run}x{f:04}"),
                    psp: "ABI03069".into(),
                    revisione: 1,
                },
                data_ora_flusso: Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap(),
                pubblicato: None,
                trn: format!("TRN{f}"),
                data_regolamento: day,
                bic_riversamento: None,
                mittente: Mittente {
                    tipo: "B".into(),
                    codice: "ABI03069".into(),
                    denominazione: None,
                },
                denominazione_ricevente: None,
                numero_pagamenti: linee.len() as u64,
                importo_totale: linee.iter().map(|l| l.importo).sum(),
                fonte: Fonte::Xml,
                acquisito: Utc::now(),
                obsoleto: false,
                stato: StatoFlusso::Acquisito,
                segnalazioni: Vec::new(),
                conteggi: [0; 3],
                incasso: None,
            };
            total_lines += linee.len();
            let settled = varco::fdr::settle::store_flow(&store, &config, flusso, linee, Vec::new())
                .await
                .expect("stored");
            ok += settled.flusso().conteggi[0];
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "reconcile: {receipts} receipts in store, {flows} flows x {per_flow} lines: {total_lines} lines in {secs:.2} s = {:.0} lines/s ({ok} OK)",
            total_lines as f64 / secs
        );
    });
}
