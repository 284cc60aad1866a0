//! TLS and mutual TLS with certificates made in the test (`aegis_tests::pki`), the settings
//! given by the environment's names (`NATS_CA`, `NATS_CERT`, `NATS_KEY`); a refusal (no client
//! certificate, a server signed by an untrusted CA) ends `connect` within 5 s and names the
//! cause.

use std::time::Duration;

use aegis::adapters::nats::NatsOptions;
use aegis_tests::pki::Pki;
use aegis_tests::{echo_round_trip, env, refused_within};

/// How long a refusal may take to end `connect` (what is being tested).
const REFUSED_WITHIN: Duration = Duration::from_secs(5);

fn path(path: &std::path::Path) -> String {
    path.display().to_string()
}

/// A server with TLS says so in its INFO: a `nats://` URL is upgraded as a `tls://` one is.
#[tokio::test]
async fn tls_with_the_ca_from_the_environment() {
    let pki = Pki::new();
    let server = pki.server(false, &[]);
    for url in [server.url(), server.url().replacen("nats://", "tls://", 1)] {
        echo_round_trip(NatsOptions::from_lookup(env(vec![
            ("NATS_URL", url),
            ("NATS_CA", path(&pki.ca)),
        ])))
        .await;
    }
}

#[tokio::test]
async fn mutual_tls_with_a_client_certificate_from_the_environment() {
    let pki = Pki::new();
    let server = pki.server(true, &[]);
    echo_round_trip(NatsOptions::from_lookup(env(vec![
        ("NATS_URL", server.url()),
        ("NATS_CA", path(&pki.ca)),
        ("NATS_CERT", path(&pki.client_cert)),
        ("NATS_KEY", path(&pki.client_key)),
    ])))
    .await;
}

#[tokio::test]
async fn mutual_tls_without_a_client_certificate_is_refused() {
    let pki = Pki::new();
    let server = pki.server(true, &[]);
    let options = NatsOptions::from_lookup(env(vec![
        ("NATS_URL", server.url()),
        ("NATS_CA", path(&pki.ca)),
    ]));
    let text = refused_within(options.retry_initial_connect(false), REFUSED_WITHIN).await;
    assert!(
        text.contains("CertificateRequired"),
        "names the cause: {text}"
    );
}

#[tokio::test]
async fn a_server_signed_by_an_untrusted_ca_is_refused() {
    let pki = Pki::new();
    let server = pki.server(false, &[]);
    let options = NatsOptions::from_lookup(env(vec![
        ("NATS_URL", server.url()),
        ("NATS_CA", path(&pki.other_ca)),
    ]));
    let text = refused_within(options.retry_initial_connect(false), REFUSED_WITHIN).await;
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "names the cause: {text}"
    );
}

/// With the default options (keep retrying while the server is not reachable) the refusal
/// must still end `connect` at once.
#[tokio::test]
async fn mutual_tls_without_a_client_certificate_ends_a_retrying_connect() {
    let pki = Pki::new();
    let server = pki.server(true, &[]);
    let text = refused_within(
        NatsOptions::from_lookup(env(vec![
            ("NATS_URL", server.url()),
            ("NATS_CA", path(&pki.ca)),
        ])),
        REFUSED_WITHIN,
    )
    .await;
    assert!(
        text.contains("CertificateRequired"),
        "names the cause: {text}"
    );
}

/// As above, for a server whose certificate the client does not trust.
#[tokio::test]
async fn a_server_signed_by_an_untrusted_ca_ends_a_retrying_connect() {
    let pki = Pki::new();
    let server = pki.server(false, &[]);
    let text = refused_within(
        NatsOptions::from_lookup(env(vec![
            ("NATS_URL", server.url()),
            ("NATS_CA", path(&pki.other_ca)),
        ])),
        REFUSED_WITHIN,
    )
    .await;
    assert!(
        text.contains("invalid peer certificate: UnknownIssuer"),
        "names the cause: {text}"
    );
}
