//! Conversation state of the chat agent: the messages of one user's session and its context,
//! stored under the key `conversation:{user_id}:{session_id}`.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::parse_key_part;
use crate::{UserId, ValidationError, check_instant, check_multiline};

/// Longest message content, in characters.
pub const MAX_MESSAGE_CHARS: usize = 32_000;

/// A chat session's id, spelled like a [`UserId`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl SessionId {
    /// Parses a session id.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_key_part(raw, "session_id").map(Self)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SessionId {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> String {
        id.0
    }
}

/// Identifies one conversation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConversationKey {
    /// Owner.
    pub user_id: UserId,
    /// Session.
    pub session_id: SessionId,
}

impl fmt::Display for ConversationKey {
    /// `conversation:{user_id}:{session_id}`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conversation:{}:{}", self.user_id, self.session_id.as_str())
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person.
    User,
    /// The agent.
    Assistant,
    /// Instructions to the agent.
    System,
    /// Output of a tool the agent called.
    Tool,
}

impl Role {
    /// Parses `user`, `assistant`, `system` or `tool`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "user" => Ok(Self::User),
            "assistant" => Ok(Self::Assistant),
            "system" => Ok(Self::System),
            "tool" => Ok(Self::Tool),
            _ => Err(ValidationError::new("role", "must be one of \"user\", \"assistant\", \"system\", \"tool\"")),
        }
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text, up to 32 000 characters.
    pub content: String,
    /// When it was appended.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
}

impl Message {
    /// Checks a message's content and time.
    ///
    /// # Errors
    /// A [`ValidationError`] about `content` (empty, too long, control characters other than
    /// newline and tab) or `timestamp` (outside years 1 to 9999).
    pub fn new(role: Role, content: String, timestamp: OffsetDateTime) -> Result<Self, ValidationError> {
        if content.is_empty() {
            return Err(ValidationError::new("content", "must not be empty"));
        }
        check_multiline("content", &content)?;
        let timestamp = check_instant("timestamp", timestamp)?;
        if content.chars().count() > MAX_MESSAGE_CHARS {
            return Err(ValidationError::new("content", format!("must be at most {MAX_MESSAGE_CHARS} characters")));
        }
        Ok(Self { role, content, timestamp })
    }
}

/// A chat conversation's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// Owner.
    pub user_id: UserId,
    /// Session.
    pub session_id: SessionId,
    /// Messages, oldest first.
    pub messages: Vec<Message>,
    /// Free-form context (task ids, preferences, ...); a JSON object.
    pub context: serde_json::Value,
    /// When the conversation started.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Conversation {
    /// An empty conversation.
    pub fn new(key: ConversationKey, now: OffsetDateTime) -> Self {
        Self {
            user_id: key.user_id,
            session_id: key.session_id,
            messages: Vec::new(),
            context: serde_json::Value::Object(Default::default()),
            created_at: now,
            updated_at: now,
        }
    }

    /// The conversation's key.
    pub fn key(&self) -> ConversationKey {
        ConversationKey { user_id: self.user_id.clone(), session_id: self.session_id.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_follows_the_seed_format() {
        let key =
            ConversationKey { user_id: UserId::parse("u1").unwrap(), session_id: SessionId::parse("s-9").unwrap() };
        assert_eq!(key.to_string(), "conversation:u1:s-9");
    }

    #[test]
    fn roles_and_contents_are_checked() {
        assert_eq!(Role::parse("robot").unwrap_err().field, "role");
        let now = OffsetDateTime::UNIX_EPOCH;
        assert_eq!(Message::new(Role::User, String::new(), now).unwrap_err().field, "content");
        assert!(Message::new(Role::User, "hi".into(), now).is_ok());
        assert_eq!(Message::new(Role::User, "a\u{0}".into(), now).unwrap_err().field, "content");
    }
}
