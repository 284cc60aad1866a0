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

use crate::domain::subject::{inbox_subject, subject_matches, validate_subject};
use crate::ports::{BoxFuture, Message, MessageBus, MessageSource, Subscription};
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
        // A reply goes to its waiting request and, as on NATS, to any subscriber matching it.
        let mut reached = 0;
        if let Some(inbox) = table.inboxes.remove(&message.subject) {
            reached += usize::from(inbox.send(message.clone()).is_ok());
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
        reached += chosen.len();
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
        let mut table = self.table();
        let Some(position) = table.subscriptions.iter().position(|s| s.id == id) else {
            return;
        };
        let removed = table.subscriptions.remove(position);
        // Forget the round-robin cursor of a group that has no members left.
        if let Some(group) = removed.queue_group {
            let still_used = table
                .subscriptions
                .iter()
                .any(|s| s.queue_group.as_deref() == Some(group.as_str()));
            if !still_used {
                table.cursors.remove(&group);
            }
        }
    }
}

impl MessageBus for MemoryBus {
    fn publish(&self, message: Message) -> BoxFuture<'_, Result<()>> {
        let result = validate_subject(&message.subject, false)
            .and_then(|()| message.headers.validate())
            .map(|()| {
                self.deliver(message);
            });
        Box::pin(async move { result })
    }

    fn request(&self, mut message: Message, timeout: Duration) -> BoxFuture<'_, Result<Message>> {
        Box::pin(async move {
            validate_subject(&message.subject, false)?;
            message.headers.validate()?;
            let (inbox, reply) = {
                let mut table = self.table();
                table.next_id += 1;
                let inbox = inbox_subject("memory", table.next_id);
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
            Subscription::drainable(Receiver {
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

impl MessageSource for Receiver {
    /// Removing the subscriber drops the channel's only sender: the receiver then yields
    /// what is queued and ends.
    fn drain(&mut self) -> BoxFuture<'_, ()> {
        self.bus.unsubscribe(self.id);
        Box::pin(async {})
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.bus.unsubscribe(self.id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::{FutureExt, StreamExt};

    fn drain(sub: &mut Subscription) -> Vec<Message> {
        let mut all = Vec::new();
        // Unconstrained: tokio's coop budget would otherwise make a long drain stop early.
        while let Some(Some(message)) = tokio::task::unconstrained(sub.next()).now_or_never() {
            all.push(message);
        }
        all
    }

    #[tokio::test]
    async fn queue_groups_are_balanced_round_robin() {
        let bus = MemoryBus::new();
        let mut members = Vec::new();
        for _ in 0..3 {
            members.push(bus.subscribe("work", Some("g")).await.unwrap());
        }
        // A wildcard member of the same group shares the group's turns.
        members.push(bus.subscribe("*", Some("g")).await.unwrap());
        for i in 0..400u16 {
            bus.publish(Message::new("work", i.to_be_bytes().to_vec()))
                .await
                .unwrap();
        }
        let counts: Vec<usize> = members.iter_mut().map(|m| drain(m).len()).collect();
        assert_eq!(counts, [100, 100, 100, 100]);
    }

    #[tokio::test]
    async fn replies_also_reach_matching_subscribers() {
        let bus = MemoryBus::new();
        let mut responder = bus.subscribe("svc", None).await.unwrap();
        let mut spy = bus.subscribe("_INBOX.>", None).await.unwrap();
        let serve = async {
            let request = responder.next().await.unwrap();
            let reply = Message::new(request.reply.unwrap(), b"pong".to_vec());
            bus.publish(reply).await.unwrap();
        };
        let (reply, ()) = tokio::join!(
            bus.request(
                Message::new("svc", b"ping".to_vec()),
                Duration::from_secs(5)
            ),
            serve
        );
        assert_eq!(reply.unwrap().payload.as_ref(), b"pong");
        assert_eq!(drain(&mut spy).len(), 1);
        assert!(bus.table().inboxes.is_empty(), "inbox cleaned up");
    }

    #[tokio::test]
    async fn dropping_the_last_member_forgets_the_group() {
        let bus = MemoryBus::new();
        let sub = bus.subscribe("a", Some("g")).await.unwrap();
        bus.publish(Message::new("a", b"x".to_vec())).await.unwrap();
        assert_eq!(bus.table().cursors.len(), 1);
        drop(sub);
        assert!(bus.table().subscriptions.is_empty());
        assert!(bus.table().cursors.is_empty());
        let result = bus
            .request(Message::new("a", b"x".to_vec()), Duration::from_secs(5))
            .await;
        assert_eq!(
            result,
            Err(Error::NoResponders {
                subject: "a".to_owned()
            })
        );
    }

    #[tokio::test]
    async fn a_full_subscriber_drops_messages_without_blocking_others() {
        let bus = MemoryBus::new();
        let mut slow = bus.subscribe("a", None).await.unwrap();
        let mut fast = bus.subscribe("a", None).await.unwrap();
        for _ in 0..SUBSCRIBER_CAPACITY + 10 {
            bus.publish(Message::new("a", Bytes::new())).await.unwrap();
            if let Some(Some(_)) = tokio::task::unconstrained(fast.next()).now_or_never() {
                continue;
            }
            panic!("fast subscriber starved");
        }
        assert_eq!(drain(&mut slow).len(), SUBSCRIBER_CAPACITY);
    }
}
