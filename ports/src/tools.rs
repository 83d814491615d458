//! The tools an assistant may use on a user's tasks: a driving port, so that the MCP server and
//! the chat assistant offer one catalogue, with one set of schemas, rules and errors, over the
//! same use cases as the REST API.

use async_trait::async_trait;
use todo_model::UserId;

use crate::BoxError;

/// What a tool is for and what it takes, as an assistant reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    /// Its name (`add_task`, `list_tasks`, ...).
    pub name: String,
    /// What it does and when to use it, for the model.
    pub description: String,
    /// The JSON Schema of its arguments (an object schema).
    pub input_schema: serde_json::Value,
}

/// Why a tool call did not do what it was asked. The first three are the caller's to fix and
/// are shown to the model as a tool error, not a protocol failure. `Unavailable` and `Internal`
/// carry their cause for the caller's log, not for the model.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// No tool has this name.
    #[error("no tool named {0:?}")]
    Unknown(String),
    /// The arguments break a rule; `field` names the argument when one is to blame.
    #[error("{}{message}", field.as_deref().map(|f| format!("{f}: ")).unwrap_or_default())]
    Invalid {
        /// The argument at fault (`title`, `recurrence.frequency`), if one is.
        field: Option<String>,
        /// What is wrong, for the model and the user.
        message: String,
    },
    /// The task does not exist for this user (another user's task does not exist either).
    #[error("{0} not found")]
    NotFound(String),
    /// A dependency is down; the same call may work later.
    #[error("unavailable: {0}")]
    Unavailable(BoxError),
    /// A bug or an unexpected state.
    #[error("internal error: {0}")]
    Internal(BoxError),
}

/// The task tools, acting for one user per call.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait ToolBox: Send + Sync {
    /// Every tool on offer.
    fn specs(&self) -> Vec<ToolSpec>;

    /// Runs tool `name` with `arguments` (a JSON object) for `user`, the verified caller (never
    /// an argument); its result is JSON.
    ///
    /// # Errors
    /// [`ToolError`]: why it did nothing (or, for `Unavailable`, may not have).
    async fn call(
        &self,
        user: &UserId,
        name: &str,
        arguments: serde_json::Value,
    ) -> Result<serde_json::Value, ToolError>;
}
