//! Reminder jobs planned from the task events, off the request path: each task event makes the
//! task's exact-time job (Scheduler port, the Dapr Jobs API) match the task as it is now, and
//! the Scheduler is called only when that job changes ([`PlannedJobs`] remembers it).

use std::sync::Arc;

use async_trait::async_trait;
use todo_ports::model::{Event, Topic};
use todo_ports::{EventHandler, HandlerError, PlannedJobs, Scheduler, SchedulerError, TaskRepository, job_for};

use crate::consumers::transient;
use crate::{Consumes, Role};

/// Keeps every task's reminder job in line with the task: scheduled at its reminder time while
/// it is open and has a due date, cancelled once it is completed or deleted or loses its due
/// date. Reads the task itself rather than trusting the event's copy, so a redelivered old
/// event cannot bring back an old job.
pub struct ReminderPlanner {
    tasks: Arc<dyn TaskRepository>,
    plans: Arc<dyn PlannedJobs>,
    scheduler: Arc<dyn Scheduler>,
}

impl ReminderPlanner {
    /// The planner over these ports.
    pub fn new(tasks: Arc<dyn TaskRepository>, plans: Arc<dyn PlannedJobs>, scheduler: Arc<dyn Scheduler>) -> Self {
        Self { tasks, plans, scheduler }
    }
}

impl Consumes for ReminderPlanner {
    const NAME: &'static str = "reminder-jobs";
    const TOPIC: Topic = Topic::TaskEvents;
    const ROLE: Role = Role::RecurringTasks;
}

#[async_trait]
impl EventHandler for ReminderPlanner {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let Event::Task(event) = event else { return Ok(()) };
        let (user, id) = (&event.data.user_id, event.data.id);
        let current = self.tasks.get(user, id).await.map_err(transient)?;
        let wanted = current.as_ref().and_then(job_for);
        let planned = self.plans.planned(id).await.map_err(transient)?;
        if wanted == planned {
            return Ok(());
        }
        let called = match &wanted {
            Some(job) => self.scheduler.schedule(job).await,
            None => self.scheduler.cancel(id).await,
        };
        match called {
            Ok(()) => {}
            Err(SchedulerError::Unavailable(e)) => return Err(HandlerError::Transient(e)),
            Err(SchedulerError::Rejected(e)) => {
                tracing::error!(task_id = %id, error = %e, "the scheduler refused the reminder job; the sweep will raise it");
                return Err(HandlerError::Rejected(format!("reminder job of task {id} refused: {e}")));
            }
        }
        tracing::debug!(task_id = %id, scheduled = wanted.is_some(), "reminder job planned");
        self.plans.set_planned(id, wanted).await.map_err(transient)
    }
}
