//! The outbox: events written with the data they describe, waiting to be published.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{EventBus, RepoError};

/// What one drain did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Records the bus accepted; they are gone from the outbox.
    pub published: usize,
    /// Records the bus refused or could not take; they stay and are tried again.
    pub failed: usize,
}

/// How long [`Outbox::wait`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxWait {
    /// Until a new record is written, or at most this long.
    ForWork(Duration),
    /// This long, whatever is written meanwhile (backing off after failures).
    Pause(Duration),
}

/// Events waiting to be published, in the order they were written.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Publishes up to `limit` waiting records through `bus`, oldest first, and removes each
    /// one only after the bus accepted it. Keeps each user's order: after a failure no later
    /// record of that user is published in this drain. Safe to call from several processes
    /// at once: a record is never handed to two drains at the same time.
    async fn drain(&self, bus: Arc<dyn EventBus>, limit: usize) -> Result<DrainReport, RepoError>;

    /// Waits as `how` says.
    async fn wait(&self, how: OutboxWait);

    /// How many records are waiting.
    async fn pending(&self) -> Result<u64, RepoError>;
}
