//! Turning a requested delay or delivery time into a due time, within the configured limits;
//! the errors name the request field so the API can answer 400.

use crate::{DelayConfig, DelayError};

/// The JSON name of a relative delay in requests.
const DELAY_SECONDS: &str = "delaySeconds";
/// The JSON name of an absolute delivery time in requests.
const DELIVER_AT: &str = "deliverAt";

fn invalid(field: &'static str, reason: String) -> DelayError {
    DelayError::InvalidRequest { field, reason }
}

/// The due time, in milliseconds since the epoch, of a message delayed by `delay_seconds` from
/// `now_ms`. The delay must be finite, more than 0 and at most `max_delay_secs`; fractions are
/// kept to the millisecond, rounded up so a message never falls due early.
pub fn due_from_delay(
    cfg: &DelayConfig,
    now_ms: i64,
    delay_seconds: f64,
) -> Result<i64, DelayError> {
    if !delay_seconds.is_finite() {
        return Err(invalid(DELAY_SECONDS, "must be a finite number of seconds".to_owned()));
    }
    if delay_seconds <= 0.0 {
        return Err(invalid(
            DELAY_SECONDS,
            format!("must be more than 0 seconds, got {delay_seconds}"),
        ));
    }
    if delay_seconds > cfg.max_delay_secs as f64 {
        return Err(invalid(
            DELAY_SECONDS,
            format!("must be at most {} seconds, got {delay_seconds}", cfg.max_delay_secs),
        ));
    }
    // In range by now: at most ten years of milliseconds, far inside i64 and exact in f64.
    let delay_ms = (delay_seconds * 1_000.0).ceil() as i64;
    Ok(now_ms.saturating_add(delay_ms))
}

/// The due time of a message to deliver at `deliver_at_ms`. A time up to `past_tolerance_ms`
/// in the past is due at once (`now_ms`), since clocks of clients and servers differ a little;
/// an older one, or one more than `max_delay_secs` ahead, is rejected.
pub fn due_from_time(
    cfg: &DelayConfig,
    now_ms: i64,
    deliver_at_ms: i64,
) -> Result<i64, DelayError> {
    let tolerance = i64::try_from(cfg.past_tolerance_ms).unwrap_or(i64::MAX);
    if deliver_at_ms < now_ms.saturating_sub(tolerance) {
        return Err(invalid(
            DELIVER_AT,
            format!(
                "is {} ms in the past; at most {tolerance} ms in the past is accepted",
                now_ms.saturating_sub(deliver_at_ms)
            ),
        ));
    }
    if deliver_at_ms > now_ms.saturating_add(cfg.max_delay_ms()) {
        return Err(invalid(
            DELIVER_AT,
            format!("is more than {} seconds ahead (the longest delay)", cfg.max_delay_secs),
        ));
    }
    Ok(deliver_at_ms.max(now_ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000_000;

    fn check_delay(seconds: f64, expected: Result<i64, &str>) {
        let got = due_from_delay(&DelayConfig::default(), NOW, seconds);
        match (got, expected) {
            (Ok(due), Ok(want)) => assert_eq!(due, NOW + want, "{seconds}"),
            (Err(DelayError::InvalidRequest { field, reason }), Err(want)) => {
                assert_eq!(field, "delaySeconds");
                assert!(reason.contains(want), "{seconds}: {reason}");
            }
            (got, want) => panic!("{seconds}: got {got:?}, want {want:?}"),
        }
    }

    fn check_time(offset_ms: i64, expected: Result<i64, &str>) {
        let got = due_from_time(&DelayConfig::default(), NOW, NOW + offset_ms);
        match (got, expected) {
            (Ok(due), Ok(want)) => assert_eq!(due, NOW + want, "{offset_ms}"),
            (Err(DelayError::InvalidRequest { field, reason }), Err(want)) => {
                assert_eq!(field, "deliverAt");
                assert!(reason.contains(want), "{offset_ms}: {reason}");
            }
            (got, want) => panic!("{offset_ms}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn delays_are_checked_and_kept_to_the_millisecond() {
        check_delay(0.5, Ok(500));
        check_delay(1.0, Ok(1_000));
        check_delay(0.0001, Ok(1));
        check_delay(1.2345, Ok(1_235));
        check_delay(2_592_000.0, Ok(2_592_000_000));
        check_delay(2_592_000.001, Err("at most 2592000 seconds"));
        check_delay(0.0, Err("more than 0"));
        check_delay(-3.0, Err("more than 0"));
        check_delay(f64::NAN, Err("finite"));
        check_delay(f64::INFINITY, Err("finite"));
    }

    #[test]
    fn delivery_times_are_checked_and_a_slightly_late_one_is_due_now() {
        check_time(5_000, Ok(5_000));
        check_time(0, Ok(0));
        check_time(-999, Ok(0));
        check_time(-1_000, Ok(0));
        check_time(-1_001, Err("1001 ms in the past"));
        check_time(-86_400_000, Err("in the past"));
        check_time(2_592_000_000, Ok(2_592_000_000));
        check_time(2_592_000_001, Err("more than 2592000 seconds ahead"));
    }

    #[test]
    fn errors_read_well() {
        let err = due_from_delay(&DelayConfig::default(), NOW, -1.0).unwrap_err();
        assert_eq!(err.to_string(), "invalid delaySeconds: must be more than 0 seconds, got -1");
        assert!(err.is_invalid_request());
    }
}
