//! `mqctl consume` (one long-poll fetch), `mqctl tail` (follow over Server-Sent Events),
//! and settling by receipt: `mqctl ack`, `mqctl nack`.

use futures_util::{FutureExt as _, StreamExt as _};
use mq_client::{Consume, Delivery, Nack, StreamConsume};
use serde_json::json;

use super::{default_consumer, ids_from, Ctx};
use crate::cli::{AckArgs, ConsumeArgs, NackArgs, TailArgs};
use crate::exit::{self, Failure};
use crate::output::{self, Output, Table};

/// The server's default `maxInFlight` of a stream.
const DEFAULT_MAX_IN_FLIGHT: u64 = 100;

/// Receipts acknowledged in one call while following.
const ACK_BATCH: usize = 100;

/// Most receipts the API takes in one ack or nack.
const MAX_RECEIPTS: usize = 1000;

/// Runs `consume`: one fetch, printed, then acknowledged unless `--no-ack`.
pub async fn consume(args: ConsumeArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let consumer = args.consumer.unwrap_or_else(default_consumer);
    let request =
        Consume::new(&args.topic, &args.group, consumer).max_messages(args.max).wait(args.wait);
    let deliveries = ctx.client.consume(&request).await?;
    let out = &ctx.out;
    if out.json {
        // The API's shape, fields in its order.
        #[derive(serde::Serialize)]
        struct Fetched<'a> {
            messages: &'a [Delivery],
        }
        out.document(&Fetched { messages: &deliveries })?;
    } else {
        let mut headers = vec!["PARTITION", "OFFSET", "KEY", "DELIVERY"];
        if args.no_ack {
            headers.push("RECEIPT");
        }
        headers.push("VALUE");
        let mut table = Table::new(&headers).right(&[0, 1, 3]);
        for d in &deliveries {
            let mut row = vec![
                d.partition.to_string(),
                d.offset.to_string(),
                output::or_dash(d.key.as_deref()),
                d.delivery_count.to_string(),
            ];
            if args.no_ack {
                row.push(d.receipt.clone());
            }
            row.push(output::value(&d.value));
            table.row(row);
        }
        table.print(out, "no messages")?;
    }
    if !args.no_ack && !deliveries.is_empty() {
        let receipts: Vec<String> = deliveries.iter().map(|d| d.receipt.clone()).collect();
        let acked = ctx.client.ack(&args.topic, &args.group, &receipts).await?;
        if acked < receipts.len() as u64 && !out.json {
            output::note(&format!(
                "acknowledged {acked} of {} (the others were redelivered meanwhile)",
                receipts.len()
            ));
        }
    }
    Ok(())
}

/// Runs `tail`: follows the topic over Server-Sent Events, printing each message and
/// acknowledging it after printing (unless `--manual`), until `--count` messages, Ctrl-C
/// (exit 0) or the end of the stream (the server shutting down: exit 6).
pub async fn tail(args: TailArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let out = &ctx.out;
    let consumer = args.consumer.clone().unwrap_or_else(default_consumer);
    let requested = args.max_in_flight.map_or(DEFAULT_MAX_IN_FLIGHT, u64::from);
    // With --count, the server must not push more than the count: those messages would stay
    // in flight to a consumer that is gone until their ack timeout.
    let max_in_flight = args.count.map_or(requested, |n| requested.min(n));
    let request = StreamConsume::new(&args.topic, &args.group, &consumer)
        .max_in_flight(u32::try_from(max_in_flight).unwrap_or(1000));
    let mut stream = ctx.client.stream(&request).await?;
    if out.interactive() {
        output::note(&format!(
            "following {} as group {} (consumer {consumer}); Ctrl-C to stop",
            args.topic, args.group
        ));
    }

    let mut settle = Settle { to_ack: Vec::new(), held: Vec::new(), acked: 0 };
    let mut seen: u64 = 0;
    let stop = super::interrupted();
    tokio::pin!(stop);
    // Ok(true) when the server ended the stream, Ok(false) at the count or on Ctrl-C.
    let outcome: anyhow::Result<bool> = async {
        loop {
            if args.count.is_some_and(|n| seen >= n) || (&mut stop).now_or_never().is_some() {
                return Ok(false);
            }
            // Take a message that is there already; when none is, settle what was printed
            // first.
            let item = match stream.next().now_or_never() {
                Some(item) => item,
                None => {
                    settle.flush(ctx, &args).await?;
                    tokio::select! {
                        _ = &mut stop => return Ok(false),
                        item = stream.next() => item,
                    }
                }
            };
            let delivery = match item {
                None => return Ok(true),
                Some(Ok(delivery)) => delivery,
                // One message event that does not decode; the stream goes on.
                Some(Err(e)) if e.kind() == mq_client::ErrorKind::Decode => {
                    output::note(&format!("warning: skipped a message: {e}"));
                    continue;
                }
                Some(Err(e)) => return Err(e.into()),
            };
            // A closed stdout (`mqctl tail … | head -1`) ends here, before the message that
            // was not shown is acknowledged.
            show(out, &delivery, args.manual)?;
            seen += 1;
            if args.manual {
                continue;
            }
            // Acknowledging frees room for the server to push another message; near the
            // count, hold the acks until the stream is closed so that nothing more is pushed.
            let after = settle.acked + settle.to_ack.len() as u64 + 1;
            if args.count.is_none_or(|n| after + max_in_flight <= n) {
                settle.to_ack.push(delivery.receipt);
            } else {
                settle.held.push(delivery.receipt);
            }
            if settle.to_ack.len() >= ACK_BATCH {
                settle.flush(ctx, &args).await?;
            }
        }
    }
    .await;
    // Whatever ended the loop, what was shown is acknowledged, after the stream is closed.
    drop(stream);
    settle.to_ack.append(&mut settle.held);
    let flushed = settle.flush(ctx, &args).await;
    let ended = outcome?;
    flushed?;
    if ended {
        return Err(Failure::Code {
            code: exit::CONNECT,
            message: format!("the server ended the stream after {seen} message(s) (shutting down)"),
        }
        .into());
    }
    Ok(())
}

/// Receipts of printed messages: to acknowledge at the next pause, or held until the stream
/// is closed.
struct Settle {
    to_ack: Vec<String>,
    held: Vec<String>,
    acked: u64,
}

impl Settle {
    async fn flush(&mut self, ctx: &Ctx, args: &TailArgs) -> anyhow::Result<()> {
        if self.to_ack.is_empty() {
            return Ok(());
        }
        ctx.client.ack(&args.topic, &args.group, &self.to_ack).await?;
        self.acked += self.to_ack.len() as u64;
        self.to_ack.clear();
        Ok(())
    }
}

/// One followed message: a JSON line, or `partition:offset  key  value` (and the receipt,
/// last, in manual mode).
fn show(out: &Output, d: &Delivery, manual: bool) -> anyhow::Result<()> {
    if out.json {
        return out.json_line(d);
    }
    let mut line = format!(
        "{}  {}  {}",
        out.paint(&format!("{}:{}", d.partition, d.offset), output::Tone::Dim),
        output::or_dash(d.key.as_deref()),
        output::value(&d.value)
    );
    if manual {
        line.push_str("  ");
        line.push_str(&d.receipt);
    }
    output::line(&line)
}

/// Runs `ack`, in requests of up to [`MAX_RECEIPTS`] receipts.
pub async fn ack(args: AckArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let receipts = ids_from(args.receipts)?;
    let mut acked = 0;
    for chunk in receipts.chunks(MAX_RECEIPTS) {
        acked += ctx.client.ack(&args.topic, &args.group, chunk).await?;
    }
    settled(ctx, "acked", "acknowledged", acked, receipts.len())
}

/// Runs `nack`, in requests of up to [`MAX_RECEIPTS`] receipts.
pub async fn nack(args: NackArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let receipts = ids_from(args.receipts)?;
    let nack = Nack {
        reason: args.reason,
        delay_ms: args.delay.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        dead_letter: args.dead_letter,
    };
    let mut nacked = 0;
    for chunk in receipts.chunks(MAX_RECEIPTS) {
        nacked += ctx.client.nack(&args.topic, &args.group, chunk, &nack).await?;
    }
    let verb = if nack.dead_letter { "dead-lettered" } else { "failed" };
    settled(ctx, "nacked", verb, nacked, receipts.len())
}

fn settled(ctx: &Ctx, field: &str, verb: &str, count: u64, of: usize) -> anyhow::Result<()> {
    if ctx.out.json {
        return ctx.out.document(&json!({ field: count }));
    }
    output::line(&format!("{verb} {count} of {of} deliveries"))?;
    if count < of as u64 {
        output::note("the other receipts settle nothing: settled already, or redelivered since");
    }
    Ok(())
}
