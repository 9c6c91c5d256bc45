//! `varco replay`: send recorded requests to a running gateway and compare the answers with
//! the recorded responses, after normalising prefixes and whitespace.
//!
//! Layout: `<dir>/<operation>/<case>.request.xml` and `<case>.response.xml`; the SOAPAction is
//! the operation's directory name, unless `<case>.soapaction` holds the exact header value to
//! send (an empty file: send no SOAPAction at all).

use crate::soap::xml::{self, Element};
use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::{Path, PathBuf};

/// One recorded exchange.
#[derive(Debug, Clone)]
pub struct Case {
    /// `<operation>/<case>`
    pub name: String,
    /// SOAPAction header to send, if any.
    pub soap_action: Option<String>,
    /// Request body.
    pub request: Vec<u8>,
    /// Expected response body.
    pub response: Vec<u8>,
}

/// Loads every case under `dir`, sorted by name.
pub fn load_cases(dir: &Path) -> anyhow::Result<Vec<Case>> {
    let mut cases = Vec::new();
    let mut ops: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    ops.sort();
    for op_dir in ops {
        let op = op_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&op_dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".request.xml"))
            .collect();
        files.sort();
        for req in files {
            let stem = req
                .to_string_lossy()
                .trim_end_matches(".request.xml")
                .to_owned();
            let case = Path::new(&stem)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            let response = std::fs::read(format!("{stem}.response.xml"))
                .with_context(|| format!("{stem}.response.xml is missing"))?;
            let soap_action = match std::fs::read_to_string(format!("{stem}.soapaction")) {
                Ok(v) if v.trim().is_empty() => None,
                Ok(v) => Some(v.trim_end_matches(['\r', '\n']).to_owned()),
                Err(_) => Some(op.clone()),
            };
            cases.push(Case {
                name: format!("{op}/{case}"),
                soap_action,
                request: std::fs::read(&req)?,
                response,
            });
        }
    }
    Ok(cases)
}

/// A prefix- and whitespace-independent rendering of an XML document: one line per element,
/// `{namespace}name` indented by depth, leaves with their trimmed text.
pub fn canonical(bytes: &[u8]) -> Result<String, String> {
    fn walk(e: &Element, depth: usize, out: &mut String) {
        out.push_str(&"  ".repeat(depth));
        if let Some(ns) = &e.ns {
            out.push('{');
            out.push_str(ns);
            out.push('}');
        }
        out.push_str(&e.name);
        if e.children.is_empty() {
            out.push_str(" = ");
            out.push_str(e.text.trim());
        }
        out.push('\n');
        for c in &e.children {
            walk(c, depth + 1, out);
        }
    }
    let root = xml::parse(bytes).map_err(|e| e.to_string())?;
    let mut out = String::new();
    walk(&root, 0, &mut out);
    Ok(out)
}

/// Compares an actual response with the expected one; `Err` holds a readable difference.
pub fn compare(expected: &[u8], actual: &[u8]) -> Result<(), String> {
    let want = canonical(expected).map_err(|e| format!("expected response is not XML: {e}"))?;
    let got = canonical(actual).map_err(|e| format!("response is not XML: {e}"))?;
    if want == got {
        return Ok(());
    }
    let mut diff = String::new();
    for (i, (w, g)) in want.lines().zip(got.lines()).enumerate() {
        if w != g {
            diff = format!(
                "line {}: expected `{}`, got `{}`",
                i + 1,
                w.trim(),
                g.trim()
            );
            break;
        }
    }
    if diff.is_empty() {
        diff = format!(
            "expected {} lines, got {}",
            want.lines().count(),
            got.lines().count()
        );
    }
    Err(diff)
}

/// POSTs a SOAP request; returns the status and body.
pub async fn post(
    url: &str,
    soap_action: Option<&str>,
    body: Vec<u8>,
) -> anyhow::Result<(u16, Bytes)> {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut req = hyper::Request::post(url).header("content-type", "text/xml; charset=utf-8");
    if let Some(action) = soap_action {
        req = req.header("soapaction", action);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::from(body)))?)
        .await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Runs every case against `url`; prints one line per case and a summary.
pub async fn run(dir: &Path, url: &str) -> anyhow::Result<()> {
    let cases = load_cases(dir)?;
    if cases.is_empty() {
        bail!("no fixtures under {}", dir.display());
    }
    let (mut passed, mut failed) = (0, 0);
    for case in &cases {
        let outcome = match post(url, case.soap_action.as_deref(), case.request.clone()).await {
            Ok((_, body)) => compare(&case.response, &body),
            Err(e) => Err(format!("request failed: {e}")),
        };
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("ok   {}", case.name);
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {}: {why}", case.name);
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        bail!("{failed} fixture(s) did not match");
    }
    Ok(())
}
