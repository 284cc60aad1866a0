//! NATS JWTs for a server in operator mode (decentralised authentication), built and signed
//! here as nats-io/jwt v2 does (`claims.go`, `doEncode`): a header, the claims and an ed25519
//! signature by the issuer's NKey, each base64url without padding, joined by dots.
//!
//! The trust chain: the operator signs accounts, an account signs its users; the server is
//! given the operator's JWT and the account JWTs (`resolver: MEMORY`), a client its user JWT
//! and seed in a `.creds` file.

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use nkeys::KeyPair;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha512_256};

/// `ClaimsData` of nats-io/jwt, in its field order.
#[derive(Serialize)]
struct ClaimsData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    iat: u64,
    iss: String,
    name: &'a str,
    sub: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    #[serde(flatten)]
    data: ClaimsData<'a>,
    nats: &'a Value,
}

/// A JWT about `subject` (a public NKey) with the `nats` claims, issued and signed by `issuer`.
/// Its `jti` is, as nats-io/jwt makes it, base32 of the SHA-512/256 of the standard claims
/// without it (the server does not check it).
pub fn encode(issuer: &KeyPair, subject: &str, name: &str, nats: &Value) -> String {
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let mut data = ClaimsData {
        jti: None,
        iat,
        iss: issuer.public_key(),
        name,
        sub: subject,
    };
    let id = Sha512_256::digest(serde_json::to_vec(&data).expect("claims serialize"));
    data.jti = Some(BASE32_NOPAD.encode(&id));
    let header = BASE64URL_NOPAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = Claims { data, nats };
    let claims = BASE64URL_NOPAD.encode(&serde_json::to_vec(&claims).expect("claims serialize"));
    let signed = format!("{header}.{claims}");
    let signature = issuer.sign(signed.as_bytes()).expect("ed25519 signature");
    format!("{signed}.{}", BASE64URL_NOPAD.encode(&signature))
}

/// An account's `nats` claims: every limit unlimited, and JetStream enabled (unlimited) when
/// `jetstream` (a zero `mem_storage` and `disk_storage` leave it off).
pub fn account_claims(jetstream: bool) -> Value {
    let js = if jetstream { -1 } else { 0 };
    json!({
        "limits": {
            "subs": -1, "data": -1, "payload": -1,
            "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
            "mem_storage": js, "disk_storage": js, "streams": js, "consumer": js,
        },
        "default_permissions": { "pub": {}, "sub": {} },
        "type": "account",
        "version": 2,
    })
}

/// A user's `nats` claims: publish and subscribe anywhere, no limits.
pub fn user_claims() -> Value {
    json!({
        "pub": {}, "sub": {},
        "subs": -1, "data": -1, "payload": -1,
        "type": "user",
        "version": 2,
    })
}

/// An operator with a system account and one account with JetStream, ready to be a server's
/// trust configuration.
#[derive(Debug)]
pub struct Operator {
    key: KeyPair,
    system: KeyPair,
    account: KeyPair,
}

impl Default for Operator {
    fn default() -> Self {
        Self::new()
    }
}

impl Operator {
    /// Fresh keys for the operator, its system account and the account `APP`.
    pub fn new() -> Self {
        Operator {
            key: KeyPair::new_operator(),
            system: KeyPair::new_account(),
            account: KeyPair::new_account(),
        }
    }

    /// The server configuration: the operator's JWT, the system account, and both account
    /// JWTs preloaded into the memory resolver.
    pub fn server_config(&self) -> String {
        let operator = encode(
            &self.key,
            &self.key.public_key(),
            "aegis-test-operator",
            &json!({
                "system_account": self.system.public_key(),
                "type": "operator",
                "version": 2,
            }),
        );
        let system = encode(
            &self.key,
            &self.system.public_key(),
            "SYS",
            &account_claims(false),
        );
        let account = encode(
            &self.key,
            &self.account.public_key(),
            "APP",
            &account_claims(true),
        );
        format!(
            "operator: \"{operator}\"\nsystem_account: \"{sys}\"\nresolver: MEMORY\n\
             resolver_preload: {{\n  {sys}: \"{system}\"\n  {acc}: \"{account}\"\n}}\n",
            sys = self.system.public_key(),
            acc = self.account.public_key(),
        )
    }

    /// A `.creds` file for a new user of the account `APP`.
    pub fn user_creds(&self) -> String {
        creds(&self.account)
    }
}

/// A `.creds` file for a new user issued by `account` (which the server may not know).
pub fn creds(account: &KeyPair) -> String {
    let user = KeyPair::new_user();
    let jwt = encode(
        account,
        &user.public_key(),
        "aegis-test-user",
        &user_claims(),
    );
    let seed = user.seed().expect("a generated key has a seed");
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}
