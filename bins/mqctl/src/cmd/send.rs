//! `mqctl send TOPIC [VALUE]`: one message from an argument, a file or stdin (optionally
//! delayed, or as a transaction's half message), or with `--lines` one message per line, sent
//! in batches with a progress bar.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal as _, Read as _};
use std::path::Path;

use anyhow::Context as _;
use mq_client::{Publish, PublishStatus, TxnOptions};
use serde_json::json;
use tokio::sync::mpsc;

use super::Ctx;
use crate::cli::SendArgs;
use crate::exit::Failure;
use crate::output;
use crate::parse::message_value;
use crate::progress;

/// Most bytes of message values in one batch request, well under the server's default body
/// limit (32 MiB), so that long lines cannot make a batch too large for it.
const MAX_BATCH_BYTES: usize = 1024 * 1024;

/// Runs `send`.
pub async fn run(args: SendArgs, ctx: &Ctx) -> anyhow::Result<()> {
    if args.lines {
        return send_lines(args, ctx).await;
    }
    let text = match (&args.value, &args.file) {
        (Some(value), None) if value != "-" => value.clone(),
        (None, Some(path)) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            text_of(bytes, &path.display().to_string())?
        }
        (value, None) => {
            if value.is_none() && std::io::stdin().is_terminal() {
                return Err(Failure::usage(
                    "give a VALUE, --file FILE, or pipe the value into stdin (`-` reads stdin)",
                ));
            }
            let mut bytes = Vec::new();
            std::io::stdin().lock().read_to_end(&mut bytes).context("reading stdin")?;
            text_of(bytes, "stdin")?
        }
        (Some(_), Some(_)) => return Err(Failure::usage("give a VALUE or --file, not both")),
    };
    let message = publish(&args, message_value(&text, args.raw));
    let out = &ctx.out;
    if args.txn {
        let options =
            TxnOptions { checkback_url: args.checkback_url.clone(), timeout: args.txn_timeout };
        let prepared = ctx.client.prepare_transaction(&args.topic, &message, &options).await?;
        if out.json {
            return out.document(&prepared);
        }
        // The id alone on stdout, so that `TXN=$(mqctl send … --txn)` works.
        output::line(&prepared.transaction_id)?;
        output::note(&format!(
            "prepared message {} for {} partition {}; decide with `mqctl txn commit|rollback {}`",
            prepared.message_id, prepared.topic_name, prepared.partition, prepared.transaction_id
        ));
        return Ok(());
    }
    let published = ctx.client.publish(&args.topic, &message).await?;
    if out.json {
        return out.document(&published);
    }
    match (published.status, published.offset) {
        (PublishStatus::Appended, Some(offset)) => output::line(&format!(
            "sent {} to {} partition {} offset {offset}",
            published.message_id, published.topic_name, published.partition
        )),
        _ => output::line(&format!(
            "scheduled {} for {} on {} partition {}",
            published.message_id,
            output::opt_time(published.deliver_at.as_ref()),
            published.topic_name,
            published.partition
        )),
    }
}

/// A whole value read from a file or stdin: UTF-8 text; when it is not JSON, one trailing
/// line break is not part of it (`echo hello | mqctl send t` sends `"hello"`).
fn text_of(bytes: Vec<u8>, source: &str) -> anyhow::Result<String> {
    let mut text = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{source} is not UTF-8 text; message values are JSON"))?;
    if serde_json::from_str::<serde_json::Value>(&text).is_err() {
        if text.ends_with('\n') {
            text.pop();
        }
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

/// A message of `value` with the key, headers and delay of the options.
fn publish(args: &SendArgs, value: serde_json::Value) -> Publish {
    let mut message = Publish::new(value);
    message.key = args.key.clone();
    message.headers = args.headers.iter().cloned().collect();
    if let Some(delay) = args.delay {
        message = message.delay(delay);
    }
    if let Some(at) = args.at {
        message = message.deliver_at(at);
    }
    message
}

/// `send --lines`: every non-empty line of stdin or `--file` is one message, published in
/// batches of `--batch-size` (fewer when the values are large or stdin is slow). A batch is all
/// or nothing; on a failure, what earlier batches sent stays sent and the error says how many.
async fn send_lines(args: SendArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let (reader, total): (Box<dyn BufRead + Send>, Option<u64>) = match (&args.value, &args.file) {
        (Some(value), _) if value != "-" => {
            return Err(Failure::usage("--lines reads stdin or --file, not a VALUE"));
        }
        (_, Some(path)) => (Box::new(BufReader::new(open(path)?)), Some(count_lines(path)?)),
        (_, None) => {
            if args.value.is_none() && std::io::stdin().is_terminal() {
                return Err(Failure::usage("--lines reads stdin (pipe the lines in) or --file"));
            }
            (Box::new(BufReader::new(std::io::stdin())), None)
        }
    };
    let batch_size = usize::try_from(args.batch_size).unwrap_or(500);
    let (tx, mut rx) = mpsc::channel::<std::io::Result<String>>(batch_size * 4);
    // Reading is blocking I/O: a thread of its own feeds the batches. It is not joined: after a
    // failure it may be waiting for input that never comes, and it ends with the process.
    std::thread::spawn(move || {
        for line in reader.lines() {
            let failed = line.is_err();
            if tx.blocking_send(line).is_err() || failed {
                break;
            }
        }
    });

    let bar = progress::bar(&ctx.out, total, "sending");
    let mut sent: u64 = 0;
    let mut batches: u64 = 0;
    let mut lines = Vec::with_capacity(batch_size);
    let mut batch: Vec<Publish> = Vec::with_capacity(batch_size);
    let mut batch_bytes = 0;
    let result: anyhow::Result<()> = async {
        loop {
            lines.clear();
            if rx.recv_many(&mut lines, batch_size).await == 0 {
                break;
            }
            for line in lines.drain(..) {
                let line = line.context("reading the lines")?;
                let line = line.strip_suffix('\r').unwrap_or(&line);
                if line.is_empty() {
                    continue;
                }
                let message = publish(&args, message_value(line, args.raw));
                let size = line.len() + 64;
                if !batch.is_empty() && batch_bytes + size > MAX_BATCH_BYTES {
                    flush(ctx, &args.topic, &mut batch, &mut sent, &mut batches, &bar).await?;
                    batch_bytes = 0;
                }
                batch_bytes += size;
                batch.push(message);
            }
            flush(ctx, &args.topic, &mut batch, &mut sent, &mut batches, &bar).await?;
            batch_bytes = 0;
        }
        Ok(())
    }
    .await;
    bar.finish_and_clear();
    result.with_context(|| format!("{sent} message(s) were sent before this failure"))?;

    let out = &ctx.out;
    if out.json {
        return out.document(&json!({"topicName": args.topic, "sent": sent, "batches": batches}));
    }
    output::line(&format!("sent {sent} message(s) to {} in {batches} batch(es)", args.topic))
}

async fn flush(
    ctx: &Ctx,
    topic: &str,
    batch: &mut Vec<Publish>,
    sent: &mut u64,
    batches: &mut u64,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let results = ctx.client.publish_batch(topic, batch).await?;
    *sent += results.len() as u64;
    *batches += 1;
    bar.inc(results.len() as u64);
    batch.clear();
    Ok(())
}

fn open(path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("reading {}", path.display()))
}

/// The non-empty lines of a file: the length of its progress bar.
fn count_lines(path: &Path) -> anyhow::Result<u64> {
    let mut count = 0;
    for line in BufReader::new(open(path)?).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if !line.trim_end_matches('\r').is_empty() {
            count += 1;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_values_lose_one_trailing_line_break_unless_json() {
        assert_eq!(text_of(b"hello\n".to_vec(), "x").unwrap(), "hello");
        assert_eq!(text_of(b"two\nlines\r\n".to_vec(), "x").unwrap(), "two\nlines");
        assert_eq!(text_of(b"{\"a\": 1}\n".to_vec(), "x").unwrap(), "{\"a\": 1}\n");
        assert!(text_of(vec![0xff, 0xfe], "x").is_err());
    }
}
