//! A minimal HTTP/1.1 server on loopback that records each JSON body POSTed to it and answers
//! with scripted decisions: a producer's check-back endpoint for the transaction tests, and a
//! webhook receiver for the alert tests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running recorder; stops when dropped.
#[derive(Debug)]
pub struct Recorder {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Value>>>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Answers the n-th check-back with `decisions[n]` (`"commit"`, `"rollback"`,
    /// `"unknown"`), the last one repeated.
    pub async fn start(decisions: &[&str]) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a check-back server");
        let addr = listener.local_addr().expect("its address");
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let decisions: Vec<String> = decisions.iter().map(|d| (*d).to_owned()).collect();
        let seen = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, decisions) = (seen.clone(), decisions.clone());
                tokio::spawn(async move {
                    let _ = answer(stream, &seen, &decisions).await;
                });
            }
        });
        Recorder { addr, requests, task }
    }

    /// The URL to give as `checkbackUrl` or webhook.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    mut stream: TcpStream,
    seen: &Mutex<Vec<Value>>,
    decisions: &[String],
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let (head_end, length) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    let body: Value = serde_json::from_slice(&buffer[head_end..]).unwrap_or(Value::Null);
    let decision = {
        let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        seen.push(body);
        let n = seen.len() - 1;
        decisions.get(n).or(decisions.last()).cloned().unwrap_or_else(|| "unknown".into())
    };
    let reply = format!("{{\"decision\":\"{decision}\"}}");
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{reply}",
        reply.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
