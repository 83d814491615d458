//! Event consumers. Each is idempotent: its side effect is keyed by the event (an inbox key,
//! the series occurrence, or the event id), so an event delivered twice has one effect.

use std::sync::Arc;

use async_trait::async_trait;
use todo_ports::model::{Event, ReminderEvent, ReminderEventType, TaskEventType};
use todo_ports::{
    AuditLog, Clock, EventHandler, EventStamp, HandlerError, InboxKey, Inserted, NotificationFeed, RepoError,
    TaskRepository,
};

use crate::ReminderJobs;

/// A store failure seen by a consumer: worth another delivery.
fn transient(e: RepoError) -> HandlerError {
    HandlerError::Transient(Box::new(e))
}

/// On `task.completed` of a recurring task, creates its next instance, exactly once.
pub struct RecurringTasks {
    tasks: Arc<dyn TaskRepository>,
    reminders: Arc<ReminderJobs>,
    clock: Arc<dyn Clock>,
}

impl RecurringTasks {
    /// Consumer name (inbox key and route).
    pub const NAME: &'static str = "recurring-tasks";

    /// The consumer over these ports.
    pub fn new(tasks: Arc<dyn TaskRepository>, reminders: Arc<ReminderJobs>, clock: Arc<dyn Clock>) -> Self {
        Self { tasks, reminders, clock }
    }
}

#[async_trait]
impl EventHandler for RecurringTasks {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let Event::Task(event) = event else { return Ok(()) };
        if event.event_type != TaskEventType::Completed {
            return Ok(());
        }
        let now = self.clock.now();
        let Some(next) = todo_recurrence::next_instance(&event.data, now) else { return Ok(()) };
        let inbox = InboxKey { consumer: Self::NAME, event_id: event.event_id };
        let stamp = EventStamp::new(TaskEventType::Created, now);
        match self.tasks.insert(next, stamp, Some(inbox)).await.map_err(transient)? {
            Inserted::Created(task) => {
                tracing::info!(task_id = %task.id, previous = %event.data.id, due_date = ?task.due_date, "next occurrence created");
                self.reminders.plan(&task).await;
            }
            Inserted::Duplicate => tracing::debug!(event_id = %event.event_id, "next occurrence already exists"),
        }
        Ok(())
    }
}

/// Appends every task event to the audit log, once per event id.
pub struct AuditTrail {
    log: Arc<dyn AuditLog>,
}

impl AuditTrail {
    /// Consumer name.
    pub const NAME: &'static str = "audit";

    /// The consumer over its ledger.
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self { log }
    }
}

#[async_trait]
impl EventHandler for AuditTrail {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let Event::Task(event) = event else { return Ok(()) };
        if !self.log.append(event).await.map_err(transient)? {
            tracing::debug!(event_id = %event.event_id, "event already audited");
        }
        Ok(())
    }
}

/// Delivers `reminder.due` events: logs the notification, records it in the user's feed once,
/// and publishes `reminder.sent` (through the outbox, with the record).
pub struct Notifier {
    feed: Arc<dyn NotificationFeed>,
    clock: Arc<dyn Clock>,
}

impl Notifier {
    /// Consumer name.
    pub const NAME: &'static str = "notifications";

    /// The consumer over its ledger.
    pub fn new(feed: Arc<dyn NotificationFeed>, clock: Arc<dyn Clock>) -> Self {
        Self { feed, clock }
    }
}

#[async_trait]
impl EventHandler for Notifier {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let Event::Reminder(due) = event else { return Ok(()) };
        if due.event_type != ReminderEventType::Due {
            return Ok(());
        }
        let now = self.clock.now();
        let sent = ReminderEvent::new(ReminderEventType::Sent, due.data.clone(), now);
        if self.feed.record(due, &sent, now).await.map_err(transient)? {
            let r = &due.data;
            tracing::info!(
                user_id = %r.user_id, task_id = %r.task_id, title = %r.task_title, due_date = %r.due_date,
                channels = ?r.notification_channels, "notification: task due soon"
            );
        }
        Ok(())
    }
}
