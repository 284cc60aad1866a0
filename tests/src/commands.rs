//! Command scenarios, run on every backend (`tests/commands_memory.rs`,
//! `tests/commands_nats.rs`).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aegis::commands::{CommandConfig, CommandOptions, CommandUpdate, Priority};
use aegis::dead_letters::headers;
use aegis::{
    Backend, CommandContext, Error, RpcError, ServiceBuilder, ServiceConfig, ServiceHandle,
};
use futures::StreamExt;
use futures::future::join_all;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::events::{DEADLINE, dead_letters};

/// What to do.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Job {
    /// Which job.
    pub n: u64,
    /// Fail with a 500 on this many first attempts.
    pub fail_times: u64,
    /// Fail with a 400.
    pub bad: bool,
    /// Sleep this long.
    pub sleep_ms: u64,
    /// Wait until the test opens the gate.
    pub block: bool,
    /// Report progress this many times.
    pub steps: u32,
}

/// What was done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Done {
    /// Which job.
    pub n: u64,
    /// Which attempt succeeded.
    pub attempt: u64,
    /// The instance.
    pub by: String,
}

/// Everything the handlers did.
#[derive(Debug, Default)]
pub struct JobLog {
    /// `(instance, n, attempt, when)` per start.
    pub starts: Mutex<Vec<(String, u64, u64, Instant)>>,
    /// The `traceparent` of every start that had one.
    pub traceparents: Mutex<Vec<String>>,
    /// `n` of handlers dropped before they finished (cancelled, timed out).
    pub dropped: Mutex<Vec<u64>>,
    changed: Notify,
    /// Blocked jobs wait for this.
    pub gate: Notify,
}

impl JobLog {
    /// Waits until `done` holds, or panics after [`DEADLINE`] saying `what`.
    pub async fn wait(&self, what: &str, done: impl Fn(&JobLog) -> bool) {
        crate::wait_until(&self.changed, DEADLINE, what, || done(self)).await;
    }

    /// The jobs started, in order.
    pub fn started(&self) -> Vec<u64> {
        self.starts.lock().unwrap().iter().map(|s| s.1).collect()
    }

    /// When job `n` started, each time.
    pub fn starts_of(&self, n: u64) -> Vec<Instant> {
        let starts = self.starts.lock().unwrap();
        starts.iter().filter(|s| s.1 == n).map(|s| s.3).collect()
    }

    /// How often job `n` started.
    pub fn attempts_of(&self, n: u64) -> usize {
        self.starts
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.1 == n)
            .count()
    }
}

/// Records a handler dropped before it finished.
struct DropGuard {
    log: Arc<JobLog>,
    n: u64,
    finished: bool,
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.log.dropped.lock().unwrap().push(self.n);
            self.log.changed.notify_waiters();
        }
    }
}

/// Runs jobs.
#[derive(Debug)]
pub struct Jobs {
    /// Where it records.
    pub log: Arc<JobLog>,
}

#[aegis::service(name = "jobs", version = "1.0.0")]
impl Jobs {
    /// Does what the job says.
    #[command]
    async fn work(&self, ctx: &CommandContext, job: Job) -> Result<Done, RpcError> {
        let attempt = ctx.attempt();
        self.log.starts.lock().unwrap().push((
            ctx.instance_id().to_string(),
            job.n,
            attempt,
            Instant::now(),
        ));
        if let Some(traceparent) = ctx.traceparent() {
            self.log
                .traceparents
                .lock()
                .unwrap()
                .push(traceparent.to_owned());
        }
        self.log.changed.notify_waiters();
        let mut guard = DropGuard {
            log: Arc::clone(&self.log),
            n: job.n,
            finished: false,
        };
        if job.block {
            self.log.gate.notified().await;
        }
        for step in 1..=job.steps {
            ctx.progress(
                f64::from(step) * 100.0 / f64::from(job.steps),
                format!("step {step}"),
            )
            .await;
        }
        if job.sleep_ms > 0 {
            tokio::time::sleep(Duration::from_millis(job.sleep_ms)).await;
        }
        guard.finished = true;
        if attempt <= job.fail_times {
            return Err(RpcError::internal(format!(
                "job {} failed on attempt {attempt}",
                job.n
            )));
        }
        if job.bad {
            return Err(RpcError::bad_request(format!("job {} is bad", job.n)));
        }
        Ok(Done {
            n: job.n,
            attempt,
            by: ctx.instance_id().to_string(),
        })
    }
}

/// The retry delay of [`quick_commands`].
pub const BACKOFF: Duration = Duration::from_millis(50);

/// Fast retries for tests.
pub fn quick_commands() -> CommandConfig {
    CommandConfig::new()
        .backoff([BACKOFF])
        .ack_wait(Duration::from_secs(5))
}

/// Starts a `jobs` instance.
pub async fn start_jobs(
    backend: &Backend,
    log: &Arc<JobLog>,
    commands: CommandConfig,
) -> ServiceHandle {
    ServiceBuilder::new(Jobs {
        log: Arc::clone(log),
    })
    .config(
        ServiceConfig::new()
            .commands(commands)
            .drain_timeout(Duration::from_secs(5)),
    )
    .start(backend)
    .await
    .expect("jobs starts")
}

async fn outcome(client: &JobsClient, job: Job) -> aegis::Result<Done> {
    let handle = client.work(job).await?;
    tokio::time::timeout(DEADLINE, handle.result())
        .await
        .expect("an outcome in time")
}

/// All instances share the work: each of `count` commands runs once, every caller gets its
/// result, and nothing is left in the stream.
pub async fn commands_are_shared_and_run_once(backend: &Backend, instances: usize, count: u64) {
    let log = Arc::new(JobLog::default());
    let mut handles = Vec::new();
    for _ in 0..instances {
        handles.push(start_jobs(backend, &log, quick_commands()).await);
    }
    let client = JobsClient::new(backend);
    let results = join_all((0..count).map(|n| {
        let client = client.clone();
        async move {
            outcome(
                &client,
                Job {
                    n,
                    sleep_ms: 5,
                    ..Job::default()
                },
            )
            .await
        }
    }))
    .await;
    for (n, result) in results.into_iter().enumerate() {
        let done = result.unwrap_or_else(|e| panic!("job {n}: {e}"));
        assert_eq!((done.n, done.attempt), (n as u64, 1));
    }
    let mut runs: HashMap<u64, usize> = HashMap::new();
    for n in log.started() {
        *runs.entry(n).or_default() += 1;
    }
    assert_eq!(runs.len() as u64, count);
    assert!(runs.values().all(|r| *r == 1), "a command ran twice");
    let workers: std::collections::HashSet<String> = log
        .starts
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.0.clone())
        .collect();
    assert!(workers.len() > 1, "only {workers:?} worked");
    for handle in handles {
        handle.stop().await.unwrap();
    }
    let left = backend
        .streams()
        .unwrap()
        .stream_len("COMMANDS")
        .await
        .unwrap();
    assert_eq!(left, 0, "COMMANDS keeps only unfinished work");
}

/// With one slot busy, waiting commands run highest priority first, then oldest first.
pub async fn priority_orders_waiting_commands(backend: &Backend) {
    let log = Arc::new(JobLog::default());
    let handle = start_jobs(
        backend,
        &log,
        quick_commands().max_concurrency(1).prefetch(16),
    )
    .await;
    let client = JobsClient::new(backend);
    let blocker = client
        .work(Job {
            n: 0,
            block: true,
            ..Job::default()
        })
        .await
        .unwrap();
    log.wait("the blocker to start", |l| l.started() == [0])
        .await;
    let order = [
        (1, Priority::Low),
        (2, Priority::Normal),
        (3, Priority::Critical),
        (4, Priority::Low),
        (5, Priority::High),
        (6, Priority::Normal),
    ];
    let mut waiting = Vec::new();
    for (n, priority) in order {
        let client = client.with_command_options(CommandOptions::new().priority(priority));
        waiting.push(
            client
                .work(Job {
                    n,
                    ..Job::default()
                })
                .await
                .unwrap(),
        );
    }
    wait_for_waiting(&handle, order.len(), "commands never reached the worker").await;
    log.gate.notify_one();
    blocker.result().await.unwrap();
    for pending in waiting {
        pending.result().await.unwrap();
    }
    assert_eq!(log.started(), vec![0, 3, 5, 2, 6, 1, 4]);
    handle.stop().await.unwrap();
}

/// A failing command is retried with backoff and succeeds; a poison one stops after
/// `max_retries + 1` attempts with its error, and a bad one (400) after one; both land in
/// the dead letters, and other commands keep flowing.
pub async fn failing_commands_retry_then_dead_letter(backend: &Backend) {
    let log = Arc::new(JobLog::default());
    let handle = start_jobs(backend, &log, quick_commands()).await;
    let client = JobsClient::new(backend);

    let mut flaky = client
        .work(Job {
            n: 1,
            fail_times: 2,
            ..Job::default()
        })
        .await
        .unwrap();
    let mut retries = 0;
    let done = loop {
        match tokio::time::timeout(DEADLINE, flaky.next()).await.unwrap() {
            Some(CommandUpdate::Retrying(error)) => {
                assert!(error.contains("failed on attempt"), "{error}");
                retries += 1;
            }
            Some(CommandUpdate::Progress(p)) => panic!("unexpected progress {p:?}"),
            Some(CommandUpdate::Finished(result)) => break result.unwrap(),
            None => panic!("no outcome"),
        }
    };
    assert_eq!((done.attempt, retries), (3, 2));
    for gap in log.starts_of(1).windows(2).map(|w| w[1] - w[0]) {
        assert!(gap >= BACKOFF, "retried after {gap:?}, before the backoff");
    }

    let poison = client
        .with_command_options(CommandOptions::new().max_retries(2))
        .work(Job {
            n: 2,
            fail_times: u64::MAX,
            ..Job::default()
        })
        .await
        .unwrap();
    let bad = client
        .work(Job {
            n: 3,
            bad: true,
            ..Job::default()
        })
        .await
        .unwrap();
    let healthy = outcome(
        &client,
        Job {
            n: 4,
            ..Job::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(healthy.n, 4);
    match tokio::time::timeout(DEADLINE, poison.result())
        .await
        .unwrap()
    {
        Err(Error::Remote { code: 500, message }) => {
            assert_eq!(message, "job 2 failed on attempt 3");
        }
        other => panic!("expected a 500, got {other:?}"),
    }
    match tokio::time::timeout(DEADLINE, bad.result()).await.unwrap() {
        Err(Error::BadRequest { message }) => assert_eq!(message, "job 3 is bad"),
        other => panic!("expected a bad request, got {other:?}"),
    }
    assert_eq!(log.attempts_of(2), 3);
    assert_eq!(log.attempts_of(3), 1);
    let letters = dead_letters(backend, "jobs", "commands.jobs.work", 2).await;
    let mut deliveries: Vec<(String, String)> = letters
        .iter()
        .map(|l| {
            let h = &l.message.headers;
            (
                h.get(headers::CODE).unwrap().to_owned(),
                h.get(headers::DELIVERIES).unwrap().to_owned(),
            )
        })
        .collect();
    deliveries.sort();
    assert_eq!(
        deliveries,
        [("400".into(), "1".into()), ("500".into(), "3".into())]
    );
    handle.stop().await.unwrap();
    let left = backend
        .streams()
        .unwrap()
        .stream_len("COMMANDS")
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// An attempt that outlives the command's timeout is dropped and reported as 504.
pub async fn command_timeouts_are_honoured(backend: &Backend) {
    let log = Arc::new(JobLog::default());
    let handle = start_jobs(backend, &log, quick_commands()).await;
    let client = JobsClient::new(backend).with_command_options(
        CommandOptions::new()
            .timeout(Duration::from_millis(200))
            .max_retries(0),
    );
    let started = std::time::Instant::now();
    match outcome(
        &client,
        Job {
            n: 1,
            sleep_ms: 30_000,
            ..Job::default()
        },
    )
    .await
    {
        Err(Error::Remote { code: 504, .. }) => {}
        other => panic!("expected a 504, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(*log.dropped.lock().unwrap(), vec![1]);
    handle.stop().await.unwrap();
}

/// Cancel drops the running handler, and keeps a waiting command from running; both
/// callers get a 499.
pub async fn cancel_reaches_the_handler(backend: &Backend) {
    let log = Arc::new(JobLog::default());
    let handle = start_jobs(backend, &log, quick_commands().max_concurrency(1)).await;
    let client = JobsClient::new(backend);
    let running = client
        .work(Job {
            n: 1,
            block: true,
            ..Job::default()
        })
        .await
        .unwrap();
    log.wait("the first command to start", |l| l.started() == [1])
        .await;
    let queued = client
        .work(Job {
            n: 2,
            ..Job::default()
        })
        .await
        .unwrap();
    wait_for_waiting(&handle, 1, "the second command never arrived").await;
    // By id, as anyone may: the handle's own `cancel` does the same.
    aegis::commands::cancel(backend, "jobs", queued.id())
        .await
        .unwrap();
    running.cancel().await.unwrap();
    for handle in [running, queued] {
        match tokio::time::timeout(DEADLINE, handle.result())
            .await
            .unwrap()
        {
            Err(Error::Remote { code: 499, .. }) => {}
            other => panic!("expected a cancellation, got {other:?}"),
        }
    }
    assert_eq!(*log.dropped.lock().unwrap(), vec![1]);
    assert_eq!(log.started(), vec![1], "the cancelled waiting command ran");
    handle.stop().await.unwrap();
}

/// Progress reaches the caller in order, then the result; nothing of it is stored in
/// `COMMANDS`. A handler running longer than `ack_wait` keeps its message (one attempt).
pub async fn progress_reaches_the_caller(backend: &Backend) {
    let log = Arc::new(JobLog::default());
    let handle = start_jobs(
        backend,
        &log,
        quick_commands().ack_wait(Duration::from_millis(1_500)),
    )
    .await;
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let client = JobsClient::new(backend)
        .with_command_options(CommandOptions::new().traceparent(TRACEPARENT));
    let job = client
        .work(Job {
            n: 1,
            steps: 4,
            sleep_ms: 4_000,
            ..Job::default()
        })
        .await
        .unwrap();
    // The handle is a stream of updates that ends after the outcome.
    let updates: Vec<CommandUpdate<Done>> =
        tokio::time::timeout(DEADLINE, job.collect()).await.unwrap();
    let mut seen = Vec::new();
    let mut outcomes = Vec::new();
    for update in updates {
        match update {
            CommandUpdate::Progress(p) => seen.push((p.percent, p.message)),
            CommandUpdate::Retrying(error) => panic!("unexpected retry: {error}"),
            CommandUpdate::Finished(result) => outcomes.push(result.unwrap()),
        }
    }
    assert_eq!(outcomes.len(), 1, "one outcome only");
    let done = outcomes.remove(0);
    assert_eq!(
        seen,
        [
            (25.0, "step 1".to_owned()),
            (50.0, "step 2".to_owned()),
            (75.0, "step 3".to_owned()),
            (100.0, "step 4".to_owned())
        ]
    );
    assert_eq!(done.attempt, 1, "a long handler lost its message");
    assert_eq!(
        *log.traceparents.lock().unwrap(),
        vec![TRACEPARENT.to_owned()]
    );
    assert_eq!(log.attempts_of(1), 1);
    // Stopped first: the worker acknowledges once the caller has confirmed the outcome.
    handle.stop().await.unwrap();
    let left = backend
        .streams()
        .unwrap()
        .stream_len("COMMANDS")
        .await
        .unwrap();
    assert_eq!(left, 0, "progress or results were stored in COMMANDS");
}

/// Stands for a caller whose idea of `jobs.work`'s result is out of date: never started,
/// only its generated client is used.
#[derive(Debug)]
pub struct StaleJobs;

#[aegis::service(name = "jobs", version = "1.0.0")]
impl StaleJobs {
    /// What the caller thinks `work` returns.
    #[command]
    async fn work(&self, _ctx: &CommandContext, _job: Job) -> Result<String, RpcError> {
        Ok(String::new())
    }
}

/// An outcome whose result does not fit the caller's type ends the handle with
/// `Error::Decode` (rather than leaving it waiting for an outcome that has come).
pub async fn an_outcome_that_does_not_fit_is_a_decode_error(backend: &Backend) {
    let log = Arc::new(JobLog::default());
    let handle = start_jobs(backend, &log, quick_commands()).await;
    let command = StaleJobsClient::new(backend)
        .work(Job {
            n: 1,
            steps: 2,
            ..Job::default()
        })
        .await
        .unwrap();
    let id = command.id().to_owned();
    match tokio::time::timeout(DEADLINE, command.result()).await {
        Ok(Err(Error::Decode { subject, message })) => {
            assert_eq!(subject, "commands.jobs.work");
            assert!(
                message.starts_with(&format!(
                    "command {id}: the result does not fit the expected type: "
                )),
                "{message}"
            );
            assert!(!message.contains("bad request"), "{message}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert_eq!(log.attempts_of(1), 1, "the command ran once");
    handle.stop().await.unwrap();
}

/// A command as the Python SDK sends it (msgpack, its keys, no aegis headers) runs once on
/// a Rust worker and leaves the work queue; there is no reply subject, so nothing is sent back.
pub async fn python_shaped_commands_run(backend: &Backend) {
    let log = Arc::new(JobLog::default());
    let handle = start_jobs(backend, &log, quick_commands()).await;
    let command = serde_json::json!({
        "message_id": "5f0c8a52-3c1e-4a57-9d1e-2b8f1f0f4a11",
        "trace_id": "8b5e0c2e-7a0e-4b8e-a3f5-0d2b7e1c9a33",
        "correlation_id": null,
        "timestamp": "2026-11-26T23:47:15.000001+00:00",
        "source": "py-client-1a2b3c4d",
        "target": "jobs",
        "command": "work",
        "payload": {"n": 42, "fail_times": 0, "bad": false, "sleep_ms": 0, "block": false, "steps": 0},
        "priority": "high",
        "max_retries": 3,
        "timeout": 300.0,
    });
    let streams = backend.streams().unwrap();
    let message = aegis::ports::Message::new(
        "commands.jobs.work",
        rmp_serde::to_vec_named(&command).unwrap(),
    );
    streams.publish(message).await.unwrap().await.unwrap();
    log.wait("the Python command to run", |l| l.started() == [42])
        .await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while streams.stream_len("COMMANDS").await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the command stayed in COMMANDS"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    handle.stop().await.unwrap();
    assert_eq!(log.started(), vec![42]);
}

/// An outcome whose caller's inbox nobody subscribes to yet (on a cluster, a subscription
/// still on its way to the worker's node, or a caller reconnecting) is sent again until the
/// inbox exists, and the command is acknowledged after that.
pub async fn an_outcome_waits_for_the_callers_inbox(backend: &Backend) {
    let log = Arc::new(JobLog::default());
    let handle = start_jobs(backend, &log, quick_commands()).await;
    let inbox = "late.inbox.7";
    let mut command = aegis::ports::Message::new(
        "commands.jobs.work",
        serde_json::to_vec(&serde_json::json!({
            "message_id": "0d7e3c8a-6a43-4c1c-9f0e-6f1a3b2c4d5e",
            "trace_id": "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b",
            "correlation_id": null,
            "timestamp": "2026-12-02T14:00:00.000000+00:00",
            "source": "late-caller",
            "target": "jobs",
            "command": "work",
            "payload": {"n": 7, "fail_times": 0, "bad": false, "sleep_ms": 0, "block": false, "steps": 0},
            "priority": "normal",
            "max_retries": 0,
            "timeout": 30.0,
        }))
        .unwrap(),
    );
    command
        .headers
        .insert(aegis::commands::REPLY_TO_HEADER, inbox);
    let streams = backend.streams().unwrap();
    streams.publish(command).await.unwrap().await.unwrap();
    log.wait("the command to run", |l| l.started() == [7]).await;
    // The outcome is on its way to an inbox nobody listens to; the caller arrives late.
    let mut replies = backend.bus().subscribe(inbox, None).await.unwrap();
    let outcome = tokio::time::timeout(DEADLINE, replies.next())
        .await
        .expect("the outcome was sent again once the inbox existed")
        .expect("subscription open");
    let outcome: serde_json::Value = serde_json::from_slice(&outcome.payload).unwrap();
    assert_eq!(outcome["status"], "completed", "{outcome}");
    handle.stop().await.unwrap();
    assert_eq!(streams.stream_len("COMMANDS").await.unwrap(), 0);
}

/// Polls (the count has no notification) until `handle` holds `count` waiting commands, or
/// panics after [`DEADLINE`] saying `what`.
async fn wait_for_waiting(handle: &ServiceHandle, count: usize, what: &str) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while handle.commands_waiting() < count {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
