//! `mqctl txn commit|rollback|show|list` (a transaction is prepared by `mqctl send --txn`).

use mq_client::{Transaction, TransactionQuery, TransactionState};

use super::{page_note, Ctx};
use crate::cli::{TxnCmd, TxnStateArg};
use crate::output::{self, Table, Tone};

/// Runs a `txn` command.
pub async fn run(cmd: TxnCmd, ctx: &Ctx) -> anyhow::Result<()> {
    let out = &ctx.out;
    match cmd {
        TxnCmd::Commit { id } => {
            let txn = ctx.client.commit_transaction(&id).await?;
            if out.json {
                return out.document(&txn);
            }
            let at = txn.offset.map_or_else(String::new, |o| format!(" at offset {o}"));
            output::line(&format!(
                "committed {}: message {} on {} partition {}{at}",
                txn.transaction_id, txn.message_id, txn.topic_name, txn.partition
            ))
        }
        TxnCmd::Rollback { id } => {
            let txn = ctx.client.rollback_transaction(&id).await?;
            if out.json {
                return out.document(&txn);
            }
            output::line(&format!(
                "rolled back {}: message {} is discarded",
                txn.transaction_id, txn.message_id
            ))
        }
        TxnCmd::Show { id } => {
            let txn = ctx.client.get_transaction(&id).await?;
            if out.json {
                return out.document(&txn);
            }
            show(ctx, &txn)
        }
        TxnCmd::List { topic, state, page } => {
            let query = TransactionQuery {
                topic_name: topic,
                state: state.map(|s| match s {
                    TxnStateArg::Prepared => TransactionState::Prepared,
                    TxnStateArg::Committed => TransactionState::Committed,
                    TxnStateArg::RolledBack => TransactionState::RolledBack,
                }),
                page: Some(page.page),
                page_size: Some(page.page_size),
            };
            let txns = ctx.client.list_transactions(&query).await?;
            if out.json {
                return out.document(&txns);
            }
            let mut table =
                Table::new(&["TRANSACTION", "TOPIC", "PARTITION", "STATE", "CHECKS", "CREATED"])
                    .right(&[2, 4]);
            for t in &txns.items {
                table.toned_row(vec![
                    (t.transaction_id.clone(), Tone::Plain),
                    (t.topic_name.clone(), Tone::Plain),
                    (t.partition.to_string(), Tone::Plain),
                    (t.state.as_str().to_owned(), state_tone(t.state)),
                    (t.check_count.to_string(), Tone::Plain),
                    (output::time(&t.created_at), Tone::Dim),
                ]);
            }
            table.print(out, "no transactions")?;
            page_note(out, &txns);
            Ok(())
        }
    }
}

fn show(ctx: &Ctx, t: &Transaction) -> anyhow::Result<()> {
    let out = &ctx.out;
    out.fields(&[
        ("transaction", t.transaction_id.clone()),
        ("state", out.paint(t.state.as_str(), state_tone(t.state))),
        ("applied", t.applied.to_string()),
        ("decided by", output::or_dash(t.decided_by.map(|d| d.as_str()))),
        ("reason", output::or_dash(t.reason.as_deref())),
        ("message", t.message_id.clone()),
        ("topic", t.topic_name.clone()),
        ("partition", t.partition.to_string()),
        ("offset", t.offset.map_or_else(|| "-".to_owned(), |o| o.to_string())),
        ("key", output::or_dash(t.key.as_deref())),
        ("check-back URL", output::or_dash(t.checkback_url.as_deref())),
        ("next check", output::time(&t.check_at)),
        ("checks", t.check_count.to_string()),
        ("created", output::time(&t.created_at)),
    ])?;
    output::line("")?;
    let mut history = Table::new(&["AT", "EVENT", "DETAIL"]);
    for event in &t.history {
        history.row(vec![output::time(&event.at), event.kind.clone(), event.detail.clone()]);
    }
    history.print(out, "no history")
}

fn state_tone(state: TransactionState) -> Tone {
    match state {
        TransactionState::Prepared => Tone::Warn,
        TransactionState::Committed => Tone::Good,
        TransactionState::RolledBack => Tone::Bad,
    }
}
