//! Events: what `#[subscribe]` handlers receive, and how to publish them.
//!
//! An event is the AegisSDK `Event` envelope on `events.{domain}.{event_type}`, stored in
//! the `EVENTS` stream. Subscriptions are durable consumers of that stream: in
//! [`SubscriptionMode::Compete`] each event goes to one instance of the service, in
//! [`SubscriptionMode::Broadcast`] to every instance.

pub(crate) mod call;
mod event;
pub(crate) mod publisher;
pub(crate) mod subscriber;

pub use call::EventArg;
pub use event::{Event, SubscriptionMode};
pub use publisher::{EventPublisher, Topic};
pub use subscriber::EventConfig;
