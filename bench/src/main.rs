//! `varco-bench`: a small, dependency-light benchmark harness for Varco's
//! paForNode SOAP endpoint.
//!
//! It has four sub-commands:
//!
//! * `bare`    — a bare hyper HTTP/1.1 server that answers every request with
//!   the same fixed bytes. It is the baseline: "how fast could *any* Rust HTTP
//!   server return this response on this machine".
//! * `load`    — a closed-loop, keep-alive load generator (see [`load`]).
//! * `compare` — `load` against Varco, then against the bare server, and the
//!   ratio of the two throughputs.
//! * `capture` — sends one request and saves the response body, so the bare
//!   server can be started with exactly the bytes Varco returns.

mod bare;
mod client;
mod load;
mod template;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::load::{LoadConfig, LoadReport};
use crate::template::BodySource;

/// Benchmark harness for the Varco paForNode SOAP gateway.
///
/// Measurement method (`load`, `compare`): N workers, each owning ONE
/// keep-alive HTTP/1.1 connection, send POST requests in a closed loop — a
/// worker sends its next request only after the previous response body has
/// been read completely — so the offered load adapts to the server's speed
/// and at most N requests are in flight. Connections are opened before the
/// clock starts. Requests issued during the warm-up are not counted. The
/// latency of each request (from just before the request is written to just
/// after the last byte of the response body is read) is recorded in an
/// HdrHistogram in microseconds with 3 significant figures.
///
/// Errors are counted, never fatal: a non-200 status, a 200 response whose
/// body contains `<outcome>KO</outcome>`, and transport failures (connect,
/// I/O, protocol errors, per-request timeout). Latencies of non-200 and KO
/// responses are recorded too; transport failures are not.
///
/// Typical use:
///
///   varco-bench capture --url http://127.0.0.1:8080/ --soap-action paVerifyPaymentNotice --body-file bench/requests/verify.xml -o /tmp/verify-res.xml
///
///   varco-bench bare --listen 127.0.0.1:18080 --response-file /tmp/verify-res.xml &
///
///   varco-bench compare --varco-url http://127.0.0.1:8080/ --bare-url http://127.0.0.1:18080/ --soap-action paVerifyPaymentNotice --body-file bench/requests/verify.xml --connections 64 --duration 10
#[derive(Debug, Parser)]
#[command(name = "varco-bench", version, verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a bare hyper HTTP/1.1 server answering every request with fixed bytes.
    ///
    /// Every request (any method, any path) gets status 200,
    /// `Content-Type: text/xml; charset=utf-8` and the bytes of
    /// --response-file, after the whole request body has been read.
    /// Runs until SIGINT/SIGTERM.
    Bare {
        /// Address to listen on, e.g. 127.0.0.1:18080 (port 0 = any free port;
        /// the bound address is printed on stderr).
        #[arg(long)]
        listen: SocketAddr,
        /// File whose bytes are returned as the response body.
        #[arg(long)]
        response_file: PathBuf,
    },
    /// Closed-loop keep-alive load test against one URL; prints one result line.
    ///
    /// Output: `op=OP conns=N requests=R errors=E rps=X p50_us=.. p99_us=..
    /// p999_us=.. max_us=..` (or a JSON object with --json). `requests`
    /// counts every request started in the measurement window (errors
    /// included); `rps` = requests / measured wall-clock seconds.
    Load {
        /// Target URL (http:// only), e.g. http://127.0.0.1:8080/pagopa
        #[arg(long)]
        url: String,
        #[command(flatten)]
        opts: LoadOpts,
    },
    /// Run `load` against Varco, then against the bare server; print both and ratio_rps.
    ///
    /// Prints `target=varco op=...`, `target=bare op=...` and
    /// `ratio_rps=<varco rps / bare rps>` (or one JSON object with --json).
    /// Both servers must already be running; start the bare one with a
    /// response captured from Varco (see `capture`).
    Compare {
        /// Varco's paForNode URL.
        #[arg(long)]
        varco_url: String,
        /// The bare server's URL (any path).
        #[arg(long)]
        bare_url: String,
        #[command(flatten)]
        opts: LoadOpts,
    },
    /// Send one request and write the response body to a file.
    ///
    /// Fails (without writing) if the status is not 200 or the body contains
    /// `<outcome>KO</outcome>`, unless --force is given.
    Capture {
        /// Target URL (http:// only).
        #[arg(long)]
        url: String,
        /// Value of the SOAPAction header (the paForNode operation name).
        #[arg(long)]
        soap_action: String,
        /// Request body file; `{{RECEIPT_ID}}` is replaced by a fresh random id.
        #[arg(long)]
        body_file: PathBuf,
        /// Output file for the response body.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Write the body even on a non-200 status or a KO outcome.
        #[arg(long)]
        force: bool,
    },
}

/// Options shared by `load` and `compare`.
#[derive(Debug, Args)]
struct LoadOpts {
    /// Value of the SOAPAction header (the paForNode operation name), also
    /// used as `op=` in the output.
    #[arg(long)]
    soap_action: String,
    /// Request body file (sent as-is, or used as a template with --unique-receipts).
    #[arg(long)]
    body_file: PathBuf,
    /// Treat the body file as a template: replace every `{{RECEIPT_ID}}` with
    /// a unique 32-hex-char id per request (16 hex of a per-run nonce + 16 hex
    /// of a global counter).
    #[arg(long)]
    unique_receipts: bool,
    /// Number of concurrent keep-alive connections (= requests in flight).
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Measurement window in seconds (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Warm-up seconds before the measurement window (requests not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Per-request timeout in seconds; a timed-out request counts as a
    /// transport error and its connection is re-opened.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Print a JSON object instead of the key=value line.
    #[arg(long)]
    json: bool,
}

impl LoadOpts {
    fn config(&self, url: &str) -> Result<LoadConfig> {
        let bytes = std::fs::read(&self.body_file)
            .with_context(|| format!("reading body file {}", self.body_file.display()))?;
        let body = BodySource::new(bytes, self.unique_receipts)?;
        if self.connections == 0 {
            bail!("--connections must be at least 1");
        }
        Ok(LoadConfig {
            target: client::Target::parse(url)?,
            soap_action: self.soap_action.clone(),
            body,
            connections: self.connections,
            duration: secs(self.duration, "--duration")?,
            warmup: secs(self.warmup, "--warmup")?,
            timeout: secs(self.timeout, "--timeout")?,
        })
    }
}

fn secs(value: f64, name: &str) -> Result<Duration> {
    Duration::try_from_secs_f64(value).with_context(|| format!("invalid {name}: {value}"))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Bare {
            listen,
            response_file,
        } => {
            let body = std::fs::read(&response_file)
                .with_context(|| format!("reading response file {}", response_file.display()))?;
            bare::serve(listen, body.into()).await
        }
        Command::Load { url, opts } => {
            let report = load::run(opts.config(&url)?).await?;
            if opts.json {
                println!("{}", report.to_json());
            } else {
                println!("{}", report.line());
            }
            report.warn_errors();
            Ok(())
        }
        Command::Compare {
            varco_url,
            bare_url,
            opts,
        } => compare(&varco_url, &bare_url, &opts).await,
        Command::Capture {
            url,
            soap_action,
            body_file,
            output,
            force,
        } => {
            let bytes = std::fs::read(&body_file)
                .with_context(|| format!("reading body file {}", body_file.display()))?;
            let target = client::Target::parse(&url)?;
            let (status, response) =
                client::send_once(&target, &soap_action, BodySource::one_shot(bytes)).await?;
            let ko = load::is_ko(&response);
            if !force && (status != 200 || ko) {
                bail!(
                    "not writing {}: status {status}{}; body:\n{}",
                    output.display(),
                    if ko { ", outcome KO" } else { "" },
                    String::from_utf8_lossy(&response)
                );
            }
            std::fs::write(&output, &response)
                .with_context(|| format!("writing {}", output.display()))?;
            eprintln!(
                "captured {} bytes (status {status}{}) into {}",
                response.len(),
                if ko { ", outcome KO" } else { "" },
                output.display()
            );
            Ok(())
        }
    }
}

/// `compare`: the same load against Varco then against the bare server, one
/// after the other (never concurrently, so they don't compete for the CPU).
async fn compare(varco_url: &str, bare_url: &str, opts: &LoadOpts) -> Result<()> {
    let varco = load::run(opts.config(varco_url)?).await?;
    let bare = load::run(opts.config(bare_url)?).await?;
    let ratio = ratio(&varco, &bare);
    if opts.json {
        let out = serde_json::json!({
            "varco": varco.to_json(),
            "bare": bare.to_json(),
            "ratio_rps": ratio,
        });
        println!("{out}");
    } else {
        println!("target=varco {}", varco.line());
        println!("target=bare {}", bare.line());
        println!("ratio_rps={ratio:.3}");
    }
    varco.warn_errors();
    bare.warn_errors();
    Ok(())
}

fn ratio(varco: &LoadReport, bare: &LoadReport) -> f64 {
    if bare.rps() > 0.0 {
        varco.rps() / bare.rps()
    } else {
        0.0
    }
}
