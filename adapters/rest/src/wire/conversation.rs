//! Conversation state on the wire: the bodies that write it and the conversation as shown.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use todo_ports::MessageInput;
use todo_ports::model::{Conversation, Message, Role, ToolCall};

use super::time::{optional_instant, present};

/// A message as a client sends it: `{"role", "content", "timestamp"?, "tool_calls"?,
/// "tool_call_id"?}` (the last two as the chat assistant stores them, so that a conversation
/// read can be written back whole).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    role: Role,
    content: String,
    #[serde(default, deserialize_with = "optional_instant")]
    timestamp: Option<OffsetDateTime>,
    #[serde(default)]
    tool_calls: Vec<ToolCallBody>,
    #[serde(default)]
    tool_call_id: Option<String>,
}

/// A tool call of an assistant message: `{"id", "name", "arguments"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolCallBody {
    id: String,
    name: String,
    arguments: Value,
}

impl From<MessageBody> for MessageInput {
    fn from(b: MessageBody) -> Self {
        MessageInput {
            role: b.role,
            content: b.content,
            timestamp: b.timestamp,
            tool_calls: b
                .tool_calls
                .into_iter()
                .map(|c| ToolCall { id: c.id, name: c.name, arguments: c.arguments })
                .collect(),
            tool_call_id: b.tool_call_id,
        }
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
    #[serde(skip_serializing_if = "<[ToolCall]>::is_empty")]
    tool_calls: &'a [ToolCall],
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_call_id: Option<&'a str>,
}

impl<'a> From<&'a Conversation> for ConversationView<'a> {
    fn from(c: &'a Conversation) -> Self {
        let message = |m: &'a Message| MessageView {
            role: m.role,
            content: &m.content,
            timestamp: m.timestamp,
            tool_calls: &m.tool_calls,
            tool_call_id: m.tool_call_id.as_deref(),
        };
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
        assert_eq!(
            message(r#"{"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "name": "t"}]}"#).as_deref(),
            Some("tool_calls.arguments")
        );
    }

    #[test]
    fn a_conversation_shown_can_be_written_back_whole() {
        let at = time::macros::datetime!(2026-03-01 12:00 UTC);
        let key = todo_ports::model::ConversationKey {
            user_id: todo_ports::model::UserId::parse("ada").unwrap(),
            session_id: todo_ports::model::SessionId::parse("s1").unwrap(),
        };
        let call =
            ToolCall { id: "c1".into(), name: "add_task".into(), arguments: serde_json::json!({"title": "milk"}) };
        let mut conversation = Conversation::new(key, at);
        conversation.messages = vec![
            Message::new(Role::User, "add milk".into(), at).unwrap(),
            Message::tool_request(String::new(), vec![call], at).unwrap(),
            Message::tool_result("c1".into(), "{}".into(), at).unwrap(),
        ];
        let shown = serde_json::to_vec(&ConversationView::from(&conversation)).unwrap();
        let shown_json: Value = serde_json::from_slice(&shown).unwrap();
        assert!(shown_json["messages"][0].get("tool_calls").is_none(), "plain messages look as before");
        assert_eq!(shown_json["messages"][1]["tool_calls"][0]["name"], "add_task");
        assert_eq!(shown_json["messages"][2]["tool_call_id"], "c1");
        let (messages, _) = parse::<ConversationBody>(&shown).unwrap().into_parts();
        let messages = messages.unwrap();
        assert_eq!(messages[1].tool_calls, conversation.messages[1].tool_calls);
        assert_eq!(messages[2].tool_call_id.as_deref(), Some("c1"));
    }
}
