//! Parsers of command-line values: durations (`30s`, `5m`, `1500ms`, `1h30m`), times (RFC 3339
//! or a duration ago), `key=value` pairs, and message values (JSON when it parses, else text).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// A duration: one or more `<number><unit>` parts, units `ms`, `s`, `m`, `h`, `d`
/// (`1500ms`, `30s`, `2.5s`, `5m`, `1h30m`, `7d`); a bare number is seconds.
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not a duration such as 1500ms, 30s, 5m, 1h30m or 7d");
    if text.is_empty() {
        return Err(bad());
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds).ok_or_else(bad);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let (number, tail) = rest.split_at(number_end);
        let unit_end = tail.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let number: f64 = number.parse().map_err(|_| bad())?;
        let scale = match unit {
            "ms" => 0.001,
            "s" | "sec" => 1.0,
            "m" | "min" => 60.0,
            "h" => 3_600.0,
            "d" => 86_400.0,
            _ => return Err(bad()),
        };
        total += number * scale;
        rest = tail;
    }
    seconds_to_duration(total).ok_or_else(bad)
}

fn seconds_to_duration(seconds: f64) -> Option<Duration> {
    // Beyond a century is a typo, and would overflow the API's millisecond fields anyway.
    (seconds.is_finite() && (0.0..=3.2e9).contains(&seconds))
        .then(|| Duration::from_secs_f64(seconds))
}

/// A duration in whole milliseconds, as the API's `…Ms` fields take it.
pub fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A point in time: RFC 3339 (`2024-01-15T10:30:00Z`), or a duration meaning that long ago
/// (`1h`: an hour ago), for `--since` and `--until`.
pub fn time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.with_timezone(&Utc));
    }
    let ago = duration(text).map_err(|_| {
        format!(
            "{text:?} is neither an RFC 3339 time (2024-01-15T10:30:00Z) nor a duration ago (1h)"
        )
    })?;
    let ago = chrono::Duration::from_std(ago).map_err(|e| e.to_string())?;
    Ok(Utc::now() - ago)
}

/// An RFC 3339 time only (`--at`, `--expires`).
pub fn rfc3339(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| format!("{text:?} is not an RFC 3339 time such as 2030-01-15T10:30:00Z: {e}"))
}

/// `key=value` (the value may contain `=`; the key may not be empty).
pub fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not key=value")),
    }
}

/// A message value from text: the JSON it is when it parses as JSON (`42`, `true`, `{"a":1}`,
/// `"quoted"`), else the text as a JSON string; with `raw`, always the text as a string.
pub fn message_value(text: &str, raw: bool) -> Value {
    if raw {
        return Value::String(text.to_owned());
    }
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn durations() {
        let ok =
            |text: &str, ms: u128| assert_eq!(duration(text).unwrap().as_millis(), ms, "{text}");
        ok("1500ms", 1_500);
        ok("30s", 30_000);
        ok("2.5s", 2_500);
        ok("5m", 300_000);
        ok("1h30m", 5_400_000);
        ok("7d", 604_800_000);
        ok("12", 12_000);
        ok("0", 0);
        ok(" 1m ", 60_000);
        for bad in ["", "s", "5x", "-1s", "1h 30m", "abc", "1e400", "inf", "5.5.5s"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
        assert_eq!(millis(Duration::from_secs(2)), 2_000);
    }

    #[test]
    fn times_and_pairs() {
        let at = time("2024-01-15T10:30:00+02:00").unwrap();
        assert_eq!(at.to_rfc3339(), "2024-01-15T08:30:00+00:00");
        let hour_ago = time("1h").unwrap();
        let age = Utc::now() - hour_ago;
        assert!((3_599..=3_601).contains(&age.num_seconds()), "{age}");
        assert!(time("yesterday").is_err());
        assert!(rfc3339("1h").is_err());
        assert_eq!(key_value("a=b=c").unwrap(), ("a".to_owned(), "b=c".to_owned()));
        assert_eq!(key_value("a=").unwrap(), ("a".to_owned(), String::new()));
        assert!(key_value("=b").is_err() && key_value("ab").is_err());
    }

    #[test]
    fn values_are_json_when_they_parse() {
        let check = |text: &str, raw: bool, want: Value| {
            assert_eq!(message_value(text, raw), want, "{text:?} raw={raw}");
        };
        check("42", false, json!(42));
        check("{\"a\": [1, true]}", false, json!({"a": [1, true]}));
        check("\"quoted\"", false, json!("quoted"));
        check("null", false, json!(null));
        check("hello world", false, json!("hello world"));
        check("{broken", false, json!("{broken"));
        check("42", true, json!("42"));
        check("", false, json!(""));
    }
}
