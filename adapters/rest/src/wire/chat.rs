//! The chat assistant on the wire: the body of a turn, and the data of the server-sent events
//! its answer streams as.
//!
//! | event | data |
//! |---|---|
//! | `delta` | `{"text"}`: the next piece of the answer's text |
//! | `tool` | `{"id","name","arguments","ok": true,"result"}` or `{…,"ok": false,"error": {"code","message","field"?}}`: a tool the assistant ran |
//! | `done` | `{"answer","messages","rounds"}`: the whole answer, the stored conversation's message count, the model calls it took |
//! | `error` | `{"error": {"code","message"}}`: what stopped the turn (what tools did is kept) |

use serde::{Deserialize, Serialize};
use serde_json::Value;
use todo_ports::model::{ConversationKey, SessionId, UserId};
use todo_ports::{ToolReport, TurnSummary};

use crate::error::from_validation;

/// `{"session_id", "message"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatBody {
    session_id: String,
    /// What the user says.
    pub message: String,
}

impl ChatBody {
    /// The conversation of `user` the body names.
    ///
    /// # Errors
    /// 422 naming `session_id` when it is not a session id.
    pub fn key(&self, user_id: UserId) -> Result<ConversationKey, todo_http_server::ApiError> {
        let session_id = SessionId::parse(&self.session_id).map_err(from_validation)?;
        Ok(ConversationKey { user_id, session_id })
    }
}

/// The data of a `delta` event.
#[derive(Debug, Serialize)]
pub struct DeltaView<'a> {
    text: &'a str,
}

impl<'a> DeltaView<'a> {
    /// The piece `text`.
    pub fn new(text: &'a str) -> Self {
        Self { text }
    }
}

/// The data of a `tool` event.
#[derive(Debug, Serialize)]
pub struct ToolView<'a> {
    id: &'a str,
    name: &'a str,
    arguments: &'a Value,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ToolErrorView<'a>>,
}

#[derive(Debug, Serialize)]
struct ToolErrorView<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl<'a> From<&'a ToolReport> for ToolView<'a> {
    fn from(r: &'a ToolReport) -> Self {
        let (result, error) = match &r.outcome {
            Ok(result) => (Some(result), None),
            Err(f) => (None, Some(ToolErrorView { code: f.code, message: &f.message, field: f.field.as_deref() })),
        };
        Self { id: &r.call.id, name: &r.call.name, arguments: &r.call.arguments, ok: result.is_some(), result, error }
    }
}

/// The data of the `done` event.
#[derive(Debug, Serialize)]
pub struct DoneView<'a> {
    answer: &'a str,
    messages: usize,
    rounds: usize,
}

impl<'a> From<&'a TurnSummary> for DoneView<'a> {
    fn from(s: &'a TurnSummary) -> Self {
        Self { answer: &s.answer, messages: s.messages, rounds: s.rounds }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use todo_http_server::parse;
    use todo_ports::ToolFailure;
    use todo_ports::model::ToolCall;

    use super::*;

    #[test]
    fn bodies_name_their_bad_fields() {
        let field = |body: &str| parse::<ChatBody>(body.as_bytes()).unwrap_err().field;
        assert_eq!(field(r#"{"message": "hi"}"#).as_deref(), Some("session_id"));
        assert_eq!(field(r#"{"session_id": "s1"}"#).as_deref(), Some("message"));
        assert_eq!(field(r#"{"session_id": "s1", "message": 5}"#).as_deref(), Some("message"));
        assert_eq!(field(r#"{"session_id": "s1", "message": "hi", "model": "x"}"#).as_deref(), Some("model"));
        let body: ChatBody = parse(br#"{"session_id": "a:b", "message": "hi"}"#).unwrap();
        let e = body.key(UserId::parse("ada").unwrap()).unwrap_err();
        assert_eq!((e.status.as_u16(), e.field.as_deref()), (422, Some("session_id")));
    }

    #[test]
    fn a_tool_event_says_what_ran_and_what_came_of_it() {
        let call = ToolCall { id: "c1".into(), name: "add_task".into(), arguments: json!({"title": ""}) };
        let failed = ToolReport {
            call: call.clone(),
            outcome: Err(ToolFailure {
                code: "invalid_arguments",
                message: "title: must not be blank".into(),
                field: Some("title".into()),
            }),
        };
        assert_eq!(
            serde_json::to_value(ToolView::from(&failed)).unwrap(),
            json!({
                "id": "c1", "name": "add_task", "arguments": {"title": ""}, "ok": false,
                "error": {"code": "invalid_arguments", "message": "title: must not be blank", "field": "title"}
            })
        );
        let ran = ToolReport { call, outcome: Ok(json!({"id": 1})) };
        assert_eq!(
            serde_json::to_value(ToolView::from(&ran)).unwrap(),
            json!({
                "id": "c1", "name": "add_task", "arguments": {"title": ""}, "ok": true, "result": {"id": 1}
            })
        );
    }
}
