//! The NATS micro control plane (ADR-32), asked by scatter-gather: one request to
//! `$SRV.{VERB}[.{service}]`, every instance's answer collected on our own inbox.

use std::time::Duration;

use aegis::Backend;
use aegis::ports::Message;
use futures::StreamExt;
use serde_json::Value;
use tokio::time::Instant;

/// After the first answer, the wait for one more before we stop listening.
const QUIET: Duration = Duration::from_millis(500);

/// Every answer to `$SRV.{verb}` (or `$SRV.{verb}.{service}`) that arrives within `wait`,
/// parsed as JSON; answers that are not JSON are left out.
pub(crate) async fn gather(
    backend: &Backend,
    verb: &str,
    service: Option<&str>,
    wait: Duration,
) -> anyhow::Result<Vec<Value>> {
    let subject = match service {
        Some(service) => format!("$SRV.{verb}.{service}"),
        None => format!("$SRV.{verb}"),
    };
    let inbox = format!("_INBOX.aegis-cli.{}", uuid::Uuid::new_v4().simple());
    let bus = backend.bus();
    let mut replies = bus.subscribe(&inbox, None).await?;
    let mut request = Message::new(subject, Vec::new());
    request.reply = Some(inbox);
    bus.publish(request).await?;
    let deadline = Instant::now() + wait;
    let mut answers = Vec::new();
    loop {
        let until = if answers.is_empty() {
            deadline
        } else {
            deadline.min(Instant::now() + QUIET)
        };
        match tokio::time::timeout_at(until, replies.next()).await {
            Ok(Some(reply)) => {
                if let Ok(answer) = serde_json::from_slice::<Value>(&reply.payload) {
                    answers.push(answer);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    Ok(answers)
}

/// The `name` and `id` of an answer.
pub(crate) fn name_and_id(answer: &Value) -> Option<(&str, &str)> {
    Some((answer["name"].as_str()?, answer["id"].as_str()?))
}
