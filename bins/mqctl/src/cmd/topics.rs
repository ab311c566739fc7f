//! `mqctl topics list|create|describe|update|delete`.

use std::collections::BTreeMap;

use mq_client::{CreateTopic, Topic, TopicQuery, TopicStatus, UpdateTopic};
use serde_json::json;

use super::{page_note, Ctx};
use crate::cli::{TopicSettings, TopicStatusArg, TopicsCmd};
use crate::output::{self, Table, Tone};
use crate::parse::millis;

/// Runs a `topics` command.
pub async fn run(cmd: TopicsCmd, ctx: &Ctx) -> anyhow::Result<()> {
    let out = &ctx.out;
    match cmd {
        TopicsCmd::List { prefix, status, page } => {
            let query = TopicQuery {
                status: status.map(topic_status),
                prefix,
                page: Some(page.page),
                page_size: Some(page.page_size),
            };
            let topics = ctx.client.list_topics(&query).await?;
            if out.json {
                return out.document(&topics);
            }
            let mut table = Table::new(&[
                "NAME",
                "PARTITIONS",
                "RETENTION",
                "STATUS",
                "CREATED",
                "DESCRIPTION",
            ])
            .right(&[1]);
            for topic in &topics.items {
                table.toned_row(vec![
                    (topic.name.clone(), Tone::Plain),
                    (topic.partitions.to_string(), Tone::Plain),
                    (output::millis(topic.retention_ms), Tone::Plain),
                    (topic.status.as_str().to_owned(), status_tone(topic.status)),
                    (output::time(&topic.created_at), Tone::Dim),
                    (output::cut(&topic.description, 50), Tone::Plain),
                ]);
            }
            table.print(out, "no topics")?;
            page_note(out, &topics);
            Ok(())
        }
        TopicsCmd::Create { name, settings } => {
            let topic = CreateTopic {
                name,
                description: settings.description.clone(),
                partitions: settings.partitions,
                retention_ms: settings.retention.map(millis),
                max_message_size: settings.max_message_size,
                config: entries(&settings),
                ..CreateTopic::default()
            };
            let created = ctx.client.create_topic(&topic).await?;
            if out.json {
                return out.document(&created);
            }
            output::line(&format!(
                "created topic {} ({}) with {} partition(s)",
                created.name,
                created.topic_id,
                topic.partitions.unwrap_or(1)
            ))
        }
        TopicsCmd::Describe { name } => {
            let topic = ctx.client.get_topic(&name).await?;
            if out.json {
                return out.document(&topic);
            }
            describe(ctx, &topic)
        }
        TopicsCmd::Update { name, settings, status } => {
            let update = UpdateTopic {
                description: settings.description.clone(),
                partitions: settings.partitions,
                retention_ms: settings.retention.map(millis),
                max_message_size: settings.max_message_size,
                config: entries(&settings),
                status: status.map(topic_status),
            };
            if update == UpdateTopic::default() {
                return Err(crate::exit::Failure::usage(
                    "nothing to change: give --partitions, --description, --retention, \
                     --max-message-size, --set or --status",
                ));
            }
            let topic = ctx.client.update_topic(&name, &update).await?;
            if out.json {
                return out.document(&topic);
            }
            output::line(&format!("updated topic {}", topic.name))?;
            describe(ctx, &topic)
        }
        TopicsCmd::Delete { name, yes } => {
            output::confirm(
                &format!("delete topic {name} with all its messages and consumer groups?"),
                yes,
            )?;
            ctx.client.delete_topic(&name).await?;
            if out.json {
                return out.document(&json!({"deleted": name}));
            }
            output::line(&format!("deleted topic {name}"))
        }
    }
}

fn describe(ctx: &Ctx, topic: &Topic) -> anyhow::Result<()> {
    let config = if topic.config.is_empty() {
        "-".to_owned()
    } else {
        topic.config.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    };
    ctx.out.fields(&[
        ("name", topic.name.clone()),
        ("id", topic.id.clone()),
        ("status", ctx.out.paint(topic.status.as_str(), status_tone(topic.status))),
        ("description", output::or_dash(Some(&topic.description))),
        ("partitions", topic.partitions.to_string()),
        ("retention", output::millis(topic.retention_ms)),
        ("max message size", format!("{} bytes", topic.max_message_size)),
        ("replication factor", topic.replication_factor.to_string()),
        ("config", config),
        ("created by", output::or_dash(Some(&topic.created_by))),
        ("created", output::time(&topic.created_at)),
        ("updated", output::time(&topic.updated_at)),
    ])
}

fn entries(settings: &TopicSettings) -> Option<BTreeMap<String, String>> {
    (!settings.entries.is_empty()).then(|| settings.entries.iter().cloned().collect())
}

fn topic_status(status: TopicStatusArg) -> TopicStatus {
    match status {
        TopicStatusArg::Active => TopicStatus::Active,
        TopicStatusArg::Inactive => TopicStatus::Inactive,
    }
}

fn status_tone(status: TopicStatus) -> Tone {
    match status {
        TopicStatus::Active => Tone::Good,
        TopicStatus::Inactive => Tone::Warn,
        _ => Tone::Bad,
    }
}
