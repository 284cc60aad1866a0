//! In-memory persistent streams (to be written: see issue 4).

use std::sync::Arc;

use crate::Result;
use crate::ports::{
    BoxFuture, Clock, ConsumerConfig, Deliveries, Message, PendingAck, StreamConfig, Streams,
};

/// In-memory streams with JetStream semantics.
pub struct MemoryStreams {
    #[allow(dead_code)]
    clock: Arc<dyn Clock>,
}

impl MemoryStreams {
    /// Empty streams on `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        MemoryStreams { clock }
    }
}

impl Streams for MemoryStreams {
    fn ensure_stream(&self, _config: StreamConfig) -> BoxFuture<'_, Result<()>> {
        todo!()
    }
    fn publish(&self, _message: Message) -> BoxFuture<'_, Result<PendingAck>> {
        todo!()
    }
    fn consume(&self, _stream: &str, _config: ConsumerConfig) -> BoxFuture<'_, Result<Deliveries>> {
        todo!()
    }
    fn delete_consumer<'a>(
        &'a self,
        _stream: &'a str,
        _name: &'a str,
    ) -> BoxFuture<'a, Result<()>> {
        todo!()
    }
    fn stream_len<'a>(&'a self, _stream: &'a str) -> BoxFuture<'a, Result<u64>> {
        todo!()
    }
}
