//! NKey and JWT (`.creds`) authentication, the settings given by the environment's names
//! (`NATS_NKEY`, `NATS_CREDS`), against servers trusting keys made here; a key the server does
//! not know is refused within 5 s, with the cause named and the seed not shown.

use std::time::Duration;

use aegis::adapters::nats::NatsOptions;
use aegis_tests::nats_jwt::{self, Operator};
use aegis_tests::nats_server::NatsServer;
use aegis_tests::temp_dir::TempDir;
use aegis_tests::{echo_round_trip, env, refused_within};
use nkeys::KeyPair;

/// How long a refusal may take to end `connect` with the default options, which keep
/// retrying while the server is not reachable (what is being tested).
const REFUSED_WITHIN: Duration = Duration::from_secs(5);

/// The seed in a `.creds` file (the line after its `BEGIN USER NKEY SEED` line).
fn seed_in(creds: &str) -> &str {
    creds
        .lines()
        .skip_while(|line| !line.contains("BEGIN USER NKEY SEED"))
        .nth(1)
        .expect("a seed")
}

fn nkey_server(user: &KeyPair) -> NatsServer {
    NatsServer::start_with_config(&format!(
        "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n",
        user.public_key()
    ))
}

#[tokio::test]
async fn an_nkey_seed_file_from_the_environment() {
    let user = KeyPair::new_user();
    let server = nkey_server(&user);
    let dir = TempDir::new("nkey");
    let seed = dir.write("user.nk", user.seed().expect("seed"));
    echo_round_trip(NatsOptions::from_lookup(env(vec![
        ("NATS_URL", server.url()),
        ("NATS_NKEY", seed.display().to_string()),
    ])))
    .await;
}

#[tokio::test]
async fn an_unknown_nkey_is_refused_and_the_error_does_not_show_the_seed() {
    let server = nkey_server(&KeyPair::new_user());
    let dir = TempDir::new("nkey");
    let wrong = KeyPair::new_user().seed().expect("seed");
    let seed = dir.write("wrong.nk", &wrong);
    let text = refused_within(
        NatsOptions::from_lookup(env(vec![
            ("NATS_URL", server.url()),
            ("NATS_NKEY", seed.display().to_string()),
        ])),
        REFUSED_WITHIN,
    )
    .await;
    assert!(
        text.contains("authorization violation"),
        "names the cause: {text}"
    );
    assert!(!text.contains(&wrong), "shows the seed: {text}");
}

#[tokio::test]
async fn a_creds_file_from_the_environment_in_operator_mode() {
    let operator = Operator::new();
    let server = NatsServer::start_with_config(&operator.server_config());
    let dir = TempDir::new("creds");
    let creds = dir.write("user.creds", operator.user_creds());
    echo_round_trip(NatsOptions::from_lookup(env(vec![
        ("NATS_URL", server.url()),
        ("NATS_CREDS", creds.display().to_string()),
    ])))
    .await;
}

#[tokio::test]
async fn a_creds_file_of_an_unknown_account_is_refused() {
    let operator = Operator::new();
    let server = NatsServer::start_with_config(&operator.server_config());
    let dir = TempDir::new("creds");
    let unknown = nats_jwt::creds(&KeyPair::new_account());
    let creds = dir.write("stranger.creds", &unknown);
    let text = refused_within(
        NatsOptions::from_lookup(env(vec![
            ("NATS_URL", server.url()),
            ("NATS_CREDS", creds.display().to_string()),
        ])),
        REFUSED_WITHIN,
    )
    .await;
    assert!(
        text.contains("authorization violation"),
        "names the cause: {text}"
    );
    assert!(!text.contains(seed_in(&unknown)), "shows the seed: {text}");
}
