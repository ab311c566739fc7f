//! `GET /consume/stream`: consuming as Server-Sent Events. Messages are pushed as they arrive,
//! each event carrying what `POST /consume` returns for a message; acks and nacks go through
//! the usual routes. Flow control: at most `maxInFlight` unacknowledged messages are out at a
//! time. A comment line every `heartbeatMs` keeps proxies from closing an idle stream; on
//! shutdown the stream sends `event: end` and closes.

use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use mq_broker::{Broker, BrokerError, FetchRequest};
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa::IntoParams;

use super::Routes;
use crate::dto::MessageOut;
use crate::extract::number;
use crate::limits::Limits;
use crate::openapi::ErrorEnvelope;
use crate::security::Caller;
use crate::ApiError;

/// How long one fetch of the stream waits for messages.
const FETCH_WAIT: Duration = Duration::from_secs(1);
/// How soon a stream with no room first looks again whether acks made some: a client that
/// keeps up acks within milliseconds. Each look that finds none doubles the pause, up to
/// [`ROOM_POLL_MAX`] for a client that is busy. (A flat 100 ms capped a stream at
/// `maxInFlight` messages per 100 ms however fast the client acked.)
const ROOM_POLL_FIRST: Duration = Duration::from_millis(5);
/// The longest pause between looks for room.
const ROOM_POLL_MAX: Duration = Duration::from_millis(100);

pub(super) fn mount(routes: &mut Routes<'_>) {
    routes.add(__path_stream, stream);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
struct StreamQuery {
    /// The topic to read.
    #[param(min_length = 1)]
    topic_name: String,
    /// The consumer group, which must exist.
    #[param(min_length = 1)]
    group_id: String,
    /// This consumer's id: 1 to 255 characters, no control characters.
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]{1,255}$")]
    consumer_id: String,
    /// Most unacknowledged messages out at a time, 1 to 1000 (default 100).
    #[param(value_type = Option<u64>, minimum = 1, maximum = 1000)]
    max_in_flight: Option<String>,
    /// Milliseconds between heartbeat comments on an idle stream, 100 to 60000
    /// (default 15000).
    #[param(value_type = Option<u64>, minimum = 100, maximum = 60000)]
    heartbeat_ms: Option<String>,
}

fn event(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// Consumes as Server-Sent Events: messages are pushed as they arrive.
///
/// Each `event: message` carries in `data` one message as `POST /consume` returns it (with its
/// `receipt`); acknowledge, nack or extend through the usual routes. At most `maxInFlight`
/// unacknowledged messages are out at a time. A comment line (`: heartbeat`) comes every
/// `heartbeatMs` on an idle stream; on shutdown the stream sends `event: end` and closes, and
/// a broker error ends it with `event: error`. Needs the consume permission for the topic.
#[utoipa::path(
    get,
    path = "/api/v1/mq/consume/stream",
    tag = "consume",
    operation_id = "consumeStream",
    params(StreamQuery),
    responses(
        (status = 200, description = "The event stream (`message`, `end` and `error` events, \
         and heartbeat comments).", content_type = "text/event-stream", body = String),
        (status = 404, description = "The topic or the group does not exist.",
         body = ErrorEnvelope),
        (status = 503, description = "This server already holds `max_long_polls` (default \
         512) long polls and streams; retry after `Retry-After` seconds.", body = ErrorEnvelope),
    ),
)]
async fn stream(
    broker: web::Data<Broker>,
    limits: web::Data<Limits>,
    caller: Caller,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    caller.may_consume(&q.topic_name)?;
    let max_in_flight = number("maxInFlight", q.max_in_flight.as_deref(), 100, 1, 1000)?;
    let heartbeat = number("heartbeatMs", q.heartbeat_ms.as_deref(), 15_000, 100, 60_000)?;
    // Refuse unknown topics, groups and bad ids now, with a status, rather than in the stream.
    broker.in_flight(&q.topic_name, &q.group_id, &q.consumer_id).await?;
    mq_model::validate_client_id("consumerId", &q.consumer_id)
        .map_err(|e| ApiError::Broker(e.into()))?;
    let place = limits.long_poll()?;
    let (sender, receiver) = mpsc::channel::<Bytes>(16);
    let broker = broker.into_inner();
    actix_web::rt::spawn(async move {
        // Held while the stream is pumped: it ends when the client goes away or on shutdown.
        let _place = place;
        let result =
            pump(&broker, &q, max_in_flight, Duration::from_millis(heartbeat), &sender).await;
        let last = match result {
            Ok(()) | Err(Stop::Gone) => return,
            Err(Stop::Broker(BrokerError::ShuttingDown)) => {
                event("end", r#"{"reason":"shutdown"}"#)
            }
            Err(Stop::Broker(error)) => {
                let text = serde_json::json!({"reason": error.to_string()}).to_string();
                event("error", &text)
            }
        };
        let _ = sender.send(last).await;
    });
    let body = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|bytes| (Ok::<_, actix_web::Error>(bytes), receiver))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .streaming(body))
}

/// Why a stream ends.
enum Stop {
    /// The client went away.
    Gone,
    /// The broker refused or is shutting down.
    Broker(BrokerError),
}

async fn pump(
    broker: &Broker,
    q: &StreamQuery,
    max_in_flight: u64,
    heartbeat: Duration,
    sender: &mpsc::Sender<Bytes>,
) -> Result<(), Stop> {
    let send = |bytes: Bytes| async { sender.send(bytes).await.map_err(|_| Stop::Gone) };
    send(Bytes::from_static(b": stream open\n\n")).await?;
    let mut last_sent = Instant::now();
    let mut room_poll = ROOM_POLL_FIRST;
    loop {
        if broker.is_shutting_down() {
            return Err(Stop::Broker(BrokerError::ShuttingDown));
        }
        if sender.is_closed() {
            return Err(Stop::Gone);
        }
        let held = broker
            .in_flight(&q.topic_name, &q.group_id, &q.consumer_id)
            .await
            .map_err(Stop::Broker)?;
        let room = max_in_flight.saturating_sub(held);
        let messages = if room == 0 {
            tokio::time::sleep(room_poll).await;
            room_poll = (room_poll * 2).min(ROOM_POLL_MAX);
            Vec::new()
        } else {
            room_poll = ROOM_POLL_FIRST;
            let request = FetchRequest {
                topic_name: q.topic_name.clone(),
                group_id: q.group_id.clone(),
                consumer_id: q.consumer_id.clone(),
                max_messages: usize::try_from(room.min(100)).unwrap_or(100),
                wait: FETCH_WAIT,
            };
            broker.fetch(&request).await.map_err(Stop::Broker)?
        };
        let mut messages = messages.into_iter();
        while let Some(message) = messages.next() {
            let receipt = message.receipt.clone();
            let data = serde_json::to_string(&MessageOut::from(message)).unwrap_or_default();
            if send(event("message", &data)).await.is_err() {
                // The client is gone: what it never got goes back at once, as no failed
                // attempt, rather than after the ack timeout (which still covers a failed
                // release, and whatever was sent but not read).
                let unsent: Vec<String> =
                    std::iter::once(receipt).chain(messages.map(|m| m.receipt)).collect();
                let _ = broker.release(&q.topic_name, &q.group_id, &unsent).await;
                return Err(Stop::Gone);
            }
            last_sent = Instant::now();
        }
        if last_sent.elapsed() >= heartbeat {
            send(Bytes::from_static(b": heartbeat\n\n")).await?;
            last_sent = Instant::now();
        }
    }
}
