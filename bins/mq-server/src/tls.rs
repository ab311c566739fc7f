//! https for the listener (design §7.3): the rustls settings built from `server.tls`, on the
//! ring provider that the Redis and MongoDB clients already bring.
//!
//! Every file is read and checked here, at start-up, so that a wrong path or a broken PEM
//! stops the server with the config key's name instead of failing each handshake later.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context as _};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};

use crate::config::TlsConfig;

/// The rustls server settings of `server.tls`, or `None` when TLS is off.
pub fn server_config(cfg: &TlsConfig) -> anyhow::Result<Option<ServerConfig>> {
    if !cfg.enabled {
        return Ok(None);
    }
    let certs = certificates(required(&cfg.cert_path, "cert_path")?, "server.tls.cert_path")?;
    let key_path = required(&cfg.key_path, "key_path")?;
    let key = PrivateKeyDer::from_pem_slice(&read(key_path, "server.tls.key_path")?).with_context(
        || format!("server.tls.key_path {}: no PEM private key in it", key_path.display()),
    )?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("the TLS protocol versions of the ring provider")?;
    let builder = match &cfg.client_ca_path {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
    };
    let config = builder.with_single_cert(certs, key).with_context(|| {
        format!(
            "server.tls.cert_path {} and server.tls.key_path {}: the key is unsupported or \
             does not belong to the certificate",
            display(&cfg.cert_path),
            key_path.display()
        )
    })?;
    Ok(Some(config))
}

/// Requires a client certificate signed by one of the CAs in `path`.
fn client_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, "server.tls.client_ca_path")? {
        roots.add(cert).with_context(|| {
            format!("server.tls.client_ca_path {}: not a usable CA certificate", path.display())
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build().with_context(
        || format!("server.tls.client_ca_path {}: unusable CA certificates", path.display()),
    )
}

/// Every certificate in a PEM file; at least one.
fn certificates(path: &Path, key: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(&read(path, key)?)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{key} {}: invalid PEM", path.display()))?;
    if certs.is_empty() {
        bail!("{key} {}: no PEM certificate (BEGIN CERTIFICATE) in it", path.display());
    }
    Ok(certs)
}

fn read(path: &Path, key: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {key} {}", path.display()))
}

/// `server.tls.<key>`, which `Config::validate` already required when TLS is on.
fn required<'a>(path: &'a Option<PathBuf>, key: &str) -> anyhow::Result<&'a Path> {
    match path {
        Some(path) => Ok(path),
        None => bail!("server.tls.{key} must be set when server.tls.enabled is true"),
    }
}

fn display(path: &Option<PathBuf>) -> String {
    path.as_deref().map_or_else(|| "(unset)".to_owned(), |p| p.display().to_string())
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    use super::*;

    /// A scratch directory with `name -> contents` files, and the config naming them.
    fn setup(files: &[(&str, String)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).unwrap();
        }
        dir
    }

    fn tls(dir: &Path, cert: &str, key: &str, client_ca: Option<&str>) -> TlsConfig {
        TlsConfig {
            enabled: true,
            cert_path: Some(dir.join(cert)),
            key_path: Some(dir.join(key)),
            client_ca_path: client_ca.map(|name| dir.join(name)),
        }
    }

    /// A CA's PEM, and a certificate for localhost signed by it with its key's PEM.
    fn ca_and_leaf() -> (String, String, String) {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&key, &ca)
            .unwrap();
        (ca.pem(), leaf.pem(), key.serialize_pem())
    }

    fn error(cfg: &TlsConfig) -> String {
        format!("{:#}", server_config(cfg).unwrap_err())
    }

    #[test]
    fn off_by_default() {
        assert!(server_config(&TlsConfig::default()).unwrap().is_none());
    }

    #[test]
    fn valid_files_with_and_without_client_ca() {
        let (ca, cert, key) = ca_and_leaf();
        let dir = setup(&[("ca.pem", ca), ("cert.pem", cert), ("key.pem", key)]);
        assert!(server_config(&tls(dir.path(), "cert.pem", "key.pem", None)).unwrap().is_some());
        let mtls = tls(dir.path(), "cert.pem", "key.pem", Some("ca.pem"));
        assert!(server_config(&mtls).unwrap().is_some());
    }

    #[test]
    fn bad_files_name_the_key() {
        let (ca, cert, key) = ca_and_leaf();
        let (_, _, other_key) = ca_and_leaf();
        let dir = setup(&[
            ("ca.pem", ca),
            ("cert.pem", cert),
            ("key.pem", key),
            ("other-key.pem", other_key),
            ("junk.pem", "not a PEM file\n".to_owned()),
        ]);
        let d = dir.path();
        let cases = [
            (tls(d, "missing.pem", "key.pem", None), "server.tls.cert_path"),
            (tls(d, "junk.pem", "key.pem", None), "server.tls.cert_path"),
            (tls(d, "key.pem", "key.pem", None), "server.tls.cert_path"),
            (tls(d, "cert.pem", "missing.pem", None), "server.tls.key_path"),
            (tls(d, "cert.pem", "junk.pem", None), "server.tls.key_path"),
            (tls(d, "cert.pem", "cert.pem", None), "server.tls.key_path"),
            (tls(d, "cert.pem", "other-key.pem", None), "does not belong"),
            (tls(d, "cert.pem", "key.pem", Some("missing.pem")), "server.tls.client_ca_path"),
            (tls(d, "cert.pem", "key.pem", Some("junk.pem")), "server.tls.client_ca_path"),
        ];
        for (cfg, expected) in cases {
            let text = error(&cfg);
            assert!(text.contains(expected), "expected {expected:?} in: {text}");
        }
    }
}
