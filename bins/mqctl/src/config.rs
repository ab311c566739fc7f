//! Where `mqctl` finds its server, token and CA certificate: flags, then the environment
//! (`MQCTL_SERVER`, `MQCTL_TOKEN`, `MQCTL_CA_CERT`, read by clap into the same fields), then
//! the config file, then the default URL. The variables are not `MQ_*`: those configure
//! `mq-server`, which refuses variables it does not know.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use crate::exit::Failure;

/// The server when neither a flag, the environment nor the config file names one.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The config file (`config.toml`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Base URL of the server.
    pub server: Option<String>,
    /// Bearer token.
    pub token: Option<String>,
    /// PEM file of a private CA for https; relative to the config file's directory.
    pub ca_cert: Option<PathBuf>,
}

/// What the flags and the environment gave (clap merges the two: a flag beats its variable).
#[derive(Debug, Default, Clone)]
pub struct Given {
    /// `--server` / `MQCTL_SERVER`.
    pub server: Option<String>,
    /// `--token` / `MQCTL_TOKEN`.
    pub token: Option<String>,
    /// `--ca-cert` / `MQCTL_CA_CERT`.
    pub ca_cert: Option<PathBuf>,
    /// `--config` / `MQCTL_CONFIG`: must exist when given.
    pub config: Option<PathBuf>,
    /// `--timeout`.
    pub timeout: Duration,
}

/// The settings a client is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Base URL of the server.
    pub server: String,
    /// Bearer token, if any.
    pub token: Option<String>,
    /// PEM file of a private CA, if any.
    pub ca_cert: Option<PathBuf>,
    /// Bound on each call.
    pub timeout: Duration,
}

/// The default config file: `$XDG_CONFIG_HOME/mqctl/config.toml`, else
/// `$HOME/.config/mqctl/config.toml`.
pub fn default_path(xdg_config_home: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    let base = match (xdg_config_home, home) {
        (Some(xdg), _) if !xdg.is_empty() => PathBuf::from(xdg),
        (_, Some(home)) if !home.is_empty() => Path::new(home).join(".config"),
        _ => return None,
    };
    Some(base.join("mqctl").join("config.toml"))
}

/// Reads a config file. A missing file is `None` unless `required` (it was named explicitly).
pub fn read_file(path: &Path, required: bool) -> anyhow::Result<Option<File>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(e) => {
            return Err(Failure::usage(format!("config file {}: {e}", path.display())));
        }
    };
    let mut file: File = toml::from_str(&text)
        .map_err(|e| Failure::usage(format!("config file {}: {e}", path.display())))?;
    // A relative CA path means relative to the file, not to wherever mqctl runs.
    if let (Some(ca), Some(dir)) = (&file.ca_cert, path.parent()) {
        if ca.is_relative() {
            file.ca_cert = Some(dir.join(ca));
        }
    }
    Ok(Some(file))
}

/// Layers flags and environment over the file over the defaults.
pub fn resolve(given: Given, file: Option<File>) -> Settings {
    let file = file.unwrap_or_default();
    let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    Settings {
        server: non_empty(given.server)
            .or(non_empty(file.server))
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
        token: non_empty(given.token).or(non_empty(file.token)),
        ca_cert: given.ca_cert.or(file.ca_cert),
        timeout: given.timeout,
    }
}

/// The settings: the config file named by `given.config` (required) or the default one
/// (optional), under the flags and the environment.
pub fn load(given: Given) -> anyhow::Result<Settings> {
    let file = match &given.config {
        Some(path) => read_file(path, true)?,
        None => {
            let xdg = std::env::var("XDG_CONFIG_HOME").ok();
            let home = std::env::var("HOME").ok();
            match default_path(xdg.as_deref(), home.as_deref()) {
                Some(path) => read_file(&path, false)?,
                None => None,
            }
        }
    };
    Ok(resolve(given, file))
}

/// The client of `settings`.
pub fn client(settings: &Settings) -> anyhow::Result<mq_client::Client> {
    let mut builder = mq_client::Client::builder(settings.server.clone()).timeout(settings.timeout);
    if let Some(token) = &settings.token {
        builder = builder.token(token.trim());
    }
    if let Some(path) = &settings.ca_cert {
        let pem = std::fs::read(path)
            .with_context(|| format!("CA certificate {}", path.display()))
            .map_err(|e| Failure::usage(format!("{e:#}")))?;
        builder = builder.ca_certificate_pem(pem);
    }
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(server: Option<&str>, token: Option<&str>) -> Given {
        Given {
            server: server.map(str::to_owned),
            token: token.map(str::to_owned),
            timeout: Duration::from_secs(30),
            ..Given::default()
        }
    }

    #[test]
    fn flags_and_environment_beat_the_file_which_beats_the_default() {
        let file = File {
            server: Some("http://file:1".into()),
            token: Some("file-token".into()),
            ca_cert: Some("/ca.pem".into()),
        };
        let s = resolve(given(Some("http://flag:1"), Some("flag-token")), Some(file.clone()));
        assert_eq!((s.server.as_str(), s.token.as_deref()), ("http://flag:1", Some("flag-token")));
        assert_eq!(s.ca_cert, Some(PathBuf::from("/ca.pem")));
        let s = resolve(given(None, None), Some(file));
        assert_eq!((s.server.as_str(), s.token.as_deref()), ("http://file:1", Some("file-token")));
        let s = resolve(given(None, Some("")), None);
        assert_eq!((s.server.as_str(), s.token), (DEFAULT_SERVER, None));
    }

    #[test]
    fn default_path_follows_xdg() {
        assert_eq!(
            default_path(Some("/x"), Some("/home/u")),
            Some(PathBuf::from("/x/mqctl/config.toml"))
        );
        assert_eq!(
            default_path(Some(""), Some("/home/u")),
            Some(PathBuf::from("/home/u/.config/mqctl/config.toml"))
        );
        assert_eq!(default_path(None, None), None);
    }

    #[test]
    fn files_are_read_strictly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(read_file(&path, false).unwrap(), None);
        let missing = read_file(&path, true).unwrap_err();
        assert_eq!(crate::exit::code(&missing), crate::exit::USAGE);

        std::fs::write(&path, "server = \"http://h:1\"\ntoken = \"t\"\nca_cert = \"ca.pem\"\n")
            .unwrap();
        let file = read_file(&path, true).unwrap().unwrap();
        assert_eq!(file.server.as_deref(), Some("http://h:1"));
        assert_eq!(file.ca_cert, Some(dir.path().join("ca.pem")));

        std::fs::write(&path, "sever = \"http://h:1\"\n").unwrap();
        let error = read_file(&path, false).unwrap_err();
        assert!(format!("{error:#}").contains("sever"), "{error:#}");
        assert_eq!(crate::exit::code(&error), crate::exit::USAGE);
    }
}
