//! The in-memory task store: tasks, their outbox, the consumers' inbox and ledgers, behind
//! one lock so that a task write and its events are one atomic step, as in PostgreSQL.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_ports::model::{Event, ReminderEvent, Task, TaskEvent, TaskId, Topic, UserId};
use todo_ports::{
    AuditLog, DrainReport, EventBus, EventStamp, InboxKey, Inserted, Notification, NotificationFeed, Outbox,
    OutboxWait, RepoError, SortKey, SortOrder, TaskPage, TaskQuery, TaskRepository,
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::lock;

/// Tasks, outbox, inbox, reminder ledger, audit log and notification feeds in memory.
/// Cheap to share: wrap it in an `Arc` and hand it out as each port.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    inner: Mutex<Inner>,
    /// Signalled whenever an outbox record is written (one stored permit when nobody waits).
    outbox_written: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    tasks: BTreeMap<TaskId, Task>,
    last_id: i64,
    /// `(series id, occurrence)` of every stored task that belongs to a series.
    occurrences: HashSet<(Uuid, u32)>,
    inbox: HashSet<InboxKey>,
    reminders: HashSet<(TaskId, OffsetDateTime)>,
    outbox: VecDeque<Record>,
    last_seq: u64,
    /// Users whose records a drain is publishing right now.
    draining: HashSet<UserId>,
    audit: Vec<TaskEvent>,
    audited: HashSet<Uuid>,
    notifications: Vec<Notification>,
    notified: HashSet<Uuid>,
}

#[derive(Debug, Clone)]
struct Record {
    seq: u64,
    topic: Topic,
    event: Event,
}

impl Inner {
    fn enqueue(&mut self, topic: Topic, event: Event) {
        self.last_seq += 1;
        self.outbox.push_back(Record { seq: self.last_seq, topic, event });
    }

    fn enqueue_task_event(&mut self, stamp: &EventStamp, task: &Task) {
        let event = stamp.event(task);
        for topic in stamp.event_type.topics() {
            self.enqueue(topic, Event::Task(event.clone()));
        }
    }

    fn owned(&self, user_id: &UserId, id: TaskId) -> Option<&Task> {
        self.tasks.get(&id).filter(|t| &t.user_id == user_id)
    }
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

#[async_trait]
impl TaskRepository for InMemoryStore {
    async fn insert(&self, mut task: Task, stamp: EventStamp, inbox: Option<InboxKey>) -> Result<Inserted, RepoError> {
        {
            let mut inner = lock(&self.inner);
            if inbox.is_some_and(|key| inner.inbox.contains(&key)) {
                return Ok(Inserted::Duplicate);
            }
            let occurrence = task.series.map(|s| (s.id, s.occurrence));
            if occurrence.is_some_and(|o| inner.occurrences.contains(&o)) {
                return Ok(Inserted::Duplicate);
            }
            inner.last_id += 1;
            task.id = TaskId(inner.last_id);
            task.revision = 0;
            inner.occurrences.extend(occurrence);
            inner.inbox.extend(inbox);
            inner.enqueue_task_event(&stamp, &task);
            inner.tasks.insert(task.id, task.clone());
        }
        self.outbox_written.notify_one();
        Ok(Inserted::Created(task))
    }

    async fn update(&self, mut task: Task, expected_revision: u32, stamp: Option<EventStamp>) -> Result<Task, RepoError> {
        {
            let mut inner = lock(&self.inner);
            let stored = inner.owned(&task.user_id, task.id).ok_or(RepoError::NotFound)?;
            if stored.revision != expected_revision {
                return Err(RepoError::Conflict);
            }
            let created_at = stored.created_at;
            let old = stored.series.map(|s| (s.id, s.occurrence));
            let new = task.series.map(|s| (s.id, s.occurrence));
            if new != old && new.is_some_and(|o| inner.occurrences.contains(&o)) {
                return Err(RepoError::Conflict);
            }
            if let Some(old) = old {
                inner.occurrences.remove(&old);
            }
            inner.occurrences.extend(new);
            task.revision = expected_revision.wrapping_add(1);
            task.created_at = created_at;
            if let Some(stamp) = &stamp {
                inner.enqueue_task_event(stamp, &task);
            }
            inner.tasks.insert(task.id, task.clone());
        }
        if stamp.is_some() {
            self.outbox_written.notify_one();
        }
        Ok(task)
    }

    async fn delete(&self, user_id: &UserId, id: TaskId, stamp: EventStamp) -> Result<Option<Task>, RepoError> {
        let removed = {
            let mut inner = lock(&self.inner);
            if inner.owned(user_id, id).is_none() {
                return Ok(None);
            }
            let task = inner.tasks.remove(&id);
            if let Some(task) = &task {
                if let Some(s) = task.series {
                    inner.occurrences.remove(&(s.id, s.occurrence));
                }
                inner.enqueue_task_event(&stamp, task);
            }
            task
        };
        self.outbox_written.notify_one();
        Ok(removed)
    }

    async fn get(&self, user_id: &UserId, id: TaskId) -> Result<Option<Task>, RepoError> {
        Ok(lock(&self.inner).owned(user_id, id).cloned())
    }

    async fn list(&self, user_id: &UserId, query: &TaskQuery) -> Result<TaskPage, RepoError> {
        let needle = query.text.as_deref().map(str::to_lowercase);
        let mut items: Vec<Task> = lock(&self.inner)
            .tasks
            .values()
            .filter(|t| &t.user_id == user_id)
            .filter(|t| query.completed.is_none_or(|c| t.completed == c))
            .filter(|t| query.priority_id.is_none_or(|p| t.priority_id == Some(p)))
            .filter(|t| query.tag.as_ref().is_none_or(|tag| t.tags.contains(tag)))
            .filter(|t| query.due_before.is_none_or(|b| t.due_date.is_some_and(|d| d < b)))
            .filter(|t| query.due_after.is_none_or(|a| t.due_date.is_some_and(|d| d > a)))
            .filter(|t| needle.as_deref().is_none_or(|n| t.matches_text(n)))
            .cloned()
            .collect();
        sort(&mut items, query.sort, query.order);
        let total = items.len() as u64;
        let items = items.into_iter().skip(query.offset as usize).take(query.limit as usize).collect();
        Ok(TaskPage { items, total })
    }

    async fn reminder_candidates(&self, from: OffsetDateTime, to: OffsetDateTime, limit: u32) -> Result<Vec<Task>, RepoError> {
        let mut found: Vec<Task> = lock(&self.inner)
            .tasks
            .values()
            .filter(|t| !t.completed && t.due_date.is_some_and(|d| from <= d && d <= to))
            .cloned()
            .collect();
        found.sort_by_key(|t| (t.due_date, t.id));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn overdue_recurring(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Task>, RepoError> {
        let inner = lock(&self.inner);
        let mut found: Vec<Task> = inner
            .tasks
            .values()
            .filter(|t| !t.completed && t.recurrence.is_some() && t.due_date.is_some_and(|d| d <= now))
            .filter(|t| t.series.is_some_and(|s| !inner.occurrences.contains(&(s.id, s.occurrence + 1))))
            .cloned()
            .collect();
        found.sort_by_key(|t| (t.due_date, t.id));
        found.truncate(limit as usize);
        Ok(found)
    }

    async fn record_reminder(&self, event: &ReminderEvent) -> Result<bool, RepoError> {
        {
            let mut inner = lock(&self.inner);
            if !inner.reminders.insert((event.data.task_id, event.data.due_date)) {
                return Ok(false);
            }
            inner.enqueue(Topic::Reminders, Event::Reminder(event.clone()));
        }
        self.outbox_written.notify_one();
        Ok(true)
    }
}

/// Orders tasks like the PostgreSQL adapter: missing keys last, ties by id in the same direction.
fn sort(items: &mut [Task], key: SortKey, order: SortOrder) {
    items.sort_by(|a, b| {
        let by_key = match key {
            SortKey::DueDate => cmp_missing_last(a.due_date, b.due_date, order),
            SortKey::Priority => cmp_missing_last(a.priority_id, b.priority_id, order),
            SortKey::CreatedAt => directed(a.created_at.cmp(&b.created_at), order),
        };
        by_key.then_with(|| directed(a.id.cmp(&b.id), order))
    });
}

fn cmp_missing_last<T: Ord>(a: Option<T>, b: Option<T>, order: SortOrder) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(a), Some(b)) => directed(a.cmp(&b), order),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn directed(o: std::cmp::Ordering, order: SortOrder) -> std::cmp::Ordering {
    match order {
        SortOrder::Asc => o,
        SortOrder::Desc => o.reverse(),
    }
}

#[async_trait]
impl Outbox for InMemoryStore {
    async fn drain(&self, bus: Arc<dyn EventBus>, limit: usize) -> Result<DrainReport, RepoError> {
        // Claim the oldest records of users no other drain is busy with.
        let claimed: Vec<Record> = {
            let mut inner = lock(&self.inner);
            let busy = inner.draining.clone();
            let claimed: Vec<Record> = inner
                .outbox
                .iter()
                .filter(|r| !busy.contains(r.event.user_id()))
                .take(limit)
                .cloned()
                .collect();
            for record in &claimed {
                inner.draining.insert(record.event.user_id().clone());
            }
            claimed
        };
        let mut report = DrainReport::default();
        let mut published = HashSet::new();
        let mut stalled: HashSet<UserId> = HashSet::new();
        for record in &claimed {
            let user = record.event.user_id();
            if stalled.contains(user) {
                report.failed += 1;
                continue;
            }
            match bus.publish(record.topic, &record.event).await {
                Ok(()) => {
                    published.insert(record.seq);
                    report.published += 1;
                }
                Err(e) => {
                    tracing::warn!(error = %e, event_id = %record.event.id(), "outbox publish failed");
                    stalled.insert(user.clone());
                    report.failed += 1;
                }
            }
        }
        let mut inner = lock(&self.inner);
        inner.outbox.retain(|r| !published.contains(&r.seq));
        for record in &claimed {
            inner.draining.remove(record.event.user_id());
        }
        Ok(report)
    }

    async fn wait(&self, how: OutboxWait) {
        match how {
            // A write while nobody waits leaves a permit, so a record written between a drain
            // and this wait ends the wait at once instead of being noticed a period late.
            OutboxWait::ForWork(at_most) => {
                let _ = tokio::time::timeout(at_most, self.outbox_written.notified()).await;
            }
            OutboxWait::Pause(d) => tokio::time::sleep(d).await,
        }
    }

    async fn pending(&self) -> Result<u64, RepoError> {
        Ok(lock(&self.inner).outbox.len() as u64)
    }
}

#[async_trait]
impl AuditLog for InMemoryStore {
    async fn append(&self, event: &TaskEvent) -> Result<bool, RepoError> {
        let mut inner = lock(&self.inner);
        if !inner.audited.insert(event.event_id) {
            return Ok(false);
        }
        inner.audit.push(event.clone());
        Ok(true)
    }

    async fn list(&self, user_id: &UserId, limit: u32) -> Result<Vec<TaskEvent>, RepoError> {
        let inner = lock(&self.inner);
        let mut found: Vec<(usize, &TaskEvent)> =
            inner.audit.iter().enumerate().filter(|(_, e)| &e.data.user_id == user_id).collect();
        found.sort_by(|(i, a), (j, b)| b.timestamp.cmp(&a.timestamp).then(j.cmp(i)));
        Ok(found.into_iter().take(limit as usize).map(|(_, e)| e.clone()).collect())
    }
}

#[async_trait]
impl NotificationFeed for InMemoryStore {
    async fn record(&self, due: &ReminderEvent, sent: &ReminderEvent, delivered_at: OffsetDateTime) -> Result<bool, RepoError> {
        {
            let mut inner = lock(&self.inner);
            if !inner.notified.insert(due.event_id) {
                return Ok(false);
            }
            inner.notifications.push(Notification { event: due.clone(), delivered_at });
            inner.enqueue(Topic::Reminders, Event::Reminder(sent.clone()));
        }
        self.outbox_written.notify_one();
        Ok(true)
    }

    async fn list(&self, user_id: &UserId, limit: u32) -> Result<Vec<Notification>, RepoError> {
        let inner = lock(&self.inner);
        Ok(inner
            .notifications
            .iter()
            .rev()
            .filter(|n| &n.event.data.user_id == user_id)
            .take(limit as usize)
            .cloned()
            .collect())
    }
}
