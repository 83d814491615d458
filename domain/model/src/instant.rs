//! Instants of the domain: UTC, microsecond precision, years 1 to 9999. That is what
//! PostgreSQL's `timestamptz` through the driver, RFC 3339 in JSON and every store can hold, so
//! an instant that passes [`check_instant`] reads back from any store as it was written.

use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

use crate::ValidationError;

/// The earliest instant the domain accepts.
pub const EARLIEST: OffsetDateTime = datetime!(0001-01-01 00:00:00 UTC);
/// The latest instant the domain accepts.
pub const LATEST: OffsetDateTime = datetime!(9999-12-31 23:59:59.999_999 UTC);

/// What is said about an instant outside [`EARLIEST`]..=[`LATEST`].
const OUT_OF_RANGE: &str = "must be an instant from 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z";

/// `t` in UTC with its sub-microsecond digits dropped. Never panics: an instant that cannot be
/// moved to UTC is returned as it is (callers check the range with [`check_instant`]).
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// `t` as the domain keeps it (UTC, microseconds), or an error naming `field` when it lies
/// outside years 1 to 9999 in UTC.
///
/// # Errors
/// A [`ValidationError`] about `field`.
pub fn check_instant(field: &str, t: OffsetDateTime) -> Result<OffsetDateTime, ValidationError> {
    match t.checked_to_offset(UtcOffset::UTC) {
        Some(utc) if (EARLIEST..=LATEST).contains(&utc) => Ok(truncate_to_micros(utc)),
        _ => Err(ValidationError::new(field, OUT_OF_RANGE)),
    }
}

/// Parses an RFC 3339 date-time (`2026-01-31T09:00:00Z`, any offset) and checks it with
/// [`check_instant`].
///
/// # Errors
/// A [`ValidationError`] about `field` for text that is not RFC 3339 or an instant out of range.
pub fn parse_instant(field: &str, raw: &str) -> Result<OffsetDateTime, ValidationError> {
    let t = OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| ValidationError::new(field, "must be an RFC 3339 date-time such as 2026-01-31T09:00:00Z"))?;
    check_instant(field, t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_nanoseconds_and_moves_to_utc() {
        let t = datetime!(2026-01-01 10:00:00.123456789 +02:00);
        assert_eq!(truncate_to_micros(t), datetime!(2026-01-01 08:00:00.123456 UTC));
    }

    #[test]
    fn the_range_is_years_1_to_9999_in_utc() {
        for inside in [
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999Z",
            "0001-01-01T00:59:00-00:01",
            "2026-06-01T12:00:00+14:00",
        ] {
            assert!(parse_instant("t", inside).is_ok(), "{inside}");
        }
        for outside in [
            "9999-12-31T23:59:59-00:01",
            "0000-01-01T00:00:00+00:01",
            "0000-12-31T23:59:59Z",
            "0001-01-01T00:00:00+00:01",
        ] {
            assert_eq!(parse_instant("due_date", outside).unwrap_err().field, "due_date", "{outside}");
        }
        assert!(parse_instant("t", "tomorrow").is_err());
    }

    #[test]
    fn an_instant_that_cannot_move_to_utc_is_refused_not_a_panic() {
        let edge = datetime!(9999-12-31 23:59:59 -00:01);
        assert!(check_instant("t", edge).is_err());
        assert_eq!(truncate_to_micros(edge), edge);
    }
}
