//! `aegis`: the operator's command line for a fleet of aegis services on NATS.
//!
//! Tables for people, `--json` for scripts. Connection settings are the library's
//! (`NATS_URL`, `NATS_CREDS`, `NATS_CONTEXT`, ...; see `NatsOptions::from_env`). Exit codes:
//! 0 done, 1 the operation failed (the reason on stderr), 2 a usage error.

mod call;
mod commands;
mod connection;
mod control;
mod dlq;

mod events;
mod info;
mod leader;
mod ls;
mod output;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// List, call, watch and repair the services of an aegis fleet on NATS.
#[derive(Debug, Parser)]
#[command(name = "aegis", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    connection: connection::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Instances from the registry and `$SRV.PING`: status, heartbeat age, group, `$SRV`
    Ls(ls::Args),
    /// A service's methods, kinds, subjects and statistics (`$SRV.INFO`, `$SRV.STATS`)
    Info(info::Args),
    /// Call SERVICE.METHOD with JSON parameters; prints the result as JSON
    Call(call::Args),
    /// Who leads a single-active service: instance, fencing token, lease age
    Leader(leader::Args),
    /// Tail or publish events
    #[command(subcommand)]
    Events(events::Command),
    /// Send commands and follow their progress
    #[command(subcommand)]
    Commands(commands::Command),
    /// Dead letters: list, show, replay or purge (stream `DEAD_LETTERS`)
    #[command(subcommand)]
    Dlq(dlq::Command),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&anyhow::anyhow!("cannot start the runtime: {error}")),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let backend = cli.connection.connect().await?;
    match cli.command {
        Command::Ls(args) => ls::run(&backend, args).await,
        Command::Info(args) => info::run(&backend, args).await,
        Command::Call(args) => call::run(&backend, args).await,
        Command::Leader(args) => leader::run(&backend, args).await,
        Command::Events(command) => events::run(&backend, command).await,
        Command::Commands(command) => commands::run(&backend, command).await,
        Command::Dlq(command) => dlq::run(&backend, command).await,
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

/// Parses a duration in seconds (`5`, `0.5`).
fn seconds(value: &str) -> Result<Duration, String> {
    let secs: f64 = value
        .parse()
        .map_err(|_| format!("`{value}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{value}` is not a duration"))
}

/// Splits `SERVICE.NAME` at its last dot (service names may hold dots, method names not).
fn target(value: &str) -> Result<(String, String), String> {
    match value.rsplit_once('.') {
        Some((service, name)) if !service.is_empty() && !name.is_empty() => {
            Ok((service.to_owned(), name.to_owned()))
        }
        _ => Err(format!("`{value}` is not SERVICE.NAME")),
    }
}

/// Parses a JSON argument.
fn json(value: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(value).map_err(|error| format!("not JSON: {error}"))
}
