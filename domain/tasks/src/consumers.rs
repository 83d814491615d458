//! Event consumers. Each is idempotent: its side effect is keyed by the event (an inbox key,
//! the series occurrence, or the event id), so an event delivered twice has one effect. Each
//! declares the topic it reads and the role it belongs to ([`Consumes`]).

use std::sync::Arc;

use async_trait::async_trait;
use todo_ports::model::{Event, ReminderEvent, ReminderEventType, TaskEvent, TaskEventType, Topic};
use todo_ports::{
    AuditLog, Clock, EventHandler, HandlerError, InboxKey, Inserted, NotificationFeed, RepoError, TaskRepository,
};

use crate::Role;

/// A consumer of one topic, belonging to one role: what an app subscribes for the roles it runs.
pub trait Consumes: EventHandler + 'static {
    /// Consumer name, unique within an app: its route and inbox key.
    const NAME: &'static str;
    /// The topic it reads.
    const TOPIC: Topic;
    /// The service it belongs to.
    const ROLE: Role;
    /// Whether it reads the topic's dead letters (`{topic}-dlq`: what the topic's consumers
    /// gave up on) rather than the topic itself.
    const DEAD_LETTERS: bool = false;
}

/// A store failure seen by a consumer: worth another delivery.
pub(crate) fn transient(e: RepoError) -> HandlerError {
    HandlerError::Transient(Box::new(e))
}

/// On `task.completed` of a recurring task, creates its next instance, exactly once.
pub struct RecurringTasks {
    tasks: Arc<dyn TaskRepository>,
    clock: Arc<dyn Clock>,
}

impl RecurringTasks {
    /// The consumer over these ports.
    pub fn new(tasks: Arc<dyn TaskRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { tasks, clock }
    }
}

impl Consumes for RecurringTasks {
    const NAME: &'static str = "recurring-tasks";
    const TOPIC: Topic = Topic::TaskEvents;
    const ROLE: Role = Role::RecurringTasks;
}

#[async_trait]
impl EventHandler for RecurringTasks {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let Event::Task(event) = event else { return Ok(()) };
        if event.event_type != TaskEventType::Completed {
            return Ok(());
        }
        let now = self.clock.now();
        let Some(next) = todo_recurrence::next_instance(&event.data, now) else {
            if event.data.recurrence.is_some() {
                tracing::info!(task_id = %event.data.id, "the series would leave the calendar; it ends here");
            }
            return Ok(());
        };
        let next = next.with_id(self.tasks.next_id().await.map_err(transient)?);
        let created = TaskEvent::new(TaskEventType::Created, next, now);
        let inbox = InboxKey { consumer: Self::NAME, event_id: event.event_id };
        match self.tasks.insert(&created, Some(inbox)).await.map_err(transient)? {
            Inserted::Created => tracing::info!(
                task_id = %created.data.id, previous = %event.data.id, due_date = ?created.data.due_date,
                "next occurrence created"
            ),
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
    /// The consumer over its ledger.
    pub fn new(log: Arc<dyn AuditLog>) -> Self {
        Self { log }
    }
}

impl Consumes for AuditTrail {
    const NAME: &'static str = "audit";
    const TOPIC: Topic = Topic::TaskEvents;
    const ROLE: Role = Role::Audit;
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
    /// The consumer over its ledger.
    pub fn new(feed: Arc<dyn NotificationFeed>, clock: Arc<dyn Clock>) -> Self {
        Self { feed, clock }
    }
}

impl Consumes for Notifier {
    const NAME: &'static str = "notifications";
    const TOPIC: Topic = Topic::Reminders;
    const ROLE: Role = Role::Notifications;
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
            // User text goes in as a Debug field: quoted and escaped, it cannot forge a line.
            tracing::info!(
                user_id = %r.user_id, task_id = %r.task_id, title = ?r.task_title, due_date = %r.due_date,
                channels = ?r.notification_channels, "notification: task due soon"
            );
        }
        Ok(())
    }
}

/// Gives up on the reminders the notifier could not deliver (they reached the `reminders`
/// dead-letter topic): publishes `reminder.failed` once per reminder (through the outbox, with
/// the record), and logs it.
pub struct UndeliveredReminders {
    feed: Arc<dyn NotificationFeed>,
    clock: Arc<dyn Clock>,
}

impl UndeliveredReminders {
    /// The consumer over its ledger.
    pub fn new(feed: Arc<dyn NotificationFeed>, clock: Arc<dyn Clock>) -> Self {
        Self { feed, clock }
    }
}

impl Consumes for UndeliveredReminders {
    const NAME: &'static str = "undelivered-reminders";
    const TOPIC: Topic = Topic::Reminders;
    const ROLE: Role = Role::Notifications;
    const DEAD_LETTERS: bool = true;
}

#[async_trait]
impl EventHandler for UndeliveredReminders {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        let Event::Reminder(due) = event else { return Ok(()) };
        if due.event_type != ReminderEventType::Due {
            return Ok(());
        }
        let failed = ReminderEvent::new(ReminderEventType::Failed, due.data.clone(), self.clock.now());
        if self.feed.record_failure(due, &failed).await.map_err(transient)? {
            let r = &due.data;
            tracing::warn!(
                user_id = %r.user_id, task_id = %r.task_id, title = ?r.task_title, due_date = %r.due_date,
                "notification failed for good: reminder.failed published"
            );
        }
        Ok(())
    }
}
