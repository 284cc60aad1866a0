//! Sends one `build` command to `report-builder` and shows its progress live until the
//! result arrives.
//!
//! ```sh
//! cargo run --example command_sender -- --sections 20 --section-ms 250 --priority high
//! ```
//!
//! Reads `NATS_URL` (default `nats://127.0.0.1:4222`).

use aegis::adapters::nats::NatsOptions;
use aegis::commands::{CommandOptions, CommandUpdate, Priority};
use aegis_examples::reports::{BuildReport, ReportBuilderClient};
use indicatif::{ProgressBar, ProgressStyle};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    aegis_examples::init_tracing();
    let mut job = BuildReport {
        name: String::from("quarterly"),
        sections: 20,
        section_millis: 250,
    };
    let mut priority = Priority::Normal;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--sections" => job.sections = value()?.parse()?,
            "--section-ms" => job.section_millis = value()?.parse()?,
            "--name" => job.name = value()?,
            "--priority" => {
                priority = match value()?.as_str() {
                    "low" => Priority::Low,
                    "normal" => Priority::Normal,
                    "high" => Priority::High,
                    "critical" => Priority::Critical,
                    other => return Err(format!("unknown priority `{other}`").into()),
                }
            }
            other => {
                return Err(format!(
                    "unknown argument `{other}` (expected --sections N, --section-ms N, \
                     --name NAME, --priority low|normal|high|critical)"
                )
                .into());
            }
        }
    }
    let backend = NatsOptions::from_env()
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
