//! The `varco` binary: parse the command line, start logging, dispatch.

use anyhow::Context;
use clap::Parser;
use std::io::Read;
use varco::cli::{Cli, Command, LogFormat};
use varco::config::{Config, Overrides};

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VARCO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
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
                varco::nodo::system_clock(),
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
        Command::HashPassword => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password")?;
            let password = password.trim_end_matches(['\r', '\n']);
            println!("{}", varco::config::hash_password(password)?);
            Ok(())
        }
    }
}
