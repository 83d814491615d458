//! Events the domain publishes: task lifecycle events and reminder events, in the envelope of
//! the seed schemas (`event_id`, `event_type`, `timestamp`, `version`, `data`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Task, TaskId, Trace, TraceParent, UserId, ValidationError, check_instant, check_line};

/// Schema version written into every event.
pub const EVENT_VERSION: &str = "v1.0";

/// The three topics of the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Task lifecycle events for back-end consumers (recurrence, audit).
    TaskEvents,
    /// The same task events, for real-time sync of clients.
    TaskUpdates,
    /// `reminder.*` events.
    Reminders,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 3] = [Topic::TaskEvents, Topic::TaskUpdates, Topic::Reminders];

    /// The topic's name on the broker.
    pub fn name(self) -> &'static str {
        match self {
            Self::TaskEvents => "task-events",
            Self::TaskUpdates => "task-updates",
            Self::Reminders => "reminders",
        }
    }

    /// The topic named `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// Kind of a task event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaskEventType {
    /// A task was created (by a user or as the next occurrence of a series).
    #[serde(rename = "task.created")]
    Created,
    /// A task's fields changed.
    #[serde(rename = "task.updated")]
    Updated,
    /// A task went from open to completed.
    #[serde(rename = "task.completed")]
    Completed,
    /// A task was deleted; the event carries its last state.
    #[serde(rename = "task.deleted")]
    Deleted,
}

impl TaskEventType {
    /// The dotted name, as in the schema.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "task.created",
            Self::Updated => "task.updated",
            Self::Completed => "task.completed",
            Self::Deleted => "task.deleted",
        }
    }

    /// The topics a task event goes to.
    pub fn topics(self) -> [Topic; 2] {
        [Topic::TaskEvents, Topic::TaskUpdates]
    }
}

/// A change to a task, with the full task as it was right after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskEvent {
    /// Unique per event; consumers deduplicate on it.
    pub event_id: Uuid,
    /// What happened.
    pub event_type: TaskEventType,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// Always [`EVENT_VERSION`] when written.
    pub version: String,
    /// The task.
    pub data: Task,
    /// The trace it was written in (set by the outbox, read by the bus; not published data).
    #[serde(skip)]
    pub trace: Trace,
}

impl TaskEvent {
    /// A new event about `task` with a fresh id.
    pub fn new(event_type: TaskEventType, task: Task, timestamp: OffsetDateTime) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            event_type,
            timestamp,
            version: EVENT_VERSION.into(),
            data: task,
            trace: Trace::default(),
        }
    }
}

/// Kind of a reminder event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReminderEventType {
    /// A task's reminder time has come.
    #[serde(rename = "reminder.due")]
    Due,
    /// The notification service delivered the reminder.
    #[serde(rename = "reminder.sent")]
    Sent,
    /// The notification service could not deliver it.
    #[serde(rename = "reminder.failed")]
    Failed,
}

impl ReminderEventType {
    /// The dotted name, as in the schema.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Due => "reminder.due",
            Self::Sent => "reminder.sent",
            Self::Failed => "reminder.failed",
        }
    }
}

/// A way to reach a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// E-mail.
    Email,
    /// Push notification.
    Push,
    /// Text message.
    Sms,
}

/// What a reminder is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    /// The task.
    pub task_id: TaskId,
    /// Its owner.
    pub user_id: UserId,
    /// Its title when the reminder was made.
    pub task_title: String,
    /// Its due date; one reminder per task and due date.
    #[serde(with = "time::serde::rfc3339")]
    pub due_date: OffsetDateTime,
    /// When the reminder was meant to go out.
    #[serde(with = "time::serde::rfc3339")]
    pub reminder_time: OffsetDateTime,
    /// Where to send it.
    #[serde(default)]
    pub notification_channels: Vec<Channel>,
}

/// A reminder event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderEvent {
    /// Unique per event; consumers deduplicate on it.
    pub event_id: Uuid,
    /// What happened.
    pub event_type: ReminderEventType,
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// Always [`EVENT_VERSION`] when written.
    pub version: String,
    /// The reminder.
    pub data: Reminder,
    /// The trace it was written in (set by the outbox, read by the bus; not published data).
    #[serde(skip)]
    pub trace: Trace,
}

impl ReminderEvent {
    /// A new event with a fresh id.
    pub fn new(event_type: ReminderEventType, data: Reminder, timestamp: OffsetDateTime) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            event_type,
            timestamp,
            version: EVENT_VERSION.into(),
            data,
            trace: Trace::default(),
        }
    }

    /// The id of a `reminder.due` event for `(task_id, due_date)`: the same inputs always give
    /// the same id, so a reminder raised twice (by a sweep and by the scheduler, or by two
    /// replicas) is one event to every idempotent consumer.
    pub fn due_event_id(task_id: TaskId, due_date: OffsetDateTime) -> Uuid {
        let name = format!("reminder.due:{}:{}", task_id.0, due_date.unix_timestamp_nanos());
        Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes())
    }
}

/// Any event of the system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Event {
    /// A task lifecycle event.
    Task(TaskEvent),
    /// A reminder event.
    Reminder(ReminderEvent),
}

impl Event {
    /// The event's id.
    pub fn id(&self) -> Uuid {
        match self {
            Self::Task(e) => e.event_id,
            Self::Reminder(e) => e.event_id,
        }
    }

    /// The dotted event type.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Task(e) => e.event_type.as_str(),
            Self::Reminder(e) => e.event_type.as_str(),
        }
    }

    /// The trace it was written in, when known.
    pub fn trace(&self) -> Option<&TraceParent> {
        match self {
            Self::Task(e) => e.trace.0.as_ref(),
            Self::Reminder(e) => e.trace.0.as_ref(),
        }
    }

    /// The same event, known to have been written in `trace`.
    pub fn with_trace(mut self, trace: Option<TraceParent>) -> Self {
        match &mut self {
            Self::Task(e) => e.trace = Trace(trace),
            Self::Reminder(e) => e.trace = Trace(trace),
        }
        self
    }

    /// The user the event concerns: the partition key on the broker.
    pub fn user_id(&self) -> &UserId {
        match self {
            Self::Task(e) => &e.data.user_id,
            Self::Reminder(e) => &e.data.user_id,
        }
    }
}

impl Event {
    /// Checks what a decoded event carries against the rules the domain keeps for what it
    /// writes itself: every instant within years 1 to 9999 in UTC, no control characters in
    /// titles. An event from the broker that fails this cannot have come from this system.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the offending field (`timestamp`, `data.due_date`, ...).
    pub fn check(&self) -> Result<(), ValidationError> {
        let instant = |field: &str, t: OffsetDateTime| check_instant(field, t).map(drop);
        match self {
            Self::Task(e) => {
                instant("timestamp", e.timestamp)?;
                instant("data.created_at", e.data.created_at)?;
                instant("data.updated_at", e.data.updated_at)?;
                if let Some(due) = e.data.due_date {
                    instant("data.due_date", due)?;
                }
                check_line("data.title", &e.data.title)
            }
            Self::Reminder(e) => {
                instant("timestamp", e.timestamp)?;
                instant("data.due_date", e.data.due_date)?;
                instant("data.reminder_time", e.data.reminder_time)?;
                check_line("data.task_title", &e.data.task_title)
            }
        }
    }
}

impl From<TaskEvent> for Event {
    fn from(e: TaskEvent) -> Self {
        Self::Task(e)
    }
}

impl From<ReminderEvent> for Event {
    fn from(e: ReminderEvent) -> Self {
        Self::Reminder(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn the_seed_example_task_event_reads_and_writes_back() {
        let json = serde_json::json!({
            "event_id": "a3c7f8e9-1234-5678-9abc-def012345678",
            "event_type": "task.created",
            "timestamp": "2025-12-11T10:30:00Z",
            "version": "v1.0",
            "data": {
                "id": 42, "user_id": "usr_abc123", "title": "Complete Phase V migration",
                "description": "Implement event-driven architecture with Dapr and Kafka",
                "completed": false, "priority_id": 1, "due_date": "2025-12-20T23:59:59Z",
                "created_at": "2025-12-11T10:30:00Z", "updated_at": "2025-12-11T10:30:00Z"
            }
        });
        let event: Event = serde_json::from_value(json.clone()).unwrap();
        let Event::Task(task_event) = &event else { panic!("not a task event: {event:?}") };
        assert_eq!(task_event.event_type, TaskEventType::Created);
        assert_eq!(task_event.data.due_date, Some(datetime!(2025-12-20 23:59:59 UTC)));
        let back = serde_json::to_value(&event).unwrap();
        assert_eq!(back["timestamp"], json["timestamp"]);
        assert_eq!(back["data"]["priority_id"], 1);
    }

    #[test]
    fn reminder_events_are_told_apart_from_task_events() {
        let json = serde_json::json!({
            "event_id": "b4d8a9f0-2345-6789-0bcd-ef1234567890",
            "event_type": "reminder.due",
            "timestamp": "2025-12-20T22:59:59Z",
            "version": "v1.0",
            "data": {
                "task_id": 42, "user_id": "usr_abc123", "task_title": "t",
                "due_date": "2025-12-20T23:59:59Z", "reminder_time": "2025-12-20T22:59:59Z",
                "notification_channels": ["email", "push"]
            }
        });
        let event: Event = serde_json::from_value(json).unwrap();
        assert_eq!(event.event_type(), "reminder.due");
        assert_eq!(event.user_id().as_str(), "usr_abc123");
    }

    #[test]
    fn a_decoded_event_out_of_the_calendar_is_refused() {
        let json = serde_json::json!({
            "event_id": "a3c7f8e9-1234-5678-9abc-def012345678", "event_type": "task.created",
            "timestamp": "0000-01-01T00:00:00+00:01", "version": "v1.0",
            "data": {"id": 1, "user_id": "u", "title": "t", "completed": false,
                     "created_at": "2025-12-11T10:30:00Z", "updated_at": "2025-12-11T10:30:00Z"}
        });
        let event: Event = serde_json::from_value(json).unwrap();
        assert_eq!(event.check().unwrap_err().field, "timestamp");
    }

    #[test]
    fn a_due_reminder_has_one_id_per_task_and_due_date() {
        let due = datetime!(2026-01-10 12:00 UTC);
        assert_eq!(ReminderEvent::due_event_id(TaskId(1), due), ReminderEvent::due_event_id(TaskId(1), due));
        assert_ne!(ReminderEvent::due_event_id(TaskId(1), due), ReminderEvent::due_event_id(TaskId(2), due));
        assert_ne!(
            ReminderEvent::due_event_id(TaskId(1), due),
            ReminderEvent::due_event_id(TaskId(1), due + time::Duration::DAY)
        );
    }
}
