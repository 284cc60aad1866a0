//! `aegis ls`: who is running, from the registry and from `$SRV.PING`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aegis::Backend;
use aegis::registry::KvServiceRegistry;
use serde::Serialize;

use crate::control;
use crate::output::{Table, age, or_dash, print_json};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Only this service
    service: Option<String>,
    /// Print JSON (an array of instances) instead of a table
    #[arg(long)]
    json: bool,
    /// How long to wait for `$SRV.PING` answers, in seconds
    #[arg(long, value_name = "SECS", default_value = "1", value_parser = crate::seconds)]
    wait: Duration,
    /// The registry TTL: an entry whose heartbeat is older is shown as not alive
    #[arg(long, value_name = "SECS", default_value = "30", value_parser = crate::seconds)]
    ttl: Duration,
}

/// One instance, as the registry and the control plane know it.
#[derive(Debug, Serialize)]
struct Instance {
    service: String,
    instance: String,
    version: Option<String>,
    /// ACTIVE, STANDBY or UNHEALTHY, as registered; `None` if not in the registry.
    status: Option<String>,
    /// Seconds since the last heartbeat.
    heartbeat_age: Option<f64>,
    /// The last heartbeat is within the registry TTL (`--ttl`); `None` if not registered.
    alive: Option<bool>,
    group: Option<String>,
    /// It answered `$SRV.PING` (aegis instances do; Python ones do not).
    srv: bool,
    /// `rust` (aegis) or `python` (an entry without the aegis marker); `None` if unregistered.
    runtime: Option<&'static str>,
}

pub(crate) async fn run(backend: &Backend, args: Args) -> anyhow::Result<()> {
    let registry = KvServiceRegistry::new(backend);
    let (registered, pings) = tokio::join!(
        async {
            match &args.service {
                Some(service) => registry.list_instances(service).await,
                None => registry.list_all().await,
            }
        },
        control::gather(backend, "PING", args.service.as_deref(), args.wait)
    );
    let now = SystemTime::now();
    let mut instances = BTreeMap::new();
    for entry in registered? {
        let heartbeat_age = entry
            .last_heartbeat_at()
            .map(|at| now.duration_since(at).unwrap_or_default().as_secs_f64());
        let runtime = if entry.is_rust() { "rust" } else { "python" };
        let alive = entry.is_alive(now, args.ttl);
        let status = serde_json::to_value(entry.status)?
            .as_str()
            .map(str::to_owned);
        instances.insert(
            (entry.service_name.clone(), entry.instance_id.clone()),
            Instance {
                service: entry.service_name,
                instance: entry.instance_id,
                version: Some(entry.version),
                status,
                heartbeat_age,
                alive: Some(alive),
                group: entry.sticky_active_group,
                srv: false,
                runtime: Some(runtime),
            },
        );
    }
    for answer in pings? {
        let Some((name, id)) = control::name_and_id(&answer) else {
            continue;
        };
        let instance = instances
            .entry((name.to_owned(), id.to_owned()))
            .or_insert_with(|| Instance {
                service: name.to_owned(),
                instance: id.to_owned(),
                version: answer["version"].as_str().map(str::to_owned),
                status: None,
                heartbeat_age: None,
                alive: None,
                group: None,
                srv: true,
                runtime: None,
            });
        instance.srv = true;
    }
    let instances: Vec<Instance> = instances.into_values().collect();
    if args.json {
        return print_json(&instances);
    }
    if instances.is_empty() {
        eprintln!("no instances found");
        return Ok(());
    }
    let mut table = Table::new(&[
        "SERVICE",
        "INSTANCE",
        "VERSION",
        "STATUS",
        "HEARTBEAT",
        "ALIVE",
        "GROUP",
        "SRV",
        "RUNTIME",
    ]);
    for i in instances {
        table.row(vec![
            i.service,
            i.instance,
            or_dash(i.version),
            i.status.unwrap_or_else(|| "unregistered".to_owned()),
            or_dash(
                i.heartbeat_age
                    .map(|secs| age(Duration::from_secs_f64(secs))),
            ),
            or_dash(i.alive.map(|alive| if alive { "yes" } else { "no" })),
            or_dash(i.group),
            if i.srv { "yes" } else { "no" }.to_owned(),
            or_dash(i.runtime),
        ]);
    }
    table.print();
    Ok(())
}
