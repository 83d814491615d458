//! Time values of the domain: UTC instants with microsecond precision, as PostgreSQL keeps them,
//! so that a task read back from any store equals the task that was written.

use time::OffsetDateTime;

/// An instant in UTC; serialized as RFC 3339 (`2025-12-11T10:30:00Z`).
pub type Timestamp = OffsetDateTime;

/// `t` in UTC with its sub-microsecond digits dropped.
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(time::UtcOffset::UTC);
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn drops_nanoseconds_and_moves_to_utc() {
        let t = datetime!(2026-01-01 10:00:00.123456789 +02:00);
        assert_eq!(truncate_to_micros(t), datetime!(2026-01-01 08:00:00.123456 UTC));
    }
}
