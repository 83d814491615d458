//! The Chat Completions wire format: the request body (messages, tools offered as functions,
//! `stream: true`), the chunks of a streamed answer with the tool calls they assemble, and the
//! answer of a server that does not stream.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use todo_ports::model::ToolCall;
use todo_ports::{ChatMessage, ChatRequest, CompletionPart};

/// The body of `POST /chat/completions`.
#[derive(Debug, Serialize)]
pub(crate) struct Body<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<WireTool<'a>>,
}

impl<'a> Body<'a> {
    /// `request` for `model`, streamed.
    pub(crate) fn new(model: &'a str, request: &'a ChatRequest) -> Self {
        Self {
            model,
            messages: request.messages.iter().map(WireMessage::from).collect(),
            stream: true,
            tools: request
                .tools
                .iter()
                .map(|t| WireTool {
                    kind: "function",
                    function: WireFunction { name: &t.name, description: &t.description, parameters: &t.input_schema },
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum WireMessage<'a> {
    System {
        content: &'a str,
    },
    User {
        content: &'a str,
    },
    Assistant {
        /// `null` beside tool calls when it said nothing.
        content: Option<&'a str>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireCall<'a>>,
    },
    Tool {
        tool_call_id: &'a str,
        content: &'a str,
    },
}

impl<'a> From<&'a ChatMessage> for WireMessage<'a> {
    fn from(m: &'a ChatMessage) -> Self {
        match m {
            ChatMessage::System(content) => Self::System { content },
            ChatMessage::User(content) => Self::User { content },
            ChatMessage::Assistant { content, tool_calls } => Self::Assistant {
                content: Some(content.as_str()).filter(|c| !c.is_empty() || tool_calls.is_empty()),
                tool_calls: tool_calls
                    .iter()
                    .map(|c| WireCall {
                        id: &c.id,
                        kind: "function",
                        function: WireCallFunction { name: &c.name, arguments: arguments_text(&c.arguments) },
                    })
                    .collect(),
            },
            ChatMessage::Tool { call_id, content } => Self::Tool { tool_call_id: call_id, content },
        }
    }
}

/// Arguments as the API carries them, a JSON text: a string holds what the model wrote that
/// was not JSON, sent back as it was.
fn arguments_text(arguments: &Value) -> String {
    match arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

#[derive(Debug, Serialize)]
struct WireCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireCallFunction<'a>,
}

#[derive(Debug, Serialize)]
struct WireCallFunction<'a> {
    name: &'a str,
    arguments: String,
}

#[derive(Debug, Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Debug, Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    description: &'a str,
    parameters: &'a Value,
}

/// An error object, as the API sends it in an error answer or in the middle of a stream.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorObject,
}

/// What an error object says.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorObject {
    #[serde(default)]
    pub(crate) message: Option<String>,
}

/// One chunk of a streamed answer.
#[derive(Debug, Deserialize)]
pub(crate) struct Chunk {
    #[serde(default)]
    pub(crate) choices: Vec<ChunkChoice>,
    #[serde(default)]
    pub(crate) error: Option<ErrorObject>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default)]
    pub(crate) index: u32,
    #[serde(default)]
    pub(crate) delta: Delta,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Delta {
    #[serde(default)]
    pub(crate) content: Option<String>,
    #[serde(default)]
    pub(crate) tool_calls: Vec<CallDelta>,
}

/// A piece of a tool call: its `index` says which; the first piece of a call usually brings
/// its id and name, the following ones pieces of its arguments.
#[derive(Debug, Deserialize)]
pub(crate) struct CallDelta {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: Option<FunctionDelta>,
}

#[derive(Debug, Deserialize)]
struct FunctionDelta {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

/// The tool calls of one answer, put together from their pieces.
#[derive(Debug, Default)]
pub(crate) struct Calls {
    by_index: BTreeMap<u32, Partial>,
    last: Option<u32>,
}

#[derive(Debug, Default)]
struct Partial {
    id: String,
    name: String,
    arguments: String,
}

impl Calls {
    /// Adds a piece. One without an index continues the last call, unless it brings an id of
    /// its own (some servers leave the index out).
    pub(crate) fn add(&mut self, delta: CallDelta) {
        let index = delta.index.unwrap_or_else(|| match (self.last, &delta.id) {
            (Some(last), Some(id)) if self.by_index.get(&last).is_some_and(|p| !p.id.is_empty() && p.id != *id) => {
                last + 1
            }
            (Some(last), _) => last,
            (None, _) => 0,
        });
        self.last = Some(index);
        let partial = self.by_index.entry(index).or_default();
        if let Some(id) = delta.id.filter(|id| !id.is_empty()) {
            partial.id = id;
        }
        if let Some(function) = delta.function {
            // The name comes whole in the first piece; servers that repeat it add nothing.
            if let Some(name) = function.name.filter(|_| partial.name.is_empty()) {
                partial.name = name;
            }
            if let Some(arguments) = function.arguments {
                partial.arguments.push_str(&arguments);
            }
        }
    }

    /// The calls, whole, in index order; arguments that are not JSON are kept as text, and a
    /// call without an id is given one.
    pub(crate) fn finish(&mut self) -> Vec<CompletionPart> {
        std::mem::take(&mut self.by_index)
            .into_iter()
            .map(|(index, p)| {
                let arguments = if p.arguments.trim().is_empty() {
                    Value::Object(serde_json::Map::new())
                } else {
                    serde_json::from_str(&p.arguments).unwrap_or(Value::String(p.arguments))
                };
                let id = if p.id.is_empty() { format!("call_{index}") } else { p.id };
                CompletionPart::ToolCall(ToolCall { id, name: p.name, arguments })
            })
            .collect()
    }
}

/// The answer of a server that ignored `stream: true`.
#[derive(Debug, Deserialize)]
pub(crate) struct Whole {
    #[serde(default)]
    choices: Vec<WholeChoice>,
}

#[derive(Debug, Deserialize)]
struct WholeChoice {
    #[serde(default)]
    index: u32,
    message: WholeMessage,
}

#[derive(Debug, Deserialize)]
struct WholeMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WholeCall>,
}

#[derive(Debug, Deserialize)]
struct WholeCall {
    #[serde(default)]
    id: Option<String>,
    function: WholeFunction,
}

#[derive(Debug, Deserialize)]
struct WholeFunction {
    name: String,
    #[serde(default)]
    arguments: Option<String>,
}

impl Whole {
    /// Its first choice as the parts a stream would have given.
    pub(crate) fn into_parts(self) -> Vec<CompletionPart> {
        let Some(choice) = self.choices.into_iter().find(|c| c.index == 0) else {
            return Vec::new();
        };
        let mut parts: Vec<CompletionPart> =
            choice.message.content.filter(|c| !c.is_empty()).map(CompletionPart::Text).into_iter().collect();
        let mut calls = Calls::default();
        for (i, call) in choice.message.tool_calls.into_iter().enumerate() {
            calls.add(CallDelta {
                index: u32::try_from(i).ok(),
                id: call.id,
                function: Some(FunctionDelta { name: Some(call.function.name), arguments: call.function.arguments }),
            });
        }
        parts.extend(calls.finish());
        parts
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use todo_ports::ToolSpec;

    use super::*;

    fn delta(v: Value) -> CallDelta {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_request_speaks_the_chat_completions_format() {
        let request = ChatRequest {
            messages: vec![
                ChatMessage::System("be brief".into()),
                ChatMessage::User("add milk".into()),
                ChatMessage::Assistant {
                    content: String::new(),
                    tool_calls: vec![
                        ToolCall { id: "c1".into(), name: "add_task".into(), arguments: json!({"title": "milk"}) },
                        ToolCall { id: "c2".into(), name: "add_task".into(), arguments: json!("{broken") },
                    ],
                },
                ChatMessage::Tool { call_id: "c1".into(), content: "{\"id\":1}".into() },
                ChatMessage::Assistant { content: "done".into(), tool_calls: vec![] },
            ],
            tools: vec![ToolSpec {
                name: "add_task".into(),
                description: "adds a task".into(),
                input_schema: json!({"type": "object"}),
            }],
        };
        let body = serde_json::to_value(Body::new("gpt-test", &request)).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-test",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "add milk"},
                    {"role": "assistant", "content": null, "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "add_task", "arguments": "{\"title\":\"milk\"}"}},
                        {"id": "c2", "type": "function", "function": {"name": "add_task", "arguments": "{broken"}}
                    ]},
                    {"role": "tool", "tool_call_id": "c1", "content": "{\"id\":1}"},
                    {"role": "assistant", "content": "done"}
                ],
                "stream": true,
                "tools": [{"type": "function", "function": {"name": "add_task", "description": "adds a task", "parameters": {"type": "object"}}}]
            })
        );
        let bare = serde_json::to_value(Body::new("m", &ChatRequest::default())).unwrap();
        assert!(bare.get("tools").is_none(), "no tools offered: no `tools` at all");
    }

    #[test]
    fn tool_calls_are_put_together_by_index() {
        let mut calls = Calls::default();
        calls.add(delta(
            json!({"index": 0, "id": "c1", "type": "function", "function": {"name": "add_task", "arguments": ""}}),
        ));
        calls.add(delta(json!({"index": 1, "id": "c2", "function": {"name": "list_tasks"}})));
        calls.add(delta(json!({"index": 0, "function": {"arguments": "{\"tit"}})));
        calls.add(delta(json!({"index": 0, "function": {"arguments": "le\":\"milk\"}"}})));
        calls.add(delta(json!({"index": 2, "function": {"name": "x", "arguments": "not json"}})));
        assert_eq!(
            calls.finish(),
            [
                CompletionPart::ToolCall(ToolCall {
                    id: "c1".into(),
                    name: "add_task".into(),
                    arguments: json!({"title": "milk"})
                }),
                CompletionPart::ToolCall(ToolCall { id: "c2".into(), name: "list_tasks".into(), arguments: json!({}) }),
                CompletionPart::ToolCall(ToolCall {
                    id: "call_2".into(),
                    name: "x".into(),
                    arguments: json!("not json")
                }),
            ]
        );
    }

    #[test]
    fn pieces_without_an_index_continue_the_last_call_or_start_one_with_a_new_id() {
        let mut calls = Calls::default();
        calls.add(delta(json!({"id": "a", "function": {"name": "one", "arguments": "{}"}})));
        calls.add(delta(json!({"id": "b", "function": {"name": "two", "arguments": "{\"x\":"}})));
        calls.add(delta(json!({"function": {"name": "two", "arguments": "1}"}})));
        let names: Vec<_> = calls
            .finish()
            .into_iter()
            .map(|p| match p {
                CompletionPart::ToolCall(c) => (c.id, c.name, c.arguments),
                CompletionPart::Text(_) => unreachable!(),
            })
            .collect();
        assert_eq!(names, [("a".into(), "one".into(), json!({})), ("b".into(), "two".into(), json!({"x": 1}))]);
    }

    #[test]
    fn an_answer_that_did_not_stream_gives_the_same_parts() {
        let whole: Whole = serde_json::from_value(json!({"choices": [{"index": 0, "message": {
            "role": "assistant", "content": "ok",
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "add_task", "arguments": "{\"title\":\"a\"}"}}]
        }, "finish_reason": "tool_calls"}]}))
        .unwrap();
        assert_eq!(
            whole.into_parts(),
            [
                CompletionPart::Text("ok".into()),
                CompletionPart::ToolCall(ToolCall {
                    id: "c1".into(),
                    name: "add_task".into(),
                    arguments: json!({"title": "a"})
                }),
            ]
        );
    }
}
