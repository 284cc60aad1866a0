//! The conformance suite on the in-memory adapters.

mod bus {
    aegis::bus_conformance_tests!(aegis::adapters::memory::MemoryBus::new());
}

mod kv {
    aegis::kv_conformance_tests!(aegis::adapters::memory::MemoryKvBuckets::default());
}

mod streams {
    aegis::streams_conformance_tests!(aegis::adapters::memory::MemoryStreams::default());
}
