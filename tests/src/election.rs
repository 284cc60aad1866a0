//! Leader-election scenarios, run on every backend (`tests/election_memory.rs`,
//! `tests/election_nats.rs`).
//!
//! Every scenario here runs on both backends. In memory they get a backend on a
//! `ManualClock` that nobody advances unless the scenario takes the clock: then no lease
//! expires and no candidate polls by itself, so what happens is driven by the events under
//! test alone. On NATS time is real, and a scenario that moves time takes `None` for the
//! clock and waits for the lease's own timers instead.
//!
//! Memory only, in `tests/election_memory.rs`: a leader paused past its deadline (a jump of the
//! `ManualClock`; on NATS the lease expires on the server's clock, which no test can jump).
//! NATS only, in `tests/election_nats.rs`: real `order_processor` processes that are killed,
//! paused with SIGSTOP and stopped with SIGTERM, and 16 processes racing.
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use aegis::adapters::memory::ManualClock;
use aegis::election::ElectionState;
use aegis::registry::{InstanceStatus, KvServiceRegistry};
use aegis::{
    Backend, Error, InstanceId, RequestContext, RetryPolicy, RpcError, ServiceBuilder,
    ServiceConfig, ServiceHandle,
};
use futures::future::join_all;

use crate::events::DEADLINE;

/// One exclusive method and one any instance serves.
#[derive(Debug)]
pub struct Single;

#[aegis::service(name = "single", version = "1.0.0")]
impl Single {
    /// Who served, with which fencing token.
    #[exclusive_rpc]
    async fn work(&self, ctx: &RequestContext) -> Result<(String, u64), RpcError> {
        let token = ctx
            .fencing_token()
            .ok_or_else(|| RpcError::internal("no token"))?;
        Ok((ctx.instance_id().to_string(), token))
    }

    /// Who served.
    #[rpc]
    async fn anyone(&self, ctx: &RequestContext) -> Result<String, RpcError> {
        Ok(ctx.instance_id().to_string())
    }
}

/// The lease of most scenarios.
pub const TTL: Duration = Duration::from_secs(10);

/// Instance `id` with a lease of `ttl`, not registered.
pub fn config(id: &str, ttl: Duration) -> ServiceConfig {
    ServiceConfig::new()
        .instance_id(InstanceId::new(id).unwrap())
        .leader_ttl(ttl)
        .enable_registration(false)
}

/// Starts a [`Single`] instance.
pub async fn start(backend: &Backend, config: ServiceConfig) -> ServiceHandle {
    ServiceBuilder::new(Single)
        .config(config)
        .start(backend)
        .await
        .expect("starts")
}

/// How long 16 racing candidates may take to settle.
pub const SETTLE: Duration = Duration::from_secs(10);

/// Waits until `done` holds, looking again at every leadership change of `handles`; panics
/// after `within` saying `what`.
pub async fn wait_for(
    handles: &[ServiceHandle],
    within: Duration,
    what: &str,
    done: impl Fn() -> bool,
) {
    let mut changes: Vec<_> = handles
        .iter()
        .filter_map(ServiceHandle::leadership_changes)
        .collect();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        // Marked seen before the look: a change after it is not missed.
        for change in &mut changes {
            change.borrow_and_update();
        }
        if done() {
            return;
        }
        // A stopped instance's election never changes again.
        changes.retain(|change| change.has_changed().is_ok());
        let next = async {
            if changes.is_empty() {
                std::future::pending::<()>().await;
            }
            // A closed channel is dropped at the next look.
            let _ = futures::future::select_all(changes.iter_mut().map(|c| Box::pin(c.changed())))
                .await;
        };
        if tokio::time::timeout_at(deadline, next).await.is_err() && !done() {
            panic!("timed out waiting for {what}");
        }
    }
}

/// The instances that hold the lease now.
pub fn leaders(handles: &[ServiceHandle]) -> Vec<String> {
    handles
        .iter()
        .filter(|h| h.is_active())
        .map(|h| h.instance_id().to_string())
        .collect()
}

/// Every instance has decided: it leads, or it is a standby that knows the leader.
pub fn settled(handles: &[ServiceHandle]) -> bool {
    handles.iter().all(|h| {
        h.leadership().is_some_and(|l| {
            l.state != ElectionState::Electing
                && (l.state == ElectionState::Active || l.leader.is_some())
        })
    })
}

/// The fencing token of whoever leads now.
pub fn token_of_leader(handles: &[ServiceHandle]) -> Option<u64> {
    handles
        .iter()
        .find(|h| h.is_active())
        .and_then(|h| h.leadership().and_then(|l| l.token))
}

/// `candidates` instances start at once, spread over `backends` (separate connections on
/// NATS), in each of `rounds` groups: exactly one leads, all agree on which, and only it
/// serves exclusive calls (with its token). Plain calls reach several instances (checked in
/// the first round only: it does not depend on the race, and 64 calls a round cost seconds).
pub async fn exactly_one_of_many_leads_and_only_it_runs_exclusive_calls(
    backends: &[Backend],
    candidates: usize,
    rounds: usize,
) {
    let client = SingleClient::new(&backends[0]);
    for round in 0..rounds {
        let starts = (0..candidates).map(|i| {
            let config =
                config(&format!("r{round}-n{i:02}"), TTL).group_id(format!("round-{round}"));
            start(&backends[i % backends.len()], config)
        });
        let handles = join_all(starts).await;
        wait_for(
            &handles,
            SETTLE,
            &format!("round {round} to settle"),
            || settled(&handles),
        )
        .await;
        let active = leaders(&handles);
        assert_eq!(active.len(), 1, "round {round}: leaders {active:?}");
        let leader = &active[0];
        for h in &handles {
            let seen = h.leadership().and_then(|l| l.leader);
            assert_eq!(
                seen.as_deref(),
                Some(leader.as_str()),
                "round {round}: {} disagrees",
                h.instance_id()
            );
        }
        let token = token_of_leader(&handles).expect("the leader's token");
        for _ in 0..20 {
            let served = client.work().await.expect("exclusive call");
            assert_eq!(served, (leader.clone(), token), "round {round}");
        }
        if round == 0 {
            let mut anyone = HashSet::new();
            for _ in 0..64 {
                anyone.insert(client.anyone().await.expect("call"));
            }
            assert!(anyone.len() > 1, "plain rpc is served by every instance");
        }
        for stopped in join_all(handles.iter().map(ServiceHandle::stop)).await {
            stopped.expect("stops");
        }
    }
}

/// The leader renews `renewals` times (every third of `ttl`: `clock` is advanced by that
/// much, or, without one, real time passes): the same leader throughout, the same token, and
/// a deadline pushed further at every renew.
pub async fn the_leader_renews_and_keeps_its_lease(
    backend: &Backend,
    clock: Option<&ManualClock>,
    ttl: Duration,
    renewals: usize,
) {
    let handles = [
        start(backend, config("a", ttl)).await,
        start(backend, config("b", ttl)).await,
    ];
    wait_for(&handles, DEADLINE, "the election", || settled(&handles)).await;
    let leader = leaders(&handles);
    let token = token_of_leader(&handles).expect("token");
    let deadline = || {
        handles
            .iter()
            .find_map(|h| h.leadership().and_then(|l| l.deadline))
    };
    let mut last = deadline().expect("deadline");
    for _ in 0..renewals {
        if let Some(clock) = clock {
            clock.advance(ttl / 3);
        }
        wait_for(&handles, DEADLINE, "a renew", || deadline() > Some(last)).await;
        assert_eq!(leaders(&handles), leader);
        let now = handles
            .iter()
            .find_map(|h| h.leadership().and_then(|l| l.token));
        assert_eq!(now, Some(token), "the token stays that of the acquisition");
        last = deadline().expect("deadline");
    }
    for handle in handles {
        handle.stop().await.expect("stops");
    }
}

/// A leader's graceful stop releases the lease: the standby takes over well before the lease
/// would have expired (on a `ManualClock` backend without the clock moving at all).
pub async fn graceful_stop_hands_over_without_waiting_for_the_ttl(backend: &Backend) {
    let handles = [
        start(backend, config("a", TTL)).await,
        start(backend, config("b", TTL)).await,
    ];
    wait_for(&handles, DEADLINE, "the election", || settled(&handles)).await;
    let (leader, standby): (Vec<_>, Vec<_>) = handles.iter().cloned().partition(|h| h.is_active());
    let stopped_at = backend.clock().now();
    leader[0].stop().await.expect("stops");
    wait_for(&standby, DEADLINE, "the standby to take over", || {
        standby[0].is_active()
    })
    .await;
    let waited = backend.clock().now() - stopped_at;
    assert!(waited < TTL, "handover after {waited:?}");
    let (who, _) = SingleClient::new(backend).work().await.expect("served");
    assert_eq!(who, standby[0].instance_id().as_str());
    standby[0].stop().await.expect("stops");
}

/// An exclusive call sent to a standby's own subject is answered NOT_ACTIVE.
pub async fn a_standby_answers_not_active_on_its_own_subject(backend: &Backend) {
    let handles = [
        start(backend, config("a", TTL)).await,
        start(backend, config("b", TTL)).await,
    ];
    wait_for(&handles, DEADLINE, "the election", || settled(&handles)).await;
    let standby = handles.iter().find(|h| !h.is_active()).expect("a standby");
    let subject = format!("rpc.single.work.{}", standby.instance_id());
    let reply = backend
        .bus()
        .request(
            aegis::ports::Message::new(subject, br#"{"method":"work"}"#.to_vec()),
            Duration::from_secs(5),
        )
        .await
        .expect("a reply");
    let response: serde_json::Value = serde_json::from_slice(&reply.payload).expect("json");
    assert_eq!(response["success"], false);
    assert!(
        response["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("NOT_ACTIVE")),
        "{response}"
    );
    for handle in handles {
        handle.stop().await.expect("stops");
    }
}

/// With no instance at all, an exclusive call fails with no responders after its retries.
pub async fn without_a_leader_exclusive_calls_fail_after_the_retries(backend: &Backend) {
    let client = SingleClient::new(backend).with_retry(RetryPolicy {
        max_attempts: 3,
        initial_delay_ms: 1,
        max_delay_ms: 2,
        ..RetryPolicy::default()
    });
    assert!(matches!(
        client.work().await,
        Err(Error::NoResponders { .. })
    ));
}

/// A lease under the minimum is refused at start, naming the setting.
pub async fn bad_election_timing_is_refused(backend: &Backend) {
    let config = ServiceConfig::new().leader_ttl(Duration::from_millis(100));
    match ServiceBuilder::new(Single)
        .config(config)
        .start(backend)
        .await
    {
        Err(Error::Invalid { what, message }) => {
            assert_eq!(what, "election config");
            assert!(message.contains("leader_ttl"), "{message}");
        }
        other => panic!("expected an election config error, got {other:?}"),
    }
}

/// Registered instances show ACTIVE or STANDBY and their group as soon as the election
/// decides; a stopped leader is gone from the registry, not re-registered by its release.
pub async fn the_registry_shows_active_and_standby_and_forgets_a_stopped_leader(backend: &Backend) {
    let config = |id: &str| config(id, TTL).enable_registration(true).group_id("main");
    let handles = [
        start(backend, config("a")).await,
        start(backend, config("b")).await,
    ];
    wait_for(&handles, DEADLINE, "the election", || settled(&handles)).await;
    let registry = KvServiceRegistry::new(backend);
    let statuses = || async {
        registry
            .list_instances("single")
            .await
            .expect("list")
            .into_iter()
            .map(|i| (i.instance_id, i.status, i.sticky_active_group))
            .collect::<Vec<_>>()
    };
    let leader = handles.iter().find(|h| h.is_active()).expect("leader");
    let expected = |id: &str| {
        if id == leader.instance_id().as_str() {
            InstanceStatus::Active
        } else {
            InstanceStatus::Standby
        }
    };
    let deadline = Instant::now() + DEADLINE;
    let now = loop {
        let now = statuses().await;
        if now.len() == 2 && now.iter().all(|(id, status, _)| *status == expected(id)) {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the registry never showed the election's outcome: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await; // polling interval
    };
    for (id, status, group) in &now {
        assert_eq!(*status, expected(id), "{id}");
        assert_eq!(group.as_deref(), Some("main"));
    }
    leader.stop().await.expect("stops");
    let left: Vec<String> = statuses().await.into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(
        left.len(),
        1,
        "the stopped leader is not re-registered by its release: {left:?}"
    );
    assert_ne!(left[0], leader.instance_id().as_str());
    for handle in &handles {
        handle.stop().await.expect("stops");
    }
}

/// `aegis::election::leader` and `watch_leader`, as an operator's tool uses them: nothing
/// (and no bucket made) before any election; the leader and its token once elected, the same
/// token after a renewal (written into the lease then); a graceful handover seen as it
/// happens, with a larger token. `clock` moves the renewal in memory; on NATS the lease of
/// `ttl` renews by itself.
pub async fn outsiders_see_the_leader_and_follow_a_handover(
    backend: &Backend,
    clock: Option<&ManualClock>,
    ttl: Duration,
) {
    use aegis::election::{leader, leaders as all_leaders, watch_leader};
    use futures::StreamExt;

    let service = <Single as aegis::Service>::NAME;
    assert_eq!(leader(backend, service, "default").await.unwrap(), None);
    assert!(all_leaders(backend, service).await.unwrap().is_empty());
    let unwatchable = watch_leader(backend, service, "default").await.err();
    assert!(
        matches!(unwatchable, Some(Error::Invalid { .. })),
        "{unwatchable:?}"
    );

    let handles = [
        start(backend, config("a", ttl)).await,
        start(backend, config("b", ttl)).await,
    ];
    wait_for(&handles, DEADLINE, "the election", || settled(&handles)).await;
    let first = leaders(&handles).remove(0);
    let token = token_of_leader(&handles).expect("token");
    let seen = leader(backend, service, "default")
        .await
        .unwrap()
        .expect("a leader");
    assert_eq!(
        (seen.instance_id.as_str(), seen.token),
        (first.as_str(), token)
    );
    assert_eq!(
        all_leaders(backend, service).await.unwrap(),
        std::slice::from_ref(&seen)
    );

    let mut changes = Box::pin(watch_leader(backend, service, "default").await.unwrap());
    let now = tokio::time::timeout(DEADLINE, changes.next())
        .await
        .unwrap();
    assert_eq!(
        now.unwrap().unwrap().map(|l| l.instance_id),
        Some(first.clone())
    );

    // A renewal moves the revision; the token read from outside stays.
    let deadline = || {
        handles
            .iter()
            .find_map(|h| h.leadership().and_then(|l| l.deadline))
    };
    let before = deadline();
    if let Some(clock) = clock {
        clock.advance(ttl / 3);
    }
    wait_for(&handles, DEADLINE, "a renew", || deadline() > before).await;
    let renewed = leader(backend, service, "default")
        .await
        .unwrap()
        .expect("a leader");
    assert!(
        renewed.revision > seen.revision,
        "{renewed:?} after {seen:?}"
    );
    assert_eq!(
        (renewed.instance_id.as_str(), renewed.token),
        (first.as_str(), token)
    );

    let (leading, standby): (Vec<_>, Vec<_>) = handles.iter().cloned().partition(|h| h.is_active());
    leading[0].stop().await.expect("stops");
    let successor = tokio::time::timeout(DEADLINE, async {
        loop {
            // Renewals are not changes: the next item is a release or a new leader.
            let change = changes.next().await.expect("the watch goes on").unwrap();
            if let Some(next) = change {
                return next;
            }
        }
    })
    .await
    .expect("the handover is seen");
    assert_eq!(successor.instance_id, standby[0].instance_id().as_str());
    assert!(successor.token > token, "{successor:?} after token {token}");
    standby[0].stop().await.expect("stops");
}
