//! `mqctl groups list|create|describe|update|delete`.

use mq_client::{
    BackoffKind, ConsumerGroup, ConsumerQuery, CreateGroup, DeliveryMode, GroupQuery, GroupStatus,
    RetryPolicy, StartFrom, UpdateGroup,
};
use serde_json::json;

use super::{page_note, Ctx};
use crate::cli::{GroupSettings, GroupsCmd, ModeArg, StartFromArg};
use crate::exit::Failure;
use crate::output::{self, Table, Tone};
use crate::parse::millis;

/// Runs a `groups` command.
pub async fn run(cmd: GroupsCmd, ctx: &Ctx) -> anyhow::Result<()> {
    let out = &ctx.out;
    match cmd {
        GroupsCmd::List { topic, page } => {
            let query = GroupQuery {
                topic_name: topic,
                page: Some(page.page),
                page_size: Some(page.page_size),
            };
            let groups = ctx.client.list_groups(&query).await?;
            if out.json {
                return out.document(&groups);
            }
            let mut table = Table::new(&[
                "TOPIC",
                "GROUP",
                "MODE",
                "CONSUMERS",
                "STATUS",
                "ACK TIMEOUT",
                "MAX RETRIES",
            ])
            .right(&[3, 6]);
            for group in &groups.items {
                table.toned_row(vec![
                    (group.topic_name.clone(), Tone::Plain),
                    (group.group_id.clone(), Tone::Plain),
                    (group.delivery_mode.as_str().to_owned(), Tone::Plain),
                    (group.consumer_count.to_string(), Tone::Plain),
                    (group.status.as_str().to_owned(), status_tone(group.status)),
                    (output::millis(group.ack_timeout_ms), Tone::Plain),
                    (group.retry_policy.max_retries.to_string(), Tone::Plain),
                ]);
            }
            table.print(out, "no consumer groups")?;
            page_note(out, &groups);
            Ok(())
        }
        GroupsCmd::Create { topic, group, start_from, mode, settings } => {
            let request = CreateGroup {
                start_from: start_from.map(|s| match s {
                    StartFromArg::Earliest => StartFrom::Earliest,
                    StartFromArg::Latest => StartFrom::Latest,
                }),
                delivery_mode: mode.map(|m| match m {
                    ModeArg::Shared => DeliveryMode::Shared,
                    ModeArg::Ordered => DeliveryMode::Ordered,
                }),
                ack_timeout_ms: settings.ack_timeout.map(millis),
                session_timeout_ms: settings.session_timeout.map(millis),
                retry_policy: retry_policy(&settings, None),
                ..CreateGroup::new(topic, group)
            };
            let created = ctx.client.create_group(&request).await?;
            if out.json {
                return out.document(&created);
            }
            output::line(&format!(
                "created group {} on topic {} ({}, from {})",
                created.group_id,
                created.topic_name,
                created.delivery_mode.as_str(),
                match created.start_from {
                    StartFrom::Earliest => "earliest",
                    _ => "latest",
                }
            ))
        }
        GroupsCmd::Describe { topic, group } => {
            let found = ctx.client.get_group(&topic, &group).await?;
            if out.json {
                return out.document(&found);
            }
            describe(ctx, &found).await
        }
        GroupsCmd::Update { topic, group, settings } => {
            let current = if has_retry_settings(&settings) {
                Some(ctx.client.get_group(&topic, &group).await?.retry_policy)
            } else {
                None
            };
            let update = UpdateGroup {
                retry_policy: retry_policy(&settings, current),
                ack_timeout_ms: settings.ack_timeout.map(millis),
                session_timeout_ms: settings.session_timeout.map(millis),
            };
            if update == UpdateGroup::default() {
                return Err(Failure::usage(
                    "nothing to change: give --ack-timeout, --session-timeout, --max-retries or \
                     a --backoff-… option",
                ));
            }
            let updated = ctx.client.update_group(&topic, &group, &update).await?;
            if out.json {
                return out.document(&updated);
            }
            output::line(&format!("updated group {} on topic {}", updated.group_id, topic))?;
            describe(ctx, &updated).await
        }
        GroupsCmd::Delete { topic, group } => {
            ctx.client.delete_group(&topic, &group).await?;
            if out.json {
                return out.document(&json!({"deleted": group, "topicName": topic}));
            }
            output::line(&format!("deleted group {group} on topic {topic}"))
        }
    }
}

/// The group's fields, then its consumers with their positions.
async fn describe(ctx: &Ctx, group: &ConsumerGroup) -> anyhow::Result<()> {
    let out = &ctx.out;
    let policy = &group.retry_policy;
    let backoff = match policy.backoff {
        BackoffKind::Explicit => format!(
            "explicit: {}",
            policy.delays_ms.iter().map(|d| output::millis(*d)).collect::<Vec<_>>().join(", ")
        ),
        _ => format!(
            "exponential: {} × {} up to {}, jitter {}",
            output::millis(policy.initial_backoff_ms),
            policy.multiplier,
            output::millis(policy.max_backoff_ms),
            policy.jitter
        ),
    };
    out.fields(&[
        ("group", group.group_id.clone()),
        ("topic", group.topic_name.clone()),
        ("status", out.paint(group.status.as_str(), status_tone(group.status))),
        ("mode", group.delivery_mode.as_str().to_owned()),
        ("consumers", group.consumer_count.to_string()),
        ("ack timeout", output::millis(group.ack_timeout_ms)),
        ("session timeout", output::millis(group.session_timeout_ms)),
        ("max retries", policy.max_retries.to_string()),
        ("backoff", backoff),
        ("last commit", output::opt_time(group.last_commit_time.as_ref())),
        ("created", output::time(&group.created_at)),
    ])?;
    let query = ConsumerQuery {
        topic_name: Some(group.topic_name.clone()),
        group_id: Some(group.group_id.clone()),
        page: Some(1),
        page_size: Some(1000),
    };
    let consumers = ctx.client.list_consumers(&query).await?;
    output::line("")?;
    let mut table =
        Table::new(&["CONSUMER", "STATUS", "PARTITIONS", "LAG", "LAST HEARTBEAT"]).right(&[3]);
    for c in &consumers.items {
        let partitions =
            c.assigned_partitions.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        table.toned_row(vec![
            (c.consumer_id.clone(), Tone::Plain),
            (c.status.as_str().to_owned(), Tone::Plain),
            (output::or_dash(Some(&partitions)), Tone::Plain),
            (c.lag.to_string(), Tone::Plain),
            (output::time(&c.last_heartbeat), Tone::Dim),
        ]);
    }
    table.print(out, "no consumers have fetched yet")
}

fn has_retry_settings(s: &GroupSettings) -> bool {
    s.max_retries.is_some()
        || s.backoff_initial.is_some()
        || s.backoff_multiplier.is_some()
        || s.backoff_max.is_some()
        || s.backoff_jitter.is_some()
        || !s.backoff_delays.is_empty()
}

/// The retry policy the options describe, over `base` (the group's current one on update, the
/// default on create); `None` when no retry option is given.
fn retry_policy(s: &GroupSettings, base: Option<RetryPolicy>) -> Option<RetryPolicy> {
    if !has_retry_settings(s) {
        return None;
    }
    let mut policy = base.unwrap_or_default();
    if let Some(max) = s.max_retries {
        policy.max_retries = max;
    }
    let exponential =
        s.backoff_initial.is_some() || s.backoff_multiplier.is_some() || s.backoff_max.is_some();
    if exponential {
        policy.backoff = BackoffKind::Exponential;
        policy.delays_ms.clear();
    }
    if let Some(initial) = s.backoff_initial {
        policy.initial_backoff_ms = millis(initial);
    }
    if let Some(multiplier) = s.backoff_multiplier {
        policy.multiplier = multiplier;
    }
    if let Some(max) = s.backoff_max {
        policy.max_backoff_ms = millis(max);
    }
    if let Some(jitter) = s.backoff_jitter {
        policy.jitter = jitter;
    }
    if !s.backoff_delays.is_empty() {
        policy.backoff = BackoffKind::Explicit;
        policy.delays_ms = s.backoff_delays.iter().map(|d| millis(*d)).collect();
    }
    Some(policy)
}

fn status_tone(status: GroupStatus) -> Tone {
    match status {
        GroupStatus::Active => Tone::Good,
        _ => Tone::Warn,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn settings() -> GroupSettings {
        GroupSettings {
            ack_timeout: None,
            session_timeout: None,
            max_retries: None,
            backoff_initial: None,
            backoff_multiplier: None,
            backoff_max: None,
            backoff_jitter: None,
            backoff_delays: Vec::new(),
        }
    }

    #[test]
    fn retry_options_change_only_what_they_name() {
        assert_eq!(retry_policy(&settings(), None), None);
        let only_max = GroupSettings { max_retries: Some(0), ..settings() };
        let explicit_base = RetryPolicy {
            backoff: BackoffKind::Explicit,
            delays_ms: vec![1_000, 5_000],
            ..RetryPolicy::default()
        };
        let policy = retry_policy(&only_max, Some(explicit_base.clone())).unwrap();
        assert_eq!(policy, RetryPolicy { max_retries: 0, ..explicit_base.clone() });

        let exponential =
            GroupSettings { backoff_initial: Some(Duration::from_millis(200)), ..settings() };
        let policy = retry_policy(&exponential, Some(explicit_base)).unwrap();
        assert_eq!(policy.backoff, BackoffKind::Exponential);
        assert!(policy.delays_ms.is_empty());
        assert_eq!(policy.initial_backoff_ms, 200);

        let levels = GroupSettings {
            backoff_delays: vec![Duration::from_secs(1), Duration::from_secs(30)],
            ..settings()
        };
        let policy = retry_policy(&levels, None).unwrap();
        assert_eq!(
            (policy.backoff, policy.delays_ms),
            (BackoffKind::Explicit, vec![1_000, 30_000])
        );
    }
}
