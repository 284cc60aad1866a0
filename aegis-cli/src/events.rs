//! `aegis events tail|publish`.

use aegis::events::{EventPublisher, Topic};
use aegis::{Backend, Codec};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::output::{print_json, print_json_line};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Print events as they are published (core NATS: from now on, nothing is acknowledged)
    Tail {
        /// Which: `orders.*`, `orders.>`, `>` (the `events.` prefix is optional)
        #[arg(default_value = ">")]
        pattern: String,
        /// One JSON object per line: subject and envelope
        #[arg(long)]
        json: bool,
    },
    /// Publish an event into the `EVENTS` stream and wait for its acknowledgement
    Publish {
        /// DOMAIN.TYPE (`orders.created`; the `events.` prefix is optional)
        subject: String,
        /// The payload, as JSON
        #[arg(value_name = "JSON", value_parser = crate::json)]
        payload: Value,
        /// Print the acknowledgement as JSON
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(backend: &Backend, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Tail { pattern, json } => tail(backend, &pattern, json).await,
        Command::Publish {
            subject,
            payload,
            json,
        } => publish(backend, &subject, &payload, json).await,
    }
}

fn without_prefix(subject: &str) -> &str {
    subject.strip_prefix("events.").unwrap_or(subject)
}

async fn tail(backend: &Backend, pattern: &str, as_json: bool) -> anyhow::Result<()> {
    let subject = format!("events.{}", without_prefix(pattern));
    let mut events = backend.bus().subscribe(&subject, None).await?;
    // Tests (and scripts) start publishing once this line is out.
    eprintln!("tailing {subject} (Ctrl-C ends)");
    loop {
        let message = tokio::select! {
            message = events.next() => message,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(message) = message else {
            anyhow::bail!("the subscription to {subject} ended");
        };
        let envelope: Value = Codec::detect(&message.payload)
            .decode(&message.payload)
            .unwrap_or_else(
                |_| json!({ "undecodable": String::from_utf8_lossy(&message.payload) }),
            );
        if as_json {
            print_json_line(&json!({ "subject": message.subject, "event": envelope }))?;
        } else {
            let payload = envelope.get("payload").unwrap_or(&envelope);
            println!("{}  {payload}", message.subject);
        }
    }
}

async fn publish(
    backend: &Backend,
    subject: &str,
    payload: &Value,
    as_json: bool,
) -> anyhow::Result<()> {
    let Some((domain, event_type)) = without_prefix(subject).split_once('.') else {
        anyhow::bail!("`{subject}` is not DOMAIN.TYPE");
    };
    let topic = Topic::<Value>::new(domain, event_type)?;
    let publisher = EventPublisher::new(backend)?.with_source("aegis-cli");
    let ack = publisher.publish(&topic, payload).await?;
    if as_json {
        return print_json(&json!({
            "subject": topic.subject(),
            "stream": ack.stream,
            "sequence": ack.sequence,
            "duplicate": ack.duplicate,
        }));
    }
    println!(
        "published {} as {} #{}",
        topic.subject(),
        ack.stream,
        ack.sequence
    );
    Ok(())
}
