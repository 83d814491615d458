//! The task repository: where tasks live, together with the outbox of the events about them
//! and the ledgers that make consumers idempotent.

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_model::{Priority, ReminderEvent, Task, TaskEvent, TaskId, UserId};
use uuid::Uuid;

use crate::BoxError;

/// Page size when a query names none.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// Largest page size.
pub const MAX_PAGE_SIZE: u32 = 200;

/// Marks an event as processed by one consumer (the consumer's inbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InboxKey {
    /// The consumer, e.g. `recurring-tasks`.
    pub consumer: &'static str,
    /// The event it processed.
    pub event_id: Uuid,
}

/// Outcome of [`TaskRepository::insert`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// The task and its event were stored.
    Created,
    /// Nothing was written: the inbox key was already recorded, or the series already has a
    /// task with this occurrence number.
    Duplicate,
}

/// Sort field of a task listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// By due date; tasks without one come last.
    DueDate,
    /// By priority id (1 first); tasks without one come last.
    Priority,
    /// By creation time.
    #[default]
    CreatedAt,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Smallest first.
    #[default]
    Asc,
    /// Largest first.
    Desc,
}

/// Filters, order and page of a task listing. Every filter narrows; ties in the sort key are
/// broken by task id in the same direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskQuery {
    /// Only tasks with this completion flag.
    pub completed: Option<bool>,
    /// Only tasks with this priority.
    pub priority_id: Option<Priority>,
    /// Only tasks carrying this tag (exact match).
    pub tag: Option<String>,
    /// Only tasks due strictly before this instant.
    pub due_before: Option<OffsetDateTime>,
    /// Only tasks due strictly after this instant.
    pub due_after: Option<OffsetDateTime>,
    /// Only tasks whose title or description contains this text, compared after folding both
    /// with [`todo_model::fold_for_search`] (case and loose combining marks ignored).
    pub text: Option<String>,
    /// Sort field.
    pub sort: SortKey,
    /// Sort direction.
    pub order: SortOrder,
    /// Page size, 1 to [`MAX_PAGE_SIZE`].
    pub limit: u32,
    /// Tasks to skip.
    pub offset: u32,
}

impl Default for TaskQuery {
    fn default() -> Self {
        Self {
            completed: None,
            priority_id: None,
            tag: None,
            due_before: None,
            due_after: None,
            text: None,
            sort: SortKey::default(),
            order: SortOrder::default(),
            limit: DEFAULT_PAGE_SIZE,
            offset: 0,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPage {
    /// The tasks of the page.
    pub items: Vec<Task>,
    /// How many tasks match the filters in all.
    pub total: u64,
}

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The stored revision is not the expected one: someone else wrote first. Re-read and retry.
    #[error("the task changed since it was read")]
    Conflict,
    /// The task to update does not exist (any more).
    #[error("task not found")]
    NotFound,
    /// The store cannot be reached now; the call may succeed later.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// Anything else; a bug or a broken store.
    #[error("store failure: {0}")]
    Internal(#[source] BoxError),
}

/// Stores tasks. Every write is the event about it: the repository stores the event's task
/// (`event.data`) and, in the same atomic step, writes the event to the outbox once for each of
/// its type's topics ([`todo_model::TaskEventType::topics`]), so a task change and its events
/// are never separated. The event is built whole by the caller; the repository adds nothing.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait TaskRepository: Send + Sync {
    /// A fresh task id, never handed out before (ids are positive; gaps are allowed).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the store is down.
    async fn next_id(&self) -> Result<TaskId, RepoError>;

    /// Stores the new task `event.data` (with an id from [`TaskRepository::next_id`] and
    /// revision 0) and writes `event`; when `inbox` is given, records it too.
    ///
    /// # Errors
    /// Never fails for a duplicate: returns [`Inserted::Duplicate`] and writes nothing when the
    /// inbox key was already recorded or another task has the same series id and occurrence.
    /// [`RepoError::Unavailable`] when the store is down.
    async fn insert(&self, event: &TaskEvent, inbox: Option<InboxKey>) -> Result<Inserted, RepoError>;

    /// Replaces the stored task with `event.data` (same id and user) if its stored revision is
    /// still `expected_revision`, and writes `event`. The stored task is `event.data` as given
    /// (the caller has bumped its revision and kept its `created_at`).
    ///
    /// # Errors
    /// [`RepoError::Conflict`] when the stored revision differs or the task would take an
    /// occurrence its series already has, [`RepoError::NotFound`] when the task does not exist
    /// for that user.
    async fn update(&self, event: &TaskEvent, expected_revision: u32) -> Result<(), RepoError>;

    /// Deletes the task `event.data` (a `task.deleted` event carrying its last state) if its
    /// stored revision is still `expected_revision`, and writes `event`.
    ///
    /// # Errors
    /// [`RepoError::Conflict`] when the stored revision differs, [`RepoError::NotFound`] when
    /// the task does not exist for that user.
    async fn delete(&self, event: &TaskEvent, expected_revision: u32) -> Result<(), RepoError>;

    /// A user's task; `None` for an unknown id or another user's task.
    async fn get(&self, user_id: &UserId, id: TaskId) -> Result<Option<Task>, RepoError>;

    /// A user's tasks matching `query`.
    async fn list(&self, user_id: &UserId, query: &TaskQuery) -> Result<TaskPage, RepoError>;

    /// Open tasks of every user due within `[from, to]`, at most `limit`, earliest due first:
    /// the candidates of a reminder sweep.
    async fn reminder_candidates(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError>;

    /// Open recurring tasks of every user due at or before `now` whose next occurrence does not
    /// exist yet, at most `limit`, earliest due first.
    async fn overdue_recurring(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Task>, RepoError>;

    /// Records that the reminder of `event` went out and writes `event` to the outbox, once per
    /// `(task_id, due_date)`: returns `false` and writes nothing when that reminder was already
    /// recorded.
    async fn record_reminder(&self, event: &ReminderEvent) -> Result<bool, RepoError>;
}
