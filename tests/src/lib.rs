//! Behaviour tests for aegis live in `tests/`; this library holds their harness.

pub mod commands;
pub mod election;
pub mod events;
pub mod nats_cluster;
pub mod nats_server;
pub mod process;
pub mod rpc;

/// Waits until `done()` holds, looking again each time `changed` is notified (with
/// `notify_waiters`); panics after `within`, saying `what`.
pub async fn wait_until(
    changed: &tokio::sync::Notify,
    within: std::time::Duration,
    what: &str,
    done: impl Fn() -> bool,
) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        // Created before the look: a notification after it is not missed.
        let notified = changed.notified();
        if done() {
            return;
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() && !done() {
            panic!("timed out waiting for {what}");
        }
    }
}
