//! Driving ports: what inbound adapters (REST, Dapr callbacks) call. The domain implements
//! them; adapters depend only on these traits, so they are tested against mocks.

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use todo_model::{Conversation, ConversationKey, Role, Task, TaskId, TaskPatch, ToolCall, UserId, ValidationError};

use crate::{AuditPage, AuditQuery, BoxError, Notification, RepoError, StateError, TaskPage, TaskQuery};

/// Why a use case failed; inbound adapters map each kind to their protocol's status.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input breaks a rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The named thing does not exist for this user.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Concurrent writers kept winning; the client may retry.
    #[error("{0}")]
    Conflict(String),
    /// A dependency is down; the client may retry later.
    #[error("service unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A bug or broken dependency.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

impl From<RepoError> for ServiceError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Conflict => Self::Conflict("the task kept changing concurrently".into()),
            RepoError::NotFound => Self::NotFound("task"),
            RepoError::Unavailable(source) => Self::Unavailable(source),
            RepoError::Internal(source) => Self::Internal(source),
        }
    }
}

impl From<StateError> for ServiceError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Conflict => Self::Conflict("the conversation kept changing concurrently".into()),
            StateError::Unavailable(source) => Self::Unavailable(source),
            StateError::Internal(source) => Self::Internal(source),
        }
    }
}

/// Task use cases.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait TaskService: Send + Sync {
    /// Creates a task from `patch` (a `title` is required); emits `task.created`.
    async fn create(&self, user_id: &UserId, patch: TaskPatch) -> Result<Task, ServiceError>;
    /// One task of the user.
    async fn get(&self, user_id: &UserId, id: TaskId) -> Result<Task, ServiceError>;
    /// The user's tasks matching `query`.
    async fn list(&self, user_id: &UserId, query: TaskQuery) -> Result<TaskPage, ServiceError>;
    /// Applies a partial update; emits `task.updated`, or `task.completed` when it completes
    /// the task. An update that changes nothing emits nothing.
    async fn update(&self, user_id: &UserId, id: TaskId, patch: TaskPatch) -> Result<Task, ServiceError>;
    /// Completes the task; completing a completed task changes nothing and emits nothing.
    async fn complete(&self, user_id: &UserId, id: TaskId) -> Result<Task, ServiceError>;
    /// Deletes the task; emits `task.deleted` carrying the task.
    async fn delete(&self, user_id: &UserId, id: TaskId) -> Result<(), ServiceError>;
}

/// A message as a client sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInput {
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
    /// When it was written; now when absent.
    pub timestamp: Option<OffsetDateTime>,
    /// The tools an assistant message asks to run (see [`todo_model::Message`]).
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool message answers.
    pub tool_call_id: Option<String>,
}

impl MessageInput {
    /// A plain message of `role` saying `content`, written now.
    pub fn text(role: Role, content: impl Into<String>) -> Self {
        Self { role, content: content.into(), timestamp: None, tool_calls: Vec::new(), tool_call_id: None }
    }
}

/// Conversation state use cases.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ConversationService: Send + Sync {
    /// The conversation.
    async fn get(&self, key: &ConversationKey) -> Result<Conversation, ServiceError>;
    /// Creates or replaces the conversation's messages and/or context (absent parts are kept).
    async fn put(
        &self,
        key: &ConversationKey,
        messages: Option<Vec<MessageInput>>,
        context: Option<Value>,
    ) -> Result<Conversation, ServiceError>;
    /// Deletes the conversation.
    async fn delete(&self, key: &ConversationKey) -> Result<(), ServiceError>;
    /// Appends one message, creating the conversation if needed; concurrent appends all land.
    async fn append(&self, key: &ConversationKey, message: MessageInput) -> Result<Conversation, ServiceError>;
}

/// Read models kept by the consumers.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ActivityService: Send + Sync {
    /// The page of a user's audited task events that `query` asks for, newest first.
    async fn audit(&self, query: AuditQuery) -> Result<AuditPage, ServiceError>;
    /// The user's delivered reminders, newest first.
    async fn notifications(&self, user_id: &UserId, limit: u32) -> Result<Vec<Notification>, ServiceError>;
}

/// What a sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// `reminder.due` events raised.
    pub reminders: usize,
    /// Next instances of overdue recurring tasks created.
    pub instances: usize,
}

impl SweepReport {
    /// Everything the sweep processed.
    pub fn processed(&self) -> usize {
        self.reminders + self.instances
    }
}

/// The periodic sweep (the `reminder-cron` binding).
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait SweepService: Send + Sync {
    /// Raises due reminders and creates due recurring instances, once each however many
    /// sweeps run.
    async fn sweep(&self) -> Result<SweepReport, ServiceError>;
}
