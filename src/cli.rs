//! The command line: `varco serve | replay | hash-password`.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Varco: a pagoPA paForNode gateway for Enti Creditori.
#[derive(Debug, Parser)]
#[command(name = "varco", version, about)]
pub struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (the embedded demo configuration when no --config is given).
    Serve {
        /// Configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Store directory (overrides store.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Address of the listener pagoPA calls (overrides nodo.listen).
        #[arg(long)]
        nodo_listen: Option<SocketAddr>,
        /// Address of the REST/operations listener (overrides api.listen).
        #[arg(long)]
        api_listen: Option<SocketAddr>,
    },
    /// Send every fixture request under DIR to a running gateway and compare the answers.
    Replay {
        /// Fixture directory (fixtures/soap/<operation>/<case>.request.xml + .response.xml).
        dir: PathBuf,
        /// paForNode endpoint URL.
        #[arg(long, default_value = "http://127.0.0.1:8080/paForNode")]
        url: String,
    },
    /// Print the argon2 hash of a password read from standard input, for applicazioni.password_hash.
    HashPassword,
    /// Payment notices.
    Notice {
        /// What to do.
        #[command(subcommand)]
        command: NoticeCommand,
    },
    /// The store itself: copy a station between engines, back up, tally, upgrade the encoding.
    Store {
        /// What to do.
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// The receipt outbox of a running gateway (through its backoffice API).
    Outbox {
        #[command(flatten)]
        operator: OperatorApi,
        /// What to do.
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Settlement flows of a running gateway (through its backoffice API).
    Fdr {
        #[command(flatten)]
        operator: OperatorApi,
        /// What to do.
        #[command(subcommand)]
        command: FdrCommand,
    },
}

/// The backoffice API of a running gateway, called as an operator.
#[derive(Debug, Args)]
pub struct OperatorApi {
    /// Base URL of the api listener.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub api: String,
    /// Operator user (see `[[operatori]]`).
    #[arg(long, env = "VARCO_OPERATOR")]
    pub user: String,
    /// Operator password.
    #[arg(long, env = "VARCO_OPERATOR_PASSWORD", hide_env_values = true)]
    pub password: String,
}

impl OperatorApi {
    /// The URL of the backoffice resource `path` (e.g. `/outbox`).
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}{}{path}",
            self.api.trim_end_matches('/'),
            crate::api::backoffice::BASE
        )
    }

    /// `request` with the operator's credentials.
    pub fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.basic_auth(&self.user, Some(&self.password))
    }
}

/// `varco notice ...`
#[derive(Debug, Subcommand)]
pub enum NoticeCommand {
    /// Render the PDF notice of a stored position (the gateway must not be running on that store).
    Pdf {
        /// Creditor fiscal code.
        #[arg(long)]
        domain: String,
        /// Notice number (18 digits).
        #[arg(
            long,
            required_unless_present = "document",
            conflicts_with = "document"
        )]
        notice: Option<String>,
        /// A document's identifier: its single payment and instalments on one notice.
        #[arg(long)]
        document: Option<String>,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
        /// Configuration file (the demo when absent).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Store directory (overrides store.data_dir).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// `varco store ...`
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy everything (positions, receipts, attempts, outbox with its state, counters, notices
    /// seen, journal) from one store to another, then compare both, table by table, by count
    /// and checksum. A store is a directory (the embedded engine; no gateway may be running on
    /// it) or a PostgreSQL connection string (`postgres://...` or `host=... dbname=...`); the
    /// password may come from VARCO_STORE_PASSWORD.
    Copy {
        /// The store to read.
        #[arg(long)]
        from: String,
        /// The store to write (migrated first when it is a database).
        #[arg(long)]
        to: String,
        /// Copy into a target that already holds positions or outbox entries.
        #[arg(long)]
        force: bool,
    },
    /// Back up the embedded store of a running gateway without stopping it (through its
    /// backoffice API): a new store in `<store.data_dir>-backups/NAME` holding everything
    /// acknowledged before the call; restore it with `varco serve --data-dir` on it.
    Backup {
        /// The backup's name (`[A-Za-z0-9_-]{1,64}`).
        name: String,
        #[command(flatten)]
        operator: OperatorApi,
    },
    /// Rewrite the positions of an embedded store still held as JSON in the compact binary
    /// format (no gateway may be running on it). Only the encoding changes; interrupted, it is
    /// run again. Prints how many positions it converted and their bytes before and after.
    Upgrade {
        /// The store's directory.
        dir: PathBuf,
        /// Positions read per batch (each batch is flushed before the next is read).
        #[arg(long, default_value_t = 10_000)]
        batch: usize,
    },
    /// Print the count and checksum of every table of a store (as `copy` compares them).
    Tally {
        /// The store: a directory or a PostgreSQL connection string.
        store: String,
    },
}

/// The store a `varco store` argument names: a PostgreSQL connection string, or a directory.
pub fn store_at(spec: &str) -> crate::config::settings::StoreConfig {
    use crate::config::settings::{StoreConfig, StoreEngine};
    let is_database = spec.starts_with("postgres://")
        || spec.starts_with("postgresql://")
        || spec.split_whitespace().any(|kv| kv.contains('='));
    if is_database {
        StoreConfig {
            engine: StoreEngine::Postgres,
            url: Some(spec.into()),
            // A copy's statements are long: no per-call budget worth the name.
            request_budget_ms: 6000,
            statement_timeout_ms: 3_600_000,
            ..StoreConfig::default()
        }
    } else {
        StoreConfig {
            data_dir: PathBuf::from(spec),
            ..StoreConfig::default()
        }
    }
}

/// `varco outbox ...`
#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List entries (pending, failing, dead; all by default), a page at a time.
    List {
        /// pending, failing or dead.
        #[arg(long)]
        stato: Option<String>,
        /// Page, from 1.
        #[arg(long, default_value_t = 1)]
        pagina: usize,
        /// Entries per page (1..200).
        #[arg(long, default_value_t = 25)]
        per_pagina: usize,
    },
    /// Send one entry again now.
    Retry {
        /// Entry id (from `list`).
        id: u64,
    },
}

/// `varco fdr ...`
#[derive(Debug, Subcommand)]
pub enum FdrCommand {
    /// Acquire the flows pagoPA published since the last run, now; prints the run's report.
    Fetch,
    /// Import a `FlussoRiversamento` XML file (a flow from SFTP or downloaded by hand).
    Import {
        /// The file.
        file: PathBuf,
    },
    /// The last acquisition's report and the flows that failed.
    Status,
}
