//! The outbox relay: publishes what the outbox holds through the event bus, as soon as it is
//! written, and backs off while the bus is down. Nothing is removed before the bus took it.

use std::sync::Arc;
use std::time::Duration;

use todo_ports::{EventBus, Outbox, OutboxWait, RepoError};

/// Records published per drain.
const BATCH: usize = 256;
/// Pause after a drain that emptied the outbox (a partial batch) before the next one, so
/// that under load each drain carries the records of several writes instead of one: drains
/// (a transaction each) fall from one per write or two to a few hundred a second at most.
/// A record written while the relay is idle is still published at once.
const LINGER: Duration = Duration::from_millis(5);
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
                Ok(RelayStep::Published(n)) => {
                    if n < BATCH {
                        self.outbox.wait(OutboxWait::Pause(LINGER)).await;
                    }
                    false
                }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use mockall::Sequence;
    use todo_ports::{DrainReport, MockEventBus, MockOutbox};

    use super::*;

    fn drains(outbox: &mut MockOutbox, seq: &mut Sequence, published: usize) {
        outbox
            .expect_drain()
            .times(1)
            .in_sequence(seq)
            .returning(move |_, _| Ok(DrainReport { published, failed: 0 }));
    }

    fn waits(outbox: &mut MockOutbox, seq: &mut Sequence, how: OutboxWait, then_stop: Option<Arc<AtomicBool>>) {
        outbox.expect_wait().withf(move |w| *w == how).times(1).in_sequence(seq).returning(move |_| {
            if let Some(stop) = &then_stop {
                stop.store(true, Ordering::SeqCst);
            }
        });
    }

    #[tokio::test]
    async fn a_full_batch_drains_again_at_once_a_partial_one_lingers_and_an_empty_one_waits_for_work() {
        let stop = Arc::new(AtomicBool::new(false));
        let (mut outbox, mut seq) = (MockOutbox::new(), Sequence::new());
        drains(&mut outbox, &mut seq, BATCH);
        drains(&mut outbox, &mut seq, 3);
        waits(&mut outbox, &mut seq, OutboxWait::Pause(LINGER), None);
        drains(&mut outbox, &mut seq, 0);
        waits(&mut outbox, &mut seq, OutboxWait::ForWork(IDLE_WAIT), Some(stop.clone()));
        let relay = OutboxRelay::new(Arc::new(outbox), Arc::new(MockEventBus::new()));
        relay.run(|| stop.load(Ordering::SeqCst)).await;
    }
}
