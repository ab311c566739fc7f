//! Streaming consume: `GET /consume/stream` read as Server-Sent Events and handed out as a
//! `Stream` of deliveries.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{Stream, StreamExt as _};
use reqwest::Method;

use crate::client::snippet;
use crate::consume::Delivery;
use crate::error::{Error, Result};
use crate::Client;

/// The server's heartbeat interval when the request does not choose one.
const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(15_000);

/// Bound on one line of the stream: an event carries one message, at most 16 MiB of value,
/// which base64 makes larger.
const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// A streaming consume (`GET /consume/stream`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamConsume {
    /// The topic.
    pub topic_name: String,
    /// The consumer group; it must exist.
    pub group_id: String,
    /// This consumer.
    pub consumer_id: String,
    /// At most this many unacknowledged messages out at a time (server default 100, at most
    /// 1000): the stream pauses until acks make room.
    pub max_in_flight: Option<u32>,
    /// The server sends a heartbeat comment after this long without an event (server default
    /// 15000, 100 to 60000).
    pub heartbeat_ms: Option<u64>,
}

impl StreamConsume {
    /// A stream for `consumer` of `group` on `topic` with the server's defaults.
    pub fn new(
        topic: impl Into<String>,
        group: impl Into<String>,
        consumer: impl Into<String>,
    ) -> StreamConsume {
        StreamConsume {
            topic_name: topic.into(),
            group_id: group.into(),
            consumer_id: consumer.into(),
            ..StreamConsume::default()
        }
    }

    /// At most `max` unacknowledged messages at a time.
    pub fn max_in_flight(mut self, max: u32) -> StreamConsume {
        self.max_in_flight = Some(max);
        self
    }
}

/// Deliveries pushed by the server as they arrive ([`Client::stream`]).
///
/// Yields each message event as a [`Delivery`]; heartbeats are skipped. Ends (`None`) when the
/// server sends `event: end` (it is shutting down). Yields one error and then ends when the
/// server sends `event: error`, the connection breaks or closes without `end`, or nothing at all
/// (not even a heartbeat) arrives for twice the heartbeat interval plus the client's timeout.
/// A message event that does not decode yields an error and the stream goes on.
///
/// Once ended it stays ended. The stream is not reopened automatically; unacknowledged deliveries of a stream that ended
/// are redelivered after the group's ack timeout.
pub struct DeliveryStream {
    inner: Pin<Box<dyn Stream<Item = Result<Delivery>> + Send>>,
}

impl std::fmt::Debug for DeliveryStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryStream").finish_non_exhaustive()
    }
}

impl Stream for DeliveryStream {
    type Item = Result<Delivery>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl Client {
    /// `GET /consume/stream`: messages pushed as they arrive, at most `max_in_flight`
    /// unacknowledged at a time; settle them with [`Client::ack`] and [`Client::nack`].
    ///
    /// An unknown topic or group, or a bad parameter, is an error here, before any event.
    /// Opening is retried like any GET; once open, the stream has no total timeout.
    pub async fn stream(&self, request: &StreamConsume) -> Result<DeliveryStream> {
        let call = self
            .api(Method::GET, &["consume", "stream"])
            .query("topicName", Some(&request.topic_name))
            .query("groupId", Some(&request.group_id))
            .query("consumerId", Some(&request.consumer_id))
            .query("maxInFlight", request.max_in_flight)
            .query("heartbeatMs", request.heartbeat_ms);
        let endpoint = call.endpoint();
        let response = self.open(call).await?;
        let heartbeat = request.heartbeat_ms.map_or(DEFAULT_HEARTBEAT, Duration::from_millis);
        let reader = Reader {
            response: Some(response),
            parser: SseParser::default(),
            idle: heartbeat.saturating_mul(2).saturating_add(self.timeout()),
            endpoint,
        };
        // Fused: polled again after its end, it stays ended rather than panicking.
        let stream = futures_util::stream::unfold(reader, |mut reader| async move {
            let item = reader.next().await?;
            Some((item, reader))
        })
        .fuse();
        Ok(DeliveryStream { inner: Box::pin(stream) })
    }
}

/// The state of an open stream.
struct Reader {
    /// `None` once the stream ended; dropping it closes the connection.
    response: Option<reqwest::Response>,
    parser: SseParser,
    idle: Duration,
    endpoint: String,
}

impl Reader {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        loop {
            while let Some(event) = self.parser.next_event() {
                match event.name.as_str() {
                    "message" => return Some(self.decode(&event.data)),
                    "end" => return self.finish(None),
                    "error" => {
                        let reason = error_reason(&event.data);
                        return self.finish(Some(Error::Stream { reason }));
                    }
                    // Event types this client does not know are skipped.
                    _ => {}
                }
            }
            let response = self.response.as_mut()?;
            match tokio::time::timeout(self.idle, response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    self.parser.push(&chunk);
                    if self.parser.buffered() > MAX_LINE_BYTES {
                        let reason = format!("a line longer than {MAX_LINE_BYTES} bytes");
                        return self.finish(Some(Error::Stream { reason }));
                    }
                }
                Ok(Ok(None)) => {
                    let reason = "the server closed the stream without an end event".to_owned();
                    return self.finish(Some(Error::Stream { reason }));
                }
                Ok(Err(source)) => {
                    let error = Error::Transport { endpoint: self.endpoint.clone(), source };
                    return self.finish(Some(error));
                }
                Err(_) => {
                    let reason = format!(
                        "nothing, not even a heartbeat, for {:?}; the connection is presumed dead",
                        self.idle
                    );
                    return self.finish(Some(Error::Stream { reason }));
                }
            }
        }
    }

    /// Ends the stream, with `error` as its last item when there is one.
    fn finish(&mut self, error: Option<Error>) -> Option<Result<Delivery>> {
        self.response = None;
        self.parser = SseParser::default();
        error.map(Err)
    }

    fn decode(&self, data: &str) -> Result<Delivery> {
        let mut deserializer = serde_json::Deserializer::from_str(data);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|e| Error::Decode {
            endpoint: format!("{} (message event)", self.endpoint),
            reason: e.to_string(),
            snippet: snippet(data.as_bytes()),
        })
    }
}

/// The `reason` of an `error` event's `{"reason": "..."}`, or its data as it is.
fn error_reason(data: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Reason {
        reason: String,
    }
    serde_json::from_str::<Reason>(data).map_or_else(|_| data.to_owned(), |r| r.reason)
}

/// One Server-Sent Event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SseEvent {
    /// `event:`, `message` when absent.
    name: String,
    /// The `data:` lines joined by newlines.
    data: String,
}

/// A parser of the `text/event-stream` format (the WHATWG HTML standard's, for lines ending in
/// LF or CRLF): fed chunks as they arrive, it hands out complete events; comments (`:` lines,
/// the server's heartbeats), `id` and `retry` are ignored.
#[derive(Debug, Default)]
struct SseParser {
    /// Bytes after the last complete line.
    partial: Vec<u8>,
    name: String,
    data: String,
    /// Whether a `data:` line was seen since the last event.
    has_data: bool,
    ready: VecDeque<SseEvent>,
}

impl SseParser {
    fn push(&mut self, bytes: &[u8]) {
        self.partial.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(length) = self.partial[start..].iter().position(|&b| b == b'\n') {
            let line = &self.partial[start..start + length];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            // Whole lines only, so a character split between chunks is whole here.
            let text = String::from_utf8_lossy(line).into_owned();
            start += length + 1;
            self.line(&text);
        }
        self.partial.drain(..start);
    }

    fn line(&mut self, line: &str) {
        if line.is_empty() {
            // A blank line dispatches the event; one without data is dropped, as the
            // standard says.
            let name = std::mem::take(&mut self.name);
            if std::mem::take(&mut self.has_data) {
                let mut data = std::mem::take(&mut self.data);
                if data.ends_with('\n') {
                    data.pop();
                }
                let name = if name.is_empty() { "message".to_owned() } else { name };
                self.ready.push_back(SseEvent { name, data });
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.name),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            _ => {}
        }
    }

    fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    /// Bytes waiting for the end of their line.
    fn buffered(&self) -> usize {
        self.partial.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let mut parser = SseParser::default();
        let mut out = Vec::new();
        for chunk in chunks {
            parser.push(chunk);
            while let Some(event) = parser.next_event() {
                out.push((event.name, event.data));
            }
        }
        out
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, d)| ((*n).to_owned(), (*d).to_owned())).collect()
    }

    #[test]
    fn events_are_parsed_whatever_the_chunking() {
        let stream: &[u8] = b": stream open\n\nevent: message\ndata: {\"a\":1}\n\n\
            : heartbeat\n\nevent: message\r\ndata:{\"b\":\"\xc3\xa9\"}\r\n\r\n\
            data: one\ndata: two\nid: 7\nretry: 10\n\nevent: end\ndata: {\"reason\":\"shutdown\"}\n\n";
        let want = pairs(&[
            ("message", "{\"a\":1}"),
            ("message", "{\"b\":\"é\"}"),
            ("message", "one\ntwo"),
            ("end", "{\"reason\":\"shutdown\"}"),
        ]);
        assert_eq!(events(&[stream]), want);
        // Every split point, including inside the two-byte é.
        for split in 0..stream.len() {
            let (a, b) = stream.split_at(split);
            assert_eq!(events(&[a, b]), want, "split at {split}");
        }
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(events(&bytes), want);
    }

    #[test]
    fn events_without_data_and_unfinished_ones_are_not_dispatched() {
        assert!(events(&[b"event: end\n\n"]).is_empty());
        assert!(events(&[b"event: message\ndata: x\n"]).is_empty());
        assert_eq!(events(&[b"data\n\n"]), pairs(&[("message", "")]));
        assert_eq!(error_reason(r#"{"reason":"topic deleted"}"#), "topic deleted");
        assert_eq!(error_reason("plain"), "plain");
    }
}
