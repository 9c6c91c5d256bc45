//! The release binary over real HTTP on loopback: the full verify → activate → receipt flow
//! (V1 and V2), `varco replay` against it, HTTP-level refusals, and crash safety: `kill -9`
//! during a stream of receipts loses none that was answered OK.

mod common;

use common::{Gateway, element, fixture, soap, varco_cli};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use varco::domain::{OutboxState, Stato};
use varco::store::Store;

/// A receipt for demo notice reference `n` (120.00, one transfer), from the V2 fixture.
fn receipt_v2(n: u64, receipt_id: &str) -> String {
    let nav = varco::domain::NoticeNumber::aux3("01", n);
    fixture("demo/send-rt-v2.xml")
        .replace("d3m0000000000000000000000000000a", receipt_id)
        .replace("301000000000001053", nav.as_str())
        .replace("01000000000001053", nav.iuv())
}

#[test]
fn full_flow_v1_and_v2_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    common::runtime().block_on(async {
        // V2 on demo notice 10, with the demo curl files.
        let (s, body) = common::soap_demo(&gw.nodo, "paVerifyPaymentNotice").await;
        assert_eq!(s, 200);
        assert_eq!(element(&body, "outcome"), Some("OK"), "{body}");
        assert_eq!(element(&body, "amount"), Some("120.00"));
        let (_, body) = common::soap_demo(&gw.nodo, "paGetPaymentV2").await;
        assert_eq!(element(&body, "outcome"), Some("OK"), "{body}");
        assert_eq!(
            element(&body, "creditorReferenceId"),
            Some("01000000000001053")
        );
        assert_eq!(element(&body, "paymentAmount"), Some("120.00"));
        let (_, body) = common::soap_demo(&gw.nodo, "paSendRTV2").await;
        assert_eq!(element(&body, "outcome"), Some("OK"), "{body}");
        let (_, body) = common::soap_demo(&gw.nodo, "paVerifyPaymentNotice").await;
        assert_eq!(
            element(&body, "faultCode"),
            Some("PAA_PAGAMENTO_DUPLICATO"),
            "{body}"
        );

        // V1 on demo notice 1.
        let nav = "301000000000000144";
        let (_, body) = common::soap_qr(&gw.nodo, "paVerifyPaymentNotice", nav, "").await;
        assert_eq!(element(&body, "outcome"), Some("OK"), "{body}");
        let (_, body) =
            common::soap_qr(&gw.nodo, "paGetPayment", nav, "<amount>120.00</amount>").await;
        assert_eq!(element(&body, "outcome"), Some("OK"), "{body}");
        assert_eq!(element(&body, "transferAmount"), Some("120.00"));
        let v1 = fixture("soap/paSendRT/ok.request.xml")
            .replace("301000000000000750", nav)
            .replace("01000000000000750", "01000000000000144")
            .replace("v10000000000000000000000000000ok", "flow-v1-receipt");
        let (_, body) = soap(&gw.nodo, "paSendRT", &v1).await;
        assert_eq!(element(&body, "outcome"), Some("OK"), "{body}");
        let (_, body) = common::soap_qr(&gw.nodo, "paGetPayment", nav, "").await;
        assert_eq!(
            element(&body, "faultCode"),
            Some("PAA_PAGAMENTO_DUPLICATO"),
            "{body}"
        );
    });
    // Stop cleanly and look at the store: both positions closed, receipts and outbox there.
    assert_eq!(gw.terminate(), Some(0));
    let store = Store::open(dir.path(), 16).unwrap();
    let rt = common::runtime();
    let p10 = rt
        .block_on(store.pendenza("77777777777", "01000000000001053"))
        .unwrap()
        .unwrap();
    assert_eq!(p10.stato, Stato::Eseguita);
    assert_eq!(
        p10.ricevute,
        vec!["d3m0000000000000000000000000000a".to_string()]
    );
    let p1 = rt
        .block_on(store.pendenza("77777777777", "01000000000000144"))
        .unwrap()
        .unwrap();
    assert_eq!(p1.stato, Stato::Eseguita);
    assert_eq!(
        rt.block_on(store.attempts("77777777777", "01000000000000144"))
            .unwrap()
            .len(),
        1
    );
    let outbox = rt.block_on(store.outbox()).unwrap();
    assert_eq!(outbox.len(), 2);
    // The demo application has no connettore: its receipts are parked as dead in the receipt's
    // own transaction, for an operator to re-send once one is configured.
    assert!(
        outbox.iter().all(|e| e.id_a2a.as_deref() == Some("demo")
            && e.stato == OutboxState::Dead
            && e.last_error.as_deref() == Some("application demo has no connettore")),
        "{outbox:?}"
    );
}

#[test]
fn replay_command_passes_against_the_binary_and_http_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let out = varco_cli([
        "replay",
        concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/soap"),
        "--url",
        &gw.nodo,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");

    common::runtime().block_on(async {
        // The WSDL and its schema.
        for query in ["wsdl", "WSDL", "wsdl="] {
            let (s, wsdl) = common::get(&format!("{}?{query}", gw.nodo))
                .await
                .unwrap();
            assert_eq!(s, 200, "?{query}");
            assert!(
                wsdl.contains("paForNodeService") && wsdl.contains("paSendRTV2"),
                "{wsdl}"
            );
        }
        let (s, xsd) = common::get(&format!("{}?xsd=paForNode.xsd", gw.nodo))
            .await
            .unwrap();
        assert_eq!(s, 200);
        assert!(xsd.contains("paVerifyPaymentNoticeReq"));
        // Health and metrics (the replay above sent traffic of every kind).
        assert_eq!(common::get(&format!("{}/healthz", gw.api)).await.unwrap().0, 200);
        assert_eq!(common::get(&format!("{}/readyz", gw.api)).await.unwrap().0, 200);
        let (s, metrics) = common::get(&format!("{}/metrics", gw.api)).await.unwrap();
        assert_eq!(s, 200);
        for expected in [
            r#"varco_soap_requests_total{operation="paVerifyPaymentNotice",outcome="OK",fault=""}"#,
            r#"varco_soap_requests_total{operation="paVerifyPaymentNotice",outcome="KO",fault="PAA_PAGAMENTO_SCONOSCIUTO"}"#,
            r#"varco_soap_request_duration_seconds_bucket{operation="paSendRTV2",le="0.002"}"#,
            "\nvarco_outbox_entries ",
            "\nvarco_store_positions 10\n",
            "\nvarco_store_disk_bytes ",
        ] {
            assert!(metrics.contains(expected), "{expected} missing from:\n{metrics}");
        }
        // A body over the limit is refused with 413 from its Content-Length, before it is
        // read at all: the headers alone get the answer.
        let addr = gw.nodo.trim_start_matches("http://").trim_end_matches("/paForNode").to_owned();
        let answer = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            write!(s, "POST /paForNode HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 104857600\r\n\r\n").unwrap();
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        })
        .await
        .unwrap();
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        // A JSON body is not SOAP.
        let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http();
        let req = hyper::Request::post(&gw.nodo)
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
            .unwrap();
        assert_eq!(client.request(req).await.unwrap().status(), 415);
        // No operation at all: a SOAP Fault.
        let (s, body) = soap(&gw.nodo, "nope", "<a/>").await;
        assert_eq!(s, 500);
        assert!(
            body.contains("<faultcode>soapenv:Client</faultcode>"),
            "{body}"
        );
    });
}

#[test]
fn kill_9_during_a_stream_of_receipts_loses_none_answered_ok() {
    receipts_answered_ok_survive(Gateway::kill9);
}

#[test]
fn sigterm_during_a_stream_of_receipts_exits_0_and_loses_none_answered_ok() {
    receipts_answered_ok_survive(|gw| assert_eq!(gw.terminate(), Some(0), "graceful exit"));
}

/// Streams receipts from 16 connections, stops the process with `stop` part-way, and checks
/// on the same directory that every receipt answered `OK` is stored with its outbox entry and
/// its position closed.
fn receipts_answered_ok_survive(stop_process: impl FnOnce(Gateway)) {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let url = gw.nodo.clone();
    let acked: Arc<std::sync::Mutex<Vec<(u64, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = common::runtime();
    let mut tasks = Vec::new();
    for worker in 0..16u64 {
        let (url, acked, stop) = (url.clone(), acked.clone(), stop.clone());
        tasks.push(runtime.spawn(async move {
            for i in 0u64.. {
                if stop.load(Ordering::Relaxed) || i > 10_000 {
                    break;
                }
                // Receipts spread over demo notices 1, 2 and 9..: the first for a notice closes
                // it, later ones are stored as anomalies; unknown notices are stored too.
                let n = [1, 2, 9, 10, 500 + worker][(i % 5) as usize];
                let id = format!("crash-{worker}-{i}");
                match varco::replay::post(&url, Some("paSendRTV2"), receipt_v2(n, &id).into_bytes())
                    .await
                {
                    Ok((200, body))
                        if String::from_utf8_lossy(&body).contains("<outcome>OK</outcome>") =>
                    {
                        acked.lock().unwrap().push((n, id));
                    }
                    Ok((status, body)) => panic!(
                        "unexpected answer {status}: {}",
                        String::from_utf8_lossy(&body)
                    ),
                    Err(_) => break, // the process is gone
                }
            }
        }));
    }
    // Let receipts flow, then kill the process mid-stream.
    std::thread::sleep(Duration::from_millis(1500));
    stop_process(gw);
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        runtime.block_on(t).unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "only {} receipts were acknowledged before the kill",
        acked.len()
    );

    // Restart on the same directory: every acknowledged receipt is there.
    let store = Store::open(dir.path(), 16).unwrap();
    let rt = common::runtime();
    let outbox: HashSet<String> = rt
        .block_on(store.outbox())
        .unwrap()
        .into_iter()
        .map(|e| e.receipt_id)
        .collect();
    for (n, id) in &acked {
        let nav = varco::domain::NoticeNumber::aux3("01", *n);
        let r = rt
            .block_on(store.ricevuta("77777777777", nav.iuv(), id))
            .unwrap();
        assert!(
            r.is_some(),
            "receipt {id} was answered OK but is missing after the stop"
        );
        assert!(outbox.contains(id), "receipt {id} has no outbox entry");
        if *n < 500 {
            let p = rt
                .block_on(store.pendenza("77777777777", nav.iuv()))
                .unwrap()
                .unwrap();
            assert_eq!(p.stato, Stato::Eseguita, "notice {nav}");
        }
    }
    drop(store);
    // And the binary itself comes back on that directory.
    let gw = Gateway::start(dir.path());
    drop(gw);
}

/// PUT over HTTP with Basic auth.
async fn put_json(url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let (status, _, bytes) = rest("PUT", url, Some(&body.to_string()), "application/json").await;
    (status, serde_json::from_slice(&bytes).unwrap_or_default())
}

#[test]
fn positions_created_with_201_survive_kill_9_and_are_payable_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let base = format!("{}/api/pendenze/v2/pendenze/demo", gw.api);
    let mut created = Vec::new();
    common::runtime().block_on(async {
        for i in 0..40 {
            let body = serde_json::json!({
                "idTipoPendenza": "LIBERO", "idDominio": "77777777777", "causale": format!("Mensa scolastica {i}"),
                "soggettoPagatore": {"tipo": "F", "identificativo": "RSSMRA80A01H501U", "anagrafica": "Mario Rossi"},
                "importo": 35.00,
                "voci": [{"idVocePendenza": "mensa", "importo": 35.00, "descrizione": "Mensa", "codEntrata": "TARI"}]
            });
            let (s, v) = put_json(&format!("{base}/mensa-{i}"), &body).await;
            assert_eq!(s, 201, "{v}");
            created.push(v["numeroAvviso"].as_str().unwrap().to_owned());
        }
    });
    // No graceful shutdown: the process dies right after the last 201.
    gw.kill9();
    let gw = Gateway::start(dir.path());
    common::runtime().block_on(async {
        for nav in &created {
            let (_, verify) = common::soap_qr(&gw.nodo, "paVerifyPaymentNotice", nav, "").await;
            assert_eq!(element(&verify, "amount"), Some("35.00"), "{verify}");
        }
    });
}

#[test]
fn cli_renders_a_notice_and_lists_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let outbox = |password: &str, filter: &[&str]| {
        let args = [
            "outbox",
            "--api",
            &gw.api,
            "--user",
            "admin",
            "--password",
            password,
        ];
        varco_cli(args.iter().chain(&["list"]).chain(filter))
    };
    let out = outbox("demo", &["--stato", "dead"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed["risultati"], serde_json::json!([]), "{listed}");
    assert_eq!(listed["pagina"], 1, "{listed}");
    let refused = outbox("wrong", &[]);
    assert!(!refused.status.success());
    // A document: a single payment and two instalments, loaded while the gateway runs.
    let base = format!("{}/api/pendenze/v2/pendenze/demo", gw.api);
    let mut navs = Vec::new();
    common::runtime().block_on(async {
        for (id, rata, euro) in [("doc-u", None, 90), ("doc-r1", Some(1), 45), ("doc-r2", Some(2), 45)] {
            let mut documento = serde_json::json!({"identificativo": "MENSA-2027", "descrizione": "Mensa 2027"});
            if let Some(r) = rata {
                documento["rata"] = serde_json::json!(r);
            }
            let body = serde_json::json!({
                "idTipoPendenza": "LIBERO", "idDominio": "77777777777", "causale": format!("Mensa 2027 {id}"),
                "soggettoPagatore": {"tipo": "F", "identificativo": "RSSMRA80A01H501U", "anagrafica": "Mario Rossi"},
                "importo": euro, "dataScadenza": "2099-06-30", "documento": documento,
                "voci": [{"idVocePendenza": "mensa", "importo": euro, "descrizione": "Mensa", "codEntrata": "TARI"}]
            });
            let (s, v) = put_json(&format!("{base}/{id}"), &body).await;
            assert_eq!(s, 201, "{v}");
            navs.push(v["numeroAvviso"].as_str().unwrap().to_owned());
        }
        // Over the API too (GovPay's path): a PDF with every option's code.
        let (s, ct, pdf) = rest(
            "GET",
            &format!("{}/api/pendenze/v2/documenti/77777777777/MENSA-2027/avvisi", gw.api),
            None,
            "application/pdf",
        )
        .await;
        assert_eq!((s, ct.as_str()), (200, "application/pdf"));
        assert!(pdf.starts_with(b"%PDF-"));
    });
    assert_eq!(gw.terminate(), Some(0));
    let pdf = dir.path().join("avviso.pdf");
    let (pdf_arg, data_dir) = (pdf.to_str().unwrap(), dir.path().to_str().unwrap());
    let notice_pdf = |nav: &str| {
        varco_cli([
            "notice",
            "pdf",
            "--domain",
            "77777777777",
            "--notice",
            nav,
            "-o",
            pdf_arg,
            "--data-dir",
            data_dir,
        ])
    };
    let out = notice_pdf("301000000000000144");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));
    let missing = notice_pdf("301000000000099919");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no position for notice"));
    let document_pdf = |id: &str| {
        varco_cli([
            "notice",
            "pdf",
            "--domain",
            "77777777777",
            "--document",
            id,
            "-o",
            pdf_arg,
            "--data-dir",
            data_dir,
        ])
    };
    let out = document_pdf("MENSA-2027");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = common::pdf_text(&pdf);
    assert!(
        text.contains("Puoi pagare per intero oppure in 2 rate"),
        "{text}"
    );
    for nav in &navs {
        let grouped = varco::domain::NoticeNumber::parse(nav).unwrap().grouped();
        assert!(text.contains(&grouped), "{nav} in {text}");
    }
    let missing = document_pdf("NESSUNO");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no document NESSUNO"));
}

/// Any REST call over HTTP as the demo application: (status, content type, body).
async fn rest(method: &str, url: &str, body: Option<&str>, accept: &str) -> (u16, String, Vec<u8>) {
    let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let req = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("accept", accept)
        .header("content-type", common::app::content_type_for(method))
        .header("authorization", common::basic(common::DEMO_APP))
        .body(http_body_util::Full::new(bytes::Bytes::from(
            body.unwrap_or("").to_owned(),
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, ct, bytes)
}

#[test]
fn every_rest_endpoint_answers_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::start(dir.path());
    let a = format!("{}/api/pendenze/v2", gw.api);
    let body = fixture("rest/tari-2026-0001.json");
    common::runtime().block_on(async {
        let (s, _, created) = rest(
            "PUT",
            &format!("{a}/pendenze/demo/tari-2026-0001?stampaAvviso=true"),
            Some(&body),
            "application/json",
        )
        .await;
        assert_eq!(s, 201);
        let created: serde_json::Value = serde_json::from_slice(&created).unwrap();
        let nav = created["numeroAvviso"].as_str().unwrap().to_owned();
        assert!(
            created["pdf"]
                .as_str()
                .is_some_and(|p| p.starts_with("JVBERi0")),
            "a base64 PDF"
        );
        let json = "application/json";
        for (method, path, payload, want) in [
            ("GET", "/pendenze/demo/tari-2026-0001".to_owned(), None, 200),
            (
                "GET",
                format!("/pendenze/byAvviso/77777777777/{nav}"),
                None,
                200,
            ),
            (
                "GET",
                "/pendenze?stato=NON_ESEGUITA&risultatiPerPagina=5".to_owned(),
                None,
                200,
            ),
            ("GET", format!("/avvisi/77777777777/{nav}"), None, 200),
            ("GET", "/openapi.json".to_owned(), None, 200),
            (
                "PATCH",
                "/pendenze/demo/tari-2026-0001".to_owned(),
                Some(r#"[{"op":"REPLACE","path":"/stato","value":"ANNULLATA"}]"#.to_owned()),
                200,
            ),
            (
                "POST",
                "/pendenze/tracciati".to_owned(),
                Some(format!(
                    "[{}]",
                    body.replacen('{', r#"{"idA2A":"demo","idPendenza":"bulk-1","#, 1)
                )),
                200,
            ),
            (
                "PUT",
                "/pendenze/demo/bad".to_owned(),
                Some("{oops".to_owned()),
                400,
            ),
        ] {
            let (s, ct, out) = rest(method, &format!("{a}{path}"), payload.as_deref(), json).await;
            assert_eq!(
                s,
                want,
                "{method} {path}: {}",
                String::from_utf8_lossy(&out)
            );
            assert!(ct.starts_with("application/json"), "{method} {path}: {ct}");
        }
        let (s, ct, pdf) = rest(
            "GET",
            &format!("{a}/avvisi/77777777777/{nav}"),
            None,
            "application/pdf",
        )
        .await;
        assert_eq!((s, ct.as_str()), (200, "application/pdf"));
        assert!(pdf.starts_with(b"%PDF-"));
        let (s, _, _) = rest(
            "GET",
            &format!("{}/api/backoffice/v1/outbox", gw.api),
            None,
            "application/json",
        )
        .await;
        assert_eq!(s, 401, "applications are not operators");
    });
}

#[test]
fn a_client_trickling_its_headers_is_cut_off_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("varco.toml");
    std::fs::write(
        &config,
        varco::config::DEMO_TOML.replace("header_timeout_ms = 10000", "header_timeout_ms = 500"),
    )
    .unwrap();
    let gw = Gateway::start_with(
        &dir.path().join("data"),
        &["--config", config.to_str().unwrap()],
    );
    let addr = gw
        .nodo
        .trim_start_matches("http://")
        .trim_end_matches("/paForNode")
        .to_owned();
    use std::io::{Read, Write};
    let mut slow = std::net::TcpStream::connect(&addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = std::time::Instant::now();
    slow.write_all(b"POST /paForNode HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // Meanwhile a normal client is served.
    common::runtime().block_on(async {
        let (s, body) = common::soap_demo(&gw.nodo, "paVerifyPaymentNotice").await;
        assert_eq!((s, element(&body, "outcome")), (200, Some("OK")));
    });
    // The trickler gets nothing more than a close (or a 408) once its time is up.
    let mut buf = [0u8; 512];
    let n = slow.read(&mut buf).unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(4),
        "{waited:?}"
    );
}

#[test]
fn json_logs_parse_and_carry_no_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let (np, ap) = (common::free_port(), common::free_port());
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_varco"))
        .args(["--log-format", "json", "serve", "--data-dir"])
        .arg(dir.path())
        .args([
            "--nodo-listen",
            &format!("127.0.0.1:{np}"),
            "--api-listen",
            &format!("127.0.0.1:{ap}"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let nodo = format!("http://127.0.0.1:{np}/paForNode");
    common::runtime().block_on(async {
        for _ in 0..200 {
            if common::get(&format!("http://127.0.0.1:{ap}/readyz"))
                .await
                .is_ok_and(|(s, _)| s == 200)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (_, body) = common::soap_demo(&nodo, "paVerifyPaymentNotice").await;
        assert_eq!(element(&body, "outcome"), Some("OK"));
        let (_, body) = common::soap_demo(&nodo, "paSendRTV2").await;
        assert_eq!(element(&body, "outcome"), Some("OK"));
    });
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let logs = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let verify = lines
        .iter()
        .find(|l| l["operation"] == "paVerifyPaymentNotice")
        .unwrap_or_else(|| panic!("no request line in:\n{logs}"));
    assert_eq!(verify["outcome"], "OK");
    assert!(verify["duration_us"].is_u64());
    assert!(
        lines
            .iter()
            .any(|l| l["operation"] == "paSendRTV2" && l["outcome"] == "OK")
    );
    for personal in [
        "RSSMRA80A01H501U",
        "Mario Rossi",
        "mario.rossi@example.org",
        "<soapenv:",
    ] {
        assert!(!logs.contains(personal), "{personal} in the logs:\n{logs}");
    }
}
