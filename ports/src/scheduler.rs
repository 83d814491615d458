//! Exact-time reminders: one-shot jobs that fire at a task's reminder time.

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_model::{TaskId, UserId};

use crate::{BoxError, RepoError};

/// A one-shot job firing the reminder of one task. A task has at most one: scheduling again
/// replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderJob {
    /// The task.
    pub task_id: TaskId,
    /// Its owner.
    pub user_id: UserId,
    /// The due date the reminder is for.
    pub due_date: OffsetDateTime,
    /// When the job fires (the reminder time).
    pub fire_at: OffsetDateTime,
}

impl ReminderJob {
    /// The job's name, unique per task: `reminder-{task_id}`.
    pub fn name(&self) -> String {
        Self::name_for(self.task_id)
    }

    /// The name of the job of `task_id`.
    pub fn name_for(task_id: TaskId) -> String {
        format!("reminder-{}", task_id.0)
    }
}

/// Why a scheduler call failed.
#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    /// The scheduler cannot be reached now.
    #[error("scheduler unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The scheduler refused the job.
    #[error("job rejected: {0}")]
    Rejected(#[source] BoxError),
}

/// Schedules one-shot jobs.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Schedules `job` to fire at `job.fire_at` (at once if that has passed), replacing the
    /// task's previous job.
    async fn schedule(&self, job: &ReminderJob) -> Result<(), SchedulerError>;

    /// Cancels the job of `task_id`; cancelling a job that does not exist succeeds.
    async fn cancel(&self, task_id: TaskId) -> Result<(), SchedulerError>;
}

/// What a task's reminder job should be: at its reminder time while it is open and has a due
/// date (and a reminder time within the calendar), none otherwise.
pub fn job_for(task: &todo_model::Task) -> Option<ReminderJob> {
    match (task.completed, task.due_date, task.reminder_time()) {
        (false, Some(due_date), Some(fire_at)) => {
            Some(ReminderJob { task_id: task.id, user_id: task.user_id.clone(), due_date, fire_at })
        }
        _ => None,
    }
}

/// The reminder jobs known to be scheduled, so that the Scheduler is called only when a task's
/// job must change: never for a task without a due date, never twice for the same job.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait PlannedJobs: Send + Sync {
    /// The job last recorded as scheduled for `task_id`.
    async fn planned(&self, task_id: TaskId) -> Result<Option<ReminderJob>, RepoError>;

    /// Records `job` as the task's scheduled job, or (with `None`) that it has none.
    async fn set_planned(&self, task_id: TaskId, job: Option<ReminderJob>) -> Result<(), RepoError>;
}

/// Runs a job when it fires. A job may fire more than once (at-least-once schedulers), so
/// handlers are idempotent.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait JobHandler: Send + Sync {
    /// Handles a fired job.
    ///
    /// # Errors
    /// A transient failure, so that the scheduler may fire the job again.
    async fn fire(&self, job: &ReminderJob) -> Result<(), BoxError>;
}
