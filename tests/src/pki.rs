//! Certificates made with `rcgen` for TLS tests: a CA, a server certificate for `127.0.0.1`
//! and `localhost` and a client certificate signed by it, and a CA that signed neither; all
//! written as PEM files into a temporary directory.

use std::path::PathBuf;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::nats_server::NatsServer;
use crate::temp_dir::TempDir;

/// A CA able to sign certificates.
fn new_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA")
}

/// A certificate for `names` (IP addresses or DNS names) signed by `ca`, for `usage`, and its
/// key: both PEM.
fn signed_by(
    ca: &CertifiedIssuer<'static, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("certificate parameters");
    params
        .distinguished_name
        .push(DnType::CommonName, names.join(","));
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("signed certificate");
    (cert.pem(), key.serialize_pem())
}

/// A CA, a server's certificate and a client's, as PEM files (removed when dropped).
#[derive(Debug)]
pub struct Pki {
    _dir: TempDir,
    /// The CA certificate.
    pub ca: PathBuf,
    /// The server's certificate, for `127.0.0.1` and `localhost`.
    pub server_cert: PathBuf,
    /// The server certificate's key.
    pub server_key: PathBuf,
    /// A client certificate.
    pub client_cert: PathBuf,
    /// The client certificate's key.
    pub client_key: PathBuf,
    /// A CA that signed none of these.
    pub other_ca: PathBuf,
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

impl Pki {
    /// Fresh keys and certificates.
    pub fn new() -> Self {
        let dir = TempDir::new("tls");
        let ca = new_ca("aegis test CA");
        let (server_cert, server_key) = signed_by(
            &ca,
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) =
            signed_by(&ca, &["aegis-client"], ExtendedKeyUsagePurpose::ClientAuth);
        Pki {
            ca: dir.write("ca.pem", ca.pem()),
            server_cert: dir.write("server.pem", server_cert),
            server_key: dir.write("server-key.pem", server_key),
            client_cert: dir.write("client.pem", client_cert),
            client_key: dir.write("client-key.pem", client_key),
            other_ca: dir.write("other-ca.pem", new_ca("another CA").pem()),
            _dir: dir,
        }
    }

    /// A server that requires TLS (`--tls`) with the server certificate; with `verify`, a
    /// client certificate signed by the CA too (`--tlsverify`); `args` added.
    pub fn server(&self, verify: bool, args: &[&str]) -> NatsServer {
        let [cert, key, ca] = [&self.server_cert, &self.server_key, &self.ca]
            .map(|p| p.to_str().expect("temporary paths are UTF-8").to_owned());
        let mut all = vec!["--tls", "--tlscert", &cert, "--tlskey", &key];
        if verify {
            all.extend(["--tlsverify", "--tlscacert", &ca]);
        }
        all.extend(args);
        NatsServer::start_with_args(&all)
    }
}
