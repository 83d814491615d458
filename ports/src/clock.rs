//! Time as a port, so that rules about "now" are tested at chosen instants.

use time::OffsetDateTime;

/// Tells the time.
#[cfg_attr(feature = "testing", mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant in UTC, truncated to microseconds.
    fn now(&self) -> OffsetDateTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        todo_model::truncate_to_micros(OffsetDateTime::now_utc())
    }
}
