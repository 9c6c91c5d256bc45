//! The `varco` binary: parse the command line, start logging, dispatch.

use anyhow::Context;
use clap::Parser;
use std::io::Read;
use varco::cli::{Cli, Command, FdrCommand, LogFormat, NoticeCommand, OutboxCommand};
use varco::config::{Config, Overrides};

/// mimalloc instead of glibc's malloc: the profiles in BENCHMARKS.md put malloc/free at 16-30 %
/// of the server's CPU.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The log on stderr, through the buffered writer (`varco::logging`): formatting stays on the
/// thread that logs, the writing moves to the log's own thread. The guard writes out the rest.
fn init_logging(format: LogFormat) -> varco::logging::LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VARCO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) =
        varco::logging::buffered(Box::new(std::io::stderr()), varco::logging::CAP);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colours only on a terminal: a file or a log collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
    guard
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _log = init_logging(cli.log_format);
    match cli.command {
        Command::Serve {
            config,
            data_dir,
            nodo_listen,
            api_listen,
        } => {
            let overrides = Overrides {
                data_dir,
                nodo_listen,
                api_listen,
            };
            let config = Config::load(config.as_deref(), &overrides)?;
            config.check_demo_password()?;
            let demo = config.demo.seed;
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(varco::server::run(
                config.clone(),
                varco::domain::system_clock(),
                varco::server::shutdown_signal(),
                move |bound, _store| {
                    if demo {
                        println!(
                            "{}",
                            varco::demo::instructions(&config, bound.nodo, bound.api)
                        );
                    }
                },
            ))
        }
        Command::Replay { dir, url } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(varco::replay::run(&dir, &url))
        }
        Command::Notice {
            command:
                NoticeCommand::Pdf {
                    domain,
                    notice,
                    document,
                    output,
                    config,
                    data_dir,
                },
        } => {
            let overrides = Overrides {
                data_dir,
                ..Default::default()
            };
            let config = Config::load(config.as_deref(), &overrides)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let refused = |e: varco::api::error::ApiError| anyhow::anyhow!("{:?}", e.fault);
            let pdf = runtime.block_on(async {
                let store = varco::store::Store::connect(&config.store)
                    .await
                    .with_context(|| format!("opening the store of {} (is the gateway running on it? use GET /api/pendenze/v2/avvisi/... then)", config.store.data_dir.display()))?;
                if let Some(document) = document {
                    let mut options = store.documento(&domain, &document).await?;
                    anyhow::ensure!(!options.is_empty(), "no document {document} of {domain}");
                    varco::domain::documento::sort(&mut options);
                    let avviso = varco::api::documenti::avviso_documento(&config, &options)
                        .map_err(refused)?;
                    return Ok(varco::notice::render_document(&avviso)?);
                }
                let notice = notice.context("--notice or --document")?;
                let nav = varco::domain::NoticeNumber::parse(&notice).context("--notice")?;
                let p = store
                    .pendenza(&domain, nav.iuv())
                    .await?
                    .filter(|p| p.numero_avviso == notice)
                    .with_context(|| format!("no position for notice {notice} of {domain}"))?;
                let avviso = varco::api::avvisi::avviso_of(&config, &p).map_err(refused)?;
                anyhow::Ok(varco::notice::render(&avviso)?)
            })?;
            std::fs::write(&output, pdf)
                .with_context(|| format!("writing {}", output.display()))?;
            println!("{}", output.display());
            Ok(())
        }
        Command::Outbox { operator, command } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async move {
                let client = reqwest::Client::new();
                let base = operator.url("/outbox");
                let req = match command {
                    OutboxCommand::List {
                        stato,
                        pagina,
                        per_pagina,
                    } => {
                        let mut q: Vec<(&str, String)> = vec![
                            ("pagina", pagina.to_string()),
                            ("risultatiPerPagina", per_pagina.to_string()),
                        ];
                        q.extend(stato.map(|s| ("stato", s)));
                        client.get(&base).query(&q)
                    }
                    OutboxCommand::Retry { id } => client.post(format!("{base}/{id}/retry")),
                };
                backoffice_call(&operator, req).await
            })
        }
        Command::Fdr { operator, command } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(async move {
                let client = reqwest::Client::new();
                let req = match command {
                    FdrCommand::Fetch => client.post(operator.url("/fdr/acquisizioni")),
                    FdrCommand::Status => client.get(operator.url("/fdr/acquisizioni")),
                    FdrCommand::Import { file } => {
                        let xml = std::fs::read(&file)
                            .with_context(|| format!("reading {}", file.display()))?;
                        client
                            .post(operator.url("/fdr"))
                            .header("content-type", "application/xml")
                            .body(xml)
                    }
                };
                backoffice_call(&operator, req).await
            })
        }
        Command::Store { command } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(store_command(command))
        }
        Command::HashPassword => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password")?;
            let password = password.trim_end_matches(['\r', '\n']);
            println!("{}", varco::password::hash_password(password)?);
            Ok(())
        }
    }
}

/// `varco store ...`.
async fn store_command(command: varco::cli::StoreCommand) -> anyhow::Result<()> {
    use varco::cli::{StoreCommand, store_at};
    use varco::store::Store;
    match command {
        StoreCommand::Copy { from, to, force } => {
            let source = Store::connect(&store_at(&from))
                .await
                .context("opening the source store")?;
            let target = Store::connect(&store_at(&to))
                .await
                .context("opening the target store")?;
            let started = std::time::Instant::now();
            let copied = varco::store::copy::copy(&source, &target, force).await?;
            println!("table          records checksum (source)");
            for line in copied.source.lines() {
                println!("{line}");
            }
            if copied.source != copied.target {
                println!("target read back:");
                for line in copied.target.lines() {
                    println!("{line}");
                }
                anyhow::bail!("the target does not hold what the source holds");
            }
            println!(
                "copied {} records in {:.1} s; the target reads back the same counts and checksums",
                copied.source.records(),
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        StoreCommand::Backup { name, operator } => {
            let url = operator.url("/store/backup");
            let resp = operator
                .authorized(reqwest::Client::new().post(&url))
                .json(&serde_json::json!({ "nome": name }))
                .send()
                .await
                .with_context(|| format!("calling {url}"))?;
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            println!("{body}");
            if !status.is_success() {
                anyhow::bail!("the backup was refused: HTTP {status}");
            }
            Ok(())
        }
        StoreCommand::Upgrade { dir, batch } => {
            let cache_mb = varco::config::settings::StoreConfig::default().cache_mb;
            let upgraded = tokio::task::spawn_blocking(move || {
                let store = varco::store::sled::Sled::open(&dir, cache_mb)?;
                let before = store.size_on_disk()?;
                let done = store.upgrade_positions(batch, &mut |u| {
                    eprintln!(
                        "upgrade: {} positions read, {} converted",
                        u.positions, u.converted
                    );
                })?;
                store.flush_blocking()?;
                Ok::<_, varco::store::StoreError>((done, before, store.size_on_disk()?))
            })
            .await?
            .context("upgrading the store")?;
            let (done, before, after) = upgraded;
            println!(
                "positions={} converted={} bytes_before={} bytes_after={} store_bytes_before={before} store_bytes_after={after}",
                done.positions, done.converted, done.bytes_before, done.bytes_after
            );
            Ok(())
        }
        StoreCommand::Tally { store } => {
            let store = Store::connect(&store_at(&store))
                .await
                .context("opening the store")?;
            for line in store.tally().await?.lines() {
                println!("{line}");
            }
            Ok(())
        }
    }
}

/// Sends an operator's backoffice call, prints the answer as it came (amounts keep their two
/// decimals: no float on the way), fails on an HTTP error.
async fn backoffice_call(
    operator: &varco::cli::OperatorApi,
    req: reqwest::RequestBuilder,
) -> anyhow::Result<()> {
    let resp = operator.authorized(req).send().await?;
    let status = resp.status();
    println!("{}", resp.text().await.unwrap_or_default());
    anyhow::ensure!(status.is_success(), "the gateway answered HTTP {status}");
    Ok(())
}
