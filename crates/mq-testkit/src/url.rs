//! Host and port out of a server URL, for the raw connections tests and start-up checks make.

use std::net::SocketAddr;

use anyhow::Context as _;

/// The first address `host:port` resolves to.
pub(crate) async fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    // An IPv6 literal may come in URL brackets.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to no address"))
}

/// Host and port of a `redis://[user:pass@]host[:port][/db]` or `mongodb://...` URL; the first
/// host of a list, `default_port` when none is given. For raw connections in tests only.
pub(crate) fn host_and_port(url: &str, default_port: u16) -> (String, u16) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, hosts)| hosts);
    let first = hosts.split(',').next().unwrap_or(hosts);
    if let Some(bracketed) = first.strip_prefix('[') {
        // An IPv6 literal: [::1]:6379.
        let (host, after) = bracketed.split_once(']').unwrap_or((bracketed, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(default_port);
        return (host.to_owned(), port);
    }
    match first.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().unwrap_or(default_port)),
        None => (first.to_owned(), default_port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_of_urls() {
        let check = |url: &str, host: &str, port: u16| {
            assert_eq!(host_and_port(url, 1), (host.to_owned(), port), "{url}");
        };
        check("redis://127.0.0.1:6380", "127.0.0.1", 6380);
        check("redis://127.0.0.1", "127.0.0.1", 1);
        check("redis://user:p%40ss@cache:7000/2", "cache", 7000);
        check("rediss://[::1]:6390/0", "::1", 6390);
        check("mongodb://a:27018,b:27019/?replicaSet=rs0", "a", 27018);
        check("mongodb://u:p@db/?authSource=admin", "db", 1);
    }
}
