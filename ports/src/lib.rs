//! The ports of the Todo hexagon: traits the domain calls out through (driven ports) and the
//! traits inbound adapters call in through (driving ports), each with its own error enum.
//!
//! Ports speak in domain types only (re-exported from `todo-model`); no HTTP, SQL or broker
//! type appears here. The `testing` feature adds a mockall mock of every trait.

pub use todo_model as model;

mod bus;
mod chat;
mod clock;
mod error;
mod identity;
mod ledger;
mod outbox;
mod repository;
mod scheduler;
mod service;
mod state;
mod tools;
pub mod trace;

pub use bus::{BatchPublishError, BusError, EventBus, EventHandler, HandlerError, Subscription};
pub use chat::{
    ChatError, ChatEvent, ChatMessage, ChatModel, ChatRequest, ChatService, Completion, CompletionPart, ModelError,
    ToolFailure, ToolReport, TurnSummary,
};
pub use clock::{Clock, SystemClock};
pub use error::BoxError;
pub use identity::{Caller, IdentityError, TokenVerifier};
pub use ledger::{AuditLog, AuditPage, AuditPosition, AuditQuery, Notification, NotificationFeed};
pub use outbox::{DrainReport, Outbox, OutboxWait};
pub use repository::{
    DEFAULT_PAGE_SIZE, InboxKey, Inserted, MAX_PAGE_SIZE, RepoError, SortKey, SortOrder, TaskPage, TaskQuery,
    TaskRepository,
};
pub use scheduler::{JobHandler, PlannedJobs, ReminderJob, Scheduler, SchedulerError, job_for};
pub use service::{
    ActivityService, ConversationService, MessageInput, ServiceError, SweepReport, SweepService, TaskService,
};
pub use state::{ETag, Precondition, StateError, StateStore, Versioned};
pub use tools::{ToolBox, ToolError, ToolSpec};

#[cfg(feature = "testing")]
pub use {
    bus::{MockEventBus, MockEventHandler},
    chat::{MockChatModel, MockChatService},
    clock::MockClock,
    identity::MockTokenVerifier,
    ledger::{MockAuditLog, MockNotificationFeed},
    outbox::MockOutbox,
    repository::MockTaskRepository,
    scheduler::{MockJobHandler, MockPlannedJobs, MockScheduler},
    service::{MockActivityService, MockConversationService, MockSweepService, MockTaskService},
    state::MockStateStore,
    tools::MockToolBox,
};
