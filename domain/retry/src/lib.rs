//! Named retry and back-off policies of the Todo system, in one place: every loop that waits
//! and tries again (the outbox relay, reconnecting to PostgreSQL, waiting for the sidecar,
//! redelivering an event, re-firing a job, a read-modify-write that lost a race) picks its
//! policy here by name, so the constants are read and tuned side by side.
//!
//! [`Policy::delays`] gives the waits (exponential, capped, optionally jittered; backon does
//! the arithmetic); with the `tokio` feature, [`retry`] runs an operation under a policy on
//! Tokio's clock, which paused-time tests control.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

/// How often to try and how long to wait in between.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
    /// Each wait is the previous one times this (1.0 keeps it constant).
    pub factor: f32,
    /// Attempts in all, the first included; `None` tries for ever.
    pub attempts: Option<usize>,
    /// Whether waits are spread randomly (up to twice as long), so that replicas that failed
    /// together do not retry together.
    pub jitter: bool,
}

impl Policy {
    /// The outbox relay after a drain failed (bus or store down): 100 ms doubling to 5 s, for
    /// ever; an event is never given up on.
    pub const RELAY: Self = Self::exponential(Duration::from_millis(100), Duration::from_secs(5), None);

    /// Reconnecting to PostgreSQL (at start-up, and the outbox listener): 200 ms doubling to
    /// 5 s, jittered, for ever.
    pub const RECONNECT: Self =
        Self { jitter: true, ..Self::exponential(Duration::from_millis(200), Duration::from_secs(5), None) };

    /// Polling the sidecar until it is ready: 50 ms doubling to 1 s (the caller bounds the
    /// whole wait).
    pub const SIDECAR_READY: Self = Self::exponential(Duration::from_millis(50), Duration::from_secs(1), None);

    /// Redelivering an event whose handler failed transiently (the in-memory bus): 10
    /// deliveries, 50 ms doubling to 5 s apart, then the dead letters.
    pub const REDELIVERY: Self = Self::exponential(Duration::from_millis(50), Duration::from_secs(5), Some(10));

    /// Firing a reminder job again whose handler failed (the in-memory scheduler): 3 attempts,
    /// 1 s apart, as the Dapr Scheduler's failure policy does.
    pub const JOB_RETRY: Self =
        Self { factor: 1.0, ..Self::exponential(Duration::from_secs(1), Duration::from_secs(1), Some(3)) };

    /// A read-modify-write under optimistic concurrency that lost a race (a task, a
    /// conversation): 64 attempts, at once, each on a fresh read. Losing means someone else's
    /// write landed, so the system as a whole made progress.
    pub const CONTENTION: Self = Self { factor: 1.0, ..Self::exponential(Duration::ZERO, Duration::ZERO, Some(64)) };

    /// A write through the sidecar's state API that lost a race on its etag: 10 attempts, 5 ms
    /// growing to 50 ms apart, jittered.
    pub const STATE_WRITE: Self = Self {
        jitter: true,
        factor: 1.5,
        ..Self::exponential(Duration::from_millis(5), Duration::from_millis(50), Some(10))
    };

    const fn exponential(first: Duration, max: Duration, attempts: Option<usize>) -> Self {
        Self { first, max, factor: 2.0, attempts, jitter: false }
    }

    /// The waits between attempts, in order: one fewer than [`Policy::attempts`], or endless.
    /// Whole milliseconds (backon computes in `f32`, which leaves stray nanoseconds).
    pub fn delays(&self) -> impl Iterator<Item = Duration> + Send + use<> {
        let builder =
            ExponentialBuilder::new().with_min_delay(self.first).with_max_delay(self.max).with_factor(self.factor);
        let builder = match self.attempts {
            Some(n) => builder.with_max_times(n.saturating_sub(1)),
            None => builder.without_max_times(),
        };
        let builder = if self.jitter { builder.with_jitter() } else { builder };
        builder.build().map(|d| Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }
}

/// Runs `attempt` until it succeeds, fails with an error `retryable` says not to retry, or
/// `policy` runs out of attempts; waits the policy's delays in between (on Tokio's clock).
///
/// # Errors
/// The last error.
#[cfg(feature = "tokio")]
pub async fn retry<T, E, F, Fut>(policy: &Policy, mut attempt: F, retryable: impl Fn(&E) -> bool) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut delays = policy.delays();
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) if retryable(&e) => match delays.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_relay_doubles_from_100_ms_up_to_5_s_for_ever() {
        let delays: Vec<Duration> = Policy::RELAY.delays().take(9).collect();
        assert_eq!(delays, [ms(100), ms(200), ms(400), ms(800), ms(1600), ms(3200), ms(5000), ms(5000), ms(5000)]);
        assert_eq!(Policy::RELAY.delays().take(1000).count(), 1000);
    }

    #[test]
    fn bounded_policies_give_one_wait_fewer_than_attempts() {
        assert_eq!(Policy::REDELIVERY.delays().count(), 9);
        assert_eq!(Policy::JOB_RETRY.delays().collect::<Vec<_>>(), [ms(1000), ms(1000)]);
        assert_eq!(Policy::CONTENTION.delays().count(), 63);
        assert!(Policy::CONTENTION.delays().all(|d| d.is_zero()));
    }

    #[test]
    fn jittered_waits_stay_between_the_plain_one_and_twice_it() {
        let plain: Vec<Duration> = Policy { jitter: false, ..Policy::STATE_WRITE }.delays().collect();
        for _ in 0..20 {
            let jittered: Vec<Duration> = Policy::STATE_WRITE.delays().collect();
            assert_eq!(jittered.len(), plain.len());
            for (j, p) in jittered.iter().zip(&plain) {
                assert!(j >= p && *j <= *p * 2 + Duration::from_millis(1), "{j:?} vs {p:?}");
            }
        }
    }

    #[cfg(feature = "tokio")]
    #[tokio::test(start_paused = true)]
    async fn retry_waits_the_policys_delays_and_stops_when_told() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let calls = AtomicUsize::new(0);
        let started = tokio::time::Instant::now();
        let result: Result<(), &str> = retry(
            &Policy::JOB_RETRY,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("down")
            },
            |_| true,
        )
        .await;
        assert_eq!((result, calls.load(Ordering::SeqCst)), (Err("down"), 3));
        assert_eq!(started.elapsed(), Duration::from_secs(2));

        let calls = AtomicUsize::new(0);
        let result: Result<(), &str> = retry(
            &Policy::RELAY,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("fatal")
            },
            |e| *e != "fatal",
        )
        .await;
        assert_eq!((result, calls.load(Ordering::SeqCst)), (Err("fatal"), 1));
    }
}
