//! The store's promises when two nodes share it, on the engine under test: on PostgreSQL two
//! pools on one database (two nodes, as far as the database can tell), on the embedded store
//! two handles of one process (the concurrent callers it serves). Receipts go through the real
//! SOAP handlers of each node.

mod common;

use common::TestApp;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use varco::app::{AppState, nodo_router};
use varco::config::Config;
use varco::domain::{NoticeNumber, Pendenza, ReceiptStatus};
use varco::nodo::Nodo;
use varco::store::{Planned, Store, UpsertItem, Upserted};

/// A second node on `app`'s store: its own pool on the same database (PostgreSQL), or the same
/// store (embedded).
async fn second_node(app: &TestApp) -> Store {
    if common::pg::on_postgres() {
        Store::connect(&app.config.store).await.unwrap()
    } else {
        app.store.clone()
    }
}

/// The Nodo's router of a node on `store`.
fn node_router(config: &Arc<Config>, store: Store) -> axum::Router {
    let state = AppState::new(
        Nodo::new(config.clone(), store, varco::domain::system_clock()),
        Arc::new(AtomicBool::new(true)),
    );
    nodo_router(state)
}

fn outcome(xml: &str) -> &'static str {
    if xml.contains("<outcome>OK</outcome>") {
        "OK"
    } else if xml.contains("<outcome>KO</outcome>") {
        "KO"
    } else {
        panic!("no outcome in {xml}")
    }
}

/// Positions of the demo domain for references `refs`, created by the demo application.
async fn positions(store: &Store, config: &Config, refs: std::ops::RangeInclusive<u64>) {
    for r in refs {
        let nav = NoticeNumber::aux3("01", r);
        let mut p = varco::demo::sample(config, &nav, chrono::Utc::now());
        p.id_a2a = Some("demo".into());
        p.id_pendenza = Some(format!("nodi-{r}"));
        assert!(store.insert_pendenza(&p).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_receipt_sent_to_two_nodes_at_once_is_stored_once() {
    let app = TestApp::builder().seed(false).build().await;
    let b = second_node(&app).await;
    positions(&app.store, &app.config, 100..=129).await;
    let (node_a, node_b) = (app.nodo.clone(), node_router(&app.config, b.clone()));
    let mut calls = Vec::new();
    for r in 100..=129u64 {
        let nav = NoticeNumber::aux3("01", r);
        let id = format!("{r:032x}");
        for router in [node_a.clone(), node_b.clone()] {
            let body = common::receipt_v2(nav.as_str(), &id);
            calls.push(tokio::spawn(async move {
                common::soap_through(&router, "paSendRTV2", body).await
            }));
        }
    }
    for call in calls {
        // Contention between nodes is never a reason to refuse a receipt.
        assert_eq!(outcome(&call.await.unwrap()), "OK");
    }
    let outbox = b.outbox().await.unwrap();
    assert_eq!(outbox.len(), 30, "one outbox entry per receipt");
    let ids: HashSet<_> = outbox.iter().map(|e| e.receipt_id.clone()).collect();
    assert_eq!(ids.len(), 30);
    for r in 100..=129u64 {
        let nav = NoticeNumber::aux3("01", r);
        let stored = b.ricevute("77777777777", nav.iuv()).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].stato, ReceiptStatus::Accettata);
        let p = b.pendenza("77777777777", nav.iuv()).await.unwrap().unwrap();
        assert_eq!(p.stato, varco::domain::Stato::Eseguita);
        assert_eq!(p.ricevute, vec![format!("{r:032x}")]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_receipts_for_one_notice_on_two_nodes_at_once_pay_it_once() {
    let app = TestApp::builder().seed(false).build().await;
    let b = second_node(&app).await;
    positions(&app.store, &app.config, 200..=219).await;
    let (node_a, node_b) = (app.nodo.clone(), node_router(&app.config, b.clone()));
    let mut calls = Vec::new();
    for r in 200..=219u64 {
        let nav = NoticeNumber::aux3("01", r);
        for (router, id) in [
            (node_a.clone(), format!("a{r:031x}")),
            (node_b.clone(), format!("b{r:031x}")),
        ] {
            let body = common::receipt_v2(nav.as_str(), &id);
            calls.push(tokio::spawn(async move {
                common::soap_through(&router, "paSendRTV2", body).await
            }));
        }
    }
    for call in calls {
        assert_eq!(outcome(&call.await.unwrap()), "OK");
    }
    for r in 200..=219u64 {
        let nav = NoticeNumber::aux3("01", r);
        let stored = app.store.ricevute("77777777777", nav.iuv()).await.unwrap();
        assert_eq!(stored.len(), 2, "both receipts are kept");
        let accepted = stored
            .iter()
            .filter(|r| r.stato == ReceiptStatus::Accettata)
            .count();
        assert_eq!(accepted, 1, "exactly one counts as the payment: {stored:?}");
        let p = app
            .store
            .pendenza("77777777777", nav.iuv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.stato, varco::domain::Stato::Eseguita);
        assert!(p.anomala, "the second payment is an anomaly");
        assert_eq!(p.ricevute.len(), 2);
    }
    assert_eq!(app.store.outbox().await.unwrap().len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_numbers_drawn_on_two_nodes_at_once_never_collide() {
    let app = TestApp::builder().seed(false).build().await;
    let b = second_node(&app).await;
    let template = {
        let nav = NoticeNumber::aux3("01", 1);
        varco::demo::sample(&app.config, &nav, chrono::Utc::now())
    };
    let mut draws = Vec::new();
    for (node, store) in [("a", app.store.clone()), ("b", b.clone())] {
        for batch in 0..8 {
            let (store, template) = (store.clone(), template.clone());
            draws.push(tokio::spawn(async move {
                let rule = move |_: Option<&Pendenza>| -> Result<Planned, String> {
                    Ok(Planned::Create {
                        pendenza: template.clone(),
                        generate: Some("01".into()),
                    })
                };
                let ids: Vec<String> = (0..25).map(|i| format!("{node}-{batch}-{i}")).collect();
                let items: Vec<UpsertItem<'_, String>> = ids
                    .iter()
                    .map(|id| UpsertItem {
                        id_a2a: "demo",
                        id_pendenza: id,
                        rule: &rule,
                    })
                    .collect();
                store
                    .upsert_batch(&items)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|r| match r {
                        Ok(Upserted::Created(p)) => p.numero_avviso,
                        other => panic!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
            }));
        }
    }
    let mut numbers = Vec::new();
    for d in draws {
        numbers.extend(d.await.unwrap());
    }
    let distinct: HashSet<_> = numbers.iter().collect();
    assert_eq!(numbers.len(), 400);
    assert_eq!(distinct.len(), 400, "a notice number was handed out twice");
    // Handed out in order, none skipped: references 1..=400.
    let mut refs: Vec<u64> = numbers
        .iter()
        .map(|n| n[3..16].parse::<u64>().unwrap())
        .collect();
    refs.sort_unstable();
    assert_eq!(refs, (1..=400).collect::<Vec<_>>());
    assert_eq!(b.count_pendenze().await.unwrap(), 400);
}

/// A batch is one transaction with the outcome of its items applied one after the other: an
/// item sees what the earlier ones created, drawn numbers skip numbers held by stored positions
/// and by the batch's own, and the counter goes on after the last number handed out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upsert_batch_is_its_items_one_after_the_other() {
    let app = TestApp::builder().seed(false).build().await;
    let store = &app.store;
    let template = varco::demo::sample(
        &app.config,
        &NoticeNumber::aux3("01", 1),
        chrono::Utc::now(),
    );
    let explicit = |r: u64| {
        let nav = NoticeNumber::aux3("01", r);
        let mut p = varco::demo::sample(&app.config, &nav, chrono::Utc::now());
        p.causale = format!("explicit {r}");
        p
    };
    // Stored before the batch: reference 2 (held, so never drawn) and reference 50 as "kept".
    let mut held = explicit(2);
    held.id_a2a = Some("demo".into());
    held.id_pendenza = Some("held".into());
    assert!(store.insert_pendenza(&held).await.unwrap());
    let mut kept = explicit(50);
    kept.id_a2a = Some("demo".into());
    kept.id_pendenza = Some("kept".into());
    assert!(store.insert_pendenza(&kept).await.unwrap());

    type Rule = Box<dyn Fn(Option<&Pendenza>) -> Result<Planned, String> + Sync>;
    let generate: Rule = {
        let t = template.clone();
        Box::new(move |_| {
            Ok(Planned::Create {
                pendenza: t.clone(),
                generate: Some("01".into()),
            })
        })
    };
    let create = |r: u64| -> Rule {
        let p = explicit(r);
        Box::new(move |_| {
            Ok(Planned::Create {
                pendenza: p.clone(),
                generate: None,
            })
        })
    };
    let rename: Rule = Box::new(|stored| {
        let mut p = stored.expect("created earlier in the batch").clone();
        p.causale = "renamed".into();
        Ok(Planned::Write(p))
    });
    let same: Rule = Box::new(|stored| {
        assert!(stored.is_some());
        Ok(Planned::Unchanged)
    });
    let refuse: Rule = Box::new(|_| Err("no".into()));
    let (create4, create3) = (create(4), create(3));
    let plan: Vec<(&str, &Rule)> = vec![
        ("g1", &generate),
        ("g2", &generate),
        ("x4", &create4),
        ("g3", &generate),
        ("g1", &rename),
        ("dup", &create3),
        ("kept", &same),
        ("no", &refuse),
    ];
    let items: Vec<UpsertItem<'_, String>> = plan
        .iter()
        .map(|(id, rule)| UpsertItem {
            id_a2a: "demo",
            id_pendenza: id,
            rule: rule.as_ref(),
        })
        .collect();
    let out = store.upsert_batch(&items).await.unwrap();
    let reference = |p: &Pendenza| p.numero_avviso[3..16].parse::<u64>().unwrap();
    let got: Vec<String> = out
        .iter()
        .map(|r| match r {
            Ok(Upserted::Created(p)) => format!("created {}", reference(p)),
            Ok(Upserted::Updated(p)) => format!("updated {} {}", reference(p), p.causale),
            Ok(Upserted::Unchanged(p)) => format!("unchanged {}", reference(p)),
            Err(varco::store::Refused::NoticeTaken { numero_avviso, .. }) => {
                format!("taken {}", &numero_avviso[3..16].parse::<u64>().unwrap())
            }
            Err(varco::store::Refused::Rule(e)) => format!("refused {e}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            "created 1",
            "created 3",
            "created 4",
            "created 5",
            "updated 1 renamed",
            "taken 3",
            "unchanged 50",
            "refused no",
        ]
    );
    let g1 = store.pendenza_of_app("demo", "g1").await.unwrap().unwrap();
    assert_eq!((reference(&g1), g1.causale.as_str()), (1, "renamed"));
    assert!(
        store
            .pendenza_of_app("demo", "dup")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.count_pendenze().await.unwrap(), 6);
    // The counter stopped at the last number handed out: the next draw is reference 6.
    let next = store
        .upsert_batch(&[UpsertItem {
            id_a2a: "demo",
            id_pendenza: "g4",
            rule: generate.as_ref(),
        }])
        .await
        .unwrap();
    match &next[0] {
        Ok(Upserted::Created(p)) => assert_eq!(reference(p), 6),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outbox_entry_is_claimed_by_one_node_until_its_lease_ends() {
    if !common::pg::on_postgres() {
        // One process delivers each queue with one worker: the embedded engine has no claims.
        eprintln!("claims are a database engine's: skipped on the embedded store");
        return;
    }
    let app = TestApp::builder().seed(false).build().await;
    let b = second_node(&app).await;
    positions(&app.store, &app.config, 300..=300).await;
    let nav = NoticeNumber::aux3("01", 300);
    let reply = common::soap_through(
        &app.nodo,
        "paSendRTV2",
        common::receipt_v2(nav.as_str(), "c0000000000000000000000000000300"),
    )
    .await;
    assert_eq!(outcome(&reply), "OK");
    let id = app.store.outbox().await.unwrap()[0].id;
    // The demo application has no connector (the entry was parked): an operator re-sends it.
    varco::outbox::requeue(&app.store, id, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    let lease = std::time::Duration::from_millis(300);
    // A row another node holds (claiming or finishing it) is skipped at once, not waited for.
    let url = app.config.store.url.as_ref().unwrap().expose().to_owned();
    let (mut other, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let holding = other.transaction().await.unwrap();
    holding
        .execute(
            "SELECT 1 FROM outbox WHERE id = $1 FOR UPDATE",
            &[&(id as i64)],
        )
        .await
        .unwrap();
    let skipped =
        tokio::time::timeout(std::time::Duration::from_secs(1), b.claim_outbox(id, lease))
            .await
            .expect("a claim waited for another node's lock");
    assert_eq!(skipped.unwrap(), None);
    holding.rollback().await.unwrap();
    let claimed = app.store.claim_outbox(id, lease).await.unwrap();
    assert!(claimed.is_some());
    // The other node neither claims it nor sees it due while the lease runs.
    assert_eq!(b.claim_outbox(id, lease).await.unwrap(), None);
    let far = chrono::Utc::now() + chrono::Duration::days(1);
    assert!(b.outbox_due("demo", far, 10).await.unwrap().is_empty());
    // The first node dies without finishing: once the lease runs out, the other takes it.
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(b.outbox_due("demo", far, 10).await.unwrap().len(), 1);
    let taken = b.claim_outbox(id, lease).await.unwrap().unwrap();
    // Delivered by the second node: the entry goes, and a late finish of the first is a no-op.
    assert!(b.finish_delivery(&taken, None).await.unwrap());
    assert!(
        !app.store
            .finish_delivery(&claimed.unwrap(), None)
            .await
            .unwrap()
    );
    assert!(app.store.outbox().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_station_copied_to_the_other_engine_and_back_holds_the_same_records() {
    // The demo positions, a paid one with its receipt and outbox entry, an attempt, a receipt
    // of a notice Varco does not hold (a `seen` number), a drawn notice number, the journal,
    // a settlement flow with its settlement, a treasury movement, the acquisition's cursor.
    let app = TestApp::builder().build().await;
    let nav = NoticeNumber::aux3("01", 1);
    let activate = common::fixture("demo/get-payment-v2.xml");
    assert_eq!(outcome(&app.soap("paGetPaymentV2", activate).await), "OK");
    app.receipt_to_handlers(nav.as_str(), "d3m00000000000000000000000000c01")
        .await;
    let stranger = NoticeNumber::aux3("01", 900);
    let reply = common::soap_through(
        &app.nodo,
        "paSendRTV2",
        common::receipt_v2(stranger.as_str(), "d3m00000000000000000000000000c02"),
    )
    .await;
    assert_eq!(outcome(&reply), "OK");
    positions(&app.store, &app.config, 500..=520).await;
    let template = varco::demo::sample(&app.config, &nav, chrono::Utc::now());
    let rule = |_: Option<&Pendenza>| -> Result<Planned, String> {
        Ok(Planned::Create {
            pendenza: template.clone(),
            generate: Some("01".into()),
        })
    };
    let drawn = app
        .store
        .upsert_batch(&[UpsertItem {
            id_a2a: "demo",
            id_pendenza: "drawn",
            rule: &rule,
        }])
        .await
        .unwrap();
    assert!(matches!(drawn[0], Ok(Upserted::Created(_))));
    // Reconciliation: a flow settling the paid receipt, a treasury movement collecting it, the
    // acquisition's bookkeeping.
    let xml = common::fixture("fdr/2026-11-30ABI03069-0001.xml");
    let (mut flusso, mut linee) =
        varco::fdr::xml::parse(xml.as_bytes(), chrono::Utc::now()).unwrap();
    linee.truncate(1);
    linee[0].iuv = nav.iuv().to_owned();
    linee[0].iur = "d3m00000000000000000000000000c01".into();
    linee[0].indice = Some(1);
    linee[0].importo = 12_000;
    linee[0].esito = varco::domain::fdr::Esito::Executed;
    flusso.numero_pagamenti = 1;
    flusso.importo_totale = 12_000;
    let id_flusso = flusso.key.id_flusso.clone();
    varco::fdr::settle::store_flow(&app.store, &app.config, flusso, linee, xml.into_bytes())
        .await
        .unwrap();
    let movement = varco::fdr::treasury::Movimento {
        dominio: "77777777777".into(),
        id: "mov-copy".into(),
        causale: None,
        iuv: None,
        id_flusso: Some(id_flusso),
        importo: 12_000,
        sct: "SCT".into(),
        data_valuta: None,
        data_contabile: None,
        conto_accredito: None,
    };
    varco::fdr::treasury::riconcilia(&app.store, &app.config, movement, chrono::Utc::now())
        .await
        .unwrap();
    let bookkeeping = varco::store::fdr::FdrWrite {
        meta: vec![(
            "cursor/77777777777".into(),
            Some(b"\"2026-12-01T00:00:00Z\"".to_vec()),
        )],
        ..Default::default()
    };
    app.store.fdr_write(&bookkeeping).await.unwrap();
    app.state.journal.barrier();
    let source = app.store.tally().await.unwrap();
    for table in varco::store::copy::TABLES {
        assert!(
            source.0.get(table).is_some_and(|(n, _)| *n > 0),
            "the source has no {table}: {source:?}"
        );
    }
    // To the other engine (the embedded one, when the suite runs on it: a copy to itself).
    let other_dir = tempfile::tempdir().unwrap();
    let other = Store::open(other_dir.path(), 16).unwrap();
    let there = varco::store::copy::copy(&app.store, &other, false)
        .await
        .unwrap();
    assert_eq!(there.source, source);
    assert_eq!(there.target, source, "read back from the copy");
    // A second copy into it is refused: the target is not empty.
    assert!(
        varco::store::copy::copy(&app.store, &other, false)
            .await
            .is_err()
    );
    // And back, to a fresh store of the engine under test.
    let back_dir = tempfile::tempdir().unwrap();
    let back = Store::connect(&common::app::store_config(back_dir.path()).await)
        .await
        .unwrap();
    let returned = varco::store::copy::copy(&other, &back, false)
        .await
        .unwrap();
    assert_eq!(returned.target, source);
    // The copy works as a station: the receipt is there, the paid position answers as paid,
    // and the next drawn number follows the copied counter.
    assert_eq!(
        back.ricevute("77777777777", nav.iuv()).await.unwrap().len(),
        1
    );
    let p = back
        .pendenza("77777777777", nav.iuv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stato, varco::domain::Stato::Eseguita);
    assert_eq!(back.outbox().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_store_is_backed_up_while_receipts_go_on() {
    let app = TestApp::builder().seed(false).build().await;
    let backup = |nome: &str| {
        axum::http::Request::post("/api/backoffice/v1/store/backup")
            .header("authorization", common::basic(common::DEMO_OPERATOR))
            .header("content-type", "application/json")
            .body(axum::body::Body::from(format!(r#"{{"nome":"{nome}"}}"#)))
            .unwrap()
    };
    if common::pg::on_postgres() {
        // PostgreSQL's own tools back it up.
        let reply = common::app::send(&app.api, backup("b1")).await;
        assert_eq!(reply.status, 409);
        assert_eq!(reply.json()["codice"], "STORE_001");
        return;
    }
    positions(&app.store, &app.config, 600..=679).await;
    // Receipts stream in while the backup is taken; those answered OK before it started must
    // all be in it.
    let nodo = app.nodo.clone();
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let stream = {
        let acked = acked.clone();
        tokio::spawn(async move {
            for r in 600..=679u64 {
                let nav = NoticeNumber::aux3("01", r);
                let body = common::receipt_v2(nav.as_str(), &format!("{r:032x}"));
                let reply = common::soap_through(&nodo, "paSendRTV2", body).await;
                assert_eq!(outcome(&reply), "OK");
                acked.lock().unwrap().push(r);
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
        })
    };
    while acked.lock().unwrap().len() < 30 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let before: Vec<u64> = acked.lock().unwrap().clone();
    let reply = common::app::send(&app.api, backup("durante-i-pagamenti")).await;
    assert_eq!(reply.status, 201, "{}", reply.text());
    stream.await.unwrap();
    let directory = reply.json()["directory"].as_str().unwrap().to_owned();
    // The same name again is refused; a name that is not one is refused.
    assert_eq!(
        common::app::send(&app.api, backup("durante-i-pagamenti"))
            .await
            .status,
        409
    );
    assert_eq!(
        common::app::send(&app.api, backup("../fuori")).await.status,
        400
    );
    let restored = Store::open(std::path::Path::new(&directory), 16).unwrap();
    for r in before {
        let nav = NoticeNumber::aux3("01", r);
        let stored = restored.ricevute("77777777777", nav.iuv()).await.unwrap();
        assert_eq!(
            stored.len(),
            1,
            "receipt {r}, acknowledged before the backup"
        );
        let p = restored
            .pendenza("77777777777", nav.iuv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.stato, varco::domain::Stato::Eseguita);
    }
    drop(restored);
    let _ = std::fs::remove_dir_all(std::path::Path::new(&directory).parent().unwrap());
}

/// The creditor of the even positions of the debtor search tests (the demo's is the odd ones').
const OTHER_DOMAIN: &str = "88888888888";

/// Position `i` of the debtor search tests: reference `i`, created `i` minutes after `t0`; of
/// the demo application, another one, or none (by `i` mod 3); of the demo creditor (odd) or
/// another (even); owed by `debtor`, named `name`.
fn owed(
    config: &Config,
    t0: chrono::DateTime<chrono::Utc>,
    i: u64,
    debtor: &str,
    name: &str,
) -> Pendenza {
    let nav = NoticeNumber::aux3("01", 700 + i);
    let mut p = varco::demo::sample(config, &nav, t0 + chrono::Duration::minutes(i as i64));
    p.id_a2a = match i % 3 {
        0 => None,
        1 => Some("demo".into()),
        _ => Some("altra".into()),
    };
    p.id_pendenza = Some(format!("p{i}"));
    if i.is_multiple_of(2) {
        p.dominio = OTHER_DOMAIN.into();
    }
    p.soggetto.identificativo = debtor.into();
    p.soggetto.anagrafica = name.into();
    p
}

/// The ids of a page's positions, in order.
fn ids_of(page: &varco::store::index::Page) -> Vec<String> {
    page.pendenze
        .iter()
        .map(|p| p.id_pendenza.clone().unwrap())
        .collect()
}

const ROSSI: &str = "RSSMRA80A01H501U";
const VERDI: &str = "VRDGPP70B02F205X";

/// Positions 1..=8 owed by Mario Rossi-Bianchi (his code stored in lower case on the odd ones),
/// 9 and 10 by Giuseppe Verdi, 11 by nobody known, 12 by Luigi Bianchi.
async fn debtors(store: &Store, config: &Config, t0: chrono::DateTime<chrono::Utc>) {
    for i in 1..=12u64 {
        let p = match i {
            1..=8 if i % 2 == 1 => {
                owed(config, t0, i, &ROSSI.to_lowercase(), "Mario ROSSI-Bianchi")
            }
            1..=8 => owed(config, t0, i, ROSSI, "Mario ROSSI-Bianchi"),
            9 | 10 => owed(config, t0, i, VERDI, "Giuseppe Verdi"),
            11 => owed(config, t0, i, "ANONIMO", "ANONIMO"),
            _ => owed(config, t0, i, "BNCLGU75C03F205Z", "Luigi Bianchi"),
        };
        assert!(store.insert_pendenza(&p).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_are_found_by_debtor_across_applications_newest_first() {
    use varco::store::index::{DebtorTerm, Filter, StatoFiltro};
    let (_dir, store) = common::app::temp_store().await;
    let config = Config::demo();
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-10T09:00:00Z")
        .unwrap()
        .to_utc();
    let now = t0 + chrono::Duration::days(1);
    debtors(&store, &config, t0).await;
    let all = Filter::default();
    let search = |term: DebtorTerm, filter: Filter, skip: usize, take: usize| {
        let store = store.clone();
        async move {
            store
                .search_debtor(&term, &filter, now, skip, take, true)
                .await
                .unwrap()
        }
    };
    let code = |c: &str| DebtorTerm::Fiscale(c.into());
    let word = |w: &str| DebtorTerm::Nome(w.into());

    // By fiscal code, in any case, newest first, paged: every application's and none's.
    let first = search(code("rssmra80a01h501u"), all.clone(), 0, 3).await;
    assert_eq!(ids_of(&first), ["p8", "p7", "p6"]);
    assert_eq!((first.total, first.more), (Some(8), true));
    let apps: HashSet<Option<String>> = first.pendenze.iter().map(|p| p.id_a2a.clone()).collect();
    assert_eq!(
        apps.len(),
        3,
        "three applications, none among them: {apps:?}"
    );
    let last = search(code(" RSSMRA80A01H501U"), all.clone(), 6, 3).await;
    assert_eq!(ids_of(&last), ["p2", "p1"]);
    assert_eq!((last.total, last.more), (Some(8), false));
    let uncounted = store
        .search_debtor(&code(ROSSI), &all, now, 3, 3, false)
        .await
        .unwrap();
    assert_eq!(
        (ids_of(&uncounted), uncounted.total, uncounted.more),
        (vec!["p5".to_string(), "p4".into(), "p3".into()], None, true)
    );

    // By a word of the name, in any case; a word is one token.
    let rossi = search(word("Rossi"), all.clone(), 0, 20).await;
    assert_eq!(rossi.total, Some(8));
    assert_eq!(ids_of(&rossi)[0], "p8");
    let bianchi = search(word("BIANCHI"), all.clone(), 0, 20).await;
    assert_eq!(
        ids_of(&bianchi),
        ["p12", "p8", "p7", "p6", "p5", "p4", "p3", "p2", "p1"]
    );
    assert_eq!(
        search(word("verdi"), all.clone(), 0, 20).await.total,
        Some(2)
    );
    for nothing in [
        word("rossi-bianchi"),
        word("m"),
        word("ross"),
        code("ANONIMO"),
        code(""),
    ] {
        let page = search(nothing.clone(), all.clone(), 0, 20).await;
        assert!(page.pendenze.is_empty(), "{nothing:?}");
        assert_eq!((page.total, page.more), (Some(0), false), "{nothing:?}");
    }

    // The creditors allowlist, the creditor, the dates.
    let only = |domini: &[&str]| Filter {
        domini: Some(domini.iter().map(|d| d.to_string()).collect()),
        ..Filter::default()
    };
    let other = search(code(ROSSI), only(&[OTHER_DOMAIN]), 0, 20).await;
    assert_eq!(ids_of(&other), ["p8", "p6", "p4", "p2"]);
    let both = search(code(ROSSI), only(&[OTHER_DOMAIN, "77777777777"]), 0, 20).await;
    assert_eq!(both.total, Some(8));
    assert_eq!(search(code(ROSSI), only(&[]), 0, 20).await.total, Some(0));
    let one = Filter {
        dominio: Some("77777777777".into()),
        ..only(&[OTHER_DOMAIN, "77777777777"])
    };
    assert_eq!(
        ids_of(&search(word("rossi"), one, 0, 20).await),
        ["p7", "p5", "p3", "p1"]
    );
    let window = Filter {
        da: Some(t0 + chrono::Duration::minutes(3)),
        a: Some(t0 + chrono::Duration::minutes(6)),
        ..Filter::default()
    };
    let found = search(word("bianchi"), window, 0, 20).await;
    assert_eq!(
        (ids_of(&found), found.total),
        (
            vec!["p6".to_string(), "p5".into(), "p4".into(), "p3".into()],
            Some(4)
        )
    );

    // The state at `now`, after a change.
    let p5 = store.pendenza_of_app("altra", "p5").await.unwrap().unwrap();
    store
        .update_pendenza(&p5.dominio, &p5.iuv, &|p| -> Result<_, ()> {
            let mut next = p.clone();
            next.stato = varco::domain::Stato::Annullata;
            Ok(Some(next))
        })
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let state = |s| Filter {
        stato: Some(StatoFiltro::Stato(s)),
        ..Filter::default()
    };
    use varco::domain::StatoEffettivo;
    let cancelled = search(code(ROSSI), state(StatoEffettivo::Annullata), 0, 20).await;
    assert_eq!(
        (ids_of(&cancelled), cancelled.total),
        (vec!["p5".to_string()], Some(1))
    );
    let open = search(word("rossi"), state(StatoEffettivo::NonEseguita), 0, 20).await;
    assert_eq!(open.total, Some(7));

    // A debtor replaced: the old one no longer finds it, the new one does.
    let mut p7 = store.pendenza_of_app("demo", "p7").await.unwrap().unwrap();
    p7.soggetto.identificativo = VERDI.into();
    p7.soggetto.anagrafica = "Giuseppe Verdi".into();
    store.put_pendenza(&p7).await.unwrap();
    let rossi = search(code(ROSSI), all.clone(), 0, 20).await;
    assert_eq!(rossi.total, Some(7));
    assert!(!ids_of(&rossi).contains(&"p7".to_string()));
    assert_eq!(
        ids_of(&search(word("rossi"), all.clone(), 0, 20).await),
        ["p8", "p6", "p5", "p4", "p3", "p2", "p1"]
    );
    assert_eq!(
        ids_of(&search(code(VERDI), all.clone(), 0, 20).await),
        ["p10", "p9", "p7"]
    );
    assert_eq!(
        ids_of(&search(word("giuseppe"), all.clone(), 0, 20).await),
        ["p10", "p9", "p7"]
    );
    // Only the name changed: the same code, new words.
    let nav9 = NoticeNumber::aux3("01", 709);
    let mut p9 = store
        .pendenza("77777777777", nav9.iuv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p9.id_pendenza.as_deref(), Some("p9"));
    p9.soggetto.anagrafica = "Giuseppe Verdi Neri".into();
    store.put_pendenza(&p9).await.unwrap();
    assert_eq!(
        ids_of(&search(word("neri"), all.clone(), 0, 20).await),
        ["p9"]
    );
    assert_eq!(search(code(VERDI), all.clone(), 0, 20).await.total, Some(3));

    // Every application's listing honours the allowlist too.
    let listed = store
        .list_pendenze("demo", &only(&[OTHER_DOMAIN]), now, 0, 20, true)
        .await
        .unwrap();
    assert_eq!(
        (ids_of(&listed), listed.total),
        (vec!["p10".to_string(), "p4".into()], Some(2))
    );
}

/// A store the previous version wrote (no debtor index yet) gets it when opened: the embedded
/// store at layout 3, a database at schema version 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_previous_layout_gets_the_debtor_index_when_opened() {
    use varco::store::index::{DebtorTerm, Filter};
    let dir = tempfile::tempdir().unwrap();
    let config = common::app::store_config(dir.path()).await;
    let demo = Config::demo();
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-01-10T09:00:00Z")
        .unwrap()
        .to_utc();
    {
        let store = Store::connect(&config).await.unwrap();
        debtors(&store, &demo, t0).await;
        store.sync().await.unwrap();
        store.flush_blocking().unwrap();
    }
    if let Some(url) = &config.url {
        let (client, connection) = tokio_postgres::connect(url.expose(), tokio_postgres::NoTls)
            .await
            .unwrap();
        let driver = tokio::spawn(connection);
        client
            .batch_execute(
                "DROP INDEX positions_by_debtor; DROP INDEX positions_by_name;
                 DROP FUNCTION varco_debtor(bytea); DROP FUNCTION varco_name_tokens(bytea);
                 DELETE FROM varco_schema WHERE version = 4",
            )
            .await
            .unwrap();
        drop(client);
        let _ = driver.await;
    } else {
        // Back to layout 3: no `debtors` tree.
        let db = open_sled(&config.data_dir);
        assert!(db.drop_tree("debtors").unwrap());
        db.open_tree("meta")
            .unwrap()
            .insert("schema_version", "3")
            .unwrap();
        db.flush().unwrap();
    }
    let store = Store::connect(&config).await.unwrap();
    let now = t0 + chrono::Duration::days(1);
    let found = store
        .search_debtor(
            &DebtorTerm::Nome("bianchi".into()),
            &Filter::default(),
            now,
            0,
            3,
            true,
        )
        .await
        .unwrap();
    assert_eq!(
        (ids_of(&found), found.total),
        (vec!["p12".to_string(), "p8".into(), "p7".into()], Some(9))
    );
    let found = store
        .search_debtor(
            &DebtorTerm::Fiscale(VERDI.into()),
            &Filter::default(),
            now,
            0,
            3,
            true,
        )
        .await
        .unwrap();
    assert_eq!(ids_of(&found), ["p10", "p9"]);
    if config.url.is_none() {
        drop(store);
        let db = open_sled(&config.data_dir);
        let version = db.open_tree("meta").unwrap().get("schema_version").unwrap();
        assert_eq!(version.as_deref(), Some(&b"4"[..]));
    }
}

/// The embedded store's files opened directly, once the store that held them is gone (its
/// background threads let go of the directory shortly after).
fn open_sled(dir: &std::path::Path) -> sled::Db {
    for _ in 0..50 {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(40)),
        }
    }
    sled::open(dir).unwrap()
}
