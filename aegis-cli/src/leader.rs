//! `aegis leader SERVICE`: who leads each single-active group, from the lease itself.

use std::time::SystemTime;

use aegis::Backend;
use aegis::election::{Leader, leader, leaders, watch_leader};
use futures::StreamExt;
use serde::Serialize;

use crate::output::{Table, age, or_dash, print_json, print_json_line};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The single-active service
    service: String,
    /// Only this group [default: every group; `default` with --watch]
    #[arg(long, short, value_name = "G")]
    group: Option<String>,
    /// Keep going: print each change of leader as it happens (Ctrl-C ends)
    #[arg(long, short)]
    watch: bool,
    /// Print JSON (with --watch: one object per line)
    #[arg(long)]
    json: bool,
}

/// A leader as printed: the lease, and how long it has been held.
#[derive(Debug, Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    leader: &'a Leader,
    /// Seconds since the lease was acquired.
    held_for: Option<f64>,
}

fn shown(leader: &Leader) -> Shown<'_> {
    Shown {
        leader,
        held_for: leader
            .held_for(SystemTime::now())
            .map(|held| held.as_secs_f64()),
    }
}

pub(crate) async fn run(backend: &Backend, args: Args) -> anyhow::Result<()> {
    if args.watch {
        return watch(backend, &args).await;
    }
    let found = match &args.group {
        Some(group) => leader(backend, &args.service, group)
            .await?
            .into_iter()
            .collect(),
        None => leaders(backend, &args.service).await?,
    };
    if args.json {
        let shown: Vec<Shown<'_>> = found.iter().map(shown).collect();
        return print_json(&shown);
    }
    if found.is_empty() {
        anyhow::bail!("`{}` has no leader now", args.service);
    }
    let mut table = Table::new(&["GROUP", "LEADER", "TOKEN", "HELD FOR"]);
    for leader in &found {
        table.row(vec![
            leader.group.clone(),
            leader.instance_id.clone(),
            leader.token.to_string(),
            or_dash(leader.held_for(SystemTime::now()).map(age)),
        ]);
    }
    table.print();
    Ok(())
}

async fn watch(backend: &Backend, args: &Args) -> anyhow::Result<()> {
    let group = args.group.as_deref().unwrap_or("default");
    let changes = watch_leader(backend, &args.service, group).await?;
    let mut changes = std::pin::pin!(changes);
    loop {
        let change = tokio::select! {
            change = changes.next() => change,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(change) = change else {
            anyhow::bail!("the watch of `{}` ended", args.service);
        };
        let change = change?;
        match (&change, args.json) {
            (Some(leader), true) => print_json_line(&shown(leader))?,
            (None, true) => print_json_line(&serde_json::json!({
                "service": args.service,
                "group": group,
                "instance_id": null,
            }))?,
            (Some(leader), false) => println!(
                "{group}: {} leads (token {})",
                leader.instance_id, leader.token
            ),
            (None, false) => println!("{group}: no leader"),
        }
    }
}
