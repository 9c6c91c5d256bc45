//! Helpers shared by the integration tests: a gateway process on loopback, HTTP calls, and
//! schema validation of responses with xmllint against the official pagoPA schema.

#![allow(dead_code)]

pub mod app;
pub mod avviso;
pub mod browser;
pub mod fake_fdr;
pub mod https;
pub mod pg;
pub mod pki;
pub mod read_response;

#[allow(unused_imports)]
pub use app::{DEMO_APP, DEMO_OPERATOR, TestApp, basic};

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The official paForNode schema (reference material beside the repository).
pub fn official_xsd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/pagopa-api/wsdl/xsd/paForNode.xsd")
}

/// Fails the test, naming the tool and its package, when `tool` is not installed: on `PATH`,
/// or one of `paths` when given (for tools outside `PATH`, like nginx in /usr/sbin). Returns
/// the program to run.
#[track_caller]
pub fn require_tool_at(tool: &str, package: &str, paths: &[&str]) -> PathBuf {
    if let Some(found) = paths.iter().map(PathBuf::from).find(|p| p.exists()) {
        return found;
    }
    // A tool that cannot be spawned at all is missing (whatever its exit code for `-v`).
    let spawned = Command::new(tool)
        .arg("-v")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if spawned.is_ok() {
        return PathBuf::from(tool);
    }
    panic!(
        "required tool `{tool}` is missing (Debian package {package}): \
         run `make tools` to install it"
    );
}

/// [`require_tool_at`] for a tool on `PATH`.
#[track_caller]
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    require_tool_at(tool, package, &[])
}

/// The schema check needs xmllint and the official schema beside the repository; a test that
/// validates fails with a clear message when either is missing.
#[track_caller]
pub fn require_schema_check() {
    require_tool("xmllint", "libxml2-utils");
    assert!(
        official_xsd().exists(),
        "the official pagoPA schema is missing at {} (a checkout of pagopa-api beside the \
         repository, under ../shared/pagopa-api)",
        official_xsd().display()
    );
}

/// The body payload (the element inside soap Body) of an envelope written by Varco or by our
/// fixtures, as a standalone document with its namespace declarations.
pub fn payload_document(envelope: &str) -> Option<String> {
    let body_start = envelope.find("Body")?;
    let open = envelope[body_start..].find('>')? + body_start + 1;
    let close_tag = envelope.rfind("Body>")?;
    let close = envelope[..close_tag].rfind("</")?;
    let inner = envelope[open..close].trim();
    // Carry the envelope's namespace declarations onto the payload root (prefixes may be
    // declared on the Envelope element), unless the root redeclares them.
    let name_end = inner.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    let root_tag = &inner[..inner.find('>')?];
    let mut decls = String::new();
    let mut rest = &envelope[..body_start];
    while let Some(at) = rest.find("xmlns") {
        let after = &rest[at..];
        let eq = after.find('=')?;
        let quote = after[eq + 1..].chars().next()?;
        let end = after[eq + 2..].find(quote)? + eq + 3;
        let decl = &after[..end];
        if !root_tag.contains(&after[..=eq]) {
            decls.push(' ');
            decls.push_str(decl);
        }
        rest = &after[end..];
    }
    Some(format!(
        "{}{}{}",
        &inner[..name_end],
        decls,
        &inner[name_end..]
    ))
}

/// Validates documents with xmllint against `xsd`; returns (file name, valid) per document.
pub fn validate(xsd: &Path, docs: &[(String, String)]) -> Vec<(String, bool)> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for chunk in docs.chunks(200) {
        let mut paths = Vec::new();
        for (i, (name, doc)) in chunk.iter().enumerate() {
            let p = dir
                .path()
                .join(format!("{i}-{}.xml", name.replace('/', "_")));
            std::fs::write(&p, doc).unwrap();
            paths.push((name.clone(), p));
        }
        for (name, p) in paths {
            let status = Command::new("xmllint")
                .arg("--noout")
                .arg("--nonet")
                .arg("--schema")
                .arg(xsd)
                .arg(&p)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("xmllint runs");
            out.push((name, status.success()));
        }
    }
    out
}

/// Runs the varco binary with `args` to the end; its output.
pub fn varco_cli<S: AsRef<std::ffi::OsStr>>(
    args: impl IntoIterator<Item = S>,
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_varco"))
        .args(args)
        .output()
        .expect("the varco binary runs")
}

/// A Tokio runtime of two workers, for the tests that drive a process from a plain thread.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A gateway process started from the built binary.
pub struct Gateway {
    pub child: Child,
    pub nodo: String,
    pub api: String,
    pub data_dir: PathBuf,
}

impl Gateway {
    /// Starts `varco serve` on the demo configuration with `data_dir`, and waits until ready.
    pub fn start(data_dir: &Path) -> Gateway {
        Self::start_with(data_dir, &[])
    }

    /// Same, with extra `serve` arguments (e.g. `--config FILE`).
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> Gateway {
        let gw = Self::spawn_with(data_dir, extra);
        gw.wait_ready();
        gw
    }

    /// Starts `varco serve` like [`Gateway::start_with`] without waiting (for configurations
    /// whose `/readyz` a plain client cannot reach).
    pub fn spawn_with(data_dir: &Path, extra: &[&str]) -> Gateway {
        let (np, ap) = (free_port(), free_port());
        let child = Command::new(env!("CARGO_BIN_EXE_varco"))
            .arg("serve")
            .args(extra)
            .arg("--data-dir")
            .arg(data_dir)
            .args([
                "--nodo-listen",
                &format!("127.0.0.1:{np}"),
                "--api-listen",
                &format!("127.0.0.1:{ap}"),
            ])
            .env("VARCO_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the varco binary starts");
        Gateway {
            child,
            nodo: format!("http://127.0.0.1:{np}/paForNode"),
            api: format!("http://127.0.0.1:{ap}"),
            data_dir: data_dir.to_owned(),
        }
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        while Instant::now() < deadline {
            let ok = rt.block_on(async {
                get(&format!("{}/readyz", self.api))
                    .await
                    .map(|(s, _)| s == 200)
                    .unwrap_or(false)
            });
            if ok {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the gateway did not become ready");
    }

    /// kill -9.
    pub fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap().code()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `varco serve` on `config`, expects it to exit with an error, and returns its stderr
/// (a configuration that is accepted fails the test once Varco has served for 30 s).
pub fn refused_start(dir: &Path, config: &Path) -> String {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_varco"))
        .args(["serve", "--config", config.to_str().unwrap(), "--data-dir"])
        .arg(dir.join("data"))
        .args([
            "--nodo-listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the configuration was accepted: Varco is serving");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "the configuration was accepted");
    stderr
}

/// GET; returns (status, body).
pub async fn get(url: &str) -> anyhow::Result<(u16, String)> {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    let client: Client<_, Empty<bytes::Bytes>> =
        Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
    let resp = client.get(url.parse()?).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// POST a SOAP body; returns (status, body).
pub async fn soap(url: &str, action: &str, body: &str) -> (u16, String) {
    let (s, b) = varco::replay::post(url, Some(action), body.as_bytes().to_vec())
        .await
        .expect("request sent");
    (s, String::from_utf8_lossy(&b).into_owned())
}

/// The demo's request file for `action` (the demo curl files: verify, activate, receipt of
/// notice 10).
pub fn demo_request(action: &str) -> String {
    fixture(match action {
        "paVerifyPaymentNotice" => "demo/verify.xml",
        "paGetPaymentV2" => "demo/get-payment-v2.xml",
        "paSendRTV2" => "demo/send-rt-v2.xml",
        other => panic!("no demo request for {other}"),
    })
}

/// POSTs the demo's request for `action` to `url`; returns (status, body).
pub async fn soap_demo(url: &str, action: &str) -> (u16, String) {
    soap(url, action, &demo_request(action)).await
}

/// POSTs to `url` a `qr_request` for `action` (verify, or activation V1 or V2) of notice `nav`
/// with `extra` elements; returns (status, body).
pub async fn soap_qr(url: &str, action: &str, nav: &str, extra: &str) -> (u16, String) {
    let element = match action {
        "paVerifyPaymentNotice" => "paVerifyPaymentNoticeReq",
        "paGetPayment" => "paGetPaymentReq",
        "paGetPaymentV2" => "paGetPaymentV2Request",
        other => panic!("no qrCode request for {other}"),
    };
    soap(url, action, &qr_request(element, nav, extra)).await
}

/// A fixture file's text.
pub fn fixture(path: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(path),
    )
    .unwrap()
}

/// The text of the first `<name>` element.
pub fn element<'a>(xml: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find("</")? + start;
    Some(&xml[start..end])
}

/// A verify / getPayment request of the demo station for notice `nav` of the demo creditor.
pub fn qr_request(element_name: &str, nav: &str, extra: &str) -> String {
    format!(
        r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:p="http://pagopa-api.pagopa.gov.it/pa/paForNode.xsd"><soapenv:Body><p:{element_name}><idPA>77777777777</idPA><idBrokerPA>77777777777</idBrokerPA><idStation>77777777777_01</idStation><qrCode><fiscalCode>77777777777</fiscalCode><noticeNumber>{nav}</noticeNumber></qrCode>{extra}</p:{element_name}></soapenv:Body></soapenv:Envelope>"#
    )
}

/// The demo paSendRTV2 fixture for notice `nav` (18 digits) with receipt id `receipt_id`.
pub fn receipt_v2(nav: &str, receipt_id: &str) -> String {
    fixture("demo/send-rt-v2.xml")
        .replace("301000000000001053", nav)
        .replace("01000000000001053", &nav[1..])
        .replace("d3m0000000000000000000000000000a", receipt_id)
}

/// POSTs a SOAP body to `/paForNode` of a router (no socket); returns the answer's text.
pub async fn soap_through(router: &axum::Router, action: &str, body: String) -> String {
    let req = axum::http::Request::post("/paForNode")
        .header("content-type", "text/xml")
        .header("soapaction", action)
        .body(axum::body::Body::from(body))
        .unwrap();
    String::from_utf8(app::send(router, req).await.body.to_vec()).unwrap()
}

/// The text of a PDF as `pdftotext` reads it, every run of whitespace one space.
pub fn pdf_text(pdf: &Path) -> String {
    let tool = require_tool("pdftotext", "poppler-utils");
    let out = std::process::Command::new(tool)
        .arg(pdf)
        .arg("-")
        .output()
        .expect("pdftotext runs");
    assert!(
        out.status.success(),
        "pdftotext: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Serves HTTP/1.1 on `addr` (a test's fake gestionale), each request answered by `handle`,
/// until the returned task is aborted (then connections are refused).
pub async fn serve_http<F, Fut>(
    addr: std::net::SocketAddr,
    handle: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(hyper::Request<hyper::body::Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = hyper::Response<http_body_util::Full<bytes::Bytes>>>
        + Send
        + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let handle = handle.clone();
            conns.spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    let answer = handle(req);
                    async move { Ok::<_, std::convert::Infallible>(answer.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    })
}

/// Varco running in this process (`server::run`) on the listeners its configuration names.
pub struct InProcess {
    /// `http://<nodo>/paForNode`
    pub nodo: String,
    /// `http://<api>`
    pub api: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl InProcess {
    /// Starts `c` on `clock`; returns once both listeners are bound.
    pub async fn start(c: varco::config::Config, clock: varco::domain::Clock) -> InProcess {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound_tx, bound_rx) = std::sync::mpsc::channel();
        let task = tokio::spawn(varco::server::run(
            c,
            clock,
            async move {
                let _ = stopped.await;
            },
            move |b, _| {
                bound_tx.send(b).unwrap();
            },
        ));
        let bound = tokio::task::spawn_blocking(move || {
            bound_rx.recv_timeout(Duration::from_secs(20)).unwrap()
        })
        .await
        .unwrap();
        InProcess {
            nodo: format!("http://{}/paForNode", bound.nodo),
            api: format!("http://{}", bound.api),
            stop,
            task,
        }
    }

    /// Shuts it down gracefully and waits until it has stopped.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.unwrap().unwrap();
    }
}
