//! Connecting to a server that wants credentials: from the URL and from the environment's
//! names, and a refusal that names its cause without the secret.

use aegis::adapters::nats::NatsOptions;
use aegis_tests::echo_round_trip;
use aegis_tests::logs::Captured;
use aegis_tests::nats_server::NatsServer;

const PASSWORD: &str = "hunter2-s3cret";

fn with_credentials(url: &str, userinfo: &str) -> String {
    url.replacen("nats://", &format!("nats://{userinfo}@"), 1)
}

#[tokio::test]
async fn user_and_password_from_the_url_and_from_the_environment() {
    let server = NatsServer::start_with_args(&["--user", "u", "--pass", PASSWORD]);
    let url = with_credentials(&server.url(), &format!("u:{PASSWORD}"));
    echo_round_trip(NatsOptions::new(url)).await;
    let env = |name: &str| match name {
        "NATS_URL" => Some(server.url()),
        "NATS_USER" => Some("u".to_owned()),
        "NATS_PASSWORD" => Some(PASSWORD.to_owned()),
        _ => None,
    };
    echo_round_trip(NatsOptions::from_lookup(env)).await;
}

#[tokio::test]
async fn a_token_from_the_url_and_from_the_environment() {
    let server = NatsServer::start_with_args(&["--auth", PASSWORD]);
    echo_round_trip(NatsOptions::new(with_credentials(&server.url(), PASSWORD))).await;
    let env = |name: &str| match name {
        "NATS_URL" => Some(server.url()),
        "NATS_TOKEN" => Some(PASSWORD.to_owned()),
        _ => None,
    };
    echo_round_trip(NatsOptions::from_lookup(env)).await;
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_the_error_does_not_show_it() {
    let server = NatsServer::start_with_args(&["--user", "u", "--pass", PASSWORD]);
    let wrong = "wr0ng-s3cret";
    let error = NatsOptions::new(with_credentials(&server.url(), &format!("u:{wrong}")))
        .retry_initial_connect(false)
        .connect()
        .await
        .expect_err("a wrong password is refused");
    let text = format!("{error} {error:?}");
    assert!(text.contains("authorization"), "names the cause: {text}");
    assert!(!text.contains(wrong), "shows the password: {text}");
}

/// With the default (keep trying while the server is not up), a refusal that retrying cannot
/// fix still ends `connect` at once.
#[tokio::test]
async fn a_refusal_ends_a_retrying_connect_at_once() {
    let server = NatsServer::start_with_args(&["--user", "u", "--pass", PASSWORD]);
    let wrong = "wr0ng-s3cret";
    let started = std::time::Instant::now();
    let error = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        NatsOptions::new(with_credentials(&server.url(), &format!("u:{wrong}"))).connect(),
    )
    .await
    .expect("refused within 5 s")
    .expect_err("a wrong password is refused");
    let text = format!("{error} {error:?}");
    assert!(
        text.contains("authorization violation"),
        "names the cause: {text}"
    );
    assert!(!text.contains(wrong), "shows the password: {text}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// async-nats keeps retrying a first connection in a background task; once `connect` has
/// failed and dropped the client, that task must end (it retried forever before the patch in
/// `patches/async-nats`).
#[tokio::test]
async fn a_refused_connect_leaves_no_task_behind() {
    let server = NatsServer::start_with_args(&["--user", "u", "--pass", PASSWORD]);
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    NatsOptions::new(with_credentials(&server.url(), "u:wr0ng"))
        .connect()
        .await
        .expect_err("a wrong password is refused");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while metrics.num_alive_tasks() > before {
        assert!(
            std::time::Instant::now() < deadline,
            "{} tasks still alive, {before} before connecting",
            metrics.num_alive_tasks()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await; // polling a count
    }
}

/// A natscli context (`nats context add`) named by `NATS_CONTEXT`, found under
/// `XDG_CONFIG_HOME`; a variable set in the environment overrides the context's setting.
#[tokio::test]
async fn a_natscli_context_by_name() {
    let server = NatsServer::start_with_args(&["--user", "u", "--pass", PASSWORD]);
    let config = aegis_tests::temp_dir::TempDir::new("contexts");
    let contexts = config.path().join("nats").join("context");
    std::fs::create_dir_all(&contexts).expect("create the context directory");
    let context = serde_json::json!({
        "description": "", "url": "nats://127.0.0.1:1", "token": "", "user": "u",
        "password": PASSWORD, "creds": "", "nkey": "", "cert": "", "key": "", "ca": "",
        "nsc": "", "jetstream_domain": "", "jetstream_api_prefix": "",
        "jetstream_event_prefix": "", "inbox_prefix": "", "user_jwt": "", "tls_first": false
    });
    std::fs::write(contexts.join("local.json"), context.to_string()).expect("write the context");
    let config_home = config.path().to_str().expect("utf-8 path").to_owned();
    let url = server.url();
    let env = move |name: &str| match name {
        "NATS_CONTEXT" => Some("local".to_owned()),
        "XDG_CONFIG_HOME" => Some(config_home.clone()),
        // The context's URL points nowhere; the environment's wins.
        "NATS_URL" => Some(url.clone()),
        _ => None,
    };
    echo_round_trip(NatsOptions::from_lookup(env)).await;
}

/// Everything logged while connecting and calling, down to async-nats's trace lines, with
/// the credentials in the URL: the password appears nowhere.
#[tokio::test]
async fn no_log_line_shows_the_password() {
    // This runtime has one thread: every task logs through this subscriber.
    let (captured, _guard) = Captured::start(tracing::Level::TRACE);
    let server = NatsServer::start_with_args(&["--user", "u", "--pass", PASSWORD]);
    echo_round_trip(NatsOptions::new(with_credentials(
        &server.url(),
        &format!("u:{PASSWORD}"),
    )))
    .await;
    let _ = NatsOptions::new(with_credentials(&server.url(), "u:wr0ng-s3cret"))
        .connect()
        .await
        .expect_err("refused");
    let logs = captured.text();
    assert!(
        logs.contains("async_nats::connector"),
        "the capture has async-nats's own lines: {logs}"
    );
    assert!(!logs.contains(PASSWORD), "the password is logged");
    assert!(
        !logs.contains("wr0ng-s3cret"),
        "the wrong password is logged"
    );
}

/// A credentials file that is missing or is not one fails `connect` at once, naming the file
/// and not its contents.
#[tokio::test]
async fn a_bad_credentials_file_is_named_at_once() {
    let server = NatsServer::start();
    let dir = aegis_tests::temp_dir::TempDir::new("creds");
    let garbage = dir.write("user.creds", format!("not a creds file {PASSWORD}\n"));
    let missing = dir.path().join("missing.creds");
    for path in [garbage, missing] {
        let env = |name: &str| match name {
            "NATS_URL" => Some(server.url()),
            "NATS_CREDS" => Some(path.display().to_string()),
            _ => None,
        };
        let started = std::time::Instant::now();
        let error = NatsOptions::from_lookup(env)
            .connect()
            .await
            .expect_err("the file is refused");
        let text = error.to_string();
        assert!(
            text.contains(&path.display().to_string()),
            "names the file: {text}"
        );
        assert!(!text.contains(PASSWORD), "shows the contents: {text}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
