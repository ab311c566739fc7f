//! `mqctl monitor`: topics and groups with their rates, backlog and lag, refreshed in place on
//! a terminal (snapshots one after another otherwise, JSON lines with `--json`), or one
//! snapshot with `--once`.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::time::Instant;

use mq_client::{Monitoring, MonitoringQuery};

use super::Ctx;
use crate::cli::MonitorArgs;
use crate::output::{self, Output, Table, Tone};

/// Runs `monitor`.
pub async fn run(args: MonitorArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let out = &ctx.out;
    let query = MonitoringQuery {
        topic_name: args.topic.clone(),
        time_range: Some(args.range.clone()),
        sections: Vec::new(),
    };
    if args.once {
        let view = ctx.client.monitoring(&query).await?;
        if out.json {
            return out.document(&view);
        }
        let alerts = firing(ctx).await;
        return output::write(&render(ctx, &view, None, &alerts, &args.range));
    }

    let live = !out.json && std::io::stdout().is_terminal();
    let _screen = live.then(Screen::enter);
    let stop = super::interrupted();
    tokio::pin!(stop);
    let mut previous: Option<Snapshot> = None;
    loop {
        match ctx.client.monitoring(&query).await {
            Ok(view) => {
                if out.json {
                    out.json_line(&view)?;
                } else {
                    let alerts = firing(ctx).await;
                    let text = render(ctx, &view, previous.as_ref(), &alerts, &args.range);
                    if live {
                        let footer = format!(
                            "\nrefreshing every {}; Ctrl-C to quit\n",
                            output::millis(crate::parse::millis(args.interval))
                        );
                        output::write(&format!("\x1b[H\x1b[2J{text}{footer}"))?;
                    } else {
                        output::write(&format!("{text}\n"))?;
                    }
                }
                previous = Some(Snapshot::of(&view));
            }
            // A live view rides out a server restart or a slow answer.
            Err(e) if live && e.is_transient() => {
                output::write(&format!(
                    "\x1b[H\x1b[2J{}\n",
                    out.paint(&format!("error: {e} (retrying)"), Tone::Bad)
                ))?;
            }
            Err(e) => return Err(e.into()),
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(args.interval) => {}
        }
    }
    Ok(())
}

/// The terminal's alternate screen with the cursor hidden, restored on drop (also when the
/// monitor ends with an error).
struct Screen;

impl Screen {
    fn enter() -> Screen {
        let _ = output::write("\x1b[?1049h\x1b[?25l");
        Screen
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = output::write("\x1b[?25h\x1b[?1049l");
    }
}

/// What the previous refresh saw, for the live publish rate.
struct Snapshot {
    at: Instant,
    /// Per topic: the sum of its partitions' next offsets (grows by one per message).
    offsets: HashMap<String, u64>,
}

impl Snapshot {
    fn of(view: &Monitoring) -> Snapshot {
        let offsets = view
            .topics
            .iter()
            .flatten()
            .map(|t| (t.name.clone(), t.partitions.iter().map(|p| p.offset).sum()))
            .collect();
        Snapshot { at: Instant::now(), offsets }
    }
}

/// Active alerts as lines, or nothing when they cannot be read (a token without the right).
async fn firing(ctx: &Ctx) -> Vec<String> {
    match ctx.client.alerts(Some(0)).await {
        Ok(alerts) => alerts
            .active
            .iter()
            .map(|a| {
                let target = match &a.group_id {
                    Some(group) => format!("{}/{group}", a.topic_name),
                    None => a.topic_name.clone(),
                };
                format!("{} {} {target}: {}", a.severity, a.rule.as_str(), a.message)
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn render(
    ctx: &Ctx,
    view: &Monitoring,
    previous: Option<&Snapshot>,
    alerts: &[String],
    range: &str,
) -> String {
    let out: &Output = &ctx.out;
    let mut text = format!(
        "{}  {}  {}  rates over {range}\n\n",
        out.bold("mq monitor"),
        ctx.client.base_url(),
        output::time(&view.timestamp)
    );
    let elapsed = previous.map(|p| p.at.elapsed().as_secs_f64()).filter(|s| *s > 0.0);
    let mut topics = Table::new(&[
        "TOPIC",
        "PARTITIONS",
        "MESSAGES",
        "IN/S",
        "PUB/S",
        "ACK/S",
        "BACKLOG",
        "SCHEDULED",
        "HALF",
        "DLQ",
    ])
    .right(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for t in view.topics.iter().flatten() {
        let now: u64 = t.partitions.iter().map(|p| p.offset).sum();
        let live = match (previous.and_then(|p| p.offsets.get(&t.name)), elapsed) {
            (Some(before), Some(secs)) => output::rate(now.saturating_sub(*before) as f64 / secs),
            _ => "-".to_owned(),
        };
        let backlog_tone = if t.consumer_lag > 0 { Tone::Warn } else { Tone::Plain };
        let dlq_tone = if t.dead_letter_count > 0 { Tone::Bad } else { Tone::Plain };
        topics.toned_row(vec![
            (t.name.clone(), Tone::Plain),
            (t.partitions.len().to_string(), Tone::Plain),
            (t.message_count.to_string(), Tone::Plain),
            (live, Tone::Plain),
            (output::rate(t.message_rate), Tone::Plain),
            (output::rate(t.consume_rate), Tone::Plain),
            (t.consumer_lag.to_string(), backlog_tone),
            (t.scheduled_count.to_string(), Tone::Plain),
            (t.half_message_count.to_string(), Tone::Plain),
            (t.dead_letter_count.to_string(), dlq_tone),
        ]);
    }
    text.push_str(&table_or(&topics, out, "no topics"));
    text.push('\n');

    let mut groups = Table::new(&[
        "TOPIC",
        "GROUP",
        "MODE",
        "CONSUMERS",
        "LAG",
        "PENDING",
        "ACK/S",
        "OLDEST",
        "DLQ",
        "STATUS",
    ])
    .right(&[3, 4, 5, 6, 7, 8]);
    for g in view.consumers.iter().flatten() {
        let lag_tone = if g.total_lag > 0 { Tone::Warn } else { Tone::Plain };
        let consumers_tone =
            if g.consumer_count == 0 && g.total_lag > 0 { Tone::Bad } else { Tone::Plain };
        groups.toned_row(vec![
            (g.topic_name.clone(), Tone::Plain),
            (g.group_id.clone(), Tone::Plain),
            (g.delivery_mode.as_str().to_owned(), Tone::Plain),
            (g.consumer_count.to_string(), consumers_tone),
            (g.total_lag.to_string(), lag_tone),
            (g.pending.to_string(), Tone::Plain),
            (output::rate(g.consume_rate), Tone::Plain),
            (g.oldest_unconsumed_age_ms.map_or_else(|| "-".to_owned(), age), Tone::Plain),
            (
                g.dead_letter_count.to_string(),
                if g.dead_letter_count > 0 { Tone::Bad } else { Tone::Plain },
            ),
            (g.status.clone(), Tone::Plain),
        ]);
    }
    text.push_str(&table_or(&groups, out, "no consumer groups"));
    if !alerts.is_empty() {
        text.push('\n');
        text.push_str(&out.bold("ALERTS"));
        text.push('\n');
        for alert in alerts {
            text.push_str(&out.paint(alert, Tone::Bad));
            text.push('\n');
        }
    }
    text
}

fn table_or(table: &Table, out: &Output, empty: &str) -> String {
    if table.is_empty() {
        format!("{empty}\n")
    } else {
        table.render(out)
    }
}

/// An age for people: `850ms`, `12.5s`, `4m05s`, `2h10m`.
fn age(ms: i64) -> String {
    match ms {
        i64::MIN..1_000 => format!("{}ms", ms.max(0)),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms % 3_600_000) / 60_000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_for_people() {
        assert_eq!(age(850), "850ms");
        assert_eq!(age(12_500), "12.5s");
        assert_eq!(age(245_000), "4m05s");
        assert_eq!(age(7_800_000), "2h10m");
    }
}
