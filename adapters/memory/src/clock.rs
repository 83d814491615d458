//! A clock that tells the time it is set to, for tests at chosen instants.

use std::sync::Mutex;

use time::{Duration, OffsetDateTime};
use todo_ports::Clock;

use crate::lock;

/// A [`Clock`] that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    /// A clock showing `now`.
    pub fn new(now: OffsetDateTime) -> Self {
        Self(Mutex::new(now))
    }

    /// Sets the time.
    pub fn set(&self, now: OffsetDateTime) {
        *lock(&self.0) = now;
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        *lock(&self.0) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *lock(&self.0)
    }
}
