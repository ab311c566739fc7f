//! https on the real server (design §7.3): `server.tls` with certificates made at test time
//! by `rcgen`, checked with a client that trusts only the test CA.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use reqwest::{Certificate, Identity};
use tempfile::TempDir;

use crate::server::{StartOptions, TestServer};

/// Bound on one request of these tests.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A test CA and PEM files in a scratch directory: the server's certificate (for 127.0.0.1
/// and localhost) and key, and a client's certificate and key in one file. Also used by the
/// `mqctl` tests (`--ca-cert`).
pub(crate) struct Pki {
    dir: TempDir,
    ca_pem: String,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            (params.signed_by(&key, &ca).unwrap().pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(
            vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) =
            leaf(vec!["mq-test-client".to_owned()], ExtendedKeyUsagePurpose::ClientAuth);

        let dir = tempfile::Builder::new().prefix("mq-e2e-tls-").tempdir().unwrap();
        for (name, pem) in [
            ("ca.pem", ca.pem()),
            ("server.pem", server_cert),
            ("server-key.pem", server_key),
            ("client.pem", format!("{client_cert}{client_key}")),
        ] {
            std::fs::write(dir.path().join(name), pem).unwrap();
        }
        Pki { ca_pem: ca.pem(), dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The `server.tls` section, with `client_ca_path` when `mutual`.
    pub(crate) fn server_yaml(&self, cert_path: &Path, mutual: bool) -> String {
        let quoted = |path: &Path| serde_json::Value::from(path.to_str().unwrap()).to_string();
        let mut yaml = format!(
            "  tls:\n    enabled: true\n    cert_path: {}\n    key_path: {}\n",
            quoted(cert_path),
            quoted(&self.path("server-key.pem")),
        );
        if mutual {
            yaml.push_str(&format!("    client_ca_path: {}\n", quoted(&self.path("ca.pem"))));
        }
        yaml
    }

    /// An https client trusting only the test CA, presenting the client certificate when
    /// `with_identity`.
    pub(crate) fn client(&self, with_identity: bool) -> reqwest::Client {
        // reqwest's rustls comes without a crypto provider here (see client.rs).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([Certificate::from_pem(self.ca_pem.as_bytes()).unwrap()])
            .timeout(REQUEST_TIMEOUT)
            .pool_max_idle_per_host(0);
        if with_identity {
            let pem = std::fs::read(self.path("client.pem")).unwrap();
            builder = builder.identity(Identity::from_pem(&pem).unwrap());
        }
        builder.build().unwrap()
    }
}

async fn healthz(client: &reqwest::Client, url: String) -> Result<u16, reqwest::Error> {
    Ok(client.get(url).send().await?.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn https_answers_with_a_trusted_certificate_and_plain_http_is_refused() {
    let pki = Pki::new();
    let https = pki.client(false);
    let server = TestServer::start_with(StartOptions {
        server_yaml: pki.server_yaml(&pki.path("server.pem"), false),
        https: Some(https.clone()),
        ..StartOptions::default()
    })
    .await;
    let port = server.port();

    let status = healthz(&https, format!("https://127.0.0.1:{port}/healthz")).await;
    assert_eq!(status.unwrap(), 200, "GET https://…/healthz\n{}", server.logs());

    let plain = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap();
    let result = healthz(&plain, format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(result.is_err(), "plain HTTP to the https port should fail, got {result:?}");

    // A client that does not trust the test CA refuses the server's certificate.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let untrusting = reqwest::Client::builder()
        .tls_certs_only(Vec::<Certificate>::new())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    let result = healthz(&untrusting, format!("https://127.0.0.1:{port}/healthz")).await;
    assert!(result.is_err(), "an untrusted certificate should be refused, got {result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_client_ca_path_only_clients_with_a_certificate_of_that_ca_get_in() {
    let pki = Pki::new();
    let with_cert = pki.client(true);
    let server = TestServer::start_with(StartOptions {
        server_yaml: pki.server_yaml(&pki.path("server.pem"), true),
        https: Some(with_cert.clone()),
        ..StartOptions::default()
    })
    .await;
    let url = format!("https://127.0.0.1:{}/healthz", server.port());

    let status = healthz(&with_cert, url.clone()).await;
    assert_eq!(status.unwrap(), 200, "GET {url} with a client certificate\n{}", server.logs());

    let result = healthz(&pki.client(false), url.clone()).await;
    assert!(result.is_err(), "a client without a certificate should be refused, got {result:?}");

    // A certificate from another CA is refused too.
    let other = Pki::new();
    let stranger = reqwest::Client::builder()
        .tls_certs_only([Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap()])
        .identity(Identity::from_pem(&std::fs::read(other.path("client.pem")).unwrap()).unwrap())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    let result = healthz(&stranger, url).await;
    assert!(result.is_err(), "a certificate of another CA should be refused, got {result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_cert_path_stops_the_server_naming_the_key() {
    let pki = Pki::new();
    let failure = TestServer::start_failure(StartOptions {
        server_yaml: pki.server_yaml(&pki.path("no-such-cert.pem"), false),
        https: Some(pki.client(false)),
        ..StartOptions::default()
    })
    .await;
    // The harness reports `exited during start-up (<status>)`; mq-server exits 1 on errors.
    assert!(failure.contains("exited during start-up (exit status: 1)"), "{failure}");
    assert!(failure.contains("server.tls.cert_path"), "{failure}");
    assert!(failure.contains("no-such-cert.pem"), "{failure}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rust_client_talks_https_to_a_server_of_a_private_ca() {
    let pki = Pki::new();
    let server = TestServer::start_with(StartOptions {
        server_yaml: pki.server_yaml(&pki.path("server.pem"), false),
        https: Some(pki.client(false)),
        ..StartOptions::default()
    })
    .await;
    let url = format!("https://127.0.0.1:{}", server.port());

    let trusting = mq_client::Client::builder(&url)
        .ca_certificate_pem(pki.ca_pem.as_bytes())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    trusting.healthz().await.unwrap();
    trusting.create_topic(&mq_client::CreateTopic::new("secure")).await.unwrap();
    assert_eq!(trusting.get_topic("secure").await.unwrap().name, "secure");

    // Trusting another CA, the certificate is refused: no connection.
    let other = Pki::new();
    let untrusting = mq_client::Client::builder(&url)
        .ca_certificate_pem(other.ca_pem.as_bytes())
        .retries(0)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .unwrap();
    let refused = untrusting.healthz().await.unwrap_err();
    assert_eq!(refused.kind(), mq_client::ErrorKind::Connect, "{refused:?}");
    let bad = mq_client::Client::builder(&url).ca_certificate_pem("not a certificate").build();
    assert_eq!(bad.unwrap_err().kind(), mq_client::ErrorKind::Client);
}
