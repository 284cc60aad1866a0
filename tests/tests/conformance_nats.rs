//! The conformance suite on the NATS adapters, each test against its own nats-server.

use aegis::adapters::nats::{NatsBus, NatsKvBuckets, NatsOptions, NatsStreams};
use aegis::ports::{KvBuckets, MessageBus, Streams};
use aegis::testing::{BusFixture, KvFixture, StreamsFixture};
use aegis_tests::nats_server::NatsServer;

/// A connection and the server it talks to (dropped last, after the connection).
struct Fixture {
    bus: NatsBus,
    buckets: NatsKvBuckets,
    streams: NatsStreams,
    _server: NatsServer,
}

impl Fixture {
    async fn new() -> Self {
        let server = NatsServer::start();
        let (bus, buckets) = NatsOptions::new(server.url())
            .retry_initial_connect(false)
            .connect_parts()
            .await
            .expect("connects");
        Fixture {
            streams: NatsStreams::new(&bus),
            bus,
            buckets,
            _server: server,
        }
    }
}

impl BusFixture for Fixture {
    fn bus(&self) -> &dyn MessageBus {
        &self.bus
    }
}

impl KvFixture for Fixture {
    fn buckets(&self) -> &dyn KvBuckets {
        &self.buckets
    }
}

mod bus {
    aegis::bus_conformance_tests!(super::Fixture::new().await);
}

mod kv {
    aegis::kv_conformance_tests!(super::Fixture::new().await);
}

impl StreamsFixture for Fixture {
    fn streams(&self) -> &dyn Streams {
        &self.streams
    }
}

mod streams {
    aegis::streams_conformance_tests!(super::Fixture::new().await);
}
