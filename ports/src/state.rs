//! Conversation state in a key-value state store, with optimistic concurrency and expiry.

use std::time::Duration;

use async_trait::async_trait;
use todo_model::{Conversation, ConversationKey};

use crate::BoxError;

/// An opaque version token of a stored value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(pub String);

/// A value with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The value.
    pub value: T,
    /// Its version.
    pub etag: ETag,
}

/// The condition a write is made under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Write whatever is stored (last write wins).
    None,
    /// Write only if nothing is stored under the key.
    Absent,
    /// Write only if the stored version is this one.
    Matches(ETag),
}

/// Why a state call failed.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The precondition does not hold: someone else wrote first. Re-read and retry.
    #[error("state changed concurrently")]
    Conflict,
    /// The store cannot be reached now.
    #[error("state store unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The stored value cannot be read as a conversation, or another failure.
    #[error("state store failure: {0}")]
    Internal(#[source] BoxError),
}

/// Stores conversations under `conversation:{user_id}:{session_id}`.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The conversation and its version; `None` when missing or expired.
    async fn get(&self, key: &ConversationKey) -> Result<Option<Versioned<Conversation>>, StateError>;

    /// Saves `conversation` under its key if `precondition` holds; it expires `ttl` after this
    /// write.
    ///
    /// # Errors
    /// [`StateError::Conflict`] when the precondition does not hold. One case is not detected
    /// by every store: `Matches` on a key that has meanwhile vanished (expired or deleted)
    /// recreates it on Redis through Dapr instead of failing.
    async fn save(
        &self,
        conversation: &Conversation,
        precondition: &Precondition,
        ttl: Duration,
    ) -> Result<(), StateError>;

    /// Deletes the conversation if `precondition` holds (`Absent` is treated as `None`);
    /// deleting a missing key succeeds, whatever the precondition.
    ///
    /// # Errors
    /// [`StateError::Conflict`] when a given etag does not match.
    async fn delete(&self, key: &ConversationKey, precondition: &Precondition) -> Result<(), StateError>;
}
