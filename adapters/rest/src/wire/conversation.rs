//! Conversation state on the wire: the bodies that write it and the conversation as shown.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use todo_ports::MessageInput;
use todo_ports::model::{Conversation, Message, Role};

use super::time::{optional_instant, present};

/// A message as a client sends it: `{"role", "content", "timestamp"?}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    role: Role,
    content: String,
    #[serde(default, deserialize_with = "optional_instant")]
    timestamp: Option<OffsetDateTime>,
}

impl From<MessageBody> for MessageInput {
    fn from(b: MessageBody) -> Self {
        MessageInput { role: b.role, content: b.content, timestamp: b.timestamp }
    }
}

/// A conversation body: `{"messages"?: [...], "context"?: {...}}`; what it lacks is kept.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationBody {
    #[serde(default, deserialize_with = "present")]
    messages: Option<Vec<MessageBody>>,
    #[serde(default, deserialize_with = "present")]
    context: Option<serde_json::Map<String, Value>>,
    #[serde(default, rename = "user_id")]
    _user_id: Option<IgnoredAny>,
    #[serde(default, rename = "session_id")]
    _session_id: Option<IgnoredAny>,
    #[serde(default, rename = "created_at")]
    _created_at: Option<IgnoredAny>,
    #[serde(default, rename = "updated_at")]
    _updated_at: Option<IgnoredAny>,
}

impl ConversationBody {
    /// The messages and context to write.
    pub fn into_parts(self) -> (Option<Vec<MessageInput>>, Option<Value>) {
        (self.messages.map(|m| m.into_iter().map(MessageInput::from).collect()), self.context.map(Value::Object))
    }
}

/// A conversation as the API shows it (the seed's ConversationState).
#[derive(Debug, Serialize)]
pub struct ConversationView<'a> {
    user_id: &'a str,
    session_id: &'a str,
    messages: Vec<MessageView<'a>>,
    context: &'a Value,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

#[derive(Debug, Serialize)]
struct MessageView<'a> {
    role: Role,
    content: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    timestamp: OffsetDateTime,
}

impl<'a> From<&'a Conversation> for ConversationView<'a> {
    fn from(c: &'a Conversation) -> Self {
        let message = |m: &'a Message| MessageView { role: m.role, content: &m.content, timestamp: m.timestamp };
        Self {
            user_id: c.user_id.as_str(),
            session_id: c.session_id.as_str(),
            messages: c.messages.iter().map(message).collect(),
            context: &c.context,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use todo_http_server::parse;

    use super::*;

    #[test]
    fn bodies_name_their_bad_fields() {
        let field = |body: &str| parse::<ConversationBody>(body.as_bytes()).unwrap_err().field;
        assert_eq!(field(r#"{"messages": [{"role": "robot", "content": "hi"}]}"#).as_deref(), Some("messages.role"));
        assert_eq!(field(r#"{"messages": [{"content": "hi"}]}"#).as_deref(), Some("messages.role"));
        assert_eq!(field(r#"{"context": [1]}"#).as_deref(), Some("context"));
        assert_eq!(field(r#"{"context": null}"#).as_deref(), Some("context"));
        assert_eq!(field(r#"{"history": []}"#).as_deref(), Some("history"));
        let message = |body: &str| parse::<MessageBody>(body.as_bytes()).unwrap_err().field;
        assert_eq!(
            message(r#"{"role": "user", "content": "x", "timestamp": "yesterday"}"#).as_deref(),
            Some("timestamp")
        );
    }
}
