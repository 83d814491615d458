//! The consumers' read models on the wire: audit pages (entries and the cursor of the next page)
//! and delivered notifications.

use serde::Serialize;
use time::OffsetDateTime;
use todo_ports::model::{ReminderEvent, TaskEvent, check_instant};
use todo_ports::{AuditPage, AuditPosition, Notification};

/// `{"items": [...]}`.
#[derive(Debug, Serialize)]
pub struct Items<T> {
    /// The entries, newest first.
    pub items: Vec<T>,
}

/// An audit entry: the task event as it was published.
pub type AuditView<'a> = &'a TaskEvent;

/// A page of the audit log: `{"items": [...], "next_cursor": "..."}`, `next_cursor` `null` on
/// the last page.
#[derive(Debug, Serialize)]
pub struct AuditPageView<'a> {
    /// The entries, newest first.
    pub items: Vec<AuditView<'a>>,
    /// What to send as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

impl<'a> From<&'a AuditPage> for AuditPageView<'a> {
    fn from(page: &'a AuditPage) -> Self {
        Self { items: page.items.iter().collect(), next_cursor: page.next.map(cursor) }
    }
}

/// The token that names an audit entry's position, for clients to hand back as `cursor`:
/// `<microseconds since 1970 UTC>.<sequence number>`. It is opaque to clients (they only send
/// it back), and made of URL-safe characters, so it needs no encoding in a query string.
pub fn cursor(position: AuditPosition) -> String {
    let micros = position.occurred_at.unix_timestamp_nanos().div_euclid(1_000);
    format!("{micros}.{}", position.seq)
}

/// The position a [`cursor`] token names; `None` for anything [`cursor`] cannot have written
/// (each position has one token: no sign on the sequence, no leading zeros, an instant from
/// year 1 to 9999).
pub fn parse_cursor(token: &str) -> Option<AuditPosition> {
    let (micros, seq) = token.split_once('.')?;
    let digits = micros.strip_prefix('-').unwrap_or(micros);
    if !canonical(digits) || micros == "-0" || !canonical(seq) {
        return None;
    }
    let nanos = micros.parse::<i128>().ok()?.checked_mul(1_000)?;
    let occurred_at = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    let occurred_at = check_instant("cursor", occurred_at).ok()?;
    Some(AuditPosition { occurred_at, seq: seq.parse().ok()? })
}

/// Decimal digits as an integer prints them: `0`, or no leading zero.
fn canonical(digits: &str) -> bool {
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'))
}

/// A delivered reminder: `{"event": <reminder.due>, "delivered_at"}`.
#[derive(Debug, Serialize)]
pub struct NotificationView<'a> {
    event: &'a ReminderEvent,
    #[serde(with = "time::serde::rfc3339")]
    delivered_at: OffsetDateTime,
}

impl<'a> From<&'a Notification> for NotificationView<'a> {
    fn from(n: &'a Notification) -> Self {
        Self { event: &n.event, delivered_at: n.delivered_at }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use todo_ports::model::{EARLIEST, LATEST};

    use super::*;

    #[test]
    fn a_cursor_names_its_position_and_reads_back_as_it() {
        for (occurred_at, seq) in [
            (datetime!(2026-03-01 12:00:00.123456 UTC), 42),
            (datetime!(1969-12-31 23:59:59.999999 UTC), 1),
            (datetime!(1970-01-01 00:00 UTC), 0),
            (EARLIEST, u64::MAX),
            (LATEST, 7),
        ] {
            let position = AuditPosition { occurred_at, seq };
            let token = cursor(position);
            assert!(token.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-'), "{token}");
            assert_eq!(parse_cursor(&token), Some(position), "{token}");
        }
        assert_eq!(cursor(AuditPosition { occurred_at: datetime!(1970-01-01 00:00:01 UTC), seq: 5 }), "1000000.5");
    }

    #[test]
    fn a_token_no_cursor_could_be_is_refused() {
        let past_the_calendar = (LATEST.unix_timestamp_nanos() / 1_000 + 1).to_string();
        let before_it = (EARLIEST.unix_timestamp_nanos() / 1_000 - 1).to_string();
        for bad in [
            "",
            ".",
            "1",
            "1.",
            ".1",
            "1.2.3",
            "01.2",
            "1.02",
            "+1.2",
            "1.+2",
            "1.-2",
            "-0.1",
            "- 1.2",
            "1 .2",
            "1.18446744073709551616",
            "99999999999999999999999999999999999999999.1",
            &format!("{past_the_calendar}.1"),
            &format!("{before_it}.1"),
            "abc.def",
            "１.２",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad:?}");
        }
    }
}
