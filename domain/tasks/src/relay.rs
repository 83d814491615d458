//! The outbox relay: publishes what the outbox holds through the event bus, as soon as it is
//! written, and backs off while the bus is down. Nothing is removed before the bus took it.

use std::sync::Arc;
use std::time::Duration;

use todo_ports::{EventBus, Outbox, OutboxWait, RepoError};

/// Records published per drain.
const BATCH: usize = 256;
/// Longest idle wait; also bounds how long a stop request waits.
const IDLE_WAIT: Duration = Duration::from_millis(500);
/// First and longest pause after a failure.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// What one relay step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayStep {
    /// Published this many records; there may be more.
    Published(usize),
    /// Nothing waiting.
    Idle,
    /// Records waiting but the bus or the store failed.
    Failed,
}

/// Moves outbox records to the event bus.
pub struct OutboxRelay {
    outbox: Arc<dyn Outbox>,
    bus: Arc<dyn EventBus>,
}

impl OutboxRelay {
    /// A relay from `outbox` to `bus`.
    pub fn new(outbox: Arc<dyn Outbox>, bus: Arc<dyn EventBus>) -> Self {
        Self { outbox, bus }
    }

    /// Publishes one batch.
    pub async fn step(&self) -> Result<RelayStep, RepoError> {
        let report = self.outbox.drain(self.bus.clone(), BATCH).await?;
        Ok(match (report.published, report.failed) {
            (0, 0) => RelayStep::Idle,
            (0, _) => RelayStep::Failed,
            (n, _) => RelayStep::Published(n),
        })
    }

    /// Relays until `stop()` says so (checked at least every half second): drains while there
    /// is work, waits for new records when idle, and backs off exponentially on failures.
    pub async fn run(&self, stop: impl Fn() -> bool + Send + Sync) {
        let mut backoff = BACKOFF.0;
        while !stop() {
            let failed = match self.step().await {
                Ok(RelayStep::Published(_)) => false,
                Ok(RelayStep::Idle) => {
                    self.outbox.wait(OutboxWait::ForWork(IDLE_WAIT)).await;
                    false
                }
                Ok(RelayStep::Failed) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox unavailable");
                    true
                }
            };
            if failed {
                self.outbox.wait(OutboxWait::Pause(backoff.min(IDLE_WAIT))).await;
                if backoff > IDLE_WAIT && !stop() {
                    self.outbox.wait(OutboxWait::Pause(backoff - IDLE_WAIT)).await;
                }
                backoff = (backoff * 2).min(BACKOFF.1);
            } else {
                backoff = BACKOFF.0;
            }
        }
    }
}
