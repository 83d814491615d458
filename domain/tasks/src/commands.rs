//! Task commands and queries. Every write stores the task and its event in one repository
//! call (the outbox), so a request never waits on, or fails because of, the event bus or the
//! scheduler: reminder jobs follow from the events ([`crate::ReminderPlanner`]).

use std::sync::Arc;

use async_trait::async_trait;
use todo_ports::model::{Task, TaskEvent, TaskEventType, TaskId, TaskPatch, UserId};
use todo_ports::{Clock, Inserted, RepoError, ServiceError, TaskPage, TaskQuery, TaskRepository, TaskService};
use todo_retry::Policy;

/// Implements [`TaskService`].
pub struct TaskCommands {
    tasks: Arc<dyn TaskRepository>,
    clock: Arc<dyn Clock>,
}

impl TaskCommands {
    /// Commands over these ports.
    pub fn new(tasks: Arc<dyn TaskRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { tasks, clock }
    }

    async fn load(&self, user_id: &UserId, id: TaskId) -> Result<Task, ServiceError> {
        self.tasks.get(user_id, id).await?.ok_or(ServiceError::NotFound("task"))
    }

    /// Re-reads, applies `change` at the time of this attempt and writes under the read
    /// revision until no one else wrote in between ([`Policy::CONTENTION`]). `change` returns
    /// `None` when there is nothing to write.
    async fn modify(
        &self,
        user_id: &UserId,
        id: TaskId,
        change: impl Fn(&Task, time::OffsetDateTime) -> Result<Option<(Task, TaskEventType)>, ServiceError> + Send + Sync,
    ) -> Result<Task, ServiceError> {
        let mut attempts = Policy::CONTENTION.delays();
        loop {
            let current = self.load(user_id, id).await?;
            let Some((next, event_type)) = change(&current, self.clock.now())? else { return Ok(current) };
            let event = TaskEvent::new(event_type, next.clone(), next.updated_at);
            match self.tasks.update(&event, current.revision).await {
                Ok(()) => return Ok(next),
                Err(RepoError::Conflict) if attempts.next().is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Whether two versions of a task differ in anything but bookkeeping.
fn same_content(a: &Task, b: &Task) -> bool {
    Task { revision: 0, updated_at: a.created_at, ..a.clone() }
        == Task { revision: 0, updated_at: a.created_at, ..b.clone() }
}

#[async_trait]
impl TaskService for TaskCommands {
    async fn create(&self, user_id: &UserId, patch: TaskPatch) -> Result<Task, ServiceError> {
        let now = self.clock.now();
        let draft = Task::create(user_id.clone(), patch, now)?;
        let task = draft.with_id(self.tasks.next_id().await?);
        let event = TaskEvent::new(TaskEventType::Created, task.clone(), now);
        match self.tasks.insert(&event, None).await? {
            Inserted::Created => Ok(task),
            Inserted::Duplicate => Err(ServiceError::Conflict("a task of this series occurrence exists".into())),
        }
    }

    async fn get(&self, user_id: &UserId, id: TaskId) -> Result<Task, ServiceError> {
        self.load(user_id, id).await
    }

    async fn list(&self, user_id: &UserId, query: TaskQuery) -> Result<TaskPage, ServiceError> {
        Ok(self.tasks.list(user_id, &query).await?)
    }

    async fn update(&self, user_id: &UserId, id: TaskId, patch: TaskPatch) -> Result<Task, ServiceError> {
        self.modify(user_id, id, |current, now| {
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
        self.modify(user_id, id, |current, now| {
            if current.completed {
                return Ok(None);
            }
            let next = current.apply(TaskPatch { completed: Some(true), ..TaskPatch::default() }, now)?;
            Ok(Some((next, TaskEventType::Completed)))
        })
        .await
    }

    async fn delete(&self, user_id: &UserId, id: TaskId) -> Result<(), ServiceError> {
        let mut attempts = Policy::CONTENTION.delays();
        loop {
            let current = self.load(user_id, id).await?;
            let timestamp = self.clock.now().max(current.updated_at);
            let revision = current.revision;
            let event = TaskEvent::new(TaskEventType::Deleted, current, timestamp);
            match self.tasks.delete(&event, revision).await {
                Ok(()) => return Ok(()),
                Err(RepoError::Conflict) if attempts.next().is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}
