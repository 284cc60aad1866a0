//! Ports: the small traits every backend implements. They depend on nothing transport-specific.
//!
//! Each trait carries the minimum contract; the same conformance suite
//! ([`crate::testing`], feature `testing`) runs against every adapter.

mod bus;
mod clock;
mod future;
mod kv;
mod metrics;
mod streams;

pub use bus::{Headers, Message, MessageBus, MessageSource, ServerInfo, Subscription};
pub use clock::{Clock, SystemClock};
pub use future::BoxFuture;
pub use kv::{BucketConfig, KvBuckets, KvEntry, KvOperation, KvStore, KvWatch};
pub use metrics::{CounterSeries, Labels, Metrics, NoMetrics, ValueSeries};
pub use streams::{
    AckKind, Acker, ConsumerConfig, Deliveries, Delivery, DeliveryInfo, DeliverySource,
    MSG_ID_HEADER, PendingAck, PubAck, Retention, StartAt, StoredMessage, StreamConfig, Streams,
};
