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

use super::resource;
use crate::dto::MessageOut;
use crate::extract::number;
use crate::security::Caller;
use crate::ApiError;

/// How long one fetch of the stream waits for messages.
const FETCH_WAIT: Duration = Duration::from_secs(1);
/// How often a stream with no room looks again whether acks made some.
const ROOM_POLL: Duration = Duration::from_millis(100);

pub(super) fn mount(app: &mut web::ServiceConfig) {
    app.service(resource("/consume/stream").route(web::get().to(stream)));
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StreamQuery {
    topic_name: String,
    group_id: String,
    consumer_id: String,
    max_in_flight: Option<String>,
    heartbeat_ms: Option<String>,
}

fn event(name: &str, data: &str) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

async fn stream(
    broker: web::Data<Broker>,
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
    let (sender, receiver) = mpsc::channel::<Bytes>(16);
    let broker = broker.into_inner();
    actix_web::rt::spawn(async move {
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
            tokio::time::sleep(ROOM_POLL).await;
            Vec::new()
        } else {
            let request = FetchRequest {
                topic_name: q.topic_name.clone(),
                group_id: q.group_id.clone(),
                consumer_id: q.consumer_id.clone(),
                max_messages: usize::try_from(room.min(100)).unwrap_or(100),
                wait: FETCH_WAIT,
            };
            broker.fetch(&request).await.map_err(Stop::Broker)?
        };
        for message in messages {
            let data = serde_json::to_string(&MessageOut::from(message)).unwrap_or_default();
            send(event("message", &data)).await?;
            last_sent = Instant::now();
        }
        if last_sent.elapsed() >= heartbeat {
            send(Bytes::from_static(b": heartbeat\n\n")).await?;
            last_sent = Instant::now();
        }
    }
}
