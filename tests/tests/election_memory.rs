//! Leader election on the in-memory backend with a manual clock: the same properties as the
//! NATS process tests, deterministic and fast.

use std::sync::Arc;
use std::time::Duration;

use aegis::adapters::memory::{ManualClock, MemoryBus, MemoryKvBuckets};
use aegis::election::ElectionState;
use aegis::{
    Backend, Error, InstanceId, RequestContext, RpcError, ServiceBuilder, ServiceConfig,
    ServiceHandle,
};

struct Single;

#[aegis::service(name = "single", version = "1.0.0")]
impl Single {
    #[exclusive_rpc]
    async fn work(&self, ctx: &RequestContext) -> Result<(String, u64), RpcError> {
        let token = ctx
            .fencing_token()
            .ok_or_else(|| RpcError::internal("no token"))?;
        Ok((ctx.instance_id().to_string(), token))
    }

    #[rpc]
    async fn anyone(&self, ctx: &RequestContext) -> Result<String, RpcError> {
        Ok(ctx.instance_id().to_string())
    }
}

const TTL: Duration = Duration::from_secs(10);

fn backend(clock: &ManualClock) -> Backend {
    let clock: Arc<dyn aegis::ports::Clock> = Arc::new(clock.clone());
    Backend::from_parts(
        Arc::new(MemoryBus::new()),
        Arc::new(MemoryKvBuckets::new(Arc::clone(&clock))),
        clock,
    )
}

async fn start(backend: &Backend, id: &str) -> ServiceHandle {
    let config = ServiceConfig::new()
        .instance_id(InstanceId::new(id).expect("id"))
        .leader_ttl(TTL)
        .enable_registration(false);
    ServiceBuilder::new(Single)
        .config(config)
        .start(backend)
        .await
        .expect("starts")
}

/// Lets spawned tasks run until `check` holds; the manual clock does not move meanwhile.
async fn settle(check: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if check() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("did not settle");
}

fn leaders(handles: &[ServiceHandle]) -> Vec<String> {
    handles
        .iter()
        .filter(|h| h.is_active())
        .map(|h| h.instance_id().to_string())
        .collect()
}

fn settled(handles: &[ServiceHandle]) -> bool {
    handles.iter().all(|h| {
        h.leadership().is_some_and(|l| {
            l.state != ElectionState::Electing
                && (l.state == ElectionState::Active || l.leader.is_some())
        })
    })
}

#[tokio::test]
async fn exactly_one_of_sixteen_leads_and_only_it_runs_exclusive_calls() {
    let clock = ManualClock::new();
    let backend = backend(&clock);
    let mut handles = Vec::new();
    for i in 0..16 {
        handles.push(start(&backend, &format!("node-{i:02}")).await);
    }
    settle(|| settled(&handles)).await;
    let leader = leaders(&handles);
    assert_eq!(leader.len(), 1, "{leader:?}");

    let client = SingleClient::new(&backend);
    for _ in 0..20 {
        let (who, _) = client.work().await.expect("exclusive call");
        assert_eq!(who, leader[0]);
    }
    // Plain methods still go anywhere.
    let mut anyone = std::collections::HashSet::new();
    for _ in 0..64 {
        anyone.insert(client.anyone().await.expect("call"));
    }
    assert!(anyone.len() > 1, "plain rpc is served by every instance");
    for handle in handles {
        handle.stop().await.expect("stops");
    }
}

#[tokio::test]
async fn the_leader_renews_and_keeps_its_lease() {
    let clock = ManualClock::new();
    let backend = backend(&clock);
    let handles = [start(&backend, "a").await, start(&backend, "b").await];
    settle(|| settled(&handles)).await;
    let leader = leaders(&handles);
    let token = handles
        .iter()
        .find_map(|h| h.leadership().and_then(|l| l.token))
        .expect("token");
    // Ten lease lengths, one renew interval at a time: the same leader throughout, the
    // same token, and a deadline pushed further at every renew.
    let deadline = || {
        handles
            .iter()
            .find_map(|h| h.leadership().and_then(|l| l.deadline))
    };
    let mut last = deadline().expect("deadline");
    for _ in 0..30 {
        clock.advance(TTL / 3);
        settle(|| deadline() > Some(last)).await;
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

#[tokio::test]
async fn a_paused_leader_fences_itself_and_a_successor_takes_a_higher_token() {
    let clock = ManualClock::new();
    let backend = backend(&clock);
    let handles = [
        start(&backend, "a").await,
        start(&backend, "b").await,
        start(&backend, "c").await,
    ];
    settle(|| settled(&handles)).await;
    let old = handles
        .iter()
        .find(|h| h.is_active())
        .expect("a leader")
        .clone();
    let old_token = old.leadership().and_then(|l| l.token).expect("token");

    // Time jumps past the whole lease at once (a pause, from the leader's point of view):
    // before any task runs, the old leader already refuses exclusive work.
    clock.advance(TTL * 2);
    assert!(
        !old.is_active(),
        "past its deadline the leader fences itself at once"
    );

    // Whoever wins next (the old leader may, once it has stepped down and campaigned again)
    // holds a new lease with a higher token.
    let token_of_leader = || {
        handles
            .iter()
            .find(|h| h.is_active())
            .and_then(|h| h.leadership().and_then(|l| l.token))
    };
    settle(|| leaders(&handles).len() == 1 && token_of_leader() > Some(old_token)).await;
    let new = handles.iter().find(|h| h.is_active()).expect("a leader");
    let new_token = token_of_leader().expect("token");
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
async fn graceful_stop_hands_over_without_waiting_for_the_ttl() {
    let clock = ManualClock::new();
    let backend = backend(&clock);
    let handles = [start(&backend, "a").await, start(&backend, "b").await];
    settle(|| settled(&handles)).await;
    let (leader, standby): (Vec<_>, Vec<_>) = handles.iter().cloned().partition(|h| h.is_active());
    leader[0].stop().await.expect("stops");
    // No clock movement at all: the release (a delete) alone makes the standby take over.
    settle(|| standby[0].is_active()).await;
    let (who, _) = SingleClient::new(&backend).work().await.expect("served");
    assert_eq!(who, standby[0].instance_id().as_str());
    standby[0].stop().await.expect("stops");
}

#[tokio::test]
async fn a_standby_answers_not_active_on_its_own_subject() {
    let clock = ManualClock::new();
    let backend = backend(&clock);
    let handles = [start(&backend, "a").await, start(&backend, "b").await];
    settle(|| settled(&handles)).await;
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

#[tokio::test]
async fn without_a_leader_exclusive_calls_fail_after_the_retries() {
    let clock = ManualClock::new();
    let backend = backend(&clock);
    let client = SingleClient::new(&backend).with_retry(aegis::RetryPolicy {
        max_attempts: 3,
        initial_delay_ms: 1,
        max_delay_ms: 2,
        ..aegis::RetryPolicy::default()
    });
    assert!(matches!(
        client.work().await,
        Err(Error::NoResponders { .. })
    ));
}

#[tokio::test]
async fn bad_election_timing_is_refused() {
    let backend = Backend::in_memory();
    let config = ServiceConfig::new().leader_ttl(Duration::from_millis(100));
    match ServiceBuilder::new(Single)
        .config(config)
        .start(&backend)
        .await
    {
        Err(Error::Invalid { what, message }) => {
            assert_eq!(what, "election config");
            assert!(message.contains("leader_ttl"), "{message}");
        }
        other => panic!("expected an election config error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_registry_shows_active_and_standby_and_forgets_a_stopped_leader() {
    let clock = ManualClock::new();
    let backend = backend(&clock);
    let config = |id: &str| {
        ServiceConfig::new()
            .instance_id(InstanceId::new(id).expect("id"))
            .leader_ttl(TTL)
            .group_id("main")
    };
    let handles = [
        ServiceBuilder::new(Single)
            .config(config("a"))
            .start(&backend)
            .await
            .expect("starts"),
        ServiceBuilder::new(Single)
            .config(config("b"))
            .start(&backend)
            .await
            .expect("starts"),
    ];
    settle(|| settled(&handles)).await;
    let registry = aegis::registry::KvServiceRegistry::new(&backend);
    let statuses = || async {
        registry
            .list_instances("single")
            .await
            .expect("list")
            .into_iter()
            .map(|i| (i.instance_id, i.status, i.sticky_active_group))
            .collect::<Vec<_>>()
    };
    use aegis::registry::InstanceStatus::{Active, Standby};
    let leader = handles.iter().find(|h| h.is_active()).expect("leader");
    let expected = |id: &str| {
        if id == leader.instance_id().as_str() {
            Active
        } else {
            Standby
        }
    };
    // The status is written as soon as the election decides.
    for _ in 0..10_000 {
        if statuses()
            .await
            .iter()
            .all(|(id, status, _)| *status == expected(id))
        {
            break;
        }
        tokio::task::yield_now().await;
    }
    let now = statuses().await;
    assert_eq!(now.len(), 2);
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
