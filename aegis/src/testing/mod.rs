//! The conformance suite: the contract of every port, as functions any adapter can run.
//!
//! Each function takes the port, panics with a clear message on a violation, and uses its
//! own random subjects and bucket names, so that many can run at once against one server.
//! [`bus_conformance_tests!`](crate::bus_conformance_tests),
//! [`kv_conformance_tests!`](crate::kv_conformance_tests) and
//! [`streams_conformance_tests!`](crate::streams_conformance_tests) expand to one
//! `#[tokio::test]` per function for a given adapter:
//!
//! ```ignore
//! aegis::bus_conformance_tests!(aegis::adapters::memory::MemoryBus::new());
//! aegis::kv_conformance_tests!(aegis::adapters::memory::MemoryKvBuckets::default());
//! aegis::streams_conformance_tests!(aegis::adapters::memory::MemoryStreams::default());
//! ```
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

pub mod bus;
pub mod kv;
pub mod streams;

#[doc(hidden)]
pub use crate::__port;

use std::time::Duration;

/// How long a conformance check waits for something that must happen.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// `prefix` plus a random suffix: a subject token or bucket name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:016x}", rand::random::<u64>())
}

/// What a conformance test runs on: the adapter itself, or a fixture that owns it together with
/// what it needs (a server process, say).
pub trait BusFixture {
    /// The bus under test.
    fn bus(&self) -> &dyn crate::ports::MessageBus;
}

impl<T: crate::ports::MessageBus> BusFixture for T {
    fn bus(&self) -> &dyn crate::ports::MessageBus {
        self
    }
}

/// Like [`BusFixture`], for KV buckets.
pub trait KvFixture {
    /// The buckets under test.
    fn buckets(&self) -> &dyn crate::ports::KvBuckets;
}

impl<T: crate::ports::KvBuckets> KvFixture for T {
    fn buckets(&self) -> &dyn crate::ports::KvBuckets {
        self
    }
}

/// Like [`BusFixture`], for persistent streams.
pub trait StreamsFixture {
    /// The streams under test.
    fn streams(&self) -> &dyn crate::ports::Streams;
}

impl<T: crate::ports::Streams> StreamsFixture for T {
    fn streams(&self) -> &dyn crate::ports::Streams {
        self
    }
}

/// One `#[tokio::test]` per bus conformance function, each on a fresh `$make`
/// (an expression evaluating to a [`BusFixture`]; it may `.await`).
#[macro_export]
macro_rules! bus_conformance_tests {
    ($make:expr) => {
        $crate::__conformance_tests!(bus, bus, $make;
            plain_subscribers_each_get_every_message,
            queue_group_delivers_each_message_to_one_member,
            distinct_queue_groups_each_get_every_message,
            single_token_wildcard,
            multi_token_wildcard,
            request_reply_round_trip,
            no_responders_fails_fast,
            request_times_out,
            dropped_subscription_stops_receiving,
            invalid_subjects_are_rejected,
            invalid_headers_are_rejected,
        );
    };
}

/// One `#[tokio::test]` per KV conformance function, each on a fresh `$make`
/// (an expression evaluating to a [`KvFixture`]; it may `.await`).
#[macro_export]
macro_rules! kv_conformance_tests {
    ($make:expr) => {
        $crate::__conformance_tests!(kv, buckets, $make;
            put_get_and_revisions,
            create_conflicts_on_live_keys,
            update_requires_the_latest_revision,
            delete_requires_the_latest_revision,
            keys_lists_live_keys,
            keys_are_unique_while_written,
            entries_are_the_latest_live_values_by_pattern,
            entries_reads_many_keys,
            star_matches_single_token_keys,
            watch_sees_changes_in_revision_order,
            values_expire_after_max_age,
            expiry_is_announced_when_asked,
            existing_bucket_finds_only_what_exists,
        );
    };
}

/// One `#[tokio::test]` per streams conformance function, each on a fresh `$make`
/// (an expression evaluating to a [`StreamsFixture`]; it may `.await`).
#[macro_export]
macro_rules! streams_conformance_tests {
    ($make:expr) => {
        $crate::__conformance_tests!(streams, streams, $make;
            ensure_stream_is_idempotent,
            publish_acks_increasing_sequences,
            duplicate_msg_ids_are_not_stored,
            publish_to_an_uncaptured_subject_fails,
            start_first_gets_every_message,
            start_new_skips_earlier_messages,
            start_sequence_begins_there,
            start_time_begins_there,
            bindings_of_one_consumer_share_its_messages,
            separate_consumers_each_see_every_message,
            max_ack_pending_caps_unsettled_deliveries,
            unsettled_deliveries_come_again_after_ack_wait,
            nak_redelivers_after_its_delay,
            progress_postpones_redelivery,
            acked_and_terminated_never_come_again,
            work_queue_removes_settled_messages,
            work_queue_consumers_must_not_overlap,
            full_streams_refuse_or_evict_by_retention,
            rebinding_keeps_the_position,
            stop_ends_the_stream_and_unsettled_come_again,
            delete_consumer_forgets_the_position,
            purge_subject_removes_only_that_subject,
            next_message_reads_by_sequence_and_filter,
            delete_message_removes_one_message,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($module:ident, $port:ident, $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let fixture = $make;
                $crate::testing::$module::$name($crate::testing::__port!($port, &fixture)).await;
            }
        )*
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __port {
    (bus, $fixture:expr) => {
        $crate::testing::BusFixture::bus($fixture)
    };
    (buckets, $fixture:expr) => {
        $crate::testing::KvFixture::buckets($fixture)
    };
    (streams, $fixture:expr) => {
        $crate::testing::StreamsFixture::streams($fixture)
    };
}
