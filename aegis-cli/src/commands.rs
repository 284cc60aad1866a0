//! `aegis commands send SERVICE.COMMAND JSON`: a live progress bar; Ctrl-C cancels.

use std::time::Duration;

use aegis::commands::{CommandHandle, CommandOptions, CommandUpdate, Priority};
use aegis::{Backend, ClientCore};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::output::print_json;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Send a command, follow its progress, print its result as JSON
    Send(SendArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct SendArgs {
    /// The command: SERVICE.COMMAND
    #[arg(value_name = "SERVICE.COMMAND", value_parser = crate::target)]
    target: (String, String),
    /// The payload, as JSON
    #[arg(value_name = "JSON", default_value = "{}", value_parser = crate::json)]
    payload: Value,
    /// Its priority
    #[arg(long, value_enum, default_value = "normal")]
    priority: Level,
    /// How long the handler may run, in seconds
    #[arg(long, value_name = "SECS", value_parser = crate::seconds)]
    timeout: Option<Duration>,
    /// Do not wait: print the command id and exit once it is stored
    #[arg(long)]
    no_wait: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Level {
    Low,
    Normal,
    High,
    Critical,
}

pub(crate) async fn run(backend: &Backend, command: Command) -> anyhow::Result<()> {
    let Command::Send(args) = command;
    let (service, name) = args.target;
    // Both are named for the client's whole life; this process sends one command.
    let service: &'static str = Box::leak(service.into_boxed_str());
    let name: &'static str = Box::leak(name.into_boxed_str());
    let mut options = CommandOptions::new().priority(match args.priority {
        Level::Low => Priority::Low,
        Level::Normal => Priority::Normal,
        Level::High => Priority::High,
        Level::Critical => Priority::Critical,
    });
    if let Some(timeout) = args.timeout {
        options = options.timeout(timeout);
    }
    let mut client = ClientCore::new(backend, service);
    client.set_source("aegis-cli");
    client.set_command_options(options);
    let handle: CommandHandle<Value> = client.send_command(name, &args.payload).await?;
    if args.no_wait {
        println!("{}", handle.id());
        return Ok(());
    }
    follow(handle).await
}

async fn follow(mut handle: CommandHandle<Value>) -> anyhow::Result<()> {
    let bar = ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] [{bar:40}] {pos:>3}% {msg}",
    )?);
    bar.set_message(format!("command {} queued", handle.id()));
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut cancelled = false;
    loop {
        let update = tokio::select! {
            update = handle.next() => update,
            _ = tokio::signal::ctrl_c(), if !cancelled => {
                cancelled = true;
                bar.set_message("cancelling");
                handle.cancel().await?;
                continue;
            }
        };
        match update {
            Some(CommandUpdate::Progress(progress)) => {
                bar.set_position(progress.percent.clamp(0.0, 100.0).round() as u64);
                bar.set_message(progress.message);
            }
            Some(CommandUpdate::Retrying(error)) => bar.set_message(format!("retrying: {error}")),
            Some(CommandUpdate::Finished(Ok(result))) => {
                bar.finish_and_clear();
                return print_json(&result);
            }
            Some(CommandUpdate::Finished(Err(error))) => {
                bar.abandon();
                anyhow::bail!("command {}: {error}", handle.id());
            }
            None => {
                bar.abandon();
                anyhow::bail!("command {}: no outcome arrived", handle.id());
            }
        }
    }
}
