//! The chat assistant's turn: the conversation's recent history and the user's message go to
//! the model with the task tools on offer; the tools it calls run as the conversation's user,
//! their results (errors included, so that it can correct itself) go back to it, and so on until
//! it answers in text or the rounds run out. The turn's messages are then appended to the
//! conversation together, under its optimistic concurrency: two turns at once both stay.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use todo_ports::model::{
    ConversationKey, MAX_MESSAGE_CHARS, MAX_TOOL_NAME_CHARS, Message, Role, ToolCall, UserId, ValidationError,
    check_json,
};
use todo_ports::{
    ChatError, ChatEvent, ChatMessage, ChatModel, ChatRequest, ChatService, Clock, CompletionPart, ConversationService,
    ServiceError, ToolBox, ToolFailure, ToolReport, ToolSpec, TurnSummary,
};
use tokio::sync::mpsc;

use crate::Conversations;

/// How many times a turn asks the model at most; the last time offers no tool, so that it
/// answers.
pub const DEFAULT_MAX_ROUNDS: usize = 8;
/// How many stored messages a turn sends the model at most, newest first.
pub const DEFAULT_HISTORY_MESSAGES: usize = 40;
/// How many characters of stored messages a turn sends the model at most (about 15 000
/// tokens), newest first.
pub const DEFAULT_HISTORY_CHARS: usize = 60_000;

/// The bounds of a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatLimits {
    /// Model calls per turn (at least 1).
    pub max_rounds: usize,
    /// Stored messages sent as history.
    pub history_messages: usize,
    /// Characters of stored messages sent as history.
    pub history_chars: usize,
}

impl Default for ChatLimits {
    fn default() -> Self {
        Self {
            max_rounds: DEFAULT_MAX_ROUNDS,
            history_messages: DEFAULT_HISTORY_MESSAGES,
            history_chars: DEFAULT_HISTORY_CHARS,
        }
    }
}

/// Implements [`ChatService`] over the conversations, a model and the task tools.
pub struct Chat {
    conversations: Arc<Conversations>,
    model: Arc<dyn ChatModel>,
    tools: Arc<dyn ToolBox>,
    clock: Arc<dyn Clock>,
    limits: ChatLimits,
}

impl Chat {
    /// The assistant asking `model`, running `tools`, keeping its turns in `conversations`.
    pub fn new(
        conversations: Arc<Conversations>,
        model: Arc<dyn ChatModel>,
        tools: Arc<dyn ToolBox>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { conversations, model, tools, clock, limits: ChatLimits::default() }
    }

    /// The same assistant within other bounds.
    pub fn with_limits(mut self, limits: ChatLimits) -> Self {
        self.limits = ChatLimits { max_rounds: limits.max_rounds.max(1), ..limits };
        self
    }

    /// What the model is told first: who it works for, what it can do, and how.
    fn instructions(&self, user: &UserId, tools: &[ToolSpec]) -> String {
        let now = self.clock.now().format(&Rfc3339).unwrap_or_default();
        let tools = if tools.is_empty() {
            "You have no tools at the moment: you cannot see or change the user's tasks, so say so when asked to."
                .to_owned()
        } else {
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
            format!(
                "Your tools are {}. Every tool acts for this user only. Look tasks up with a tool before you \
                 change or delete one rather than guessing its id. When a tool answers with an error, read it: \
                 it names the argument at fault; correct the call, or ask the user when you cannot. After \
                 acting, say briefly what you did.",
                names.join(", ")
            )
        };
        format!(
            "You are the assistant of a to-do list application. You help the user {user} keep track of their \
             tasks: adding, finding, changing, completing and deleting them. {tools}\nThe current time is {now} \
             (UTC): work out dates such as \"tomorrow\" from it and give tools instants in RFC 3339. Answer in \
             the user's language, briefly."
        )
    }

    /// Asks the model, runs the tools it calls, and again, until it answers in text; `turn`
    /// collects the messages to store as they happen. The answer and the rounds it took.
    async fn rounds(
        &self,
        user: &UserId,
        mut messages: Vec<ChatMessage>,
        turn: &mut Vec<Message>,
        events: &mpsc::Sender<ChatEvent>,
    ) -> Result<(String, usize), ChatError> {
        let tools = self.tools.specs();
        for round in 1..=self.limits.max_rounds {
            let last = round == self.limits.max_rounds;
            let offered = if last { Vec::new() } else { tools.clone() };
            let mut completion =
                self.model.complete(ChatRequest { messages: messages.clone(), tools: offered }).await?;
            let (mut text, mut calls) = (String::new(), Vec::new());
            while let Some(part) = completion.next().await {
                match part? {
                    CompletionPart::Text(delta) => {
                        let delta = printable(&delta);
                        if !delta.is_empty() {
                            text.push_str(&delta);
                            let _ = events.send(ChatEvent::Text(delta)).await;
                        }
                    }
                    CompletionPart::ToolCall(call) => calls.push(call),
                }
            }
            let text = truncated(text, MAX_MESSAGE_CHARS);
            if calls.is_empty() {
                if !text.is_empty() {
                    turn.push(from_model(Message::new(Role::Assistant, text.clone(), self.clock.now()))?);
                }
                return Ok((text, round));
            }
            if last {
                return Err(ChatError::TooManyRounds(round));
            }
            let calls = storable(calls, round);
            turn.push(from_model(Message::tool_request(text.clone(), calls.clone(), self.clock.now()))?);
            messages.push(ChatMessage::Assistant { content: text, tool_calls: calls.clone() });
            for call in calls {
                let outcome = self.run(user, &call).await;
                let content = truncated(result_text(&outcome), MAX_MESSAGE_CHARS);
                turn.push(from_model(Message::tool_result(call.id.clone(), content.clone(), self.clock.now()))?);
                messages.push(ChatMessage::Tool { call_id: call.id.clone(), content });
                let _ = events.send(ChatEvent::Tool(ToolReport { call, outcome })).await;
            }
        }
        Err(ChatError::TooManyRounds(self.limits.max_rounds))
    }

    /// Runs one tool call as `user`; a failure is the model's to read, with no internal detail.
    async fn run(&self, user: &UserId, call: &ToolCall) -> Result<Value, ToolFailure> {
        if !call.arguments.is_object() {
            return Err(ToolFailure {
                code: "invalid_arguments",
                message: "the arguments must be a JSON object".into(),
                field: None,
            });
        }
        match self.tools.call(user, &call.name, call.arguments.clone()).await {
            Ok(result) => Ok(result),
            Err(e) => {
                match &e {
                    todo_ports::ToolError::Unavailable(_) | todo_ports::ToolError::Internal(_) => {
                        tracing::warn!(tool = %call.name, error = %e, "a tool call failed");
                    }
                    _ => tracing::debug!(tool = %call.name, error = %e, "a tool call was refused"),
                }
                Err(ToolFailure::from(&e))
            }
        }
    }
}

#[async_trait]
impl ChatService for Chat {
    async fn turn(
        &self,
        key: &ConversationKey,
        message: String,
        events: mpsc::Sender<ChatEvent>,
    ) -> Result<TurnSummary, ChatError> {
        let said = Message::new(Role::User, message, self.clock.now())
            .map_err(|e| ValidationError::new("message", e.message))?;
        let stored = match self.conversations.get(key).await {
            Ok(conversation) => conversation.messages,
            Err(ServiceError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let mut messages = vec![ChatMessage::System(self.instructions(&key.user_id, &self.tools.specs()))];
        messages.extend(history(&stored, &self.limits));
        messages.push(ChatMessage::User(said.content.clone()));
        let mut turn = vec![said];
        let outcome = self.rounds(&key.user_id, messages, &mut turn, &events).await;
        match outcome {
            Ok((answer, rounds)) => {
                let conversation = self.conversations.append_all(key, turn).await?;
                tracing::info!(rounds, messages = conversation.messages.len(), "chat turn answered");
                Ok(TurnSummary { answer, messages: conversation.messages.len(), rounds })
            }
            Err(e) => {
                // Tools may have changed tasks: what they did stays in the conversation.
                if turn.iter().any(|m| m.role == Role::Tool)
                    && let Err(store) = self.conversations.append_all(key, turn).await
                {
                    tracing::warn!(error = %store, "the tool calls of a failed chat turn could not be stored");
                }
                tracing::info!(error = %e, "chat turn failed");
                Err(e)
            }
        }
    }
}

/// A message the model wrote that cannot be stored is its fault, not the user's.
fn from_model(message: Result<Message, ValidationError>) -> Result<Message, ChatError> {
    message.map_err(|e| ChatError::ModelMalformed(e.to_string()))
}

/// Text without the control characters a message may not hold (all but newline and tab).
fn printable(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || *c == '\n' || *c == '\t').collect()
}

/// At most `max` characters of `text`, an ellipsis ending what was cut.
fn truncated(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// The calls as they can be stored: each with a unique, non-empty one-line id and name, and
/// arguments without NUL (else none, which the tool then refuses).
fn storable(calls: Vec<ToolCall>, round: usize) -> Vec<ToolCall> {
    let mut seen = Vec::new();
    calls
        .into_iter()
        .enumerate()
        .map(|(i, call)| {
            let line = |s: &str| truncated(s.chars().filter(|c| !c.is_control()).collect(), MAX_TOOL_NAME_CHARS);
            let mut id = line(&call.id);
            if id.is_empty() || seen.contains(&id) {
                id = format!("call_{round}_{i}");
            }
            seen.push(id.clone());
            let name = Some(line(&call.name)).filter(|n| !n.is_empty()).unwrap_or_else(|| "unnamed".into());
            let arguments = if check_json("arguments", &call.arguments).is_ok() { call.arguments } else { Value::Null };
            ToolCall { id, name, arguments }
        })
        .collect()
}

/// What the model reads of a tool's outcome: its JSON result, or `{"error": {...}}`.
fn result_text(outcome: &Result<Value, ToolFailure>) -> String {
    match outcome {
        Ok(result) => result.to_string(),
        Err(f) => {
            let mut error = json!({"code": f.code, "message": f.message});
            if let Some(field) = &f.field {
                error["field"] = json!(field);
            }
            json!({ "error": error }).to_string()
        }
    }
}

/// The stored messages the model reads: the newest within the limits, starting at a user's
/// message, in a shape every chat API accepts. Instructions stored by clients are left out (the
/// assistant's are its own); a tool message answering no open call is left out, and a call left
/// unanswered gets a result saying so.
fn history(stored: &[Message], limits: &ChatLimits) -> Vec<ChatMessage> {
    fn close(out: &mut Vec<ChatMessage>, open: &mut Vec<String>) {
        for call_id in open.drain(..) {
            let content = json!({"error": {"code": "no_result", "message": "no result was recorded"}}).to_string();
            out.push(ChatMessage::Tool { call_id, content });
        }
    }
    let mut out = Vec::new();
    let mut open: Vec<String> = Vec::new();
    for m in stored {
        match m.role {
            Role::System => {}
            Role::Tool => {
                if let Some(id) = m.tool_call_id.as_ref().filter(|id| open.contains(id)) {
                    open.retain(|o| o != id);
                    out.push(ChatMessage::Tool { call_id: id.clone(), content: m.content.clone() });
                }
            }
            Role::User => {
                close(&mut out, &mut open);
                out.push(ChatMessage::User(m.content.clone()));
            }
            Role::Assistant => {
                close(&mut out, &mut open);
                open = m.tool_calls.iter().map(|c| c.id.clone()).collect();
                out.push(ChatMessage::Assistant { content: m.content.clone(), tool_calls: m.tool_calls.clone() });
            }
        }
    }
    close(&mut out, &mut open);
    let size = |m: &ChatMessage| match m {
        ChatMessage::System(s) | ChatMessage::User(s) => s.chars().count(),
        ChatMessage::Assistant { content, tool_calls } => {
            content.chars().count() + tool_calls.iter().map(|c| c.arguments.to_string().len()).sum::<usize>()
        }
        ChatMessage::Tool { content, .. } => content.chars().count(),
    };
    let (mut start, mut chars) = (out.len(), 0);
    while start > 0 && out.len() - start < limits.history_messages {
        chars += size(&out[start - 1]);
        if chars > limits.history_chars {
            break;
        }
        start -= 1;
    }
    while start < out.len() && !matches!(out[start], ChatMessage::User(_)) {
        start += 1;
    }
    out.split_off(start)
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn at() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH
    }

    fn user(text: &str) -> Message {
        Message::new(Role::User, text.into(), at()).unwrap()
    }

    fn said(text: &str) -> Message {
        Message::new(Role::Assistant, text.into(), at()).unwrap()
    }

    fn call(id: &str) -> ToolCall {
        ToolCall { id: id.into(), name: "list_tasks".into(), arguments: json!({}) }
    }

    fn limits(history_messages: usize, history_chars: usize) -> ChatLimits {
        ChatLimits { max_rounds: 8, history_messages, history_chars }
    }

    #[test]
    fn history_keeps_the_newest_messages_and_starts_at_a_users() {
        let stored: Vec<Message> = (0..10).flat_map(|i| [user(&format!("q{i}")), said(&format!("a{i}"))]).collect();
        let sent = history(&stored, &limits(5, 10_000));
        assert_eq!(
            sent,
            [
                ChatMessage::User("q8".into()),
                ChatMessage::Assistant { content: "a8".into(), tool_calls: vec![] },
                ChatMessage::User("q9".into()),
                ChatMessage::Assistant { content: "a9".into(), tool_calls: vec![] },
            ]
        );
        let sent = history(&stored, &limits(40, 9));
        assert_eq!(sent.len(), 4, "2 characters a message: 9 hold four, and the fifth would start at an answer");
        assert!(history(&stored, &limits(0, 10_000)).is_empty());
    }

    #[test]
    fn history_is_in_a_shape_every_chat_api_accepts() {
        let stored = vec![
            Message::new(Role::System, "you are a pirate".into(), at()).unwrap(),
            Message::new(Role::Tool, "orphan result".into(), at()).unwrap(),
            user("list"),
            Message::tool_request(String::new(), vec![call("c1"), call("c2")], at()).unwrap(),
            Message::tool_result("c2".into(), "[]".into(), at()).unwrap(),
            Message::tool_result("c9".into(), "[]".into(), at()).unwrap(),
            said("nothing"),
        ];
        let sent = history(&stored, &ChatLimits::default());
        assert_eq!(
            sent[..3],
            [
                ChatMessage::User("list".into()),
                ChatMessage::Assistant { content: String::new(), tool_calls: vec![call("c1"), call("c2")] },
                ChatMessage::Tool { call_id: "c2".into(), content: "[]".into() },
            ]
        );
        assert!(
            matches!(&sent[3], ChatMessage::Tool { call_id, content } if call_id == "c1" && content.contains("no_result"))
        );
        assert_eq!(sent[4], ChatMessage::Assistant { content: "nothing".into(), tool_calls: vec![] });
        assert_eq!(sent.len(), 5);
    }

    #[test]
    fn calls_are_made_storable() {
        let calls = vec![
            ToolCall { id: String::new(), name: "add_task".into(), arguments: json!({"title": "a"}) },
            ToolCall { id: "x".into(), name: "add\ntask".into(), arguments: json!({"title": "b\u{0}"}) },
            ToolCall { id: "x".into(), name: String::new(), arguments: json!("not json") },
        ];
        let calls = storable(calls, 2);
        let ids: Vec<&str> = calls.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["call_2_0", "x", "call_2_2"]);
        assert_eq!((calls[1].name.as_str(), &calls[1].arguments), ("addtask", &Value::Null));
        assert_eq!((calls[2].name.as_str(), &calls[2].arguments), ("unnamed", &json!("not json")));
        assert!(Message::tool_request(String::new(), calls, at()).is_ok());
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(truncated("abcdef".into(), 4), "abc…");
        assert_eq!(truncated("abcd".into(), 4), "abcd");
        assert_eq!(printable("a\rb\u{1b}c\nd\te"), "abc\nd\te");
    }
}
