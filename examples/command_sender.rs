//! Sends one `build` command to `report-builder` and shows its progress live until the
//! result arrives.
//!
//! ```sh
//! cargo run --example command_sender -- --sections 20 --section-ms 250 --priority high
//! ```
//!
//! Reads `NATS_URL` (default `nats://127.0.0.1:4222`) or `--server URL`; `--help` lists the flags.

use aegis::commands::{CommandOptions, CommandUpdate, Priority};
use aegis_examples::Connection;
use aegis_examples::reports::{BuildReport, ReportBuilderClient};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

/// Sends one `build` command to `report-builder` and shows its progress until it is done.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    connection: Connection,
    /// How many sections the report has
    #[arg(long, value_name = "N", default_value = "20")]
    sections: u32,
    /// How long each section takes to build, in ms
    #[arg(long, value_name = "N", default_value = "250")]
    section_ms: u64,
    /// The report's name
    #[arg(long, default_value = "quarterly")]
    name: String,
    /// The command's priority
    #[arg(long, value_enum, default_value = "normal")]
    priority: Level,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Level {
    Low,
    Normal,
    High,
    Critical,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    aegis_examples::init_tracing();
    let job = BuildReport {
        name: args.name,
        sections: args.sections,
        section_millis: args.section_ms,
    };
    let priority = match args.priority {
        Level::Low => Priority::Low,
        Level::Normal => Priority::Normal,
        Level::High => Priority::High,
        Level::Critical => Priority::Critical,
    };

    let backend = args
        .connection
        .options()
        .name("report-sender")
        .connect()
        .await?;
    let client = ReportBuilderClient::new(&backend)
        .with_command_options(CommandOptions::new().priority(priority));
    let mut handle = client.build(job).await?;
    let bar = ProgressBar::new(100);
    bar.set_style(ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] [{bar:40}] {pos:>3}% {msg}",
    )?);
    bar.set_message(format!("command {} queued", handle.id()));
    while let Some(update) = handle.next().await {
        match update {
            CommandUpdate::Progress(progress) => {
                bar.set_position(progress.percent.round() as u64);
                bar.set_message(progress.message);
            }
            CommandUpdate::Retrying(error) => bar.set_message(format!("retrying: {error}")),
            CommandUpdate::Finished(Ok(report)) => {
                bar.finish_with_message("done");
                println!(
                    "report `{}`: {} sections, built by {} (attempt {})",
                    report.name, report.sections, report.built_by, report.attempt
                );
            }
            CommandUpdate::Finished(Err(error)) => {
                bar.abandon_with_message("failed");
                return Err(error.into());
            }
        }
    }
    Ok(())
}
