//! Raising reminders: the job callback of an exact-time job, and the sweep's catch-up
//! selection. Both raise `reminder.due` through the repository's ledger, so a task gets one
//! reminder per due date however many paths or replicas fire.

use std::sync::Arc;

use async_trait::async_trait;
use todo_ports::model::{ReminderEvent, ReminderEventType, Task, TaskId};
use todo_ports::{BoxError, Clock, JobHandler, ReminderJob, RepoError, TaskRepository};
use todo_reminders::{DEFAULT_GRACE, candidate_window, reminder_for, select_due};

/// Candidates examined per sweep.
const SWEEP_LIMIT: u32 = 10_000;

/// Raises reminders; the [`JobHandler`] of reminder jobs.
pub struct ReminderJobs {
    tasks: Arc<dyn TaskRepository>,
    clock: Arc<dyn Clock>,
}

impl ReminderJobs {
    /// Reminders over these ports.
    pub fn new(tasks: Arc<dyn TaskRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { tasks, clock }
    }

    /// Raises `reminder.due` for the task's current due date, unless it was raised before.
    /// Returns whether it was raised now.
    pub async fn raise(&self, task: &Task) -> Result<bool, RepoError> {
        let Some(reminder) = reminder_for(task) else { return Ok(false) };
        let mut event = ReminderEvent::new(ReminderEventType::Due, reminder, self.clock.now());
        event.event_id = ReminderEvent::due_event_id(task.id, event.data.due_date);
        let raised = self.tasks.record_reminder(&event).await?;
        if raised {
            tracing::info!(task_id = %task.id, user_id = %task.user_id, "reminder.due raised");
        }
        Ok(raised)
    }

    /// Raises every reminder due now that was not raised yet; returns how many were raised.
    pub async fn raise_due(&self) -> Result<usize, RepoError> {
        let now = self.clock.now();
        let (from, to) = candidate_window(now, DEFAULT_GRACE);
        let candidates = self.tasks.reminder_candidates(from, to, SWEEP_LIMIT).await?;
        let due: Vec<TaskId> = select_due(&candidates, now, DEFAULT_GRACE).iter().map(|r| r.task_id).collect();
        let mut raised = 0;
        for task in candidates.iter().filter(|t| due.contains(&t.id)) {
            raised += usize::from(self.raise(task).await?);
        }
        Ok(raised)
    }
}

#[async_trait]
impl JobHandler for ReminderJobs {
    /// Raises the reminder of a fired job if the task is still open and still due then; a job
    /// made stale by a later change or deletion does nothing.
    async fn fire(&self, job: &ReminderJob) -> Result<(), BoxError> {
        let task = self.tasks.get(&job.user_id, job.task_id).await?;
        match task {
            Some(task) if !task.completed && task.due_date == Some(job.due_date) => {
                self.raise(&task).await?;
            }
            _ => tracing::debug!(job = %job.name(), "stale reminder job ignored"),
        }
        Ok(())
    }
}
