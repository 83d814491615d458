//! The periodic sweep behind the `reminder-cron` binding: creates the next instance of every
//! overdue recurring task and raises every due reminder, in one batch. Safe to run in several
//! replicas at once: the series occurrence and the reminder ledger are unique in the store.

use std::sync::Arc;

use async_trait::async_trait;
use todo_ports::model::{TaskEvent, TaskEventType};
use todo_ports::{Clock, Inserted, ServiceError, SweepReport, SweepService, TaskRepository};

use crate::ReminderJobs;

/// Overdue recurring tasks handled per sweep.
const INSTANCE_LIMIT: u32 = 1_000;

/// Implements [`SweepService`].
pub struct Sweep {
    tasks: Arc<dyn TaskRepository>,
    reminders: Arc<ReminderJobs>,
    clock: Arc<dyn Clock>,
}

impl Sweep {
    /// The sweep over these ports.
    pub fn new(tasks: Arc<dyn TaskRepository>, reminders: Arc<ReminderJobs>, clock: Arc<dyn Clock>) -> Self {
        Self { tasks, reminders, clock }
    }
}

#[async_trait]
impl SweepService for Sweep {
    async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        for task in self.tasks.overdue_recurring(now, INSTANCE_LIMIT).await? {
            let Some(next) = todo_recurrence::next_instance(&task, now) else { continue };
            let event = TaskEvent::new(TaskEventType::Created, next.with_id(self.tasks.next_id().await?), now);
            if self.tasks.insert(&event, None).await? == Inserted::Created {
                report.instances += 1;
            }
        }
        report.reminders = self.reminders.raise_due().await?;
        tracing::info!(instances = report.instances, reminders = report.reminders, "sweep done");
        Ok(report)
    }
}
