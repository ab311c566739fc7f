//! `mqctl alerts`, `mqctl audit` and `mqctl tokens list|create|revoke`.

use mq_client::{Alert, AuditQuery, CreateToken, Role};
use serde_json::json;

use super::{page_note, Ctx};
use crate::cli::{AlertsArgs, AlertsView, AuditArgs, RoleArg, TokensCmd};
use crate::exit::Failure;
use crate::output::{self, Table, Tone};
use crate::parse;

/// Runs `alerts`.
pub async fn alerts(args: AlertsArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let out = &ctx.out;
    let alerts = ctx.client.alerts(args.limit).await?;
    let (list, empty) = match args.view {
        AlertsView::List => (alerts.active, "no alerts firing"),
        AlertsView::History => (alerts.history, "no resolved alerts"),
    };
    if out.json {
        return out.document(&list);
    }
    let history = args.view == AlertsView::History;
    let mut headers = vec!["RULE", "SEVERITY", "TOPIC", "GROUP", "VALUE", "THRESHOLD", "FIRED AT"];
    if history {
        headers.push("RESOLVED AT");
    }
    headers.push("MESSAGE");
    let mut table = Table::new(&headers).right(&[4, 5]);
    for a in &list {
        let mut row = vec![
            (a.rule.as_str().to_owned(), Tone::Plain),
            (a.severity.clone(), severity_tone(a)),
            (a.topic_name.clone(), Tone::Plain),
            (output::or_dash(a.group_id.as_deref()), Tone::Plain),
            (trim_number(a.value), Tone::Plain),
            (trim_number(a.threshold), Tone::Plain),
            (output::time(&a.fired_at), Tone::Dim),
        ];
        if history {
            row.push((output::opt_time(a.resolved_at.as_ref()), Tone::Dim));
        }
        row.push((a.message.clone(), Tone::Plain));
        table.toned_row(row);
    }
    table.print(out, empty)
}

/// Runs `audit`.
pub async fn audit(args: AuditArgs, ctx: &Ctx) -> anyhow::Result<()> {
    let out = &ctx.out;
    let query = AuditQuery {
        from: args.range.since,
        to: args.range.until,
        actor: args.actor,
        action: args.action,
        page: Some(args.page.page),
        page_size: Some(args.page.page_size),
    };
    let records = ctx.client.list_audit_logs(&query).await?;
    if out.json {
        return out.document(&records);
    }
    let mut table =
        Table::new(&["AT", "ACTOR", "ACTION", "TARGET", "OUTCOME", "STATUS", "CLIENT"]).right(&[5]);
    for r in &records.items {
        let tone = if r.status < 400 { Tone::Plain } else { Tone::Bad };
        table.toned_row(vec![
            (output::time(&r.at), Tone::Dim),
            (r.actor.clone(), Tone::Plain),
            (r.action.clone(), Tone::Plain),
            (output::or_dash(Some(&r.target)), Tone::Plain),
            (r.outcome.clone(), tone),
            (r.status.to_string(), tone),
            (r.client_ip.clone(), Tone::Dim),
        ]);
    }
    table.print(out, "no audit records")?;
    page_note(out, &records);
    Ok(())
}

/// Runs a `tokens` command.
pub async fn tokens(cmd: TokensCmd, ctx: &Ctx) -> anyhow::Result<()> {
    let out = &ctx.out;
    match cmd {
        TokensCmd::List => {
            let tokens = ctx.client.list_tokens().await?;
            if out.json {
                return out.document(&tokens);
            }
            let mut table =
                Table::new(&["NAME", "ROLE", "PRODUCE", "CONSUME", "EXPIRES", "CREATED"]);
            for t in &tokens {
                table.row(vec![
                    t.name.clone(),
                    t.role.as_str().to_owned(),
                    output::or_dash(Some(&t.produce.join(","))),
                    output::or_dash(Some(&t.consume.join(","))),
                    output::opt_time(t.expires_at.as_ref()),
                    output::time(&t.created_at),
                ]);
            }
            table.print(out, "no run-time tokens")
        }
        TokensCmd::Create { name, role, produce, consume, expires } => {
            let expires_at = match expires {
                None => None,
                Some(text) => Some(match parse::rfc3339(&text) {
                    Ok(at) => at,
                    Err(_) => {
                        let after = parse::duration(&text).map_err(|_| {
                            Failure::usage(format!(
                                "--expires {text:?}: give an RFC 3339 time or a duration from \
                                 now such as 30d"
                            ))
                        })?;
                        chrono::Utc::now() + chrono::Duration::from_std(after)?
                    }
                }),
            };
            let token = CreateToken {
                name,
                role: match role {
                    RoleArg::Admin => Role::Admin,
                    RoleArg::Service => Role::Service,
                },
                produce,
                consume,
                expires_at,
            };
            let created = ctx.client.create_token(&token).await?;
            if out.json {
                return out.document(&created);
            }
            // The secret alone on stdout, so that `SECRET=$(mqctl tokens create …)` works.
            output::line(&created.secret)?;
            output::note(&format!(
                "created {} token {}; the secret above is shown only this once",
                created.token.role.as_str(),
                created.token.name
            ));
            Ok(())
        }
        TokensCmd::Revoke { name } => {
            ctx.client.revoke_token(&name).await?;
            if out.json {
                return out.document(&json!({ "revoked": name }));
            }
            output::line(&format!("revoked token {name}"))
        }
    }
}

fn severity_tone(alert: &Alert) -> Tone {
    match alert.severity.as_str() {
        "critical" => Tone::Bad,
        _ => Tone::Warn,
    }
}

/// A number without a needless `.0`.
fn trim_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value:.2}")
    }
}
