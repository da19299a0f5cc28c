//! Time as MLflow speaks it: epoch milliseconds for v2 entities, RFC 3339 timestamps and
//! `"1.5s"` durations for traces and assessments.

use crate::{Error, Result};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// RFC 3339 in UTC with millisecond precision, in protobuf's canonical JSON form as the
/// reference server prints it: whole seconds bare (`…T05:00:00Z`), else three fractional
/// digits (`…T05:00:00.021Z`).
pub fn millis_to_rfc3339(ms: i64) -> String {
    let dt = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let base =
        dt.replace_nanosecond(0).unwrap_or(dt).format(&Rfc3339).unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string());
    match ms.rem_euclid(1000) {
        0 => base,
        // base ends with 'Z'; the milliseconds go before it.
        millis => format!("{}.{millis:03}Z", base.trim_end_matches('Z')),
    }
}

/// Parses an RFC 3339 timestamp (any offset, 0–9 fractional digits) to epoch milliseconds.
pub fn rfc3339_to_millis(text: &str) -> Result<i64> {
    let dt = OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| Error::invalid(format!("Invalid timestamp '{text}': {e}")))?;
    Ok((dt.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// A protobuf Duration string (`"0.026s"`) from milliseconds, in protobuf's canonical JSON form
/// (as the reference writes it): whole seconds bare, else three fractional digits (`"1.500s"`).
pub fn millis_to_duration(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    if abs.is_multiple_of(1000) {
        format!("{sign}{}s", abs / 1000)
    } else {
        format!("{sign}{}.{:03}s", abs / 1000, abs % 1000)
    }
}

/// Parses a protobuf Duration string (`"1.5s"`, `"0s"`, `"-0.2s"`) to milliseconds.
pub fn duration_to_millis(text: &str) -> Result<i64> {
    let bad = || Error::invalid(format!("Invalid duration '{text}'"));
    let number = text.strip_suffix('s').ok_or_else(bad)?;
    let seconds: f64 = number.parse().map_err(|_| bad())?;
    if !seconds.is_finite() {
        return Err(bad());
    }
    Ok((seconds * 1000.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_with_millis() {
        let text = millis_to_rfc3339(1_795_779_355_021);
        assert_eq!(text, "2026-11-27T11:35:55.021Z");
        assert_eq!(millis_to_rfc3339(1_795_779_355_000), "2026-11-27T11:35:55Z");
        assert_eq!(rfc3339_to_millis("2026-11-27T11:35:55Z").unwrap(), 1_795_779_355_000);
        assert_eq!(rfc3339_to_millis(&text).unwrap(), 1_795_779_355_021);
        assert_eq!(rfc3339_to_millis("2026-11-27T11:35:55Z").unwrap(), 1_795_779_355_000);
        assert_eq!(rfc3339_to_millis("2026-11-27T11:35:55.021123456+00:00").unwrap(), 1_795_779_355_021);
    }

    #[test]
    fn durations() {
        assert_eq!(millis_to_duration(26), "0.026s");
        assert_eq!(millis_to_duration(1500), "1.500s");
        assert_eq!(millis_to_duration(-200), "-0.200s");
        assert_eq!(millis_to_duration(0), "0s");
        assert_eq!(duration_to_millis("0.026s").unwrap(), 26);
        assert_eq!(duration_to_millis("12s").unwrap(), 12_000);
        assert!(duration_to_millis("12").is_err());
    }
}
