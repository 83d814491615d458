//! Publishing events to topics, and handling the events delivered from them.

use std::sync::Arc;

use async_trait::async_trait;
use todo_model::{Event, Topic};
use uuid::Uuid;

use crate::BoxError;

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker or sidecar cannot take the event now; retry later.
    #[error("event bus unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// The bus refused the event itself (too large, forbidden topic); retrying will not help.
    #[error("event rejected: {0}")]
    Rejected(#[source] BoxError),
}

/// A batch publish in which some events were not accepted.
#[derive(Debug, thiserror::Error)]
#[error("{} of the batch not published: {source}", failed.len())]
pub struct BatchPublishError {
    /// Ids of the events that were not accepted; the others were.
    pub failed: Vec<Uuid>,
    /// Why (the first failure).
    #[source]
    pub source: BusError,
}

/// Publishes events. Implementations key each event by its user id, so that one user's
/// events keep their order within a topic.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes `event` to `topic`; `Ok` means the bus accepted it durably.
    ///
    /// # Errors
    /// [`BusError::Unavailable`] when the bus is down; [`BusError::Rejected`] when it refuses
    /// this event.
    async fn publish(&self, topic: Topic, event: &Event) -> Result<(), BusError>;

    /// Publishes several events to `topic`, each user's in the order given. The default
    /// publishes them one by one and, after a user's event fails, does not try that user's later
    /// events (they are reported failed); adapters with a bulk API override it, and a bulk API
    /// may have accepted some of a user's events after one that failed.
    ///
    /// # Errors
    /// A [`BatchPublishError`] listing every event that was not accepted (and may list some that
    /// were: the caller publishes them again, at least once).
    async fn publish_batch(&self, topic: Topic, events: &[Event]) -> Result<(), BatchPublishError> {
        let mut failed = Vec::new();
        let mut stalled: Vec<&todo_model::UserId> = Vec::new();
        let mut first = None;
        for event in events {
            if stalled.contains(&event.user_id()) {
                failed.push(event.id());
                continue;
            }
            if let Err(e) = self.publish(topic, event).await {
                failed.push(event.id());
                stalled.push(event.user_id());
                first.get_or_insert(e);
            }
        }
        match first {
            None => Ok(()),
            Some(source) => Err(BatchPublishError { failed, source }),
        }
    }
}

/// Why a handler could not process an event.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A dependency failed; deliver the event again later.
    #[error("transient failure: {0}")]
    Transient(#[source] BoxError),
    /// The event can never be processed (invalid content); send it to the dead letters.
    #[error("event rejected: {0}")]
    Rejected(String),
}

/// Processes the events of one topic. Delivery is at least once, so handlers are idempotent:
/// an event handled twice has one effect.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Processes one event.
    ///
    /// # Errors
    /// [`HandlerError::Transient`] to have it delivered again, [`HandlerError::Rejected`] to
    /// give up on it.
    async fn handle(&self, event: &Event) -> Result<(), HandlerError>;
}

/// A handler bound to a topic under a name (its route and consumer name).
#[derive(Clone)]
pub struct Subscription {
    /// Topic to consume.
    pub topic: Topic,
    /// Consumer name, unique within an app: `audit`, `recurring-tasks`, ...
    pub name: &'static str,
    /// The handler.
    pub handler: Arc<dyn EventHandler>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("topic", &self.topic).field("name", &self.name).finish()
    }
}
