//! A service that builds reports on command, reporting progress (`command_worker`,
//! `command_sender`).

use std::time::Duration;

use aegis::{CommandContext, RpcError};
use serde::{Deserialize, Serialize};

/// What to build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildReport {
    /// The report's name.
    pub name: String,
    /// How many sections it has (each takes `section_millis`).
    pub sections: u32,
    /// How long one section takes.
    pub section_millis: u64,
}

/// What was built.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The report's name.
    pub name: String,
    /// Sections written.
    pub sections: u32,
    /// The instance that built it.
    pub built_by: String,
    /// Which attempt succeeded.
    pub attempt: u64,
}

/// Builds reports; every instance shares the work.
#[derive(Debug)]
pub struct ReportBuilder;

#[aegis::service(name = "report-builder", version = "1.0.0")]
impl ReportBuilder {
    /// Builds a report section by section, telling the caller how far it is.
    #[command]
    async fn build(&self, ctx: &CommandContext, job: BuildReport) -> Result<Report, RpcError> {
        if job.sections == 0 {
            return Err(RpcError::bad_request("a report needs at least one section"));
        }
        for section in 1..=job.sections {
            tokio::time::sleep(Duration::from_millis(job.section_millis)).await;
            let percent = f64::from(section) * 100.0 / f64::from(job.sections);
            ctx.progress(
                percent,
                format!(
                    "section {section}/{} on {}",
                    job.sections,
                    ctx.instance_id()
                ),
            )
            .await;
        }
        Ok(Report {
            name: job.name,
            sections: job.sections,
            built_by: ctx.instance_id().to_string(),
            attempt: ctx.attempt(),
        })
    }
}
