//! The in-memory task store: tasks, their outbox, the consumers' inbox and ledgers, behind
//! one lock so that a task write and its events are one atomic step, as in PostgreSQL.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_ports::model::{Event, ReminderEvent, Task, TaskEvent, TaskId, Topic, UserId, fold_for_search};
use todo_ports::{
    AuditLog, AuditPage, AuditPosition, AuditQuery, DrainReport, EventBus, InboxKey, Inserted, Notification,
    NotificationFeed, Outbox, OutboxWait, PlannedJobs, ReminderJob, RepoError, SortKey, SortOrder, TaskPage, TaskQuery,
    TaskRepository,
};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::lock;

/// Tasks, outbox, inbox, reminder ledger, planned jobs, audit log and notification feeds in
/// memory.
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
    planned: HashMap<TaskId, ReminderJob>,
}

#[derive(Debug, Clone)]
struct Record {
    seq: u64,
    topic: Topic,
    event: Event,
}

impl Inner {
    /// Writes `event` to the outbox in the trace the caller works in.
    fn enqueue(&mut self, topic: Topic, event: Event) {
        self.last_seq += 1;
        let event = event.with_trace(todo_ports::trace::current());
        self.outbox.push_back(Record { seq: self.last_seq, topic, event });
    }

    fn enqueue_task_event(&mut self, event: &TaskEvent) {
        for topic in event.event_type.topics() {
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
    async fn next_id(&self) -> Result<TaskId, RepoError> {
        let mut inner = lock(&self.inner);
        inner.last_id += 1;
        Ok(TaskId(inner.last_id))
    }

    async fn insert(&self, event: &TaskEvent, inbox: Option<InboxKey>) -> Result<Inserted, RepoError> {
        let task = &event.data;
        {
            let mut inner = lock(&self.inner);
            if inbox.is_some_and(|key| inner.inbox.contains(&key)) {
                return Ok(Inserted::Duplicate);
            }
            let occurrence = task.series.map(|s| (s.id, s.occurrence));
            if occurrence.is_some_and(|o| inner.occurrences.contains(&o)) {
                return Ok(Inserted::Duplicate);
            }
            if inner.tasks.contains_key(&task.id) {
                return Err(RepoError::Internal(format!("task id {} is taken", task.id).into()));
            }
            inner.occurrences.extend(occurrence);
            inner.inbox.extend(inbox);
            inner.enqueue_task_event(event);
            inner.tasks.insert(task.id, task.clone());
        }
        self.outbox_written.notify_one();
        Ok(Inserted::Created)
    }

    async fn update(&self, event: &TaskEvent, expected_revision: u32) -> Result<(), RepoError> {
        let task = &event.data;
        {
            let mut inner = lock(&self.inner);
            let stored = inner.owned(&task.user_id, task.id).ok_or(RepoError::NotFound)?;
            if stored.revision != expected_revision {
                return Err(RepoError::Conflict);
            }
            let old = stored.series.map(|s| (s.id, s.occurrence));
            let new = task.series.map(|s| (s.id, s.occurrence));
            if new != old && new.is_some_and(|o| inner.occurrences.contains(&o)) {
                return Err(RepoError::Conflict);
            }
            if let Some(old) = old {
                inner.occurrences.remove(&old);
            }
            inner.occurrences.extend(new);
            inner.enqueue_task_event(event);
            inner.tasks.insert(task.id, task.clone());
        }
        self.outbox_written.notify_one();
        Ok(())
    }

    async fn delete(&self, event: &TaskEvent, expected_revision: u32) -> Result<(), RepoError> {
        let task = &event.data;
        {
            let mut inner = lock(&self.inner);
            let stored = inner.owned(&task.user_id, task.id).ok_or(RepoError::NotFound)?;
            if stored.revision != expected_revision {
                return Err(RepoError::Conflict);
            }
            if let Some(s) = stored.series {
                inner.occurrences.remove(&(s.id, s.occurrence));
            }
            inner.tasks.remove(&task.id);
            inner.enqueue_task_event(event);
        }
        self.outbox_written.notify_one();
        Ok(())
    }

    async fn get(&self, user_id: &UserId, id: TaskId) -> Result<Option<Task>, RepoError> {
        Ok(lock(&self.inner).owned(user_id, id).cloned())
    }

    async fn list(&self, user_id: &UserId, query: &TaskQuery) -> Result<TaskPage, RepoError> {
        let needle = query.text.as_deref().map(fold_for_search);
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

    async fn reminder_candidates(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError> {
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

/// Takes the users of a drain off the busy list when the drain ends, however it ends.
struct Claim<'a> {
    inner: &'a Mutex<Inner>,
    users: Vec<UserId>,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        let mut inner = lock(self.inner);
        for user in &self.users {
            inner.draining.remove(user);
        }
    }
}

#[async_trait]
impl Outbox for InMemoryStore {
    async fn drain(&self, bus: Arc<dyn EventBus>, limit: usize) -> Result<DrainReport, RepoError> {
        // Claim the oldest records of users no other drain is busy with.
        let (claimed, _claim) = {
            let mut inner = lock(&self.inner);
            let busy = inner.draining.clone();
            let claimed: Vec<Record> =
                inner.outbox.iter().filter(|r| !busy.contains(r.event.user_id())).take(limit).cloned().collect();
            let users: HashSet<UserId> = claimed.iter().map(|r| r.event.user_id().clone()).collect();
            inner.draining.extend(users.iter().cloned());
            (claimed, Claim { inner: &self.inner, users: users.into_iter().collect() })
        };
        // One batch per topic, each user's records in order.
        let mut by_topic: BTreeMap<Topic, Vec<&Record>> = BTreeMap::new();
        for record in &claimed {
            by_topic.entry(record.topic).or_default().push(record);
        }
        let mut report = DrainReport::default();
        let mut published = HashSet::new();
        for (topic, records) in by_topic {
            let events: Vec<Event> = records.iter().map(|r| r.event.clone()).collect();
            let failed: HashSet<Uuid> = match bus.publish_batch(topic, &events).await {
                Ok(()) => HashSet::new(),
                Err(e) => {
                    tracing::warn!(error = %e, topic = topic.name(), "outbox publish failed");
                    e.failed.into_iter().collect()
                }
            };
            // A record that failed holds back the later records of its user in this topic.
            let mut stalled: HashSet<&UserId> = HashSet::new();
            for record in records {
                let user = record.event.user_id();
                if stalled.contains(user) || failed.contains(&record.event.id()) {
                    stalled.insert(user);
                    report.failed += 1;
                } else {
                    published.insert(record.seq);
                    report.published += 1;
                }
            }
        }
        lock(&self.inner).outbox.retain(|r| !published.contains(&r.seq));
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
impl PlannedJobs for InMemoryStore {
    async fn planned(&self, task_id: TaskId) -> Result<Option<ReminderJob>, RepoError> {
        Ok(lock(&self.inner).planned.get(&task_id).cloned())
    }

    async fn set_planned(&self, task_id: TaskId, job: Option<ReminderJob>) -> Result<(), RepoError> {
        let mut inner = lock(&self.inner);
        match job {
            Some(job) => inner.planned.insert(task_id, job),
            None => inner.planned.remove(&task_id),
        };
        Ok(())
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

    async fn list(&self, query: &AuditQuery) -> Result<AuditPage, RepoError> {
        let inner = lock(&self.inner);
        // An entry's sequence number is its place in the append-only vector, counted from 1.
        let mut found: Vec<(AuditPosition, &TaskEvent)> = (1..)
            .zip(&inner.audit)
            .map(|(seq, e)| (AuditPosition { occurred_at: e.timestamp, seq }, e))
            .filter(|&(at, e)| audit_admits(query, at, e))
            .collect();
        found.sort_by(|(a, _), (b, _)| b.cmp(a));
        let size = query.page_size() as usize;
        let more = found.len() > size;
        found.truncate(size);
        let next = if more { found.last().map(|&(at, _)| at) } else { None };
        Ok(AuditPage { items: found.into_iter().map(|(_, e)| e.clone()).collect(), next })
    }
}

/// Whether `query` keeps `event`, appended at `at`: its user, its filters, after its start.
fn audit_admits(query: &AuditQuery, at: AuditPosition, event: &TaskEvent) -> bool {
    event.data.user_id == query.user_id
        && query.task_id.is_none_or(|id| event.data.id == id)
        && query.event_type.is_none_or(|t| event.event_type == t)
        && query.since.is_none_or(|since| at.occurred_at >= since)
        && query.until.is_none_or(|until| at.occurred_at < until)
        && query.after.is_none_or(|after| at < after)
}

#[async_trait]
impl NotificationFeed for InMemoryStore {
    async fn record(
        &self,
        due: &ReminderEvent,
        sent: &ReminderEvent,
        delivered_at: OffsetDateTime,
    ) -> Result<bool, RepoError> {
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

    async fn record_failure(&self, due: &ReminderEvent, failed: &ReminderEvent) -> Result<bool, RepoError> {
        {
            let mut inner = lock(&self.inner);
            if !inner.notified.insert(due.event_id) {
                return Ok(false);
            }
            inner.enqueue(Topic::Reminders, Event::Reminder(failed.clone()));
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
