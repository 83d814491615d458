//! The chat assistant's turn over the in-memory system: a scripted model (a test double of the
//! language model, the one part that cannot run here) answers each request with the parts a test
//! gives it and records what it was asked; the tools are a small fake over the real task use
//! cases, so that a tool call's effect is a real task.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{Value, json};
use support::{System, eventually, user};
use time::OffsetDateTime;
use time::macros::datetime;
use todo_ports::model::{ConversationKey, Event, Role, SessionId, TaskPatch, ToolCall, Topic, UserId};
use todo_ports::{
    ChatError, ChatEvent, ChatMessage, ChatModel, ChatRequest, ChatService, Clock, Completion, CompletionPart,
    ConversationService, MessageInput, ModelError, ServiceError, TaskQuery, TaskService, ToolBox, ToolError, ToolSpec,
    TurnSummary,
};
use todo_tasks::{Chat, ChatLimits, TaskCommands};
use tokio::sync::{Barrier, mpsc};

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        datetime!(2026-03-01 12:00 UTC)
    }
}

/// What the scripted model answers to one request.
enum Answer {
    /// These parts, in order (an `Err` ends the stream with it).
    Parts(Vec<Result<CompletionPart, ModelError>>),
    /// No answer at all.
    Fails(ModelError),
}

fn says(text: &str) -> Answer {
    Answer::Parts(vec![Ok(CompletionPart::Text(text.into()))])
}

fn calls(tool: &str, arguments: Value) -> Answer {
    Answer::Parts(vec![Ok(CompletionPart::ToolCall(ToolCall {
        id: format!("call_{tool}"),
        name: tool.into(),
        arguments,
    }))])
}

/// A language model that answers from a script and records every request.
#[derive(Default)]
struct ScriptedModel {
    answers: Mutex<VecDeque<Answer>>,
    asked: Mutex<Vec<ChatRequest>>,
    /// When set, every request waits here first (so that turns overlap).
    gate: Option<Arc<Barrier>>,
}

impl ScriptedModel {
    fn new(answers: impl IntoIterator<Item = Answer>) -> Arc<Self> {
        Arc::new(Self { answers: Mutex::new(answers.into_iter().collect()), ..Self::default() })
    }

    fn asked(&self) -> Vec<ChatRequest> {
        self.asked.lock().unwrap().clone()
    }
}

#[async_trait]
impl ChatModel for ScriptedModel {
    async fn complete(&self, request: ChatRequest) -> Result<Completion, ModelError> {
        self.asked.lock().unwrap().push(request);
        if let Some(gate) = &self.gate {
            gate.wait().await;
        }
        let answer = self.answers.lock().unwrap().pop_front().expect("a scripted answer for every request");
        match answer {
            Answer::Parts(parts) => Ok(Box::pin(futures_util::stream::iter(parts))),
            Answer::Fails(e) => Err(e),
        }
    }
}

/// `add_task` and `list_tasks` over the real task commands, recording each call.
struct TaskTools {
    tasks: Arc<TaskCommands>,
    calls: Mutex<Vec<(UserId, String, Value)>>,
}

impl TaskTools {
    fn new(system: &System) -> Arc<Self> {
        Arc::new(Self { tasks: system.todo.tasks.clone(), calls: Mutex::new(Vec::new()) })
    }

    fn calls(&self) -> Vec<(UserId, String, Value)> {
        self.calls.lock().unwrap().clone()
    }
}

fn from_service(e: ServiceError) -> ToolError {
    match e {
        ServiceError::Invalid(e) => ToolError::Invalid { field: Some(e.field), message: e.message },
        ServiceError::NotFound(what) => ToolError::NotFound(what.into()),
        other => ToolError::Internal(Box::new(other)),
    }
}

#[async_trait]
impl ToolBox for TaskTools {
    fn specs(&self) -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "add_task".into(),
                description: "Adds a task.".into(),
                input_schema: json!({"type": "object", "properties": {"title": {"type": "string"}}}),
            },
            ToolSpec {
                name: "list_tasks".into(),
                description: "Lists tasks.".into(),
                input_schema: json!({"type": "object"}),
            },
        ]
    }

    async fn call(&self, user: &UserId, name: &str, arguments: Value) -> Result<Value, ToolError> {
        self.calls.lock().unwrap().push((user.clone(), name.into(), arguments.clone()));
        match name {
            "add_task" => {
                let title = arguments["title"].as_str().unwrap_or_default().to_owned();
                let patch = TaskPatch { title: Some(title), ..TaskPatch::default() };
                let task = self.tasks.create(user, patch).await.map_err(from_service)?;
                Ok(json!({"id": task.id.0, "title": task.title}))
            }
            "list_tasks" => {
                let page = self.tasks.list(user, TaskQuery::default()).await.map_err(from_service)?;
                Ok(
                    json!({"items": page.items.iter().map(|t| json!({"id": t.id.0, "title": t.title})).collect::<Vec<_>>()}),
                )
            }
            other => Err(ToolError::Unknown(other.into())),
        }
    }
}

fn key(name: &str, session: &str) -> ConversationKey {
    ConversationKey { user_id: user(name), session_id: SessionId::parse(session).unwrap() }
}

fn chat(system: &System, model: Arc<ScriptedModel>, tools: Arc<TaskTools>) -> Chat {
    Chat::new(system.todo.conversations.clone(), model, tools, Arc::new(FixedClock))
}

/// One turn and every event it sent.
async fn turn(chat: &Chat, key: &ConversationKey, message: &str) -> (Result<TurnSummary, ChatError>, Vec<ChatEvent>) {
    let (events, mut received) = mpsc::channel(256);
    let outcome = chat.turn(key, message.into(), events).await;
    let mut seen = Vec::new();
    while let Ok(event) = received.try_recv() {
        seen.push(event);
    }
    (outcome, seen)
}

fn tool_results(request: &ChatRequest) -> Vec<(String, Value)> {
    request
        .messages
        .iter()
        .filter_map(|m| match m {
            ChatMessage::Tool { call_id, content } => Some((call_id.clone(), serde_json::from_str(content).unwrap())),
            _ => None,
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_turn_runs_the_tools_the_model_calls_as_the_user_and_stores_every_message() {
    let system = System::with_clock(Arc::new(FixedClock));
    let model = ScriptedModel::new([
        calls("add_task", json!({"title": "Buy milk"})),
        Answer::Parts(vec![
            Ok(CompletionPart::Text("Added ".into())),
            Ok(CompletionPart::Text("\"Buy milk\".".into())),
        ]),
    ]);
    let tools = TaskTools::new(&system);
    let chat = chat(&system, model.clone(), tools.clone());
    let k = key("ada", "s1");

    let (outcome, events) = turn(&chat, &k, "remind me to buy milk").await;
    let summary = outcome.unwrap();
    assert_eq!(summary, TurnSummary { answer: "Added \"Buy milk\".".into(), messages: 4, rounds: 2 });

    let tasks = system.todo.tasks.list(&user("ada"), TaskQuery::default()).await.unwrap();
    assert_eq!(tasks.items.iter().map(|t| t.title.as_str()).collect::<Vec<_>>(), ["Buy milk"], "a real task");
    assert_eq!(tools.calls(), [(user("ada"), "add_task".into(), json!({"title": "Buy milk"}))], "as the user");
    let id = tasks.items[0].id.0;
    // Through the use case, so its event is published like a REST call's.
    eventually("the task's creation event", async || !system.published(Topic::TaskEvents, "task.created").is_empty())
        .await;
    let created = system.published(Topic::TaskEvents, "task.created");
    assert!(
        matches!(&created[..], [Event::Task(e)] if e.data.id.0 == id && e.data.user_id == user("ada")),
        "{created:?}"
    );

    let ChatEvent::Tool(report) = &events[0] else { panic!("the tool call first: {events:?}") };
    assert_eq!((report.call.name.as_str(), &report.outcome), ("add_task", &Ok(json!({"id": id, "title": "Buy milk"}))));
    assert_eq!(events[1..], [ChatEvent::Text("Added ".into()), ChatEvent::Text("\"Buy milk\".".into())]);

    let asked = model.asked();
    assert_eq!(asked.len(), 2);
    let ChatMessage::System(instructions) = &asked[0].messages[0] else { panic!("instructions first") };
    assert!(instructions.contains("ada") && instructions.contains("2026-03-01T12:00:00Z"), "{instructions}");
    assert!(instructions.contains("add_task, list_tasks"), "{instructions}");
    assert_eq!(asked[0].messages[1..], [ChatMessage::User("remind me to buy milk".into())]);
    let offered: Vec<&str> = asked[0].tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(offered, ["add_task", "list_tasks"]);
    assert_eq!(
        asked[1].messages[2],
        ChatMessage::Assistant {
            content: String::new(),
            tool_calls: vec![ToolCall {
                id: "call_add_task".into(),
                name: "add_task".into(),
                arguments: json!({"title": "Buy milk"})
            }],
        }
    );
    assert_eq!(tool_results(&asked[1]), [("call_add_task".into(), json!({"id": id, "title": "Buy milk"}))]);

    let stored = system.todo.conversations.get(&k).await.unwrap().messages;
    let roles: Vec<Role> = stored.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool, Role::Assistant]);
    assert_eq!(stored[1].tool_calls[0].name, "add_task");
    assert_eq!(stored[2].tool_call_id.as_deref(), Some("call_add_task"));
    assert_eq!(stored[3].content, "Added \"Buy milk\".");
}

#[tokio::test(start_paused = true)]
async fn tool_errors_go_back_to_the_model_so_that_it_corrects_itself() {
    let system = System::start();
    let model = ScriptedModel::new([
        calls("add_task", json!({"title": "   "})),
        calls("add_tsak", json!({"title": "Buy milk"})),
        calls("add_task", json!("{\"title\": \"Buy milk\"")),
        calls("add_task", json!({"title": "Buy milk"})),
        says("Done."),
    ]);
    let tools = TaskTools::new(&system);
    let chat = chat(&system, model.clone(), tools.clone());

    let (outcome, events) = turn(&chat, &key("bo", "s1"), "add milk").await;
    assert_eq!(outcome.unwrap().rounds, 5);
    let asked = model.asked();
    let error = |round: usize| tool_results(&asked[round]).last().unwrap().1["error"].clone();
    assert_eq!((error(1)["code"].as_str(), error(1)["field"].as_str()), (Some("invalid_arguments"), Some("title")));
    assert_eq!(error(2)["code"], "unknown_tool");
    assert_eq!(error(3)["code"], "invalid_arguments", "arguments that are not JSON are refused before any tool");
    assert_eq!(tool_results(&asked[4]).len(), 4, "every result stays in the turn's history");
    assert_eq!(tools.calls().len(), 3, "the unparsable call reached no tool");

    let failures: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ChatEvent::Tool(report) => Some(report.outcome.as_ref().err().map(|f| f.code)),
            ChatEvent::Text(_) => None,
        })
        .collect();
    assert_eq!(failures, [Some("invalid_arguments"), Some("unknown_tool"), Some("invalid_arguments"), None]);
    let tasks = system.todo.tasks.list(&user("bo"), TaskQuery::default()).await.unwrap();
    assert_eq!(tasks.total, 1);
}

#[tokio::test(start_paused = true)]
async fn the_rounds_are_bounded_and_the_last_offers_no_tool() {
    let system = System::start();
    let model = ScriptedModel::new((0..3).map(|_| calls("list_tasks", json!({}))));
    let tools = TaskTools::new(&system);
    let limits = ChatLimits { max_rounds: 3, ..ChatLimits::default() };
    let chat = chat(&system, model.clone(), tools.clone()).with_limits(limits);
    let k = key("cy", "s1");

    let (outcome, _) = turn(&chat, &k, "loop forever").await;
    assert!(matches!(outcome, Err(ChatError::TooManyRounds(3))), "{outcome:?}");
    let offered: Vec<usize> = model.asked().iter().map(|r| r.tools.len()).collect();
    assert_eq!(offered, [2, 2, 0], "asked three times, the last without tools");
    assert_eq!(tools.calls().len(), 2, "the call of the last round is not run");
    let stored = system.todo.conversations.get(&k).await.unwrap().messages;
    let roles: Vec<Role> = stored.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::User, Role::Assistant, Role::Tool, Role::Assistant, Role::Tool],
        "what the tools did stays"
    );
}

#[tokio::test(start_paused = true)]
async fn the_history_sent_is_bounded_and_each_turn_adds_to_it() {
    let system = System::start();
    let k = key("di", "s1");
    for i in 0..10 {
        for (role, text) in [(Role::User, format!("q{i}")), (Role::Assistant, format!("a{i}"))] {
            system.todo.conversations.append(&k, MessageInput::text(role, text)).await.unwrap();
        }
    }
    let model = ScriptedModel::new([says("a10"), says("a11")]);
    let limits = ChatLimits { history_messages: 5, ..ChatLimits::default() };
    let chat = chat(&system, model.clone(), TaskTools::new(&system)).with_limits(limits);

    let (first, _) = turn(&chat, &k, "q10").await;
    assert_eq!(first.unwrap().messages, 22);
    let (second, _) = turn(&chat, &k, "q11").await;
    assert_eq!(second.unwrap().messages, 24);

    let sent = |request: &ChatRequest| -> Vec<String> {
        request.messages[1..]
            .iter()
            .map(|m| match m {
                ChatMessage::User(t) | ChatMessage::Assistant { content: t, .. } => t.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    };
    let asked = model.asked();
    assert_eq!(sent(&asked[0]), ["q8", "a8", "q9", "a9", "q10"], "at most five stored, from a question on");
    assert_eq!(sent(&asked[1]), ["q9", "a9", "q10", "a10", "q11"], "the first turn is history now");
}

#[tokio::test(start_paused = true)]
async fn two_turns_at_once_in_one_session_both_stay_whole() {
    let system = System::start();
    let model = Arc::new(ScriptedModel {
        answers: Mutex::new([says("answer"), says("answer")].into_iter().collect()),
        gate: Some(Arc::new(Barrier::new(2))),
        ..ScriptedModel::default()
    });
    let chat = Arc::new(chat(&system, model.clone(), TaskTools::new(&system)));
    let k = key("ed", "s1");
    // Both turns read the empty conversation before either writes (the model waits for both).
    let tabs: Vec<_> = ["from tab one", "from tab two"]
        .into_iter()
        .map(|text| {
            let (chat, k) = (chat.clone(), k.clone());
            tokio::spawn(async move { turn(&chat, &k, text).await.0 })
        })
        .collect();
    for tab in tabs {
        tab.await.unwrap().unwrap();
    }
    assert_eq!(model.asked().iter().map(|r| r.messages.len()).collect::<Vec<_>>(), [2, 2], "neither saw the other");
    let stored = system.todo.conversations.get(&k).await.unwrap().messages;
    let texts: Vec<&str> = stored.iter().map(|m| m.content.as_str()).collect();
    assert!(
        texts == ["from tab one", "answer", "from tab two", "answer"]
            || texts == ["from tab two", "answer", "from tab one", "answer"],
        "both turns, each in one piece: {texts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_turn_stores_only_what_tools_did() {
    let system = System::start();
    let model = ScriptedModel::new([
        Answer::Fails(ModelError::Unavailable("connection refused".into())),
        calls("add_task", json!({"title": "Buy milk"})),
        Answer::Parts(vec![Ok(CompletionPart::Text("Add".into())), Err(ModelError::Unavailable("cut off".into()))]),
    ]);
    let chat = chat(&system, model.clone(), TaskTools::new(&system));
    let k = key("fa", "s1");

    let (outcome, _) = turn(&chat, &k, "add milk").await;
    assert!(matches!(outcome, Err(ChatError::ModelUnavailable(_))), "{outcome:?}");
    assert!(matches!(system.todo.conversations.get(&k).await, Err(ServiceError::NotFound(_))), "nothing happened");

    let (outcome, events) = turn(&chat, &k, "add milk").await;
    assert!(matches!(outcome, Err(ChatError::ModelUnavailable(_))), "{outcome:?}");
    assert!(matches!(events.last(), Some(ChatEvent::Text(t)) if t == "Add"));
    let stored = system.todo.conversations.get(&k).await.unwrap().messages;
    let roles: Vec<Role> = stored.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::Tool], "the task was added: the turn says so");
}

#[tokio::test(start_paused = true)]
async fn a_bad_message_or_no_model_is_refused_before_anything_happens() {
    let system = System::start();
    let model = ScriptedModel::new([Answer::Fails(ModelError::Unconfigured("set LLM_MODEL".into()))]);
    let chat = chat(&system, model.clone(), TaskTools::new(&system));
    let k = key("gu", "s1");
    for bad in ["", "a\u{0}b"] {
        match turn(&chat, &k, bad).await.0 {
            Err(ChatError::Invalid(e)) => assert_eq!(e.field, "message"),
            other => panic!("{other:?}"),
        }
    }
    let long = "x".repeat(32_001);
    assert!(matches!(turn(&chat, &k, &long).await.0, Err(ChatError::Invalid(_))));
    assert!(model.asked().is_empty(), "the model was not asked");
    match turn(&chat, &k, "hello").await.0 {
        Err(ChatError::Unconfigured(hint)) => assert_eq!(hint, "set LLM_MODEL"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(system.todo.conversations.get(&k).await, Err(ServiceError::NotFound(_))));
}
