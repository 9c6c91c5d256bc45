//! The FdR 3 client against the fake FdR 3 server (`common::fake_fdr`): list paging and
//! filters, the 30-day refusal of `publishedGt`, what is retried and what is not, timeouts,
//! payments across pages, revisions, and the raw document kept for each flow.

mod common;

use chrono::{DateTime, Duration as Span, NaiveDate, TimeZone, Utc};
use common::fake_fdr::{FakeFdr, FakeFlow};
use serde_json::Value;
use std::time::Duration;
use varco::domain::fdr::{Esito, Fonte, StatoFlusso};
use varco::fdr::client::{FdrClient, FdrError, FlowEntry, ListQuery, Retry};

const KEY: &str = "chiave-di-prova";
const ORG: &str = "77777777777";

/// The fake's clock in these tests.
fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0).unwrap()
}

/// A fake at [`now`].
fn fake() -> FakeFdr {
    let fake = FakeFdr::start(KEY);
    fake.set_now(now());
    fake
}

/// `attempts` tries, a few milliseconds apart.
fn retry(attempts: u32) -> Retry {
    Retry {
        attempts,
        base: Duration::from_millis(5),
        max: Duration::from_millis(20),
    }
}

fn client_with(fake: &FakeFdr, key: &str, timeout: Duration, attempts: u32) -> FdrClient {
    FdrClient::new(&fake.url(), key, timeout, retry(attempts)).unwrap()
}

/// A client of `fake` with the right key, 5 s per try and three tries.
fn client(fake: &FakeFdr) -> FdrClient {
    client_with(fake, KEY, Duration::from_secs(5), 3)
}

/// Requests the fake received whose line contains `needle`.
fn count(fake: &FakeFdr, needle: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.contains(needle))
        .count()
}

fn query(size: u32) -> ListQuery {
    ListQuery {
        size,
        ..ListQuery::default()
    }
}

/// Every page of the list for `query`, walked as an acquisition would.
async fn list_all(client: &FdrClient, query: &ListQuery) -> Vec<FlowEntry> {
    let mut all = Vec::new();
    let mut page = 1;
    loop {
        let p = client.list(ORG, query, page).await.unwrap();
        all.extend(p.entries);
        if page >= p.total_pages {
            return all;
        }
        page += 1;
    }
}

fn names(entries: &[FlowEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.fdr.as_str()).collect()
}

#[tokio::test]
async fn the_list_is_paged_in_flow_date_then_name_order() {
    let fake = fake();
    let at = |h: i64| now() - Span::hours(h);
    for (fdr, psp, hours) in [
        ("2026-11-30PSPB-0002", "PSPB", 30),
        ("2026-11-30PSPA-0001", "PSPA", 30),
        ("2026-11-29PSPA-0001", "PSPA", 50),
        ("2026-11-30PSPC-0001", "PSPC", 20),
        ("2026-11-28PSPB-0001", "PSPB", 70),
    ] {
        fake.publish(
            FakeFlow::new(ORG, fdr, psp)
                .fdr_date(at(hours))
                .line("1", "r", 1, 100, "EXECUTED"),
        );
    }
    // Another creditor's flow is not listed.
    fake.publish(FakeFlow::new("88888888888", "2026-11-30PSPA-0009", "PSPA"));
    let client = client(&fake);

    let first = client.list(ORG, &query(2), 1).await.unwrap();
    assert_eq!((first.page, first.total_pages, first.count), (1, 3, 5));
    assert_eq!(first.entries.len(), 2);
    let all = list_all(&client, &query(2)).await;
    assert_eq!(
        names(&all),
        [
            "2026-11-28PSPB-0001",
            "2026-11-29PSPA-0001",
            "2026-11-30PSPA-0001",
            "2026-11-30PSPB-0002",
            "2026-11-30PSPC-0001",
        ]
    );
    assert_eq!(all[0].flow_date, Some(at(70)));
    assert!(all.iter().all(|e| e.revision == 1));
    let beyond = client.list(ORG, &query(2), 4).await.unwrap();
    assert!(beyond.entries.is_empty());
    assert_eq!(
        count(
            &fake,
            &format!("GET /organizations/{ORG}/fdrs?page=2&size=2")
        ),
        1,
        "{:?}",
        fake.requests()
    );

    let only_b = ListQuery {
        psp_id: Some("PSPB".into()),
        ..query(1000)
    };
    let b = list_all(&client, &only_b).await;
    assert_eq!(names(&b), ["2026-11-28PSPB-0001", "2026-11-30PSPB-0002"]);
    assert_eq!(count(&fake, "pspId=PSPB"), 1);
}

#[tokio::test]
async fn published_gt_keeps_strictly_later_publications() {
    let fake = fake();
    let published = [now() - Span::hours(2), now() - Span::hours(1), now()];
    for (i, at) in published.iter().enumerate() {
        let fdr = format!("2026-11-30PSPA-000{i}");
        fake.publish(FakeFlow::new(ORG, &fdr, "PSPA").published(*at));
    }
    let client = client(&fake);
    let after = |at: DateTime<Utc>| ListQuery {
        published_gt: Some(at),
        ..query(1000)
    };
    let later = list_all(&client, &after(published[1])).await;
    assert_eq!(names(&later), ["2026-11-30PSPA-0002"]);
    assert_eq!(later[0].published, published[2]);
    let from_second = list_all(&client, &after(published[1] - Span::milliseconds(1))).await;
    assert_eq!(
        names(&from_second),
        ["2026-11-30PSPA-0001", "2026-11-30PSPA-0002"]
    );
    assert_eq!(list_all(&client, &after(now())).await, []);
    // Sent as RFC 3339 in UTC, with the fraction it has (none here).
    assert_eq!(
        count(&fake, "publishedGt=2026-12-01T09:00:00Z"),
        1,
        "{:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn a_published_gt_older_than_30_days_is_recognised() {
    let fake = fake();
    let client = client(&fake);
    let old = ListQuery {
        published_gt: Some(now() - Span::days(31)),
        ..query(1000)
    };
    let e = client.list(ORG, &old, 1).await.unwrap_err();
    assert!(e.is_old_published_gt(), "{e}");
    assert!(!e.retryable());
    assert!(
        matches!(&e, FdrError::Http { status: 400, app_error_code: Some(c), .. } if c == "FDR-1000"),
        "{e:?}"
    );
    assert_eq!(fake.requests().len(), 1, "a 400 is not tried again");

    // 29 days back is within the window.
    let recent = ListQuery {
        published_gt: Some(now() - Span::days(29)),
        ..query(1000)
    };
    assert!(client.list(ORG, &recent, 1).await.is_ok());

    // A flowDate out of the window is refused too, but it is not about publishedGt.
    let old_flow_date = ListQuery {
        flow_date: Some(now() - Span::days(31)),
        ..query(1000)
    };
    let e = client.list(ORG, &old_flow_date, 1).await.unwrap_err();
    assert!(matches!(e, FdrError::Http { status: 400, .. }), "{e:?}");
    assert!(!e.is_old_published_gt(), "{e}");
}

#[tokio::test]
async fn bad_paging_is_refused_and_not_tried_again() {
    let fake = fake();
    let client = client(&fake);
    for (q, page) in [(query(0), 1), (query(1001), 1), (query(10), 0)] {
        let e = client.list(ORG, &q, page).await.unwrap_err();
        assert!(matches!(e, FdrError::Http { status: 400, .. }), "{e:?}");
        assert!(!e.is_old_published_gt() && !e.retryable(), "{e}");
    }
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_wrong_key_gets_401_once() {
    let fake = fake();
    let entry = fake.publish(FakeFlow::new(ORG, "2026-11-30PSPA-0001", "PSPA"));
    for key in ["sbagliata", ""] {
        fake.clear_requests();
        let client = client_with(&fake, key, Duration::from_secs(5), 4);
        let e = client.list(ORG, &query(10), 1).await.unwrap_err();
        assert!(matches!(e, FdrError::Http { status: 401, .. }), "{e:?}");
        let e = client.fetch(ORG, &entry, now()).await.unwrap_err();
        assert!(matches!(e, FdrError::Http { status: 401, .. }), "{e:?}");
        assert_eq!(fake.requests().len(), 2, "401 is never tried again");
    }
}

#[tokio::test]
async fn an_unknown_flow_is_404_once() {
    let fake = fake();
    let entry = fake.publish(FakeFlow::new(ORG, "2026-11-30PSPA-0001", "PSPA"));
    let client = client(&fake);
    let missing = FlowEntry {
        revision: 2,
        ..entry.clone()
    };
    let e = client.fetch(ORG, &missing, now()).await.unwrap_err();
    assert!(
        matches!(
            &e,
            FdrError::Http {
                status: 404,
                app_error_code: Some(_),
                ..
            }
        ),
        "{e:?}"
    );
    // The flow is the PSP's for its creditor only.
    let e = client
        .fetch("88888888888", &entry, now())
        .await
        .unwrap_err();
    assert!(matches!(e, FdrError::Http { status: 404, .. }), "{e:?}");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn a_500_is_tried_again_until_it_passes() {
    let fake = fake();
    let fdr = "2026-11-30PSPA-0001";
    let entry = fake.publish(FakeFlow::new(ORG, fdr, "PSPA").line("1", "r", 1, 100, "EXECUTED"));
    let client = client_with(&fake, KEY, Duration::from_secs(5), 4);
    fake.fail_flow(fdr, 2, 500);
    let (flusso, lines, _) = client.fetch(ORG, &entry, now()).await.unwrap();
    assert_eq!((flusso.key.id_flusso.as_str(), lines.len()), (fdr, 1));
    let header = format!("/fdrs/{fdr}/revisions/1/psps/PSPA");
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.ends_with(&header))
            .count(),
        3
    );
    assert_eq!(count(&fake, "/payments?"), 1);

    // The list and 429 too.
    fake.clear_requests();
    fake.fail_list(2, 429);
    assert_eq!(client.list(ORG, &query(10), 1).await.unwrap().count, 1);
    assert_eq!(fake.requests().len(), 3);
}

#[tokio::test]
async fn a_500_forever_gives_up_after_the_attempts() {
    let fake = fake();
    let fdr = "2026-11-30PSPA-0001";
    let entry = fake.publish(FakeFlow::new(ORG, fdr, "PSPA"));
    fake.fail_flow(fdr, u32::MAX, 503);
    let client = client_with(&fake, KEY, Duration::from_secs(5), 3);
    let started = std::time::Instant::now();
    let e = client.fetch(ORG, &entry, now()).await.unwrap_err();
    assert!(
        matches!(&e, FdrError::Http { status: 503, app_error_code: Some(c), .. } if c == "FDR-0500"),
        "{e:?}"
    );
    assert!(e.retryable());
    assert_eq!(fake.requests().len(), 3, "{:?}", fake.requests());
    // Waited 5 then 10 ms between the tries, nowhere near a real backoff.
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn nobody_listening_is_a_transport_error_after_the_attempts() {
    let url = format!(
        "http://127.0.0.1:{}/fdr-org/service/v1",
        common::free_port()
    );
    let client = FdrClient::new(&url, KEY, Duration::from_secs(2), retry(2)).unwrap();
    let e = client.list(ORG, &query(10), 1).await.unwrap_err();
    assert!(
        matches!(e, FdrError::Transport(_)) && e.retryable(),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_slow_page_is_waited_for_within_the_timeout() {
    let fake = fake();
    for i in 0..3 {
        fake.publish(FakeFlow::new(
            ORG,
            &format!("2026-11-30PSPA-000{i}"),
            "PSPA",
        ));
    }
    fake.slow_list_page(2, Duration::from_millis(300));
    let client = client_with(&fake, KEY, Duration::from_secs(3), 3);
    let started = std::time::Instant::now();
    let all = list_all(&client, &query(1)).await;
    assert_eq!(all.len(), 3);
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(
        fake.requests().len(),
        3,
        "one request per page: {:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn a_page_slower_than_the_timeout_is_a_transport_error() {
    let fake = fake();
    fake.publish(FakeFlow::new(ORG, "2026-11-30PSPA-0001", "PSPA"));
    fake.slow_list_page(1, Duration::from_millis(1500));
    let client = client_with(&fake, KEY, Duration::from_millis(200), 2);
    let e = client.list(ORG, &query(10), 1).await.unwrap_err();
    assert!(
        matches!(&e, FdrError::Transport(m) if m.contains("timed out")),
        "{e:?}"
    );
    assert_eq!(fake.requests().len(), 2, "a timeout is tried again");
}

#[tokio::test]
async fn payments_across_pages_are_assembled_in_order() {
    let fake = fake();
    let fdr = "2026-11-30PSPA-0001";
    let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let fdr_date = Utc.with_ymd_and_hms(2026, 11, 30, 18, 0, 0).unwrap();
    let entry = fake.publish(
        FakeFlow::new(ORG, fdr, "PSPA")
            .fdr_date(fdr_date)
            .regulation("TRN-0001", day.succ_opt().unwrap())
            .sender("ABI_CODE", "03069", "Banca di prova")
            .numbered_lines(6, 1000)
            .line("01000000000000099", "iur-99", 2, 1250, "REVOKED")
            .line("01000000000000100", "iur-100", 1, 5, "STAND_IN_NO_RPT"),
    );
    let client = client(&fake).with_payments_page_size(3);
    let (flusso, lines, raw) = client.fetch(ORG, &entry, now()).await.unwrap();

    for page in 1..=3 {
        assert_eq!(
            count(&fake, &format!("/payments?page={page}&size=3")),
            1,
            "{:?}",
            fake.requests()
        );
    }
    assert_eq!(count(&fake, "/payments?page=4"), 0);
    let iuvs: Vec<&str> = lines.iter().map(|l| l.iuv.as_str()).collect();
    let mut expected: Vec<String> = (1..=6).map(|n| format!("{n:017}")).collect();
    expected.extend(["01000000000000099".into(), "01000000000000100".into()]);
    assert_eq!(iuvs, expected);
    assert_eq!(lines[6].esito, Esito::Revoked);
    assert_eq!((lines[6].importo, lines[6].indice), (1250, Some(2)));
    assert_eq!(lines[7].esito, Esito::StandInNoRpt);
    assert!(lines.iter().all(|l| l.data == day));

    assert_eq!(flusso.key.dominio, ORG);
    assert_eq!((flusso.key.psp.as_str(), flusso.key.revisione), ("PSPA", 1));
    assert_eq!(
        (flusso.numero_pagamenti, flusso.importo_totale),
        (8, 6000 + 1250 + 5)
    );
    assert_eq!(flusso.data_ora_flusso, fdr_date);
    assert_eq!(flusso.pubblicato, Some(entry.published));
    assert_eq!(
        (flusso.trn.as_str(), flusso.data_regolamento),
        ("TRN-0001", day.succ_opt().unwrap())
    );
    assert_eq!(flusso.mittente.tipo, "A");
    assert_eq!(flusso.mittente.codice, "03069");
    assert_eq!(
        flusso.mittente.denominazione.as_deref(),
        Some("Banca di prova")
    );
    assert_eq!(
        (flusso.fonte, flusso.stato, flusso.acquisito),
        (Fonte::Fdr3, StatoFlusso::Acquisito, now())
    );

    // The raw document: the header as served and every payment, in order, numbers as written.
    let (_, header_body) = client.flow(ORG, &entry).await.unwrap();
    let doc: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(
        doc["flow"],
        serde_json::from_slice::<Value>(&header_body).unwrap()
    );
    let payments = doc["payments"].as_array().unwrap();
    assert_eq!(payments.len(), 8);
    for (i, p) in payments.iter().enumerate() {
        assert_eq!(p["index"], i + 1);
        assert_eq!(p["iuv"], expected[i]);
    }
    let text = String::from_utf8(raw).unwrap();
    assert!(
        text.contains("\"pay\":12.50,") && text.contains("\"sumPayments\":72.55"),
        "{text}"
    );

    // One page on its own.
    let (page, body) = client.payments(ORG, &entry, 2, 3).await.unwrap();
    assert_eq!((page.page, page.total_pages, page.count), (2, 3, 8));
    assert_eq!(page.lines[0].iuv, format!("{:017}", 4));
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}

#[tokio::test]
async fn revision_2_replaces_revision_1_in_the_list_and_both_stay_readable() {
    let fake = fake();
    let fdr = "2026-11-30PSPA-0001";
    let first = fake.publish(FakeFlow::new(ORG, fdr, "PSPA").line("1", "r1", 1, 100, "EXECUTED"));
    let second = fake.publish(
        FakeFlow::new(ORG, fdr, "PSPA")
            .line("1", "r1", 1, 100, "EXECUTED")
            .line("2", "r2", 1, 200, "EXECUTED"),
    );
    assert_eq!((first.revision, second.revision), (1, 2));
    assert!(second.published > first.published);
    let client = client(&fake);
    let listed = list_all(&client, &query(1000)).await;
    assert_eq!(listed, std::slice::from_ref(&second));

    let (new, new_lines, _) = client.fetch(ORG, &second, now()).await.unwrap();
    assert_eq!((new.key.revisione, new_lines.len()), (2, 2));
    assert_eq!(new.pubblicato, Some(second.published));
    let (old, old_lines, _) = client.fetch(ORG, &first, now()).await.unwrap();
    assert_eq!((old.key.revisione, old_lines.len()), (1, 1));
    assert_eq!(old.key.id_flusso, new.key.id_flusso);
}

#[tokio::test]
async fn header_totals_come_as_declared() {
    let fake = fake();
    let entry = fake.publish(
        FakeFlow::new(ORG, "2026-11-30PSPA-0001", "PSPA")
            .line("1", "r1", 1, 100, "EXECUTED")
            .tot_payments(5)
            .sum_payments("99.9"),
    );
    let (flusso, lines, _) = client(&fake).fetch(ORG, &entry, now()).await.unwrap();
    // The disagreement is reconciliation's to report, not the client's.
    assert_eq!(
        (flusso.numero_pagamenti, flusso.importo_totale, lines.len()),
        (5, 9990, 1)
    );
}

#[tokio::test]
async fn answers_that_break_the_rules_are_refused_naming_the_field() {
    let fake = fake();
    let other = fake.publish(
        FakeFlow::new(ORG, "2026-11-30PSPA-0001", "PSPA")
            .receiver_org("88888888888")
            .line("1", "r1", 1, 100, "EXECUTED"),
    );
    let bad_pay = fake.publish(
        FakeFlow::new(ORG, "2026-11-30PSPA-0002", "PSPA").line("1", "r1", 1, 100, "EXECUTED").raw_line(
            r#"{"index":2,"iuv":"2","iur":"r2","idTransfer":1,"pay":1.234,"payStatus":"EXECUTED","payDate":"2026-11-30T00:00:00Z"}"#,
        ),
    );
    let bad_status = fake
        .publish(FakeFlow::new(ORG, "2026-11-30PSPA-0003", "PSPA").line("1", "r1", 1, 100, "PAID"));
    let bad_sum =
        fake.publish(FakeFlow::new(ORG, "2026-11-30PSPA-0004", "PSPA").sum_payments("-1.00"));
    let client = client(&fake);
    for (entry, field) in [
        (&other, "receiver.organizationId"),
        (&bad_pay, "data[1].pay"),
        (&bad_status, "data[0].payStatus"),
        (&bad_sum, "sumPayments"),
    ] {
        fake.clear_requests();
        let e = client.fetch(ORG, entry, now()).await.unwrap_err();
        assert!(
            matches!(&e, FdrError::Decode(m) if m.contains(field)),
            "{field}: {e:?}"
        );
        assert!(!e.retryable());
        assert!(
            fake.requests().len() <= 2,
            "a refused answer is not asked again"
        );
    }
}

#[test]
fn a_plain_test_drives_the_fake_too() {
    let fake = fake();
    let entry = fake.publish(
        FakeFlow::new(ORG, "2026-11-30PSPA-0001", "PSPA").line("1", "r1", 1, 100, "EXECUTED"),
    );
    let rt = common::runtime();
    let page = rt.block_on(client(&fake).list(ORG, &query(10), 1)).unwrap();
    assert_eq!(page.entries, [entry]);
    drop(fake);
}
