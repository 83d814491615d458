//! The consumers' read models on the wire: audit entries and delivered notifications.

use serde::Serialize;
use time::OffsetDateTime;
use todo_ports::Notification;
use todo_ports::model::{ReminderEvent, TaskEvent};

/// `{"items": [...]}`.
#[derive(Debug, Serialize)]
pub struct Items<T> {
    /// The entries, newest first.
    pub items: Vec<T>,
}

/// An audit entry: the task event as it was published.
pub type AuditView<'a> = &'a TaskEvent;

/// A delivered reminder: `{"event": <reminder.due>, "delivered_at"}`.
#[derive(Debug, Serialize)]
pub struct NotificationView<'a> {
    event: &'a ReminderEvent,
    #[serde(with = "time::serde::rfc3339")]
    delivered_at: OffsetDateTime,
}

impl<'a> From<&'a Notification> for NotificationView<'a> {
    fn from(n: &'a Notification) -> Self {
        Self { event: &n.event, delivered_at: n.delivered_at }
    }
}
