//! A quick, bounded check whether a Docker engine answers, so fixtures use testcontainers only
//! when it can work and otherwise fall back to a local server without waiting on Docker.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The whole probe (connect, request, answer) must finish within this bound: a machine without
/// an engine should cost the test suite next to nothing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Where the Docker CLI and testcontainers look when `DOCKER_HOST` is unset.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// Whether fixtures should try testcontainers: false when `MQTEST_NO_DOCKER` is set to anything
/// but `0`/empty, else whether the engine at `DOCKER_HOST` (or the default socket) answers
/// `GET /_ping` within about a second.
pub(crate) async fn available() -> bool {
    if crate::process::env_flag("MQTEST_NO_DOCKER") {
        return false;
    }
    tokio::time::timeout(PROBE_TIMEOUT, ping()).await.unwrap_or(false)
}

async fn ping() -> bool {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    if host.is_empty() {
        return ping_unix(DEFAULT_SOCKET).await;
    }
    if let Some(path) = host.strip_prefix("unix://") {
        return ping_unix(path).await;
    }
    if let Some(rest) = host.strip_prefix("tcp://") {
        let authority = rest.split('/').next().unwrap_or(rest);
        let Ok(mut stream) = tokio::net::TcpStream::connect(authority).await else {
            return false;
        };
        // A TLS-protected engine would not understand a plain HTTP request; that it accepts the
        // connection is as much as this probe can tell, and testcontainers reports the rest.
        if std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty()) {
            return true;
        }
        return http_ping(&mut stream).await;
    }
    // ssh:// and npipe:// engines are not probed; use MQTEST_REDIS_URL/MQTEST_MONGO_URI there.
    false
}

#[cfg(unix)]
async fn ping_unix(path: &str) -> bool {
    match tokio::net::UnixStream::connect(path).await {
        Ok(mut stream) => http_ping(&mut stream).await,
        Err(_) => false,
    }
}

#[cfg(not(unix))]
async fn ping_unix(_path: &str) -> bool {
    false
}

/// Sends the engine's health request and checks for `200 OK`.
async fn http_ping<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S) -> bool {
    let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    if stream.write_all(request).await.is_err() {
        return false;
    }
    let mut answer = Vec::with_capacity(256);
    let mut chunk = [0_u8; 256];
    // The status line is all we need; HTTP/1.0 lets the engine close after answering.
    while !answer.windows(2).any(|w| w == b"\r\n") && answer.len() < 4096 {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
    }
    let status_line = String::from_utf8_lossy(&answer);
    let mut parts = status_line.split_whitespace();
    matches!(
        (parts.next(), parts.next()),
        (Some(version), Some("200")) if version.starts_with("HTTP/1.")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ping_reads_the_status_line() {
        let (mut client, mut server) = tokio::io::duplex(1024);
        let engine = tokio::spawn(async move {
            let mut buf = [0_u8; 128];
            let _ = server.read(&mut buf).await.unwrap();
            server.write_all(b"HTTP/1.0 200 OK\r\nApi-Version: 1.45\r\n\r\nOK").await.unwrap();
        });
        assert!(http_ping(&mut client).await);
        engine.await.unwrap();

        let (mut client, mut server) = tokio::io::duplex(1024);
        tokio::spawn(async move {
            let mut buf = [0_u8; 128];
            let _ = server.read(&mut buf).await.unwrap();
            server.write_all(b"HTTP/1.0 500 Internal Server Error\r\n\r\n").await.unwrap();
        });
        assert!(!http_ping(&mut client).await);
    }
}
