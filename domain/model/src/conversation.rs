//! Conversation state of the chat agent: the messages of one user's session and its context,
//! stored under the key `conversation:{user_id}:{session_id}`.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::parse_key_part;
use crate::{UserId, ValidationError, check_instant, check_json, check_line, check_multiline};

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

/// Longest tool-call id or tool name, in characters.
pub const MAX_TOOL_NAME_CHARS: usize = 128;

/// A tool an assistant message asks to run: the call's id (which the tool message answering it
/// names), the tool and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id, unique within its message (`call_…`).
    pub id: String,
    /// The tool (`add_task`, ...).
    pub name: String,
    /// Its arguments as the assistant wrote them: a JSON object, or, when what it wrote is not
    /// JSON, that text as a string.
    pub arguments: serde_json::Value,
}

impl ToolCall {
    fn check(&self) -> Result<(), ValidationError> {
        for (field, text) in [("tool_calls.id", &self.id), ("tool_calls.name", &self.name)] {
            if text.is_empty() {
                return Err(ValidationError::new(field, "must not be empty"));
            }
            check_line(field, text)?;
            if text.chars().count() > MAX_TOOL_NAME_CHARS {
                return Err(ValidationError::new(field, format!("must be at most {MAX_TOOL_NAME_CHARS} characters")));
            }
        }
        check_json("tool_calls.arguments", &self.arguments)
    }
}

/// One message of a conversation. An assistant's message may ask for tool calls (its content
/// may then be empty); a tool message answers one of them. Both fields are absent from the
/// messages stored before the assistant ran tools, which read as they were.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text, up to 32 000 characters.
    pub content: String,
    /// When it was appended.
    #[serde(with = "time::serde::rfc3339")]
    pub timestamp: OffsetDateTime,
    /// The tools an assistant message asks to run, in order (assistant messages only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The call a tool message answers (tool messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl Message {
    /// Checks a message's content and time.
    ///
    /// # Errors
    /// A [`ValidationError`] about `content` (empty, too long, control characters other than
    /// newline and tab) or `timestamp` (outside years 1 to 9999).
    pub fn new(role: Role, content: String, timestamp: OffsetDateTime) -> Result<Self, ValidationError> {
        Self::with_tools(role, content, Vec::new(), None, timestamp)
    }

    /// An assistant's message asking for `calls` (at least one), with what it said before them
    /// (possibly nothing).
    ///
    /// # Errors
    /// As [`Message::with_tools`].
    pub fn tool_request(
        content: String,
        calls: Vec<ToolCall>,
        timestamp: OffsetDateTime,
    ) -> Result<Self, ValidationError> {
        if calls.is_empty() {
            return Err(ValidationError::new("tool_calls", "must not be empty"));
        }
        Self::with_tools(Role::Assistant, content, calls, None, timestamp)
    }

    /// A tool's answer to the call `call_id`.
    ///
    /// # Errors
    /// As [`Message::with_tools`].
    pub fn tool_result(call_id: String, content: String, timestamp: OffsetDateTime) -> Result<Self, ValidationError> {
        Self::with_tools(Role::Tool, content, Vec::new(), Some(call_id), timestamp)
    }

    /// Checks every part of a message: its content and time as [`Message::new`] does, except
    /// that an assistant message with tool calls may have no content; tool calls on assistant
    /// messages only (ids and names non-empty one-line text of at most 128 characters,
    /// arguments without NUL); a `tool_call_id` on tool messages only.
    ///
    /// # Errors
    /// A [`ValidationError`] about `content`, `timestamp`, `tool_calls` (or one of its parts)
    /// or `tool_call_id`.
    pub fn with_tools(
        role: Role,
        content: String,
        tool_calls: Vec<ToolCall>,
        tool_call_id: Option<String>,
        timestamp: OffsetDateTime,
    ) -> Result<Self, ValidationError> {
        if !tool_calls.is_empty() && role != Role::Assistant {
            return Err(ValidationError::new("tool_calls", "only assistant messages call tools"));
        }
        tool_calls.iter().try_for_each(ToolCall::check)?;
        if let Some(id) = &tool_call_id {
            if role != Role::Tool {
                return Err(ValidationError::new("tool_call_id", "only tool messages answer a tool call"));
            }
            if id.is_empty() {
                return Err(ValidationError::new("tool_call_id", "must not be empty"));
            }
            check_line("tool_call_id", id)?;
        }
        if content.is_empty() && tool_calls.is_empty() {
            return Err(ValidationError::new("content", "must not be empty"));
        }
        check_multiline("content", &content)?;
        let timestamp = check_instant("timestamp", timestamp)?;
        if content.chars().count() > MAX_MESSAGE_CHARS {
            return Err(ValidationError::new("content", format!("must be at most {MAX_MESSAGE_CHARS} characters")));
        }
        Ok(Self { role, content, timestamp, tool_calls, tool_call_id })
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

    fn call(id: &str, name: &str) -> ToolCall {
        ToolCall { id: id.into(), name: name.into(), arguments: serde_json::json!({"title": "milk"}) }
    }

    #[test]
    fn tool_calls_belong_to_assistants_and_results_to_tools() {
        let now = OffsetDateTime::UNIX_EPOCH;
        let asked = Message::tool_request(String::new(), vec![call("c1", "add_task")], now).unwrap();
        assert_eq!((asked.role, asked.content.as_str()), (Role::Assistant, ""));
        assert_eq!(Message::tool_request(String::new(), vec![], now).unwrap_err().field, "tool_calls");
        assert_eq!(
            Message::tool_request("x".into(), vec![call("", "add_task")], now).unwrap_err().field,
            "tool_calls.id"
        );
        assert_eq!(
            Message::tool_request("x".into(), vec![call("c1", "a\nb")], now).unwrap_err().field,
            "tool_calls.name"
        );
        let bad = |role| Message::with_tools(role, "x".into(), vec![call("c1", "t")], None, now).unwrap_err().field;
        assert_eq!(bad(Role::User), "tool_calls");
        assert!(Message::tool_result("c1".into(), "{}".into(), now).is_ok());
        assert_eq!(Message::tool_result("c1".into(), String::new(), now).unwrap_err().field, "content");
        let answered = Message::with_tools(Role::User, "x".into(), vec![], Some("c1".into()), now);
        assert_eq!(answered.unwrap_err().field, "tool_call_id");
    }

    #[test]
    fn messages_stored_before_tool_calls_read_as_they_were() {
        let stored = r#"{"role":"assistant","content":"hi","timestamp":"2026-01-01T00:00:00Z"}"#;
        let message: Message = serde_json::from_str(stored).unwrap();
        assert!(message.tool_calls.is_empty() && message.tool_call_id.is_none());
        let written: serde_json::Value = serde_json::to_value(&message).unwrap();
        assert_eq!(written, serde_json::from_str::<serde_json::Value>(stored).unwrap(), "nothing new is written");
        let asked =
            Message::tool_request(String::new(), vec![call("c1", "add_task")], OffsetDateTime::UNIX_EPOCH).unwrap();
        let again: Message = serde_json::from_value(serde_json::to_value(&asked).unwrap()).unwrap();
        assert_eq!(again, asked);
    }
}
