//! Conversation state of the chat agent, kept in the state store under optimistic
//! concurrency: every write names the version it read, and a lost race is retried on a
//! fresh read, so concurrent appends never lose a message.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use todo_ports::model::{Conversation, ConversationKey, Message, ValidationError, check_json};
use todo_ports::{Clock, ConversationService, MessageInput, Precondition, ServiceError, StateError, StateStore};
use todo_retry::Policy;

/// How long a conversation lives after its last write (the seed's one hour).
pub const DEFAULT_CONVERSATION_TTL: Duration = Duration::from_secs(3600);

/// Implements [`ConversationService`].
pub struct Conversations {
    state: Arc<dyn StateStore>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
}

impl Conversations {
    /// Conversations in `state`, expiring `ttl` after their last write.
    pub fn new(state: Arc<dyn StateStore>, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self { state, clock, ttl }
    }

    /// Reads (or starts) the conversation, applies `change`, and saves under the version read,
    /// again on a fresh read while others win the race ([`Policy::CONTENTION`]).
    async fn modify(
        &self,
        key: &ConversationKey,
        change: impl Fn(&mut Conversation) + Send + Sync,
    ) -> Result<Conversation, ServiceError> {
        let mut attempts = Policy::CONTENTION.delays();
        loop {
            let now = self.clock.now();
            let (mut conversation, precondition) = match self.state.get(key).await? {
                Some(stored) => (stored.value, Precondition::Matches(stored.etag)),
                None => (Conversation::new(key.clone(), now), Precondition::Absent),
            };
            change(&mut conversation);
            conversation.updated_at = now.max(conversation.updated_at);
            match self.state.save(&conversation, &precondition, self.ttl).await {
                Ok(()) => return Ok(conversation),
                Err(StateError::Conflict) if attempts.next().is_some() => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Appends `messages`, in order and together, creating the conversation if needed; like
    /// [`ConversationService::append`], concurrent appends all land (the chat assistant's turns
    /// from two tabs both stay, each in one piece).
    ///
    /// # Errors
    /// [`ServiceError::Conflict`] when others kept winning the race, or the store's failure.
    pub async fn append_all(
        &self,
        key: &ConversationKey,
        messages: Vec<Message>,
    ) -> Result<Conversation, ServiceError> {
        self.modify(key, |conversation| conversation.messages.extend(messages.iter().cloned())).await
    }

    fn message(&self, input: MessageInput) -> Result<Message, ValidationError> {
        let timestamp = input.timestamp.unwrap_or_else(|| self.clock.now());
        Message::with_tools(input.role, input.content, input.tool_calls, input.tool_call_id, timestamp)
    }
}

#[async_trait]
impl ConversationService for Conversations {
    async fn get(&self, key: &ConversationKey) -> Result<Conversation, ServiceError> {
        self.state.get(key).await?.map(|v| v.value).ok_or(ServiceError::NotFound("conversation"))
    }

    async fn put(
        &self,
        key: &ConversationKey,
        messages: Option<Vec<MessageInput>>,
        context: Option<Value>,
    ) -> Result<Conversation, ServiceError> {
        if let Some(context) = &context {
            if !context.is_object() {
                return Err(ValidationError::new("context", "must be a JSON object").into());
            }
            check_json("context", context)?;
        }
        let messages = messages
            .map(|list| list.into_iter().map(|m| self.message(m)).collect::<Result<Vec<_>, _>>())
            .transpose()?;
        self.modify(key, |conversation| {
            if let Some(messages) = &messages {
                conversation.messages = messages.clone();
            }
            if let Some(context) = &context {
                conversation.context = context.clone();
            }
        })
        .await
    }

    async fn delete(&self, key: &ConversationKey) -> Result<(), ServiceError> {
        Ok(self.state.delete(key, &Precondition::None).await?)
    }

    async fn append(&self, key: &ConversationKey, message: MessageInput) -> Result<Conversation, ServiceError> {
        let message = self.message(message)?;
        self.modify(key, |conversation| conversation.messages.push(message.clone())).await
    }
}
