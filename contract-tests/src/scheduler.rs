//! The [`Scheduler`] contract. One function per rule; [`crate::scheduler_contract_tests!`]
//! makes one test of each for an adapter.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_ports::{BoxError, JobHandler, ReminderJob, Scheduler};

use crate::support::{eventually, now, unique_task_id, unique_user};

/// A scheduler plus the adapter-specific way to give it its job handler.
#[async_trait]
pub trait SchedulerHarness: Send + Sync {
    /// The scheduler under test.
    fn scheduler(&self) -> Arc<dyn Scheduler>;
    /// Sets the handler fired jobs go to, and starts; called once, before scheduling.
    async fn start(&mut self, handler: Arc<dyn JobHandler>);
    /// How late a job may fire.
    fn lateness(&self) -> Duration;
}

/// A job handler recording when each job fired.
#[derive(Default)]
pub struct Fired {
    jobs: Mutex<Vec<(ReminderJob, OffsetDateTime)>>,
}

impl Fired {
    /// The firings so far.
    pub fn all(&self) -> Vec<(ReminderJob, OffsetDateTime)> {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl JobHandler for Fired {
    async fn fire(&self, job: &ReminderJob) -> Result<(), BoxError> {
        self.jobs.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((job.clone(), now()));
        Ok(())
    }
}

fn job(in_: time::Duration) -> ReminderJob {
    let fire_at = now() + in_;
    ReminderJob {
        task_id: unique_task_id(),
        user_id: unique_user("job"),
        due_date: fire_at + time::Duration::hours(1),
        fire_at,
    }
}

fn std(d: time::Duration) -> Duration {
    d.try_into().unwrap_or(Duration::ZERO)
}

/// A job fires its handler once, with its data, not before its time and at most
/// `lateness()` after it.
pub async fn a_job_fires_on_time(mut h: impl SchedulerHarness) {
    let fired = Arc::new(Fired::default());
    h.start(fired.clone()).await;
    let j = job(time::Duration::seconds(3));
    h.scheduler().schedule(&j).await.expect("schedule");
    let patience = std(j.fire_at - now()) + h.lateness() + Duration::from_secs(2);
    let got = eventually(patience, || async { fired.all().into_iter().next() }).await;
    let (got, at) = got.unwrap_or_else(|| panic!("the job did not fire within {patience:?}"));
    assert_eq!(got, j, "the fired job carries its data");
    eprintln!("job due {} fired {:.3} s after its time", j.fire_at, (at - j.fire_at).as_seconds_f64());
    // second precision: the Scheduler keeps whole seconds of an RFC 3339 due time
    assert!(at >= j.fire_at - time::Duration::seconds(1), "fired early: at {at}, due {}", j.fire_at);
    assert!(at <= j.fire_at + h.lateness(), "fired late: at {at}, due {}", j.fire_at);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fired.all().len(), 1, "a one-shot job fires once");
}

/// A job whose time has passed fires at once.
pub async fn a_past_job_fires_at_once(mut h: impl SchedulerHarness) {
    let fired = Arc::new(Fired::default());
    h.start(fired.clone()).await;
    let j = job(-time::Duration::minutes(5));
    h.scheduler().schedule(&j).await.expect("schedule");
    let got = eventually(h.lateness() + Duration::from_secs(1), || async { fired.all().into_iter().next() }).await;
    assert_eq!(got.map(|(j, _)| j), Some(j), "a past job should fire at once");
}

/// A cancelled job does not fire; cancelling a job that does not exist succeeds.
pub async fn a_cancelled_job_does_not_fire(mut h: impl SchedulerHarness) {
    let fired = Arc::new(Fired::default());
    h.start(fired.clone()).await;
    let j = job(time::Duration::seconds(2));
    h.scheduler().schedule(&j).await.expect("schedule");
    h.scheduler().cancel(j.task_id).await.expect("cancel");
    h.scheduler().cancel(j.task_id).await.expect("cancelling twice");
    h.scheduler().cancel(unique_task_id()).await.expect("cancelling an unknown job");
    tokio::time::sleep(std(j.fire_at - now()) + h.lateness()).await;
    assert!(fired.all().is_empty(), "a cancelled job fired: {:?}", fired.all());
}

/// Scheduling a task's job again replaces the previous one.
pub async fn rescheduling_replaces_the_job(mut h: impl SchedulerHarness) {
    let fired = Arc::new(Fired::default());
    h.start(fired.clone()).await;
    let first = job(time::Duration::seconds(2));
    let mut second = first.clone();
    second.fire_at = first.fire_at + time::Duration::seconds(2);
    second.due_date = first.due_date + time::Duration::days(1);
    h.scheduler().schedule(&first).await.expect("schedule");
    h.scheduler().schedule(&second).await.expect("schedule again");
    let patience = std(second.fire_at - now()) + h.lateness() + Duration::from_secs(1);
    let got = eventually(patience, || async { fired.all().into_iter().next() }).await;
    assert_eq!(got.map(|(j, _)| j), Some(second), "the replacing job fires");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fired.all().len(), 1, "the replaced job does not fire too");
}

/// One `#[tokio::test]` per [`Scheduler`] case. `$factory` is an `async fn(case: &'static
/// str) -> Option<impl SchedulerHarness>`.
#[macro_export]
macro_rules! scheduler_contract_tests {
    ($factory:path) => {
        $crate::scheduler_contract_tests!(@cases $factory;
            a_job_fires_on_time,
            a_past_job_fires_at_once,
            a_cancelled_job_does_not_fire,
            rescheduling_replaces_the_job);
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            if let Some(harness) = $factory(stringify!($case)).await {
                $crate::scheduler::$case(harness).await;
            }
        }
    )*};
}
