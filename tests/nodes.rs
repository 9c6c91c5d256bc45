//! Two Varco processes on one PostgreSQL database (`make test`'s second pass, on its throwaway
//! cluster): receipts for the same notices sent to both at once, one node killed with SIGKILL
//! in the middle of the receipt stream and of an outbox round. Nothing answered `OK` is lost,
//! no receipt is stored twice, every receipt reaches the gestionale, and no two deliveries of
//! one receipt are in flight at the same time. On the embedded engine there is one node per
//! store: the suite's first pass skips this file.

mod common;

use axum::extract::{Path, State};
use common::Gateway;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use varco::domain::NoticeNumber;
use varco::store::Store;

/// The tests of this file stop and freeze the shared server: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The shared server for this test alone, and a runtime; None (with why, on stderr) on the
/// embedded engine, which has no server to share, stop or freeze.
fn exclusive_server(
    needs: &str,
) -> Option<(std::sync::MutexGuard<'static, ()>, tokio::runtime::Runtime)> {
    if common::pg::server().is_none() {
        eprintln!("{needs}: run on PostgreSQL (make test's second pass)");
        return None;
    }
    let one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Some((one, common::runtime()))
}

/// Deliveries seen by the fake gestionale: per receipt id, (start, end) of each.
type Seen = Arc<Mutex<HashMap<String, Vec<(Instant, Instant)>>>>;

/// A gestionale on loopback that takes 150 ms per receipt and remembers when each delivery was
/// in flight.
async fn gestionale() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route(
            "/ricevute/{dominio}/{iuv}/{id}",
            axum::routing::put(
                |State(seen): State<Seen>, Path((_, _, id)): Path<(String, String, String)>| async move {
                    let start = Instant::now();
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    seen.lock().unwrap().entry(id).or_default().push((start, Instant::now()));
                    axum::http::StatusCode::OK
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// The demo configuration on the database `url`, with application `nodi` delivering to
/// `gestionale`, written to `dir`; its path.
fn config_file(dir: &std::path::Path, url: &str, gestionale: &str) -> std::path::PathBuf {
    let hash = varco::password::hash_password("una password").unwrap();
    let toml = varco::config::DEMO_TOML
        .replacen(
            "[store]\n",
            &format!("[store]\nengine = \"postgres\"\nurl = \"{url}\"\n"),
            1,
        )
        .replacen("base_delay_ms = 30000", "base_delay_ms = 200", 1)
        .replacen("max_delay_ms = 3600000", "max_delay_ms = 400", 1)
        .replacen("\ntimeout_ms = 10000", "\ntimeout_ms = 2000", 1)
        + &common::app::application_toml("nodi", &hash, gestionale);
    let path = dir.join("varco.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

#[test]
fn two_nodes_lose_nothing_when_one_is_killed_mid_stream() {
    let Some((_one, rt)) = exclusive_server("two nodes need a shared database") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let store_config = rt.block_on(common::app::store_config(dir.path()));
    let url = store_config.url.as_ref().unwrap().expose().to_owned();
    let (gest_url, seen) = rt.block_on(gestionale());
    let config = config_file(dir.path(), &url, &gest_url);
    let config = config.to_str().unwrap();
    let a = Gateway::start_with(&dir.path().join("a"), &["--config", config]);
    let b = Gateway::start_with(&dir.path().join("b"), &["--config", config]);

    // 120 positions of application `nodi`, written by a third handle on the database.
    let store = rt.block_on(Store::connect(&store_config)).unwrap();
    let refs: Vec<u64> = (2000..2120).collect();
    rt.block_on(nodi_positions(&store, &refs));

    // Each receipt to both nodes at once; node b is killed after a third of them. What a node
    // did not answer OK is sent again to the survivor, as the Nodo retries.
    let (nodo_a, nodo_b) = (a.nodo.clone(), b.nodo.clone());
    let mut b = Some(b);
    let mut acked: HashMap<String, u32> = HashMap::new();
    for (i, r) in refs.iter().enumerate() {
        if i == refs.len() / 3 {
            b.take().unwrap().kill9();
        }
        let nav = NoticeNumber::aux3("01", *r);
        let id = format!("{r:032x}");
        let body = common::receipt_v2(nav.as_str(), &id);
        let (to_a, to_b) = rt.block_on(async {
            tokio::join!(
                varco::replay::post(&nodo_a, Some("paSendRTV2"), body.clone().into_bytes()),
                varco::replay::post(&nodo_b, Some("paSendRTV2"), body.clone().into_bytes()),
            )
        });
        for answer in [to_a, to_b] {
            if let Ok((200, bytes)) = answer
                && String::from_utf8_lossy(&bytes).contains("<outcome>OK</outcome>")
            {
                *acked.entry(id.clone()).or_default() += 1;
            }
        }
        if let std::collections::hash_map::Entry::Vacant(missing) = acked.entry(id) {
            let (s, bytes) = rt
                .block_on(varco::replay::post(
                    &nodo_a,
                    Some("paSendRTV2"),
                    body.into_bytes(),
                ))
                .unwrap();
            assert_eq!(s, 200);
            assert!(String::from_utf8_lossy(&bytes).contains("<outcome>OK</outcome>"));
            missing.insert(1);
        }
    }
    assert_eq!(acked.len(), refs.len());
    // While both ran, both answered OK for each receipt (one stored it, the other found it
    // stored): contention between nodes is never a reason to refuse a receipt.
    for r in &refs[..refs.len() / 3] {
        assert_eq!(acked[&format!("{r:032x}")], 2, "answers OK for receipt {r}");
    }

    // Every receipt is on disk once, with its position paid.
    rt.block_on(paid_once(&store, &refs));

    // The outbox: the surviving node delivers everything, including what node b had queued or
    // claimed when it died (its claims run out after timeout_ms + 30 s... so b is restarted
    // here and killed again in the middle of its round, and the survivor takes over).
    let deadline = Instant::now() + Duration::from_secs(90);
    let b2 = Gateway::start_with(&dir.path().join("b2"), &["--config", config]);
    std::thread::sleep(Duration::from_millis(400));
    b2.kill9();
    loop {
        let delivered = seen.lock().unwrap().len();
        let pending = rt.block_on(store.outbox_len()).unwrap();
        if delivered == refs.len() && pending == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{delivered} of {} receipts delivered, {pending} outbox entries left",
            refs.len()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // No two deliveries of one receipt overlapped in time.
    for (id, spans) in seen.lock().unwrap().iter() {
        let mut spans = spans.clone();
        spans.sort();
        for pair in spans.windows(2) {
            assert!(
                pair[0].1 <= pair[1].0,
                "receipt {id} was being delivered twice at the same time"
            );
        }
    }
    drop(a);
}

/// One node (its own process) on a fresh database of the test server, or on `url`, delivering
/// nowhere; with a handle on the same database and the directory both live in.
fn one_node(
    rt: &tokio::runtime::Runtime,
    url: Option<&str>,
) -> (tempfile::TempDir, Gateway, Store) {
    let dir = tempfile::tempdir().unwrap();
    let mut store_config = rt.block_on(common::app::store_config(dir.path()));
    if let Some(url) = url {
        store_config.url = Some(url.into());
    }
    let url = store_config.url.as_ref().unwrap().expose().to_owned();
    let config = config_file(dir.path(), &url, "http://127.0.0.1:9");
    let node = Gateway::start_with(
        &dir.path().join("n"),
        &["--config", config.to_str().unwrap()],
    );
    let store = rt.block_on(Store::connect(&store_config)).unwrap();
    (dir, node, store)
}

/// Positions of application `nodi` for references `refs`, written through `store`.
async fn nodi_positions(store: &Store, refs: &[u64]) {
    let c = varco::config::Config::demo();
    for r in refs {
        let nav = NoticeNumber::aux3("01", *r);
        let mut p = varco::demo::sample(&c, &nav, chrono::Utc::now());
        p.id_a2a = Some("nodi".into());
        p.id_pendenza = Some(format!("n-{r}"));
        assert!(store.insert_pendenza(&p).await.unwrap());
    }
}

/// Each reference of `refs` has one receipt stored, and its position is paid.
async fn paid_once(store: &Store, refs: &[u64]) {
    for r in refs {
        let nav = NoticeNumber::aux3("01", *r);
        let stored = store.ricevute("77777777777", nav.iuv()).await.unwrap();
        assert_eq!(stored.len(), 1, "receipts of {r}");
        let p = store
            .pendenza("77777777777", nav.iuv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.stato, varco::domain::Stato::Eseguita);
    }
}

/// The receipt of reference `r` (receipt id: `r` in hex) sent to `nodo`: the fault code, None
/// for OK, and how long the answer took.
fn send_receipt(rt: &tokio::runtime::Runtime, nodo: &str, r: u64) -> (Option<String>, Duration) {
    let nav = NoticeNumber::aux3("01", r);
    let body = common::receipt_v2(nav.as_str(), &format!("{r:032x}"));
    let started = Instant::now();
    let answer = rt.block_on(varco::replay::post(
        nodo,
        Some("paSendRTV2"),
        body.into_bytes(),
    ));
    let took = started.elapsed();
    let (status, bytes) = answer.expect("the node answers");
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(status, 200, "{text}");
    if text.contains("<outcome>OK</outcome>") {
        (None, took)
    } else {
        (
            Some(fault_code(&text).unwrap_or_else(|| text.into_owned())),
            took,
        )
    }
}

/// Positions for `refs`, then their receipts streamed to `node` while `outage` runs (once 40
/// were answered) and until 40 more are answered `OK`; every answer is checked, every refused
/// receipt sent again, and each receipt sent is stored once (read through `store`, which on a
/// failover reads the new primary).
fn through_an_outage(
    rt: &tokio::runtime::Runtime,
    node: &Gateway,
    store: &Store,
    refs: std::ops::Range<u64>,
    outage: impl FnOnce(),
) {
    let refs: Vec<u64> = refs.collect();
    rt.block_on(nodi_positions(store, &refs));
    let answers = receipts_during(
        &node.nodo,
        &refs,
        Duration::from_millis(20),
        40,
        |answers| {
            while answers.lock().unwrap().len() < 40 {
                std::thread::sleep(Duration::from_millis(20));
            }
            outage();
        },
    );
    refused_ones_go_through_again(rt, &node.nodo, &answers);
    let sent: Vec<u64> = answers.iter().map(|(r, _, _)| *r).collect();
    rt.block_on(paid_once(store, &sent));
}

/// Runs tests/pg-ctl.sh (the servers' side of these tests) with `args`; its output.
fn pg_ctl(args: &[&str]) -> String {
    let ctl = std::env::var("VARCO_TEST_PG_CTL").expect("tests/pg.sh sets VARCO_TEST_PG_CTL");
    let out = std::process::Command::new(ctl).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "pg-ctl.sh {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Streams the receipts of `refs` to `nodo` from two client threads, each waiting `pause`
/// between its requests, while `during` runs and until `after` receipts were answered `OK`
/// once it returned (or `refs` run out); every answer: (reference, fault or None for OK, time
/// to answer).
fn receipts_during(
    nodo: &str,
    refs: &[u64],
    pause: Duration,
    after: usize,
    during: impl FnOnce(&Mutex<Vec<(u64, Option<String>, Duration)>>),
) -> Vec<(u64, Option<String>, Duration)> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let answers: Mutex<Vec<(u64, Option<String>, Duration)>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    // The number of answers when `during` returned (usize::MAX while it runs).
    let done_at = AtomicUsize::new(usize::MAX);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let (answers, next, done_at) = (&answers, &next, &done_at);
            scope.spawn(move || {
                let rt = common::runtime();
                loop {
                    let from = done_at.load(Ordering::SeqCst);
                    let ok_since = answers.lock().unwrap().get(from..).map_or(0, |since| {
                        since.iter().filter(|(_, fault, _)| fault.is_none()).count()
                    });
                    if ok_since >= after {
                        break;
                    }
                    let Some(r) = refs.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        break;
                    };
                    let (fault, took) = send_receipt(&rt, nodo, *r);
                    answers.lock().unwrap().push((*r, fault, took));
                    std::thread::sleep(pause);
                }
            });
        }
        during(&answers);
        done_at.store(answers.lock().unwrap().len(), Ordering::SeqCst);
    });
    answers.into_inner().unwrap()
}

/// What a stream of receipts through an outage shows: every answer `OK` or
/// `PAA_SYSTEM_ERROR` and within the budget, some of each after the outage began (it was seen,
/// and recovered from without a restart); then each refused receipt sent again is `OK`.
fn refused_ones_go_through_again(
    rt: &tokio::runtime::Runtime,
    nodo: &str,
    answers: &[(u64, Option<String>, Duration)],
) {
    let refused: Vec<u64> = answers
        .iter()
        .filter(|(_, fault, _)| fault.is_some())
        .map(|(r, _, _)| *r)
        .collect();
    for (r, fault, took) in answers {
        assert!(
            matches!(fault.as_deref(), None | Some("PAA_SYSTEM_ERROR")),
            "receipt {r}: {fault:?}"
        );
        // The node's budget is 2 s; the Nodo waits 7 s.
        assert!(
            *took < Duration::from_secs(4),
            "receipt {r} answered after {took:?}"
        );
    }
    let slowest = answers
        .iter()
        .map(|(_, _, took)| *took)
        .max()
        .unwrap_or_default();
    eprintln!(
        "{} receipts through the outage: {} OK, {} PAA_SYSTEM_ERROR, slowest answer {slowest:?}",
        answers.len(),
        answers.len() - refused.len(),
        refused.len()
    );
    let first_refused = answers.iter().position(|(_, f, _)| f.is_some());
    let first_refused = first_refused.expect("the outage refused no receipt");
    assert!(
        answers[first_refused..].iter().any(|(_, f, _)| f.is_none()),
        "no receipt was answered OK after the outage: the node did not recover by itself"
    );
    for r in refused {
        let (fault, _) = send_receipt(rt, nodo, r);
        assert_eq!(fault, None, "receipt {r} sent again");
    }
}

/// The server's processes (postmaster and its children), from the cluster's pid file.
fn server_pids() -> Vec<String> {
    let data = std::env::var("VARCO_TEST_PG_DATA").expect("tests/pg.sh sets VARCO_TEST_PG_DATA");
    let pid_file = std::fs::read_to_string(format!("{data}/postmaster.pid")).unwrap();
    let postmaster = pid_file.lines().next().unwrap().trim().to_owned();
    let children = std::process::Command::new("pgrep")
        .args(["-P", &postmaster])
        .output()
        .unwrap();
    let mut pids: Vec<String> = String::from_utf8_lossy(&children.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    pids.push(postmaster);
    pids
}

/// Sends `signal` to the server's processes. A backend that ended between the listing and the
/// signal is not an error (sessions come and go); the postmaster must take it.
fn signal_server(signal: &str) {
    let pids = server_pids();
    let postmaster = pids.last().cloned().unwrap();
    for pid in pids {
        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(&pid)
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success() || pid != postmaster,
            "kill -{signal} {pid}"
        );
    }
}

/// The server frozen (SIGSTOP) while this lives; thawed when it is dropped, on a failed
/// assertion too, so a failure here cannot leave the next test on a server that never answers.
struct Frozen;

impl Frozen {
    fn server() -> Frozen {
        let frozen = Frozen;
        signal_server("STOP");
        frozen
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // Every process, again: one forked while the postmaster was being stopped is caught too.
        let _ = std::panic::catch_unwind(|| signal_server("CONT"));
    }
}

fn fault_code(body: &str) -> Option<String> {
    let start = body.find("<faultCode>")? + "<faultCode>".len();
    let end = body[start..].find('<')? + start;
    Some(body[start..end].to_owned())
}

#[test]
fn a_frozen_or_restarted_database_is_answered_within_the_budget_and_recovered_from() {
    let Some((_one, rt)) = exclusive_server("needs a database to freeze") else {
        return;
    };
    let server = common::pg::server().unwrap();
    let (_dir, node, _store) = one_node(&rt, None);
    let verify = |rt: &tokio::runtime::Runtime| {
        let started = Instant::now();
        let (status, body) = rt.block_on(common::soap_qr(
            &node.nodo,
            "paVerifyPaymentNotice",
            "301000000000000144",
            "",
        ));
        (status, body, started.elapsed())
    };
    let ready = |rt: &tokio::runtime::Runtime| {
        rt.block_on(common::get(&format!("{}/readyz", node.api)))
            .map(|(s, _)| s)
            .unwrap_or(0)
    };
    let (s, body, _) = verify(&rt);
    assert_eq!((s, fault_code(&body)), (200, None), "{body}");

    // Frozen: the server accepts nothing and answers nothing.
    let frozen = Frozen::server();
    let (s, body, took) = verify(&rt);
    let still_ready_after = (0..30).find(|_| {
        std::thread::sleep(Duration::from_millis(100));
        ready(&rt) == 503
    });
    drop(frozen);
    assert_eq!(s, 200);
    assert_eq!(
        fault_code(&body).as_deref(),
        Some("PAA_SYSTEM_ERROR"),
        "{body}"
    );
    // The budget (2 s) and the answer, well before the Nodo gives up at 7 s.
    assert!(took < Duration::from_secs(5), "answered after {took:?}");
    assert!(
        still_ready_after.is_some(),
        "/readyz stayed 200 for 3 s with the database frozen"
    );
    // Back by itself once the database answers again.
    let back = (0..50).find(|_| {
        std::thread::sleep(Duration::from_millis(100));
        ready(&rt) == 200
    });
    assert!(back.is_some(), "/readyz did not come back");
    let (_, body, _) = verify(&rt);
    assert_eq!(fault_code(&body), None, "{body}");

    // Every connection of the node is cut (as a restart of the server does): the pool makes
    // new ones, without a restart of the node.
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE application_name = 'varco' AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
    });
    let recovered = (0..20).find_map(|_| {
        let (_, body, _) = verify(&rt);
        if fault_code(&body).is_none() {
            Some(())
        } else {
            std::thread::sleep(Duration::from_millis(200));
            None
        }
    });
    assert!(recovered.is_some(), "the node did not reconnect");
}

/// The database stopped (fast shutdown: every session cut) and started again while receipts
/// stream in: the node refuses what it cannot commit with PAA_SYSTEM_ERROR, never `OK`, and
/// within its budget; it takes receipts again once the database is back, without a restart;
/// every receipt answered `OK` is stored, each once.
#[test]
fn a_database_stopped_and_started_under_load_acknowledges_only_what_it_committed() {
    let Some((_one, rt)) = exclusive_server("needs a database to stop") else {
        return;
    };
    let (_dir, node, store) = one_node(&rt, None);
    through_an_outage(&rt, &node, &store, 3000..4000, || {
        pg_ctl(&["stop"]);
        std::thread::sleep(Duration::from_millis(1500));
        pg_ctl(&["start"]);
    });
}

/// A failover: the primary crashes, its synchronous replica is promoted, and the node, whose
/// `store.url` lists both hosts with `target_session_attrs=read-write`, moves to the new
/// primary without a restart. Every receipt answered `OK` before the crash is on the new
/// primary (synchronous replication: a commit waited for the replica's flush).
#[test]
fn a_promoted_replica_is_picked_up_without_a_restart() {
    let Some((_one, rt)) = exclusive_server("needs PostgreSQL's tools") else {
        return;
    };
    let pair = pg_ctl(&["pair"]);
    struct RemovePair(String);
    impl Drop for RemovePair {
        fn drop(&mut self) {
            let _ = std::panic::catch_unwind(|| pg_ctl(&["drop", &self.0]));
        }
    }
    let _pair = RemovePair(pair.clone());
    let url = format!(
        "host={pair},{pair} port=5433,5434 user=varco dbname=postgres target_session_attrs=read-write"
    );
    let (_dir, node, store) = one_node(&rt, Some(&url));
    through_an_outage(&rt, &node, &store, 5000..6000, || {
        pg_ctl(&["halt", &pair]);
        std::thread::sleep(Duration::from_millis(500));
        pg_ctl(&["promote", &pair]);
    });
    let ready = rt
        .block_on(common::get(&format!("{}/readyz", node.api)))
        .map(|(s, _)| s);
    assert_eq!(ready.ok(), Some(200));
}
