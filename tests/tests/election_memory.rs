//! Leader-election scenarios in memory on a `ManualClock` (the same ones run on NATS), and
//! what only a manual clock can do: pause a leader past its deadline.

use std::sync::Arc;

use aegis::Backend;
use aegis::adapters::memory::{ManualClock, MemoryBus, MemoryKvBuckets};
use aegis_tests::election::{
    self, SingleClient, TTL, config, leaders, settled, start, token_of_leader, wait_for,
};
use aegis_tests::events::DEADLINE;

/// A backend whose KV and election time is `clock`.
fn on(clock: &ManualClock) -> Backend {
    let clock: Arc<dyn aegis::ports::Clock> = Arc::new(clock.clone());
    Backend::from_parts(
        Arc::new(MemoryBus::new()),
        Arc::new(MemoryKvBuckets::new(Arc::clone(&clock))),
        clock,
    )
}

#[tokio::test]
async fn exactly_one_of_sixteen_leads_and_only_it_runs_exclusive_calls_in_each_of_100_rounds() {
    let backend = on(&ManualClock::new());
    election::exactly_one_of_many_leads_and_only_it_runs_exclusive_calls(&[backend], 16, 100).await;
}

/// Ten lease lengths, one renew interval at a time.
#[tokio::test]
async fn the_leader_renews_and_keeps_its_lease() {
    let clock = ManualClock::new();
    election::the_leader_renews_and_keeps_its_lease(&on(&clock), Some(&clock), TTL, 30).await;
}

#[tokio::test]
async fn graceful_stop_hands_over_without_waiting_for_the_ttl() {
    election::graceful_stop_hands_over_without_waiting_for_the_ttl(&on(&ManualClock::new())).await;
}

#[tokio::test]
async fn a_standby_answers_not_active_on_its_own_subject() {
    election::a_standby_answers_not_active_on_its_own_subject(&on(&ManualClock::new())).await;
}

#[tokio::test]
async fn without_a_leader_exclusive_calls_fail_after_the_retries() {
    election::without_a_leader_exclusive_calls_fail_after_the_retries(&on(&ManualClock::new()))
        .await;
}

#[tokio::test]
async fn bad_election_timing_is_refused() {
    election::bad_election_timing_is_refused(&Backend::in_memory()).await;
}

#[tokio::test]
async fn the_registry_shows_active_and_standby_and_forgets_a_stopped_leader() {
    election::the_registry_shows_active_and_standby_and_forgets_a_stopped_leader(&on(
        &ManualClock::new(),
    ))
    .await;
}

/// Time jumps past the whole lease at once (a pause, from the leader's point of view): the
/// leader refuses exclusive work before any task runs, and whoever wins next holds a higher
/// token. Memory only: on NATS the lease expires on the server's clock (see the SIGSTOP test
/// in `election_nats.rs`).
#[tokio::test]
async fn a_paused_leader_fences_itself_and_a_successor_takes_a_higher_token() {
    let clock = ManualClock::new();
    let backend = on(&clock);
    let handles = [
        start(&backend, config("a", TTL)).await,
        start(&backend, config("b", TTL)).await,
        start(&backend, config("c", TTL)).await,
    ];
    wait_for(&handles, DEADLINE, "the election", || settled(&handles)).await;
    let old = handles
        .iter()
        .find(|h| h.is_active())
        .expect("a leader")
        .clone();
    let old_token = old.leadership().and_then(|l| l.token).expect("token");

    clock.advance(TTL * 2);
    assert!(
        !old.is_active(),
        "past its deadline the leader fences itself at once"
    );

    // The old leader may win again, once it has stepped down and campaigned.
    wait_for(&handles, DEADLINE, "a new lease", || {
        leaders(&handles).len() == 1 && token_of_leader(&handles) > Some(old_token)
    })
    .await;
    let new = handles.iter().find(|h| h.is_active()).expect("a leader");
    let new_token = token_of_leader(&handles).expect("token");
    assert!(
        new_token > old_token,
        "fencing tokens increase: {old_token} → {new_token}"
    );
    let (who, token) = SingleClient::new(&backend).work().await.expect("served");
    assert_eq!(
        (who.as_str(), token),
        (new.instance_id().as_str(), new_token)
    );
    for handle in handles {
        handle.stop().await.expect("stops");
    }
}

#[tokio::test]
async fn outsiders_see_the_leader_and_follow_a_handover() {
    let clock = ManualClock::new();
    election::outsiders_see_the_leader_and_follow_a_handover(&on(&clock), Some(&clock), TTL).await;
}
