//! `varco-bench`: a small, dependency-light benchmark harness for Varco's
//! paForNode SOAP endpoint.
//!
//! It has six sub-commands:
//!
//! * `bare`    — a bare hyper HTTP/1.1 server that answers every request with
//!   the same fixed bytes. It is the baseline: "how fast could *any* Rust HTTP
//!   server return this response on this machine".
//! * `load`    — a closed-loop, keep-alive load generator (see [`load`]).
//! * `compare` — `load` against Varco, then against the bare server, and the
//!   ratio of the two throughputs.
//! * `capture` — sends one request and saves the response body, so the bare
//!   server can be started with exactly the bytes Varco returns.
//! * `preload` — bulk-loads positions through `POST /pendenze/tracciati` in
//!   chunks and reports positions per second and the notice numbers drawn.
//! * `disturb` — `load` (verify) three times in a row: quiet, during a
//!   wrong-password flood on the api listener, during concurrent listings
//!   (see [`disturb`]); prints each verify report next to what the
//!   disturbance sent and the statuses it got back, so one sees whether
//!   either moves verify's p99 (issue 11).

mod bare;
mod client;
mod disturb;
mod load;
mod preload;
mod template;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::load::{LoadConfig, LoadReport};
use crate::template::{BodySource, NoticePick};

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
///   varco-bench capture --url http://127.0.0.1:8080/ --soap-action paVerifyPaymentNotice --body-file bench/requests/verify.xml --notices 1 -o /tmp/verify-res.xml
///
///   varco-bench bare --listen 127.0.0.1:18080 --response-file /tmp/verify-res.xml &
///
///   varco-bench compare --varco-url http://127.0.0.1:8080/ --bare-url http://127.0.0.1:18080/ --soap-action paVerifyPaymentNotice --body-file bench/requests/verify.xml --notices 11..=1000010 --connections 64 --duration 10
///
///   varco-bench disturb --url http://127.0.0.1:8080/paForNode --api-url http://127.0.0.1:8081 --soap-action paVerifyPaymentNotice --body-file bench/requests/verify.xml --notices 11..=1000010 --connections 64 --duration 10
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
        #[command(flatten)]
        notices: NoticeOpts,
    },
    /// Bulk-load positions through `POST /api/pendenze/v2/pendenze/tracciati`, in chunks.
    ///
    /// Prints `op=preload positions=N errors=E seconds=S positions_per_s=X
    /// first_notice=.. last_notice=.. first_reference=A last_reference=B` (or
    /// JSON with --json): the references are what `--notices A..=B` takes.
    Preload {
        /// Base URL of Varco's api listener, e.g. http://127.0.0.1:8081
        #[arg(long)]
        api_url: String,
        /// Application (idA2A) and HTTP Basic user.
        #[arg(long, default_value = "demo")]
        user: String,
        /// HTTP Basic password.
        #[arg(long, default_value = "demo")]
        password: String,
        /// Domain of the positions.
        #[arg(long, default_value = "77777777777")]
        id_dominio: String,
        /// Number of positions.
        #[arg(long)]
        count: u64,
        /// Positions per request.
        #[arg(long, default_value_t = 10_000)]
        chunk: u64,
        /// Index of the first position (idPendenza `<prefix>-<index:010>`).
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Prefix of the idPendenza.
        #[arg(long, default_value = "bench")]
        id_prefix: String,
        /// Print a JSON object instead of the key=value line.
        #[arg(long)]
        json: bool,
        /// Also append the JSON object as one line to this file.
        #[arg(long)]
        json_out: Option<PathBuf>,
    },
    /// Verify's latency quiet, during a wrong-password flood, during concurrent listings.
    ///
    /// Runs `load` against --url three times in a row (the same options each time): with
    /// nothing else running, then while --flood-connections workers send requests with a new
    /// user name and a wrong password each to the api listener, then while
    /// --listing-connections workers list the positions of --user there. The disturbance's
    /// workers (one keep-alive connection each, closed loop, like `load`'s) start before the
    /// warm-up and stop when the measured run ends; its figures cover that whole span.
    ///
    /// Before anything, one request to --listing-path with the right password (so it is
    /// verified and remembered, as a working gestionale's is); it must answer 200.
    ///
    /// Phases: quiet; probes (--flood-connections of `GET /healthz`, no credentials: the
    /// control, what any traffic at that rate costs); the flood; the listings.
    ///
    /// Output, per phase: `disturbance=D target=verify op=... rps=.. p50_us=.. p99_us=..
    /// p999_us=.. max_us=..` and, during a disturbance, `disturbance=D target=D conns=N
    /// requests=R rps=X statuses={401:a,429:b} transport_errors=T p50_us=.. p99_us=..
    /// max_us=..`; at the end `p99_vs_quiet probes=W flood=X listings=Y` (each p99 over the quiet
    /// one). With --json-out, one JSON object per phase (`"op": "disturb"`). A phase whose
    /// connections are 0 is skipped.
    ///
    /// The load generator runs on the same machine: the disturbance's own CPU competes
    /// with Varco's, which a remote attacker's would not.
    Disturb {
        /// Varco's paForNode URL (the verify load).
        #[arg(long)]
        url: String,
        /// Base URL of Varco's api listener, e.g. http://127.0.0.1:8081
        #[arg(long)]
        api_url: String,
        /// Workers of the wrong-password flood (each `GET --listing-path`).
        #[arg(long, default_value_t = 200)]
        flood_connections: usize,
        /// Workers of the concurrent listings.
        #[arg(long, default_value_t = 16)]
        listing_connections: usize,
        /// Path (and query) of the listing, also the flood's target.
        #[arg(
            long,
            default_value = "/api/pendenze/v2/pendenze?risultatiPerPagina=25"
        )]
        listing_path: String,
        /// HTTP Basic user of the listings (an application, idA2A).
        #[arg(long, default_value = "demo")]
        user: String,
        /// HTTP Basic password of the listings.
        #[arg(long, default_value = "demo")]
        password: String,
        #[command(flatten)]
        opts: LoadOpts,
    },
}

/// Which notices `{{NOTICE}}` / `{{IUV}}` in a body file name.
#[derive(Debug, Args)]
struct NoticeOpts {
    /// Fill `{{NOTICE}}` (18-digit aux-3 notice number) and `{{IUV}}` (its IUV) with the
    /// notice of a reference in this range (`FIRST..=LAST`, `FIRST..END`, or one number),
    /// drawn at random per request (uniformly, so the whole range is hit, not one key).
    #[arg(long, value_name = "RANGE")]
    notices: Option<String>,
    /// Segregation code of those notices.
    #[arg(long, default_value = "01")]
    segregation: String,
    /// Walk the range in order instead (each request a different notice until it wraps):
    /// receipts that each close another position.
    #[arg(long)]
    sequential_notices: bool,
}

impl NoticeOpts {
    fn pick(&self) -> Result<Option<NoticePick>> {
        self.notices
            .as_deref()
            .map(|r| NoticePick::parse(r, &self.segregation, self.sequential_notices))
            .transpose()
    }
}

/// Options shared by `load`, `compare` and `disturb`.
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
    /// Also append the JSON object as one line to this file (a machine-readable summary
    /// of a whole `bench/run.sh`).
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Free-form label put into the JSON object (`"label"`), e.g. the store size.
    #[arg(long)]
    label: Option<String>,
    #[command(flatten)]
    notices: NoticeOpts,
}

impl LoadOpts {
    /// Labels `out` (`--label`), appends it to `--json-out`, and prints it with `--json`.
    /// Returns whether it was printed (if not, the caller prints its text lines).
    fn report(&self, mut out: serde_json::Value) -> Result<bool> {
        if let Some(label) = &self.label {
            out["label"] = label.as_str().into();
        }
        append_json(self.json_out.as_deref(), &out)?;
        if self.json {
            println!("{out}");
        }
        Ok(self.json)
    }

    fn config(&self, url: &str) -> Result<LoadConfig> {
        let bytes = std::fs::read(&self.body_file)
            .with_context(|| format!("reading body file {}", self.body_file.display()))?;
        let body = BodySource::new(bytes, self.unique_receipts, self.notices.pick()?)?;
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
            if !opts.report(report.to_json())? {
                println!("{}", report.line());
            }
            report.warn_errors();
            Ok(())
        }
        Command::Preload {
            api_url,
            user,
            password,
            id_dominio,
            count,
            chunk,
            start,
            id_prefix,
            json,
            json_out,
        } => {
            let base = api_url.trim_end_matches('/');
            let report = preload::run(preload::PreloadConfig {
                target: client::Target::parse(&format!(
                    "{base}/api/pendenze/v2/pendenze/tracciati"
                ))?,
                user,
                password,
                count,
                chunk,
                start,
                id_prefix,
                id_dominio,
            })
            .await?;
            if json {
                println!("{}", report.to_json());
            } else {
                println!("{}", report.line());
            }
            append_json(json_out.as_deref(), &report.to_json())?;
            if report.errors > 0 {
                bail!("{} positions refused", report.errors);
            }
            Ok(())
        }
        Command::Compare {
            varco_url,
            bare_url,
            opts,
        } => compare(&varco_url, &bare_url, &opts).await,
        Command::Disturb {
            url,
            api_url,
            flood_connections,
            listing_connections,
            listing_path,
            user,
            password,
            opts,
        } => {
            let path = if listing_path.starts_with('/') {
                listing_path
            } else {
                format!("/{listing_path}")
            };
            let base = api_url.trim_end_matches('/');
            let target = client::Target::parse(&format!("{base}{path}"))?;
            let plan = DisturbPlan {
                target,
                probe: client::Target::parse(&format!("{base}/healthz"))?,
                flood_connections,
                listing_connections,
                auth: client::basic_auth(&user, &password)?,
            };
            disturb(&url, &plan, &opts).await
        }
        Command::Capture {
            url,
            soap_action,
            body_file,
            output,
            force,
            notices,
        } => {
            let bytes = std::fs::read(&body_file)
                .with_context(|| format!("reading body file {}", body_file.display()))?;
            let target = client::Target::parse(&url)?;
            let body = BodySource::one_shot(bytes, notices.pick()?)?;
            let (status, response) = client::send_once(&target, &soap_action, body).await?;
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
    let out = serde_json::json!({
        "op": opts.soap_action,
        "conns": opts.connections,
        "varco": varco.to_json(),
        "bare": bare.to_json(),
        "ratio_rps": ratio,
    });
    if !opts.report(out)? {
        println!("target=varco {}", varco.line());
        println!("target=bare {}", bare.line());
        println!("ratio_rps={ratio:.3}");
    }
    varco.warn_errors();
    bare.warn_errors();
    Ok(())
}

/// The api side of `disturb`.
struct DisturbPlan {
    /// The listing URL (also the flood's).
    target: client::Target,
    /// `/healthz`: the probes' URL.
    probe: client::Target,
    flood_connections: usize,
    listing_connections: usize,
    /// The listings' right credentials.
    auth: hyper::header::HeaderValue,
}

/// `disturb`: verify quiet, during the flood, during the listings, one after the other.
async fn disturb(url: &str, plan: &DisturbPlan, opts: &LoadOpts) -> Result<()> {
    let timeout = secs(opts.timeout, "--timeout")?;
    // The gestionale's password verified (and remembered) first, as in real use: a remembered
    // user is not held back by the flood's failures from the same address.
    let mut conn = client::Conn::open(&plan.target).await?;
    conn.ready().await?;
    let (status, body) = conn
        .get(&plan.target, &[("Authorization", plan.auth.clone())])
        .await
        .context("first authenticated listing")?;
    if status != hyper::StatusCode::OK {
        bail!(
            "the first authenticated listing answered {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(500)])
        );
    }
    drop(conn);

    let phases = [
        ("quiet", None),
        (
            "probes",
            Some((disturb::Kind::Probes, plan.flood_connections)),
        ),
        (
            "flood",
            Some((disturb::Kind::Flood, plan.flood_connections)),
        ),
        (
            "listings",
            Some((
                disturb::Kind::Listings(plan.auth.clone()),
                plan.listing_connections,
            )),
        ),
    ];
    let mut quiet_p99 = None;
    let mut ratios = Vec::new();
    for (name, disturbance) in phases {
        let disturber = match disturbance {
            // `--flood-connections 0` / `--listing-connections 0` skip that phase.
            Some((_, 0)) => continue,
            Some((kind, connections)) => Some(
                disturb::start(disturb::DisturbConfig {
                    target: match kind {
                        disturb::Kind::Probes => plan.probe.clone(),
                        _ => plan.target.clone(),
                    },
                    kind,
                    connections,
                    timeout,
                })
                .await
                .with_context(|| format!("starting the {name} disturbance"))?,
            ),
            None => None,
        };
        let verify = load::run(opts.config(url)?).await?;
        let disturbance = match disturber {
            Some(d) => Some(d.stop().await?),
            None => None,
        };
        let p99 = verify.p99_us();
        match quiet_p99 {
            None => quiet_p99 = Some(p99),
            Some(quiet) => ratios.push((name, p99 as f64 / quiet.max(1) as f64)),
        }
        let out = serde_json::json!({
            "op": "disturb",
            "disturbance": name,
            "conns": opts.connections,
            "verify": verify.to_json(),
            "disturber": disturbance.as_ref().map(disturb::DisturbReport::to_json),
        });
        if !opts.report(out)? {
            println!("disturbance={name} target=verify {}", verify.line());
            if let Some(d) = &disturbance {
                println!("disturbance={name} target={name} {}", d.line());
            }
        }
        verify.warn_errors();
        if let Some(d) = &disturbance {
            d.warn_errors();
        }
    }
    if !opts.json {
        let ratios: Vec<String> = ratios
            .iter()
            .map(|(name, r)| format!("{name}={r:.2}"))
            .collect();
        println!("p99_vs_quiet {}", ratios.join(" "));
    }
    Ok(())
}

/// Appends `value` as one JSON line to `path` (if any).
fn append_json(path: Option<&std::path::Path>, value: &serde_json::Value) -> Result<()> {
    use std::io::Write as _;
    let Some(path) = path else { return Ok(()) };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(file, "{value}").with_context(|| format!("writing {}", path.display()))
}

fn ratio(varco: &LoadReport, bare: &LoadReport) -> f64 {
    if bare.rps() > 0.0 {
        varco.rps() / bare.rps()
    } else {
        0.0
    }
}
