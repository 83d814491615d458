//! Task commands and queries. Every write stores the task and its event in one repository
//! call (the outbox), so a request never waits on, or fails because of, the event bus.

use std::sync::Arc;

use async_trait::async_trait;
use todo_ports::model::{Task, TaskEventType, TaskId, TaskPatch, UserId};
use todo_ports::{Clock, EventStamp, Inserted, RepoError, ServiceError, TaskPage, TaskQuery, TaskRepository, TaskService};

use crate::ReminderJobs;

/// Attempts of a read-modify-write before reporting a conflict.
const ATTEMPTS: usize = 16;

/// Implements [`TaskService`].
pub struct TaskCommands {
    tasks: Arc<dyn TaskRepository>,
    reminders: Arc<ReminderJobs>,
    clock: Arc<dyn Clock>,
}

impl TaskCommands {
    /// Commands over these ports.
    pub fn new(tasks: Arc<dyn TaskRepository>, reminders: Arc<ReminderJobs>, clock: Arc<dyn Clock>) -> Self {
        Self { tasks, reminders, clock }
    }

    async fn load(&self, user_id: &UserId, id: TaskId) -> Result<Task, ServiceError> {
        self.tasks.get(user_id, id).await?.ok_or(ServiceError::NotFound("task"))
    }

    /// Re-reads, applies `change` and writes under the read revision until no one else wrote
    /// in between. `change` returns `None` when there is nothing to write.
    async fn modify(
        &self,
        user_id: &UserId,
        id: TaskId,
        change: impl Fn(&Task) -> Result<Option<(Task, TaskEventType)>, ServiceError> + Send + Sync,
    ) -> Result<Task, ServiceError> {
        for _ in 0..ATTEMPTS {
            let current = self.load(user_id, id).await?;
            let Some((next, event_type)) = change(&current)? else { return Ok(current) };
            let stamp = EventStamp::new(event_type, next.updated_at);
            match self.tasks.update(next, current.revision, Some(stamp)).await {
                Ok(stored) => {
                    if reminder_fields_changed(&current, &stored) {
                        self.reminders.plan(&stored).await;
                    }
                    return Ok(stored);
                }
                Err(RepoError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(RepoError::Conflict.into())
    }
}

/// Whether the change moves or removes the task's reminder.
fn reminder_fields_changed(before: &Task, after: &Task) -> bool {
    before.completed != after.completed
        || before.due_date != after.due_date
        || before.reminder_offset_minutes != after.reminder_offset_minutes
}

/// Whether two versions of a task differ in anything but bookkeeping.
fn same_content(a: &Task, b: &Task) -> bool {
    Task { revision: 0, updated_at: a.created_at, ..a.clone() } == Task { revision: 0, updated_at: a.created_at, ..b.clone() }
}

#[async_trait]
impl TaskService for TaskCommands {
    async fn create(&self, user_id: &UserId, patch: TaskPatch) -> Result<Task, ServiceError> {
        let now = self.clock.now();
        let task = Task::create(user_id.clone(), patch, now)?;
        let stamp = EventStamp::new(TaskEventType::Created, now);
        let stored = match self.tasks.insert(task, stamp, None).await? {
            Inserted::Created(task) => task,
            Inserted::Duplicate => return Err(ServiceError::Conflict("a task of this series occurrence exists".into())),
        };
        self.reminders.plan(&stored).await;
        Ok(stored)
    }

    async fn get(&self, user_id: &UserId, id: TaskId) -> Result<Task, ServiceError> {
        self.load(user_id, id).await
    }

    async fn list(&self, user_id: &UserId, query: TaskQuery) -> Result<TaskPage, ServiceError> {
        Ok(self.tasks.list(user_id, &query).await?)
    }

    async fn update(&self, user_id: &UserId, id: TaskId, patch: TaskPatch) -> Result<Task, ServiceError> {
        let now = self.clock.now();
        self.modify(user_id, id, |current| {
            let next = current.apply(patch.clone(), now)?;
            if same_content(current, &next) {
                return Ok(None);
            }
            let event_type =
                if !current.completed && next.completed { TaskEventType::Completed } else { TaskEventType::Updated };
            Ok(Some((next, event_type)))
        })
        .await
    }

    async fn complete(&self, user_id: &UserId, id: TaskId) -> Result<Task, ServiceError> {
        let now = self.clock.now();
        self.modify(user_id, id, |current| {
            if current.completed {
                return Ok(None);
            }
            let next = current.apply(TaskPatch { completed: Some(true), ..TaskPatch::default() }, now)?;
            Ok(Some((next, TaskEventType::Completed)))
        })
        .await
    }

    async fn delete(&self, user_id: &UserId, id: TaskId) -> Result<(), ServiceError> {
        let stamp = EventStamp::new(TaskEventType::Deleted, self.clock.now());
        match self.tasks.delete(user_id, id, stamp).await? {
            Some(task) => {
                self.reminders.forget(task.id).await;
                Ok(())
            }
            None => Err(ServiceError::NotFound("task")),
        }
    }
}
