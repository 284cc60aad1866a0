//! Leader-election scenarios on NATS, each against its own nats-server (the same ones run in
//! memory), and real `order_processor` processes that are killed, paused and stopped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aegis::{Backend, RetryPolicy};
use aegis_examples::orders::{AuditEvent, OrderProcessorClient, ProcessOrder, Processed};
use aegis_tests::election;
use aegis_tests::nats_server::NatsServer;
use aegis_tests::process::Running;
use futures::StreamExt;

/// Each candidate on its own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_one_of_sixteen_leads_and_only_it_runs_exclusive_calls_in_each_of_100_rounds() {
    let server = NatsServer::start();
    let mut backends = Vec::new();
    for _ in 0..16 {
        backends.push(server.backend().await);
    }
    election::exactly_one_of_many_leads_and_only_it_runs_exclusive_calls(&backends, 16, 100).await;
}

/// Three lease lengths of 2 s in real time.
#[tokio::test]
async fn the_leader_renews_and_keeps_its_lease() {
    let server = NatsServer::start();
    let ttl = Duration::from_secs(2);
    election::the_leader_renews_and_keeps_its_lease(&server.backend().await, None, ttl, 9).await;
}

/// With a 2 s lease: its renewal comes within a second.
#[tokio::test]
async fn outsiders_see_the_leader_and_follow_a_handover() {
    let server = NatsServer::start();
    let ttl = Duration::from_secs(2);
    election::outsiders_see_the_leader_and_follow_a_handover(&server.backend().await, None, ttl)
        .await;
}

#[tokio::test]
async fn graceful_stop_hands_over_without_waiting_for_the_ttl() {
    let server = NatsServer::start();
    election::graceful_stop_hands_over_without_waiting_for_the_ttl(&server.backend().await).await;
}

#[tokio::test]
async fn a_standby_answers_not_active_on_its_own_subject() {
    let server = NatsServer::start();
    election::a_standby_answers_not_active_on_its_own_subject(&server.backend().await).await;
}

#[tokio::test]
async fn without_a_leader_exclusive_calls_fail_after_the_retries() {
    let server = NatsServer::start();
    election::without_a_leader_exclusive_calls_fail_after_the_retries(&server.backend().await)
        .await;
}

#[tokio::test]
async fn bad_election_timing_is_refused() {
    let server = NatsServer::start();
    election::bad_election_timing_is_refused(&server.backend().await).await;
}

#[tokio::test]
async fn the_registry_shows_active_and_standby_and_forgets_a_stopped_leader() {
    let server = NatsServer::start();
    election::the_registry_shows_active_and_standby_and_forgets_a_stopped_leader(
        &server.backend().await,
    )
    .await;
}

const TTL_MS: u64 = 2000;

struct Cluster {
    server: NatsServer,
    processes: HashMap<String, Running>,
}

impl Cluster {
    fn start(ids: &[&str], extra: &[&str]) -> Self {
        let server = NatsServer::start();
        let mut processes = HashMap::new();
        for id in ids {
            let ttl = TTL_MS.to_string();
            let mut args = vec!["--instance-id", id, "--leader-ttl-ms", ttl.as_str()];
            args.extend_from_slice(extra);
            let (process, _) = Running::start("order_processor", &server.url(), &args);
            processes.insert((*id).to_owned(), process);
        }
        Cluster { server, processes }
    }
}

fn client(backend: &Backend) -> OrderProcessorClient {
    OrderProcessorClient::new(backend)
        .with_timeout(Duration::from_millis(500))
        .with_retry(RetryPolicy {
            max_attempts: 200,
            initial_delay_ms: 10,
            max_delay_ms: 50,
            ..RetryPolicy::default()
        })
}

/// The first order, which finds the leader: given 5 s, since the three processes have just
/// started (beside the other tests' processes on two cores), and what is measured comes after.
async fn first_order(client: &OrderProcessorClient) -> Processed {
    order(&client.clone().with_timeout(Duration::from_secs(5)), "o-1").await
}

/// One order. A call ends by its client's 500 ms deadline, retries included: one that found
/// no leader yet is made again, for up to 5 s.
async fn order(client: &OrderProcessorClient, id: &str) -> Processed {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let attempt = client
            .process_order(ProcessOrder {
                order_id: id.to_owned(),
            })
            .await;
        match attempt {
            Err(aegis::Error::NoResponders { .. } | aegis::Error::NotActive { .. })
                if Instant::now() < deadline => {}
            other => return other.expect("an order is processed"),
        }
    }
}

#[tokio::test]
async fn a_killed_leader_is_replaced_within_ttl_plus_one_second() {
    let mut cluster = Cluster::start(&["op-1", "op-2", "op-3"], &[]);
    let backend = cluster.server.backend().await;
    let client = client(&backend);
    let first = first_order(&client).await;
    cluster.processes[&first.instance_id].signal("KILL");
    let killed = Instant::now();
    cluster.processes.remove(&first.instance_id);
    // A call sent before the server has noticed the dead connection still goes to the killed
    // leader's subscription and times out; calls before a successor leads find no leader
    // within their deadline. The first that succeeds measures the failover.
    let next = loop {
        let attempt = client
            .process_order(ProcessOrder {
                order_id: "o-2".to_owned(),
            })
            .await;
        match attempt {
            Err(
                aegis::Error::Timeout { .. }
                | aegis::Error::NoResponders { .. }
                | aegis::Error::NotActive { .. },
            ) if killed.elapsed() < Duration::from_millis(TTL_MS + 1000) => {}
            other => break other.expect("an order is processed"),
        }
    };
    let failover = killed.elapsed();
    assert_ne!(next.instance_id, first.instance_id);
    assert!(next.epoch > first.epoch, "{} → {}", first.epoch, next.epoch);
    assert!(
        failover <= Duration::from_millis(TTL_MS + 1000),
        "replaced after {failover:?}"
    );
    println!("crash failover: {failover:?}");
}

#[tokio::test]
async fn graceful_stop_hands_over_within_500_ms() {
    let mut cluster = Cluster::start(&["op-1", "op-2", "op-3"], &[]);
    let backend = cluster.server.backend().await;
    let client = client(&backend);
    let first = first_order(&client).await;
    let mut leader = cluster
        .processes
        .remove(&first.instance_id)
        .expect("leader process");
    leader.signal("TERM");
    let stopped = Instant::now();
    // The old leader may still finish calls that reached it before the signal did.
    let mut next = order(&client, "o-2").await;
    while next.instance_id == first.instance_id {
        assert!(stopped.elapsed() < Duration::from_secs(5), "no handover");
        next = order(&client, "o-2").await;
    }
    let handover = stopped.elapsed();
    assert!(
        handover <= Duration::from_millis(500),
        "handover took {handover:?}"
    );
    assert_eq!(
        leader.wait(Duration::from_secs(10)),
        Some(0),
        "graceful exit"
    );
    println!("graceful handover: {handover:?}");
}

#[tokio::test]
async fn a_paused_leader_does_no_exclusive_work_after_its_deadline() {
    let audit = "audit.orders";
    let mut cluster = Cluster::start(
        &["op-1", "op-2", "op-3"],
        &["--audit-subject", audit, "--work-ms", "20"],
    );
    let raw = async_nats::connect(cluster.server.url())
        .await
        .expect("raw");
    let mut events = raw.subscribe(audit).await.expect("subscribe");
    raw.flush().await.expect("flush");
    let backend = cluster.server.backend().await;
    let client = client(&backend);

    let first = order(&client, "warm-up").await;
    let leader = cluster
        .processes
        .remove(&first.instance_id)
        .expect("leader process");
    // Orders keep coming while the leader is paused for two lease lengths, then resumes.
    let load = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut done = Vec::new();
            for i in 0..400 {
                if let Ok(processed) = client
                    .process_order(ProcessOrder {
                        order_id: format!("o-{i}"),
                    })
                    .await
                {
                    done.push(processed);
                }
            }
            done
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await; // let some orders reach the leader
    leader.signal("STOP");
    tokio::time::sleep(Duration::from_millis(2 * TTL_MS)).await; // the pause under test
    leader.signal("CONT");
    let done = load.await.expect("load");
    assert!(
        done.iter().any(|p| p.instance_id != first.instance_id),
        "a successor served"
    );

    // Read the audit trail: starts and ends, in the order the server received them.
    let marker = "marker";
    raw.publish(
        audit,
        serde_json::to_vec(&AuditEvent {
            event: marker.into(),
            instance_id: String::new(),
            epoch: 0,
            order_id: String::new(),
        })
        .expect("json")
        .into(),
    )
    .await
    .expect("marker");
    let mut trail = Vec::new();
    while let Some(message) = tokio::time::timeout(Duration::from_secs(10), events.next())
        .await
        .expect("trail")
    {
        let event: AuditEvent = serde_json::from_slice(&message.payload).expect("event");
        if event.event == marker {
            break;
        }
        trail.push(event);
    }
    check_trail(&trail);
    drop(leader);
}

/// The recorder's view of "at most one leader runs exclusive work at any instant": epochs
/// never go back, over starts and ends alike (an old leader's event after a newer leader's
/// would be an overlap), every end matches a start of the same instance, and at most the
/// paused leader's one order is left unfinished (stopped by its fence).
fn check_trail(trail: &[AuditEvent]) {
    let mut open: HashMap<(String, String), u64> = HashMap::new();
    let mut max_epoch = 0;
    let mut by_instance: HashMap<String, usize> = HashMap::new();
    for event in trail {
        assert!(
            event.epoch >= max_epoch,
            "epoch went back (an old leader worked after a new one): {event:?} after epoch {max_epoch}"
        );
        max_epoch = event.epoch;
        let key = (event.instance_id.clone(), event.order_id.clone());
        match event.event.as_str() {
            "start" => {
                open.insert(key, event.epoch);
                *by_instance.entry(event.instance_id.clone()).or_default() += 1;
            }
            "end" => assert!(
                open.remove(&key).is_some(),
                "an end without its start: {event:?}"
            ),
            other => panic!("unknown event {other}"),
        }
    }
    assert!(open.len() <= 1, "unfinished orders: {open:?}");
    assert!(
        open.values().all(|&epoch| epoch < max_epoch),
        "only a deposed leader's order may be unfinished: {open:?}"
    );
    assert!(
        by_instance.len() >= 2,
        "the trail shows a handover: {by_instance:?}"
    );
    println!(
        "audit trail: {} events, orders per instance {by_instance:?}, stopped by the fence: {}",
        trail.len(),
        open.len()
    );
}

#[tokio::test]
async fn sixteen_processes_racing_elect_exactly_one_leader() {
    let ids: Vec<String> = (1..=16).map(|i| format!("race-{i:02}")).collect();
    let id_refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let cluster = Cluster::start(&id_refs, &["--group", "race"]);
    let backend = cluster.server.backend().await;
    let registry = aegis::registry::KvServiceRegistry::new(&backend);
    // Every process reports its state in the registry: wait until all 16 have decided.
    let deadline = Instant::now() + Duration::from_secs(20);
    let statuses = loop {
        let entries = registry
            .list_instances("order-processor")
            .await
            .expect("list");
        let decided = entries.len() == 16;
        let active = entries
            .iter()
            .filter(|e| e.status == aegis::registry::InstanceStatus::Active)
            .count();
        if decided && active >= 1 {
            break entries;
        }
        assert!(Instant::now() < deadline, "not all 16 decided: {entries:?}");
        tokio::time::sleep(Duration::from_millis(20)).await; // polling interval
    };
    let active: Vec<&str> = statuses
        .iter()
        .filter(|e| e.status == aegis::registry::InstanceStatus::Active)
        .map(|e| e.instance_id.as_str())
        .collect();
    assert_eq!(active.len(), 1, "leaders: {active:?}");
    assert!(
        statuses
            .iter()
            .all(|e| e.sticky_active_group.as_deref() == Some("race"))
    );
    // And the one the registry names is the one that serves.
    let served = order(&client(&backend), "o-1").await;
    assert_eq!(served.instance_id, active[0]);
}
