//! Ledgers kept by consumers: the audit log of task events and the users' notification feeds.
//! Both record each event once, keyed by its id.

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_model::{ReminderEvent, TaskEvent, UserId};

use crate::RepoError;

/// The audit trail of task events.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends `event` unless an event with its id is there already; returns whether it was
    /// appended.
    async fn append(&self, event: &TaskEvent) -> Result<bool, RepoError>;

    /// A user's most recent task events, newest first (by event timestamp, then insertion).
    async fn list(&self, user_id: &UserId, limit: u32) -> Result<Vec<TaskEvent>, RepoError>;
}

/// A reminder delivered to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The `reminder.due` event that was delivered.
    pub event: ReminderEvent,
    /// When it was delivered.
    pub delivered_at: OffsetDateTime,
}

/// Users' notification feeds.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait NotificationFeed: Send + Sync {
    /// Records the delivery of `due` and writes `sent` (its `reminder.sent` event) to the
    /// outbox, atomically, unless `due` was recorded before; returns whether it was recorded.
    async fn record(
        &self,
        due: &ReminderEvent,
        sent: &ReminderEvent,
        delivered_at: OffsetDateTime,
    ) -> Result<bool, RepoError>;

    /// A user's notifications, newest first.
    async fn list(&self, user_id: &UserId, limit: u32) -> Result<Vec<Notification>, RepoError>;
}
