//! The chat assistant: the language model it asks (a driven port, [`ChatModel`]) and the turn an
//! inbound adapter runs (a driving port, [`ChatService`]). Messages, tool offers and the streamed
//! answer are domain types here; a model API's wire format stays in its adapter.

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use serde_json::Value;
use todo_model::{ConversationKey, ToolCall, ValidationError};
use tokio::sync::mpsc;

use crate::{BoxError, ServiceError, ToolError, ToolSpec};

/// One message of what a model reads.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatMessage {
    /// Instructions: what the assistant is and what it may do.
    System(String),
    /// The person.
    User(String),
    /// The assistant: what it said, and the tools it asked to run (each answered by a
    /// [`ChatMessage::Tool`] that follows).
    Assistant {
        /// Its text (possibly empty when it calls tools).
        content: String,
        /// The tools it asked to run.
        tool_calls: Vec<ToolCall>,
    },
    /// What a tool returned (or why it failed), answering call `call_id`.
    Tool {
        /// The call answered.
        call_id: String,
        /// The result, as text (JSON).
        content: String,
    },
}

/// What a model is asked: the conversation so far and the tools it may call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The messages, oldest first, the instructions first of all.
    pub messages: Vec<ChatMessage>,
    /// The tools on offer; none asks for an answer in text.
    pub tools: Vec<ToolSpec>,
}

/// A piece of a streamed completion.
#[derive(Debug, Clone, PartialEq)]
pub enum CompletionPart {
    /// A piece of the answer's text, as it arrives.
    Text(String),
    /// A tool call, once the model has written it whole (its arguments are never partial).
    ToolCall(ToolCall),
}

/// A completion as it streams: its parts in order, ending when the model has finished. An
/// answer cut off before its end ends with an error, never silently.
pub type Completion = BoxStream<'static, Result<CompletionPart, ModelError>>;

/// Why a model did not answer (or stopped answering).
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// No model is configured; the text says what to set.
    #[error("no chat model is configured: {0}")]
    Unconfigured(String),
    /// The model's API refused the request: the credentials (401, 403) or the request itself
    /// (an unknown model, a conversation too long). The same request will fail again.
    #[error("the model's API refused the request: {0}")]
    Rejected(String),
    /// The API cannot answer now: unreachable, overloaded (429), failing (5xx), too slow, or cut
    /// off in the middle of an answer. The same request may work later.
    #[error("the model is unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The API answered something that is not its format.
    #[error("the model's answer is malformed: {0}")]
    Malformed(String),
}

/// A language model behind a chat-completions API.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ChatModel: Send + Sync {
    /// Asks the model to go on with `request`; its answer streams.
    ///
    /// # Errors
    /// [`ModelError`]: why it does not answer at all. Errors after the answer began come in
    /// the [`Completion`].
    async fn complete(&self, request: ChatRequest) -> Result<Completion, ModelError>;
}

/// What happens during a turn, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum ChatEvent {
    /// A piece of the answer's text.
    Text(String),
    /// A tool the assistant ran, and what came of it.
    Tool(ToolReport),
}

/// A tool call and its outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolReport {
    /// The call as the model asked for it.
    pub call: ToolCall,
    /// The tool's result, or why it failed.
    pub outcome: Result<Value, ToolFailure>,
}

/// A failed tool call as the model and the user see it: what to correct, and no internal
/// detail (a dependency's error stays in the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolFailure {
    /// `unknown_tool`, `invalid_arguments`, `not_found`, `unavailable` or `internal`.
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// The argument at fault, when one is.
    pub field: Option<String>,
}

impl From<&ToolError> for ToolFailure {
    fn from(e: &ToolError) -> Self {
        let (code, message, field) = match e {
            ToolError::Unknown(_) => ("unknown_tool", e.to_string(), None),
            ToolError::Invalid { field, .. } => ("invalid_arguments", e.to_string(), field.clone()),
            ToolError::NotFound(_) => ("not_found", e.to_string(), None),
            ToolError::Unavailable(_) => ("unavailable", "a dependency is unavailable; try again shortly".into(), None),
            ToolError::Internal(_) => ("internal", "the tool failed".into(), None),
        };
        Self { code, message, field }
    }
}

/// What a turn left in the conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnSummary {
    /// The assistant's answer (all the text it streamed in its last round).
    pub answer: String,
    /// The number of messages of the stored conversation after the turn.
    pub messages: usize,
    /// How many times the model was asked.
    pub rounds: usize,
}

/// Why a turn failed. Whatever a tool did before is stored in the conversation all the same.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The message breaks a rule (its field is `message`).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// No model is configured; the text says what to set.
    #[error("the chat assistant is not configured: {0}")]
    Unconfigured(String),
    /// The model's API refused the request (see [`ModelError::Rejected`]).
    #[error("the model's API refused the request: {0}")]
    ModelRejected(String),
    /// The model cannot answer now.
    #[error("the model is unavailable: {0}")]
    ModelUnavailable(#[source] BoxError),
    /// The model answered something unreadable.
    #[error("the model's answer is malformed: {0}")]
    ModelMalformed(String),
    /// The model kept calling tools for this many rounds without answering.
    #[error("the assistant was still calling tools after {0} rounds")]
    TooManyRounds(usize),
    /// Concurrent writers of the conversation kept winning.
    #[error("{0}")]
    Conflict(String),
    /// The conversation's store is down.
    #[error("unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A bug or broken dependency.
    #[error("internal error: {0}")]
    Internal(#[source] BoxError),
}

impl From<ModelError> for ChatError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::Unconfigured(hint) => Self::Unconfigured(hint),
            ModelError::Rejected(why) => Self::ModelRejected(why),
            ModelError::Unavailable(source) => Self::ModelUnavailable(source),
            ModelError::Malformed(why) => Self::ModelMalformed(why),
        }
    }
}

impl From<ServiceError> for ChatError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(e) => Self::Invalid(e),
            ServiceError::Conflict(message) => Self::Conflict(message),
            ServiceError::Unavailable(source) => Self::Unavailable(source),
            ServiceError::NotFound(what) => Self::Internal(format!("{what} not found").into()),
            ServiceError::Internal(source) => Self::Internal(source),
        }
    }
}

/// The chat assistant's turns.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ChatService: Send + Sync {
    /// Runs one turn of the assistant in the conversation `key`, for its user, on `message`:
    /// the model answers, running tools as that user on the way; what happens is sent to
    /// `events` as it happens (a receiver that went away stops nothing), and the turn's messages
    /// are appended to the conversation.
    ///
    /// # Errors
    /// [`ChatError`]: a bad message or an unconfigured model before anything happened, or what
    /// stopped the turn.
    async fn turn(
        &self,
        key: &ConversationKey,
        message: String,
        events: mpsc::Sender<ChatEvent>,
    ) -> Result<TurnSummary, ChatError>;
}
