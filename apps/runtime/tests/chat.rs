//! The chat assistant end to end: the app on 127.0.0.1 (all roles, in memory) with its model
//! configured at a scripted server speaking the OpenAI wire format (`ScriptedApi`, standing in
//! for the hosted model alone, which cannot be reached from here), called over HTTP as a client
//! would, its server-sent events parsed by the test. The tools are a small fake over the app's
//! own task use cases, so a tool call's effect is a task the REST API then lists.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is its failure

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use todo_adapter_llm::testing::{Reply, ScriptedApi};
use todo_adapter_rest::testing::Answer;
use todo_ports::model::{TaskPatch, UserId};
use todo_ports::{ServiceError, TaskQuery, TaskService, ToolBox, ToolError, ToolSpec};
use todo_runtime::{Background, Config, Runtime};

const KEY: &str = "sk-e2e-key";
const SECRET: &str = "a-secret-of-at-least-thirty-two-bytes!";

/// `add_task` and `list_tasks` over the app's task service, recording who called what.
struct TaskTools {
    tasks: Arc<dyn TaskService>,
    calls: Arc<Mutex<Vec<(String, String)>>>,
}

#[async_trait]
impl ToolBox for TaskTools {
    fn specs(&self) -> Vec<ToolSpec> {
        let object = json!({"type": "object", "properties": {"title": {"type": "string"}}});
        vec![
            ToolSpec { name: "add_task".into(), description: "Adds a task.".into(), input_schema: object },
            ToolSpec {
                name: "list_tasks".into(),
                description: "Lists tasks.".into(),
                input_schema: json!({"type": "object"}),
            },
        ]
    }

    async fn call(&self, user: &UserId, name: &str, arguments: Value) -> Result<Value, ToolError> {
        self.calls.lock().unwrap().push((user.to_string(), name.to_owned()));
        let failed = |e: ServiceError| match e {
            ServiceError::Invalid(e) => ToolError::Invalid { field: Some(e.field), message: e.message },
            other => ToolError::Internal(Box::new(other)),
        };
        match name {
            "add_task" => {
                let patch = TaskPatch { title: arguments["title"].as_str().map(str::to_owned), ..TaskPatch::default() };
                let task = self.tasks.create(user, patch).await.map_err(failed)?;
                Ok(json!({"id": task.id.0, "title": task.title}))
            }
            "list_tasks" => {
                let page = self.tasks.list(user, TaskQuery::default()).await.map_err(failed)?;
                Ok(json!(page.items.iter().map(|t| json!({"id": t.id.0, "title": t.title})).collect::<Vec<_>>()))
            }
            other => Err(ToolError::Unknown(other.to_owned())),
        }
    }
}

struct App {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    calls: Arc<Mutex<Vec<(String, String)>>>,
    app: Background,
}

impl App {
    async fn start(vars: &[(&str, &str)]) -> Self {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut config = Config::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
        config.sweep_interval = None;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = calls.clone();
        let runtime = Runtime::new(config).with_tools(move |todo| {
            Arc::new(TaskTools { tasks: todo.tasks.clone(), calls: recorded.clone() }) as Arc<dyn ToolBox>
        });
        let app = Background::spawn(runtime, listener).unwrap();
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { addr: app.addr(), client, calls, app }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>, token: Option<&str>) -> Answer {
        let mut request = Request::builder().method(method).uri(format!("http://{}{path}", self.addr));
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let mut response = None;
        for _ in 0..300 {
            match self.client.request(request.clone()).await {
                Ok(r) => {
                    response = Some(r);
                    break;
                }
                Err(e) if e.is_connect() => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => panic!("{e}"),
            }
        }
        Answer::read(response.expect("the app answers")).await
    }

    async fn chat(&self, user: &str, session: &str, message: &str) -> Answer {
        let body = json!({"session_id": session, "message": message});
        self.send(Method::POST, &format!("/api/{user}/chat"), Some(body), None).await
    }

    async fn stop(self) {
        self.app.stop().await.unwrap();
    }
}

fn model_settings(api: &ScriptedApi) -> Vec<(&'static str, String)> {
    vec![("LLM_BASE_URL", api.base_url()), ("LLM_API_KEY", KEY.to_owned()), ("LLM_MODEL", "gpt-e2e".to_owned())]
}

fn vars<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    settings.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn a_turn_runs_the_tools_streams_its_answer_and_keeps_the_conversation() {
    let api = ScriptedApi::start().await;
    let settings = model_settings(&api);
    let app = App::start(&vars(&settings)).await;
    api.reply(Reply::tool_calls("", &[("call_1", "add_task", json!({"title": "Buy milk"}))]).cut_every(9));
    api.reply(Reply::text(&["Added ", "\"Buy milk\"."]));

    let answer = app.chat("alice", "s1", "remind me to buy milk").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let events = answer.events();
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["tool", "delta", "delta", "done"], "{}", answer.body);
    let (_, tool) = &events[0];
    assert_eq!(
        (&tool["name"], &tool["ok"], &tool["result"]["title"]),
        (&json!("add_task"), &json!(true), &json!("Buy milk"))
    );
    assert_eq!(events[1].1, json!({"text": "Added "}));
    assert_eq!(events[3].1, json!({"answer": "Added \"Buy milk\".", "messages": 4, "rounds": 2}));

    // The tool's task is a task like any other, the user's own.
    let tasks = app.send(Method::GET, "/api/alice/tasks", None, None).await.json();
    assert_eq!(tasks["items"][0]["title"], "Buy milk");
    assert_eq!(*app.calls.lock().unwrap(), [("alice".to_owned(), "add_task".to_owned())]);
    let id = tasks["items"][0]["id"].clone();

    // What the model was asked: the key, the model, the tools, then the tool's result.
    let asked = api.asked();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[0].authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!((asked[0].path.as_str(), asked[0].model()), ("/v1/chat/completions", "gpt-e2e"));
    assert_eq!(asked[0].tool_names(), ["add_task", "list_tasks"]);
    assert_eq!(asked[0].messages().last().unwrap(), &json!({"role": "user", "content": "remind me to buy milk"}));
    let result = asked[1].messages().last().unwrap().clone();
    assert_eq!((&result["role"], &result["tool_call_id"]), (&json!("tool"), &json!("call_1")));
    let content: Value = serde_json::from_str(result["content"].as_str().unwrap()).unwrap();
    assert_eq!(content, json!({"id": id, "title": "Buy milk"}));

    // The conversation keeps the whole turn, and the next turn sends it as history.
    let conversation = app.send(Method::GET, "/api/alice/conversations/s1", None, None).await.json();
    let roles: Vec<&str> =
        conversation["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool", "assistant"]);
    assert_eq!(conversation["messages"][1]["tool_calls"][0]["name"], "add_task");
    api.reply(Reply::text(&["One task: Buy milk."]));
    let answer = app.chat("alice", "s1", "what do I have?").await;
    assert_eq!(answer.events().last().unwrap().1["messages"], 6);
    let history: Vec<Value> = api.asked()[2].messages().iter().map(|m| m["role"].clone()).collect();
    assert_eq!(history, ["system", "user", "assistant", "tool", "assistant", "user"]);
    assert_eq!(api.unused(), 0);
    app.stop().await;
}

#[tokio::test]
async fn without_a_model_the_chat_answers_503_saying_what_to_set() {
    let app = App::start(&[]).await;
    let answer = app.chat("alice", "s1", "hello").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let error = answer.json();
    assert_eq!(error["error"]["code"], "chat_unavailable");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(["LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL"].iter().all(|v| message.contains(v)), "{message}");
    assert_eq!(app.send(Method::GET, "/api/alice/conversations/s1", None, None).await.status, StatusCode::NOT_FOUND);
    let bad = app.send(Method::POST, "/api/alice/chat", Some(json!({"session_id": "s1"})), None).await;
    assert_eq!(
        (bad.status, bad.json()["error"]["field"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("message"))
    );
    app.stop().await;
}

#[tokio::test]
async fn the_chat_answers_its_own_user_only() {
    let api = ScriptedApi::start().await;
    let mut settings = model_settings(&api);
    settings.push(("AUTH_JWT_SECRET", SECRET.to_owned()));
    let app = App::start(&vars(&settings)).await;
    let body = json!({"session_id": "s1", "message": "list my tasks"});
    let alice = todo_auth::testing::hs256(SECRET.as_bytes(), "alice").sign();
    let bob = todo_auth::testing::hs256(SECRET.as_bytes(), "bob").sign();

    let none = app.send(Method::POST, "/api/alice/chat", Some(body.clone()), None).await;
    assert_eq!((none.status, none.json()["error"]["code"].clone()), (StatusCode::UNAUTHORIZED, json!("unauthorized")));
    let other = app.send(Method::POST, "/api/alice/chat", Some(body.clone()), Some(&bob)).await;
    assert_eq!((other.status, other.json()["error"]["code"].clone()), (StatusCode::FORBIDDEN, json!("forbidden")));
    assert!(api.asked().is_empty(), "a refused call reaches no model");

    api.reply(Reply::text(&["Nothing yet."]));
    let own = app.send(Method::POST, "/api/alice/chat", Some(body), Some(&alice)).await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.events().last().unwrap().0, "done");
    app.stop().await;
}

#[tokio::test]
async fn an_answer_streaming_longer_than_the_idle_timeout_is_not_cut() {
    let api = ScriptedApi::start().await;
    let mut settings = model_settings(&api);
    settings.push(("HTTP_IDLE_TIMEOUT_SECS", "1".to_owned()));
    let app = App::start(&vars(&settings)).await;
    // Six pieces 400 ms apart: the answer streams for well over the second a connection may idle.
    api.reply(Reply::text(&["a", "b", "c", "d", "e", "f"]).paced(Duration::from_millis(400)));
    let answer = app.chat("alice", "s1", "take your time").await;
    let events = answer.events();
    let text: String = events.iter().filter(|(e, _)| e == "delta").map(|(_, d)| d["text"].as_str().unwrap()).collect();
    assert_eq!((text.as_str(), events.last().map(|(e, _)| e.as_str())), ("abcdef", Some("done")), "{}", answer.body);
    app.stop().await;
}

#[tokio::test]
async fn a_model_that_fails_before_answering_is_a_json_error_and_after_it_an_error_event() {
    let api = ScriptedApi::start().await;
    let mut settings = model_settings(&api);
    settings.push(("LLM_TIMEOUT_SECS", "1".to_owned()));
    let app = App::start(&vars(&settings)).await;

    // A 5xx before anything happened: 503, nothing stored.
    api.reply(Reply::error(500, "The server had an error while processing your request"));
    let failed = app.chat("alice", "s1", "hello").await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.json()["error"]["code"], "model_unavailable");
    assert!(!failed.body.contains("processing your request"), "the API's words stay in the log: {}", failed.body);

    // No answer within LLM_TIMEOUT_SECS: the same.
    api.reply(Reply::text(&["too late"]).delayed(Duration::from_secs(3)));
    let slow = app.chat("alice", "s1", "hello").await;
    assert_eq!(
        (slow.status, slow.json()["error"]["code"].clone()),
        (StatusCode::SERVICE_UNAVAILABLE, json!("model_unavailable"))
    );
    assert_eq!(app.send(Method::GET, "/api/alice/conversations/s1", None, None).await.status, StatusCode::NOT_FOUND);

    // Output that is not the format's: 502 saying so.
    api.reply(Reply::events(&["{\"choices\": [{\"index\": 0, \"delta\": {\"content\": 7}}]}"]));
    let garbage = app.chat("alice", "s1", "hello").await;
    assert_eq!(garbage.status, StatusCode::BAD_GATEWAY);
    let error = garbage.json()["error"].clone();
    assert_eq!(
        error,
        json!({"code": "model_failed", "message": "the assistant's model answered something unreadable"})
    );

    // A 5xx once a tool ran: the stream has begun, so an error event; the tool's task stays, and
    // the conversation says what it did.
    api.reply(Reply::tool_calls("", &[("call_1", "add_task", json!({"title": "Buy milk"}))]));
    api.reply(Reply::error(503, "The engine is currently overloaded"));
    let cut = app.chat("alice", "s1", "add milk").await;
    assert_eq!(cut.status, StatusCode::OK);
    let events = cut.events();
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, ["tool", "error"], "{}", cut.body);
    assert_eq!(events[1].1["error"]["code"], "model_unavailable");
    let tasks = app.send(Method::GET, "/api/alice/tasks", None, None).await.json();
    assert_eq!(tasks["items"][0]["title"], "Buy milk");
    let conversation = app.send(Method::GET, "/api/alice/conversations/s1", None, None).await.json();
    let roles: Vec<&str> =
        conversation["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["user", "assistant", "tool"]);
    assert_eq!(api.unused(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_model_that_never_stops_calling_tools_is_stopped_after_eight_rounds() {
    let api = ScriptedApi::start().await;
    let settings = model_settings(&api);
    let app = App::start(&vars(&settings)).await;
    for round in 0..8 {
        api.reply(Reply::tool_calls("", &[(&format!("call_{round}"), "list_tasks", json!({}))]));
    }
    let answer = app.chat("alice", "s1", "list my tasks, forever").await;
    assert_eq!(answer.status, StatusCode::OK);
    let events = answer.events();
    let names: Vec<&str> = events.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(names, [vec!["tool"; 7], vec!["error"]].concat(), "{}", answer.body);
    assert_eq!(events[7].1["error"]["code"], "too_many_rounds");
    let asked = api.asked();
    assert_eq!(asked.len(), 8, "asked eight times, then stopped");
    assert!(asked[..7].iter().all(|a| a.tool_names() == ["add_task", "list_tasks"]));
    assert!(asked[7].tool_names().is_empty(), "the last round offers no tool, so that the model answers");
    assert_eq!(app.calls.lock().unwrap().len(), 7, "the call of the last round is not run");
    app.stop().await;
}

#[tokio::test]
async fn two_tabs_chatting_at_once_in_one_session_lose_no_message() {
    let api = ScriptedApi::start().await;
    let settings = model_settings(&api);
    let app = App::start(&vars(&settings)).await;
    // Neither answer comes before both turns have asked the model, so both turns read the
    // conversation before either writes.
    api.reply(Reply::text(&["answer"]).after_asked(2));
    api.reply(Reply::text(&["answer"]).after_asked(2));
    let (one, two) = tokio::join!(app.chat("alice", "s1", "from tab one"), app.chat("alice", "s1", "from tab two"));
    for tab in [&one, &two] {
        assert_eq!(tab.events().last().unwrap().0, "done", "{}", tab.body);
    }
    let asked = api.asked();
    assert!(asked.iter().all(|a| a.messages().len() == 2), "neither turn saw the other: they overlapped");
    let conversation = app.send(Method::GET, "/api/alice/conversations/s1", None, None).await.json();
    let messages = conversation["messages"].as_array().unwrap();
    let said: Vec<(&str, &str)> =
        messages.iter().map(|m| (m["role"].as_str().unwrap(), m["content"].as_str().unwrap())).collect();
    assert!(
        said == [("user", "from tab one"), ("assistant", "answer"), ("user", "from tab two"), ("assistant", "answer")]
            || said
                == [
                    ("user", "from tab two"),
                    ("assistant", "answer"),
                    ("user", "from tab one"),
                    ("assistant", "answer")
                ],
        "both turns, each in one piece: {said:?}"
    );
    app.stop().await;
}
