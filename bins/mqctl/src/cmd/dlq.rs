//! `mqctl dlq list|show|retry|purge`.

use chrono::{DateTime, Utc};
use mq_client::{DeadLetterFilter, DeadLetterStatus, RetryFailure, RetrySelection};
use serde_json::json;

use super::{ids_from, page_note, Ctx};
use crate::cli::DlqCmd;
use crate::exit::{self, Failure};
use crate::output::{self, Table, Tone};
use crate::progress;

/// Ids per retry request (the API takes at most 1000).
const RETRY_CHUNK: usize = 1000;

/// Runs a `dlq` command.
pub async fn run(cmd: DlqCmd, ctx: &Ctx) -> anyhow::Result<()> {
    let out = &ctx.out;
    match cmd {
        DlqCmd::List { topic, group, range, page } => {
            let filter = DeadLetterFilter {
                topic_name: topic,
                group_id: group,
                from: range.since,
                to: range.until,
            };
            let letters = ctx
                .client
                .list_dead_letters(&filter, Some(page.page), Some(page.page_size))
                .await?;
            if out.json {
                return out.document(&letters);
            }
            let mut table = Table::new(&[
                "ID",
                "TOPIC",
                "GROUP",
                "RETRIES",
                "FAILED AT",
                "STATUS",
                "REASON",
                "CONTENT",
            ])
            .right(&[3]);
            for d in &letters.items {
                table.toned_row(vec![
                    (d.id.clone(), Tone::Plain),
                    (d.original_topic_name.clone(), Tone::Plain),
                    (d.consumer_group_id.clone(), Tone::Plain),
                    (d.retry_count.to_string(), Tone::Plain),
                    (output::time(&d.failed_at), Tone::Dim),
                    (status(d.status).to_owned(), status_tone(d.status)),
                    (output::cut(&d.failure_reason, 40), Tone::Plain),
                    (output::cut(&output::value(&d.message_content), 40), Tone::Plain),
                ]);
            }
            table.print(out, "no dead letters")?;
            page_note(out, &letters);
            Ok(())
        }
        DlqCmd::Show { id } => {
            let d = ctx.client.get_dead_letter(&id).await?;
            if out.json {
                return out.document(&d);
            }
            let headers = if d.headers.is_empty() {
                "-".to_owned()
            } else {
                d.headers.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
            };
            out.fields(&[
                ("id", d.id.clone()),
                ("status", out.paint(status(d.status), status_tone(d.status))),
                ("topic", d.original_topic_name.clone()),
                ("group", d.consumer_group_id.clone()),
                ("message", d.original_message_id.clone()),
                ("partition", d.partition.to_string()),
                ("offset", d.offset.to_string()),
                ("key", output::or_dash(d.message_key.as_deref())),
                ("headers", headers),
                ("published", output::opt_time(d.published_at.as_ref())),
                ("failed at", output::time(&d.failed_at)),
                ("retries", d.retry_count.to_string()),
                ("reason", d.failure_reason.clone()),
            ])?;
            output::line("")?;
            let mut attempts =
                Table::new(&["DELIVERY", "FAILED AT", "CONSUMER", "REASON"]).right(&[0]);
            for a in &d.attempts {
                attempts.row(vec![
                    a.delivery.to_string(),
                    output::time(&a.failed_at),
                    output::or_dash(Some(&a.consumer_id)),
                    a.reason.clone(),
                ]);
            }
            attempts.print(out, "no attempts recorded")?;
            output::line("")?;
            output::line(&out.bold("content:"))?;
            match &d.message_content {
                serde_json::Value::String(text) => output::line(text),
                other => output::line(&serde_json::to_string_pretty(other)?),
            }
        }
        DlqCmd::Retry { ids, topic, group, range, rate } => {
            let ids = ids_from(ids)?;
            let report =
                match (ids.is_empty(), topic, group) {
                    (false, _, _) => retry_ids(ctx, ids, rate).await?,
                    (true, Some(topic_name), Some(group_id)) => {
                        let spinner = progress::spinner(
                            out,
                            format!("retrying the dead letters of {group_id} on {topic_name}"),
                        );
                        let selection = RetrySelection::Group {
                            topic_name,
                            group_id,
                            from: range.since,
                            to: range.until,
                        };
                        let report = ctx.client.retry_dead_letters(&selection, rate).await;
                        spinner.finish_and_clear();
                        Totals::from(report?)
                    }
                    _ => return Err(Failure::usage(
                        "give dead-letter ids (`-` reads them from stdin), or --topic and --group",
                    )),
                };
            report.show(ctx)
        }
        DlqCmd::Purge { topic, group, range, all, yes } => {
            let filter = DeadLetterFilter {
                topic_name: topic,
                group_id: group,
                from: range.since,
                to: range.until,
            };
            if !all && filter == DeadLetterFilter::default() {
                return Err(Failure::usage(
                    "give --topic, --group, --since or --until to choose what to purge, or --all",
                ));
            }
            let what = if all {
                "every dead letter of every topic".to_owned()
            } else {
                describe_filter(&filter)
            };
            output::confirm(&format!("purge {what}?"), yes)?;
            let deleted = if all {
                ctx.client.purge_all_dead_letters().await?
            } else {
                ctx.client.purge_dead_letters(&filter).await?
            };
            if out.json {
                return out.document(&json!({ "deleted": deleted }));
            }
            output::line(&format!("purged {deleted} dead letter(s)"))
        }
    }
}

/// Retries dead letters by id, in chunks the API takes, with a progress bar. With a rate, each
/// chunk waits until the previous one's last redelivery is due, so the rate holds overall.
async fn retry_ids(ctx: &Ctx, ids: Vec<String>, rate: Option<f64>) -> anyhow::Result<Totals> {
    let bar = progress::bar(&ctx.out, Some(ids.len() as u64), "retrying");
    let mut totals = Totals::default();
    for chunk in ids.chunks(RETRY_CHUNK) {
        if let (Some(_), Some(due)) = (rate, totals.last_due_at) {
            if let Ok(wait) = (due - Utc::now()).to_std() {
                tokio::time::sleep(wait).await;
            }
        }
        let selection = RetrySelection::Ids(chunk.to_vec());
        let report = match ctx.client.retry_dead_letters(&selection, rate).await {
            Ok(report) => report,
            Err(e) => {
                bar.abandon();
                let done = totals.retried + totals.already_retried;
                return Err(anyhow::Error::from(e)
                    .context(format!("{done} of {} handled before this failure", ids.len())));
            }
        };
        totals.add(Totals::from(report));
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok(totals)
}

/// What one or more retry requests did, in the API's shape.
#[derive(Debug, Default)]
struct Totals {
    retried: u64,
    already_retried: u64,
    not_found: Vec<String>,
    failed: Vec<RetryFailure>,
    last_due_at: Option<DateTime<Utc>>,
}

impl From<mq_client::RetryReport> for Totals {
    fn from(r: mq_client::RetryReport) -> Totals {
        Totals {
            retried: r.retried,
            already_retried: r.already_retried,
            not_found: r.not_found,
            failed: r.failed,
            last_due_at: r.last_due_at,
        }
    }
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.retried += other.retried;
        self.already_retried += other.already_retried;
        self.not_found.extend(other.not_found);
        self.failed.extend(other.failed);
        self.last_due_at = self.last_due_at.max(other.last_due_at);
    }

    /// Prints the report; exits 1 when some could not be retried, else 3 when some ids were
    /// unknown.
    fn show(self, ctx: &Ctx) -> anyhow::Result<()> {
        let out = &ctx.out;
        if out.json {
            out.document(&json!({
                "retried": self.retried,
                "alreadyRetried": self.already_retried,
                "notFound": self.not_found,
                "failed": self.failed,
                "lastDueAt": self.last_due_at,
            }))?;
        } else {
            let mut line = format!("retried {} dead letter(s)", self.retried);
            if self.already_retried > 0 {
                line.push_str(&format!(", {} retried already", self.already_retried));
            }
            if let Some(due) = &self.last_due_at {
                if *due > Utc::now() {
                    line.push_str(&format!("; the last is redelivered at {}", output::time(due)));
                }
            }
            output::line(&line)?;
            for id in &self.not_found {
                output::note(&format!("not found: {id}"));
            }
            for f in &self.failed {
                output::note(&format!("not retried: {}: {}", f.id, f.reason));
            }
        }
        if !self.failed.is_empty() {
            return Err(Failure::Code {
                code: exit::OTHER,
                message: format!("{} dead letter(s) could not be retried", self.failed.len()),
            }
            .into());
        }
        if !self.not_found.is_empty() {
            return Err(Failure::Code {
                code: exit::NOT_FOUND,
                message: format!("{} id(s) name no dead letter", self.not_found.len()),
            }
            .into());
        }
        Ok(())
    }
}

fn describe_filter(filter: &DeadLetterFilter) -> String {
    let mut parts = vec!["the dead letters".to_owned()];
    if let Some(topic) = &filter.topic_name {
        parts.push(format!("of topic {topic}"));
    }
    if let Some(group) = &filter.group_id {
        parts.push(format!("of group {group}"));
    }
    if let Some(from) = &filter.from {
        parts.push(format!("failed since {}", output::time(from)));
    }
    if let Some(to) = &filter.to {
        parts.push(format!("failed before {}", output::time(to)));
    }
    parts.join(" ")
}

fn status(status: DeadLetterStatus) -> &'static str {
    match status {
        DeadLetterStatus::Retrying => "retrying",
        _ => "dead",
    }
}

fn status_tone(status: DeadLetterStatus) -> Tone {
    match status {
        DeadLetterStatus::Retrying => Tone::Warn,
        _ => Tone::Bad,
    }
}
