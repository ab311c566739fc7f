//! How results are shown: JSON documents or lines with `--json`, otherwise aligned tables and
//! `key: value` blocks, coloured only on a terminal without `NO_COLOR`; plus the formatting of
//! values, times and durations, and the confirmation of destructive commands.

use std::io::{IsTerminal as _, Write as _};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::exit::Failure;

/// A colour for a table cell or a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// As is.
    Plain,
    /// Healthy: active, appended, committed.
    Good,
    /// Needs a look: inactive, scheduled, prepared.
    Warn,
    /// Failing: dead letters, firing alerts, refusals.
    Bad,
    /// Secondary: ids, times.
    Dim,
}

/// Where and how a command writes its result.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    /// `--json`: documents (or JSON lines) instead of tables.
    pub json: bool,
    /// ANSI colours: stdout is a terminal, not `--json`, no `NO_COLOR`.
    pub color: bool,
}

impl Output {
    /// The output for `--json` (or not), colouring as the terminal and `NO_COLOR` allow.
    pub fn new(json: bool) -> Output {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Output { json, color: !json && !no_color && std::io::stdout().is_terminal() }
    }

    /// Whether progress bars and prompts may be drawn: on a terminal (stderr), not `--json`.
    pub fn interactive(&self) -> bool {
        !self.json && std::io::stderr().is_terminal()
    }

    /// One JSON document, pretty-printed.
    pub fn document(&self, data: &impl Serialize) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(data)?;
        line(&text)
    }

    /// One JSON line (for streams of messages).
    pub fn json_line(&self, data: &impl Serialize) -> anyhow::Result<()> {
        line(&serde_json::to_string(data)?)
    }

    /// `text` in `tone`, when colours are on.
    pub fn paint(&self, text: &str, tone: Tone) -> String {
        let code = match tone {
            _ if !self.color => return text.to_owned(),
            Tone::Plain => return text.to_owned(),
            Tone::Good => "32",
            Tone::Warn => "33",
            Tone::Bad => "31",
            Tone::Dim => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// `text` in bold, when colours are on.
    pub fn bold(&self, text: &str) -> String {
        if self.color {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// `key: value` lines with the values aligned.
    pub fn fields(&self, rows: &[(&str, String)]) -> anyhow::Result<()> {
        let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0) + 1;
        let mut text = String::new();
        for (key, value) in rows {
            let label = format!("{key}:");
            text.push_str(&format!("{}{} {value}\n", self.bold(&label), pad(&label, width)));
        }
        write(&text)
    }
}

/// Writes `text` and a newline to stdout. A closed pipe (`mqctl … | head`) surfaces as an
/// error that `main` ends quietly on.
pub fn line(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.write_all(b"\n")?;
    stdout.flush()?;
    Ok(())
}

/// Writes `text` as is to stdout.
pub fn write(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// A note for the reader on stderr (never part of the result).
pub fn note(text: &str) {
    eprintln!("{text}");
}

fn pad(text: &str, width: usize) -> String {
    " ".repeat(width.saturating_sub(text.chars().count()))
}

/// A table with aligned columns; numbers may be right-aligned.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    right: Vec<bool>,
    rows: Vec<Vec<(String, Tone)>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Table {
        Table { headers: headers.to_vec(), right: vec![false; headers.len()], rows: Vec::new() }
    }

    /// Right-aligns the columns at `columns` (counts, offsets, rates).
    pub fn right(mut self, columns: &[usize]) -> Table {
        for &c in columns {
            if let Some(r) = self.right.get_mut(c) {
                *r = true;
            }
        }
        self
    }

    /// A row of plain cells.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells.into_iter().map(|c| (c, Tone::Plain)).collect());
    }

    /// A row with a tone per cell.
    pub fn toned_row(&mut self, cells: Vec<(String, Tone)>) {
        self.rows.push(cells);
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text (without colours when `out.color` is off).
    pub fn render(&self, out: &Output) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, (cell, _)) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let mut text = String::new();
        let mut push_row = |cells: Vec<(String, Tone)>, header: bool| {
            let mut line = String::new();
            for (i, (cell, tone)) in cells.into_iter().enumerate().take(columns) {
                let last = i + 1 == columns;
                let gap = pad(&cell, widths[i]);
                let shown = if header { out.bold(&cell) } else { out.paint(&cell, tone) };
                if self.right[i] {
                    line.push_str(&gap);
                    line.push_str(&shown);
                } else {
                    line.push_str(&shown);
                    if !last {
                        line.push_str(&gap);
                    }
                }
                if !last {
                    line.push_str("  ");
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        };
        push_row(self.headers.iter().map(|h| (h.to_string(), Tone::Plain)).collect(), true);
        for row in &self.rows {
            push_row(row.clone(), false);
        }
        text
    }

    /// Prints the table, or `empty` (such as `no topics`) when it has no rows.
    pub fn print(&self, out: &Output, empty: &str) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return line(empty);
        }
        write(&self.render(out))
    }
}

/// A message value for people: a string's text without quotes, anything else as compact JSON.
pub fn value(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// `text` cut to `max` characters, with `…` when cut; line breaks shown as spaces.
pub fn cut(text: &str, max: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut short: String = flat.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// A time as RFC 3339 in UTC, to the second.
pub fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// An optional time, `-` when absent.
pub fn opt_time(at: Option<&DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), time)
}

/// Milliseconds as the largest whole unit that fits (`7d`, `30s`, `1500ms`, `90m`).
pub fn millis(ms: i64) -> String {
    const UNITS: [(i64, &str); 4] =
        [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")];
    if ms != 0 {
        for (size, unit) in UNITS {
            if ms % size == 0 {
                return format!("{}{unit}", ms / size);
            }
        }
    }
    format!("{ms}ms")
}

/// A rate per second with one decimal (`0.0`, `12.5`).
pub fn rate(per_second: f64) -> String {
    format!("{per_second:.1}")
}

/// An optional text, `-` when absent or empty.
pub fn or_dash(text: Option<&str>) -> String {
    match text {
        Some(t) if !t.is_empty() => t.to_owned(),
        _ => "-".to_owned(),
    }
}

/// Asks `question` on the terminal unless `yes`; without a terminal, refuses (exit 2) and says
/// to pass `--yes`. A declined answer is [`Failure::Aborted`].
pub fn confirm(question: &str, yes: bool) -> anyhow::Result<()> {
    if yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(Failure::usage(format!(
            "{question}: not confirmed; pass --yes to confirm without a terminal"
        )));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Failure::Aborted.into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const PLAIN: Output = Output { json: false, color: false };

    #[test]
    fn tables_align_and_right_align_numbers() {
        let mut table = Table::new(&["NAME", "PARTITIONS", "DESCRIPTION"]).right(&[1]);
        table.row(vec!["orders".into(), "6".into(), "the orders".into()]);
        table.row(vec!["a".into(), "1024".into(), String::new()]);
        assert_eq!(
            table.render(&PLAIN),
            "NAME    PARTITIONS  DESCRIPTION\n\
             orders           6  the orders\n\
             a             1024\n"
        );
        let colored = Output { json: false, color: true };
        assert!(table.render(&colored).starts_with("\x1b[1mNAME\x1b[0m"));
        assert_eq!(colored.paint("x", Tone::Bad), "\x1b[31mx\x1b[0m");
        assert_eq!(PLAIN.paint("x", Tone::Bad), "x");
    }

    #[test]
    fn values_times_and_durations_for_people() {
        assert_eq!(value(&json!("text")), "text");
        assert_eq!(value(&json!({"a": [1, "b"]})), r#"{"a":[1,"b"]}"#);
        assert_eq!(value(&json!(null)), "null");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("a\nb", 10), "a b");
        assert_eq!(millis(604_800_000), "7d");
        assert_eq!(millis(30_000), "30s");
        assert_eq!(millis(1_500), "1500ms");
        assert_eq!(millis(5_400_000), "90m");
        assert_eq!(millis(0), "0ms");
        assert_eq!(rate(2.26), "2.3");
        assert_eq!(or_dash(Some("")), "-");
        let at = DateTime::parse_from_rfc3339("2024-01-15T10:30:00.123Z").unwrap().to_utc();
        assert_eq!(time(&at), "2024-01-15T10:30:00Z");
    }
}
