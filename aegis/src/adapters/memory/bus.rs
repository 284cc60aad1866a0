//! In-memory message bus with NATS semantics.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::{mpsc, oneshot};

use crate::domain::subject::{subject_matches, validate_subject};
use crate::ports::{BoxFuture, Message, MessageBus, Subscription};
use crate::{Error, Result};

/// Messages a subscriber may have queued before further ones are dropped (NATS "slow
/// consumer" behaviour; nats-server's default pending limit is of this order).
const SUBSCRIBER_CAPACITY: usize = 65_536;

/// A message bus inside one process: queue groups, `*`/`>` wildcards, no-responders and
/// request timeouts as on NATS. Cheap to clone; clones share the bus.
#[derive(Clone, Default)]
pub struct MemoryBus {
    inner: Arc<Mutex<Table>>,
}

impl fmt::Debug for MemoryBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = self.table();
        f.debug_struct("MemoryBus")
            .field("subscriptions", &table.subscriptions.len())
            .field("pending_requests", &table.inboxes.len())
            .finish()
    }
}

#[derive(Default)]
struct Table {
    next_id: u64,
    subscriptions: Vec<Subscriber>,
    /// Reply inboxes of pending requests: the first message wins.
    inboxes: HashMap<String, oneshot::Sender<Message>>,
    /// Round-robin position per queue group.
    cursors: HashMap<String, usize>,
}

struct Subscriber {
    id: u64,
    pattern: String,
    queue_group: Option<String>,
    sender: mpsc::Sender<Message>,
    warned_slow: Arc<AtomicBool>,
}

impl MemoryBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // A panic while holding the lock cannot leave the table inconsistent (every update is
        // a single push/remove), so a poisoned lock is still usable.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Delivers `message`; returns how many subscribers (or inboxes) it reached.
    fn deliver(&self, message: Message) -> usize {
        let mut table = self.table();
        if let Some(inbox) = table.inboxes.remove(&message.subject) {
            return usize::from(inbox.send(message).is_ok());
        }
        let mut plain = Vec::new();
        let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
        for (index, sub) in table.subscriptions.iter().enumerate() {
            if !subject_matches(&sub.pattern, &message.subject) {
                continue;
            }
            match &sub.queue_group {
                None => plain.push(index),
                Some(group) => match groups.iter_mut().find(|(g, _)| g == group) {
                    Some((_, members)) => members.push(index),
                    None => groups.push((group.as_str(), vec![index])),
                },
            }
        }
        let mut chosen = plain;
        let picks: Vec<(String, usize)> = groups
            .into_iter()
            .map(|(group, members)| {
                let cursor = table.cursors.get(group).copied().unwrap_or(0);
                (group.to_owned(), members[cursor % members.len()])
            })
            .collect();
        for (group, index) in picks {
            *table.cursors.entry(group).or_insert(0) += 1;
            chosen.push(index);
        }
        let reached = chosen.len();
        for index in chosen {
            let sub = &table.subscriptions[index];
            if sub.sender.try_send(message.clone()).is_err()
                && !sub.warned_slow.swap(true, Ordering::Relaxed)
            {
                tracing::warn!(subject = %sub.pattern, "slow consumer: dropping messages");
            }
        }
        reached
    }

    fn unsubscribe(&self, id: u64) {
        self.table().subscriptions.retain(|s| s.id != id);
    }
}

impl MessageBus for MemoryBus {
    fn publish(&self, message: Message) -> BoxFuture<'_, Result<()>> {
        let result = validate_subject(&message.subject, false).map(|()| {
            self.deliver(message);
        });
        Box::pin(async move { result })
    }

    fn request(&self, mut message: Message, timeout: Duration) -> BoxFuture<'_, Result<Message>> {
        Box::pin(async move {
            validate_subject(&message.subject, false)?;
            let (inbox, reply) = {
                let mut table = self.table();
                table.next_id += 1;
                let inbox = format!("_INBOX.memory.{}", table.next_id);
                let (tx, rx) = oneshot::channel();
                table.inboxes.insert(inbox.clone(), tx);
                (inbox, rx)
            };
            let guard = InboxGuard {
                bus: self,
                inbox: inbox.clone(),
            };
            let subject = message.subject.clone();
            message.reply = Some(inbox);
            if self.deliver(message) == 0 {
                return Err(Error::NoResponders { subject });
            }
            let outcome = tokio::time::timeout(timeout, reply).await;
            drop(guard);
            match outcome {
                Ok(Ok(reply)) => Ok(reply),
                Ok(Err(_)) => Err(Error::Closed(format!("request to `{subject}` abandoned"))),
                Err(_) => Err(Error::Timeout {
                    subject,
                    after: timeout,
                }),
            }
        })
    }

    fn subscribe(
        &self,
        subject: &str,
        queue_group: Option<&str>,
    ) -> BoxFuture<'_, Result<Subscription>> {
        let result = validate_subject(subject, true).map(|()| {
            let (sender, receiver) = mpsc::channel(SUBSCRIBER_CAPACITY);
            let mut table = self.table();
            table.next_id += 1;
            let id = table.next_id;
            table.subscriptions.push(Subscriber {
                id,
                pattern: subject.to_owned(),
                queue_group: queue_group.map(str::to_owned),
                sender,
                warned_slow: Arc::new(AtomicBool::new(false)),
            });
            Subscription::new(Receiver {
                bus: self.clone(),
                id,
                receiver,
            })
        });
        Box::pin(async move { result })
    }
}

/// Removes a request's inbox however the request ends.
struct InboxGuard<'a> {
    bus: &'a MemoryBus,
    inbox: String,
}

impl Drop for InboxGuard<'_> {
    fn drop(&mut self) {
        self.bus.table().inboxes.remove(&self.inbox);
    }
}

/// A subscription's stream; unsubscribes synchronously when dropped.
struct Receiver {
    bus: MemoryBus,
    id: u64,
    receiver: mpsc::Receiver<Message>,
}

impl Stream for Receiver {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.receiver.poll_recv(cx)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.bus.unsubscribe(self.id);
    }
}
