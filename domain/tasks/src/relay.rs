//! The outbox relay: publishes what the outbox holds through the event bus, as soon as it is
//! written, and backs off while the bus is down ([`Policy::RELAY`]). Nothing is removed before
//! the bus took it.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{Either, select};
use todo_ports::{EventBus, Outbox, OutboxWait, RepoError};
use todo_retry::Policy;

/// Records published per drain.
pub const BATCH: usize = 256;
/// Pause after a drain that emptied the outbox (a partial batch) before the next one, so
/// that under load each drain carries the records of several writes instead of one: drains
/// (a transaction each) fall from one per write or two to a few hundred a second at most.
/// A record written while the relay is idle is still published at once.
pub const LINGER: Duration = Duration::from_millis(5);
/// Longest wait for new records when idle (a record written by a process whose wake-up was
/// lost is published at most this late).
pub const IDLE_WAIT: Duration = Duration::from_millis(500);

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

    /// Publishes one batch. A drain that panics (a bug in a bus or store) is a failed step: its
    /// records stay and are tried again, and the relay lives on.
    ///
    /// # Errors
    /// When the outbox cannot be read.
    pub async fn step(&self) -> Result<RelayStep, RepoError> {
        let drained = AssertUnwindSafe(self.outbox.drain(self.bus.clone(), BATCH)).catch_unwind().await;
        let Ok(report) = drained else {
            tracing::error!("an outbox drain panicked; its records stay and are tried again");
            return Ok(RelayStep::Failed);
        };
        let report = report?;
        Ok(match (report.published, report.failed) {
            (0, 0) => RelayStep::Idle,
            (0, _) => RelayStep::Failed,
            (n, _) => RelayStep::Published(n),
        })
    }

    /// Relays until `shutdown` completes: drains while there is work, waits for new records
    /// when idle, and after a failure waits the next delay of [`Policy::RELAY`] (100 ms doubling
    /// to 5 s) before trying again. A drain in progress is finished, never cut short; waits end
    /// at once on shutdown.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = pin!(shutdown);
        let mut backoff = Policy::RELAY.delays();
        loop {
            if shutdown.as_mut().now_or_never().is_some() {
                return;
            }
            let wait = match self.step().await {
                Ok(RelayStep::Published(n)) => {
                    backoff = Policy::RELAY.delays();
                    (n < BATCH).then_some(OutboxWait::Pause(LINGER))
                }
                Ok(RelayStep::Idle) => {
                    backoff = Policy::RELAY.delays();
                    Some(OutboxWait::ForWork(IDLE_WAIT))
                }
                Ok(RelayStep::Failed) => backoff.next().map(OutboxWait::Pause),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox unavailable");
                    backoff.next().map(OutboxWait::Pause)
                }
            };
            if let Some(wait) = wait
                && let Either::Left(_) = select(shutdown.as_mut(), pin!(self.outbox.wait(wait))).await
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use mockall::Sequence;
    use todo_ports::{DrainReport, MockEventBus, MockOutbox};

    use super::*;

    fn drains(outbox: &mut MockOutbox, seq: &mut Sequence, published: usize, failed: usize) {
        outbox.expect_drain().times(1).in_sequence(seq).returning(move |_, _| Ok(DrainReport { published, failed }));
    }

    fn waits(outbox: &mut MockOutbox, seq: &mut Sequence, how: OutboxWait) {
        outbox.expect_wait().withf(move |w| *w == how).times(1).in_sequence(seq).returning(|_| ());
    }

    /// Runs the relay over `outbox` until its expectations are used up (the last wait is told
    /// to stop it), failing instead of hanging if the relay asks for more than it was told.
    async fn relay_until_done(outbox: MockOutbox, stop: Arc<tokio::sync::Notify>) {
        let relay = OutboxRelay::new(Arc::new(outbox), Arc::new(MockEventBus::new()));
        let run = relay.run(async move { stop.notified().await });
        tokio::time::timeout(Duration::from_secs(5), run).await.expect("the relay did not stop: a regression loops");
    }

    #[tokio::test]
    async fn a_full_batch_drains_again_at_once_a_partial_one_lingers_and_an_empty_one_waits_for_work() {
        let stop = Arc::new(tokio::sync::Notify::new());
        let (mut outbox, mut seq) = (MockOutbox::new(), Sequence::new());
        drains(&mut outbox, &mut seq, BATCH, 0);
        drains(&mut outbox, &mut seq, 3, 0);
        waits(&mut outbox, &mut seq, OutboxWait::Pause(LINGER));
        drains(&mut outbox, &mut seq, 0, 0);
        let stopper = stop.clone();
        outbox
            .expect_wait()
            .withf(|w| *w == OutboxWait::ForWork(IDLE_WAIT))
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| stopper.notify_one());
        relay_until_done(outbox, stop).await;
    }

    #[tokio::test]
    async fn after_failures_the_waits_follow_the_relay_policy_and_a_success_resets_them() {
        let stop = Arc::new(tokio::sync::Notify::new());
        let (mut outbox, mut seq) = (MockOutbox::new(), Sequence::new());
        let expected: Vec<Duration> = Policy::RELAY.delays().take(8).collect();
        for delay in &expected {
            drains(&mut outbox, &mut seq, 0, 4);
            waits(&mut outbox, &mut seq, OutboxWait::Pause(*delay));
        }
        drains(&mut outbox, &mut seq, 4, 0);
        waits(&mut outbox, &mut seq, OutboxWait::Pause(LINGER));
        drains(&mut outbox, &mut seq, 0, 4);
        let stopper = stop.clone();
        outbox
            .expect_wait()
            .withf(move |w| *w == OutboxWait::Pause(Duration::from_millis(100)))
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| stopper.notify_one());
        relay_until_done(outbox, stop).await;
        assert_eq!(expected.last(), Some(&Duration::from_secs(5)));
    }

    #[tokio::test]
    async fn a_drain_that_panics_is_a_failed_step_and_the_relay_lives_on() {
        let mut outbox = MockOutbox::new();
        let mut seq = Sequence::new();
        outbox.expect_drain().times(1).in_sequence(&mut seq).returning(|_, _| panic!("a bug in the bus"));
        drains(&mut outbox, &mut seq, 2, 0);
        let relay = OutboxRelay::new(Arc::new(outbox), Arc::new(MockEventBus::new()));
        assert_eq!(relay.step().await.unwrap(), RelayStep::Failed);
        assert_eq!(relay.step().await.unwrap(), RelayStep::Published(2));
    }

    #[tokio::test]
    async fn an_outbox_that_cannot_be_read_is_backed_off_like_a_failed_bus() {
        let stop = Arc::new(tokio::sync::Notify::new());
        let (mut outbox, mut seq) = (MockOutbox::new(), Sequence::new());
        outbox
            .expect_drain()
            .times(2)
            .in_sequence(&mut seq)
            .returning(|_, _| Err(RepoError::Unavailable("store down".into())));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (seen2, stopper) = (seen.clone(), stop.clone());
        outbox.expect_wait().times(2).returning(move |w| {
            let mut seen = seen2.lock().expect("lock");
            seen.push(w);
            if seen.len() == 2 {
                stopper.notify_one();
            }
        });
        relay_until_done(outbox, stop).await;
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(
            seen,
            [OutboxWait::Pause(Duration::from_millis(100)), OutboxWait::Pause(Duration::from_millis(200))]
        );
    }
}
