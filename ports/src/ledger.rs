//! Ledgers kept by consumers: the audit log of task events and the users' notification feeds.
//! Both record each event once, keyed by its id.

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_model::{ReminderEvent, TaskEvent, TaskEventType, TaskId, UserId};

use crate::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, RepoError};

/// An entry's place in the audit log, which is its order key: the event's timestamp, then the
/// entry's sequence number in the log (appended later, higher), so no two entries share one.
///
/// The log reads newest first: a larger key is newer. A key never changes once the entry is
/// appended, which is what makes a page walk by keys stable while entries are appended.
/// Sequence numbers are the store's own; a position from one store means nothing to another.
///
/// For one task this is the order its revisions committed in: they commit one after another
/// (each under the revision it read), and each event's timestamp is no earlier than the last
/// (`updated_at` never goes back), so timestamps only tie, never invert; a tie falls to append
/// order, which is delivery order (a user's events are published in commit order). Events of
/// different tasks are in timestamp order, which two concurrent writes need not commit in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AuditPosition {
    /// The event's timestamp ([`TaskEvent::timestamp`]).
    pub occurred_at: OffsetDateTime,
    /// The entry's sequence number in the log.
    pub seq: u64,
}

/// Which entries of a user's audit log to read, and which page of them. Every filter narrows.
///
/// Pages run newest first, in the log's order ([`AuditPosition`]); a page starts just after
/// the position `after` names (exclusive), so walking pages by [`AuditPage::next`] gives every
/// entry that was there when the walk began exactly once, whatever is appended meanwhile (an
/// entry appended during the walk shows up only if its key falls below the page being read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Whose log.
    pub user_id: UserId,
    /// Only events about this task.
    pub task_id: Option<TaskId>,
    /// Only events of this type.
    pub event_type: Option<TaskEventType>,
    /// Only events at or after this instant (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Only events strictly before this instant (exclusive), so `since = t, until = u` and
    /// `since = u, until = v` split a range without overlap.
    pub until: Option<OffsetDateTime>,
    /// Page size, 1 to [`MAX_PAGE_SIZE`] ([`DEFAULT_PAGE_SIZE`] by default); stores read it
    /// through [`AuditQuery::page_size`], which brings any other value into that range.
    pub limit: u32,
    /// Start after this entry (the previous page's [`AuditPage::next`]); from the newest when
    /// `None`.
    pub after: Option<AuditPosition>,
}

impl AuditQuery {
    /// The first page of `user_id`'s whole log, [`DEFAULT_PAGE_SIZE`] entries long.
    pub fn new(user_id: UserId) -> Self {
        Self {
            user_id,
            task_id: None,
            event_type: None,
            since: None,
            until: None,
            limit: DEFAULT_PAGE_SIZE,
            after: None,
        }
    }

    /// The page size a store reads: [`AuditQuery::limit`] held to 1 to [`MAX_PAGE_SIZE`] (a
    /// page of at least one entry, so a walk always moves on).
    pub fn page_size(&self) -> u32 {
        self.limit.clamp(1, MAX_PAGE_SIZE)
    }
}

/// One page of a user's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    /// The entries, newest first.
    pub items: Vec<TaskEvent>,
    /// The position of the page's last entry when more entries matched beyond it as the page
    /// was read: pass it as [`AuditQuery::after`] for the next page. `None` on the last page.
    pub next: Option<AuditPosition>,
}

/// The audit trail of task events.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends `event` unless an event with its id is there already; returns whether it was
    /// appended.
    async fn append(&self, event: &TaskEvent) -> Result<bool, RepoError>;

    /// The page of the log `query` asks for: its user's events its filters keep, newest first
    /// by [`AuditPosition`] (event timestamp, then latest appended first), starting after
    /// `query.after`, at most [`AuditQuery::page_size`] of them.
    async fn list(&self, query: &AuditQuery) -> Result<AuditPage, RepoError>;
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
    /// outbox, atomically, unless `due` was delivered or given up on before; returns whether it
    /// was recorded.
    async fn record(
        &self,
        due: &ReminderEvent,
        sent: &ReminderEvent,
        delivered_at: OffsetDateTime,
    ) -> Result<bool, RepoError>;

    /// Records that `due` could not be delivered for good and writes `failed` (its
    /// `reminder.failed` event) to the outbox, atomically, unless `due` was delivered or given up
    /// on before; returns whether it was recorded.
    async fn record_failure(&self, due: &ReminderEvent, failed: &ReminderEvent) -> Result<bool, RepoError>;

    /// A user's notifications, newest first.
    async fn list(&self, user_id: &UserId, limit: u32) -> Result<Vec<Notification>, RepoError>;
}
