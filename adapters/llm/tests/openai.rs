//! The client against a scripted server speaking the OpenAI Chat Completions wire format on
//! loopback (`todo_adapter_llm::testing::ScriptedApi`): the server stands in for the hosted
//! model only. It checks the requests it receives (endpoint, key, model, tools offered, history,
//! tool results) and streams answers cut anywhere, refusals, stalls and answers cut off.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use std::time::Duration;

use futures_util::StreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use todo_adapter_llm::testing::{Reply, ScriptedApi};
use todo_adapter_llm::{LlmConfig, OpenAiChat};
use todo_ports::model::ToolCall;
use todo_ports::{ChatMessage, ChatModel, ChatRequest, CompletionPart, ModelError, ToolSpec};

const KEY: &str = "sk-test-0123456789";

fn config(api: &ScriptedApi) -> LlmConfig {
    let mut config = LlmConfig::new(&api.base_url(), SecretString::from(KEY), "gpt-test").unwrap();
    config.read_timeout = Duration::from_secs(5);
    config
}

fn model(api: &ScriptedApi) -> OpenAiChat {
    OpenAiChat::new(&config(api)).unwrap()
}

fn add_task() -> ToolSpec {
    ToolSpec {
        name: "add_task".into(),
        description: "Adds a task for the user.".into(),
        input_schema: json!({"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}),
    }
}

fn asking(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::System("You manage tasks.".into()), ChatMessage::User(text.into())],
        tools: vec![add_task()],
    }
}

/// Every part of the answer, and the error that ended it if one did.
async fn read(
    model: &OpenAiChat,
    request: ChatRequest,
) -> Result<(Vec<CompletionPart>, Option<ModelError>), ModelError> {
    let mut completion = model.complete(request).await?;
    let mut parts = Vec::new();
    while let Some(part) = completion.next().await {
        match part {
            Ok(part) => parts.push(part),
            Err(e) => {
                assert!(completion.next().await.is_none(), "nothing after an error");
                return Ok((parts, Some(e)));
            }
        }
    }
    Ok((parts, None))
}

fn text(parts: &[CompletionPart]) -> String {
    parts
        .iter()
        .filter_map(|p| match p {
            CompletionPart::Text(t) => Some(t.as_str()),
            CompletionPart::ToolCall(_) => None,
        })
        .collect()
}

fn calls(parts: &[CompletionPart]) -> Vec<ToolCall> {
    parts
        .iter()
        .filter_map(|p| match p {
            CompletionPart::ToolCall(c) => Some(c.clone()),
            CompletionPart::Text(_) => None,
        })
        .collect()
}

#[tokio::test]
async fn a_text_answer_streams_piece_by_piece_and_the_request_is_the_formats() {
    let api = ScriptedApi::start().await;
    api.reply(Reply::text(&["Hel", "lo, ", "wörld"]));
    let (parts, error) = read(&model(&api), asking("hi")).await.unwrap();
    assert!(error.is_none(), "{error:?}");
    assert_eq!(parts, ["Hel", "lo, ", "wörld"].map(|t| CompletionPart::Text(t.into())), "each delta as it came");

    let asked = api.asked();
    assert_eq!(asked.len(), 1);
    let asked = &asked[0];
    assert_eq!((asked.method.as_str(), asked.path.as_str()), ("POST", "/v1/chat/completions"));
    assert_eq!(asked.authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()));
    assert!(asked.accept.as_deref().unwrap().contains("text/event-stream"));
    assert_eq!(asked.model(), "gpt-test");
    assert_eq!(asked.body["stream"], json!(true));
    assert_eq!(
        asked.messages(),
        [json!({"role": "system", "content": "You manage tasks."}), json!({"role": "user", "content": "hi"})]
    );
    assert_eq!(
        asked.body["tools"],
        json!([{"type": "function", "function": {
            "name": "add_task",
            "description": "Adds a task for the user.",
            "parameters": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
        }}])
    );
}

#[tokio::test]
async fn tool_calls_split_into_pieces_anywhere_come_out_whole() {
    let api = ScriptedApi::start().await;
    let milk = json!({"title": "Buy milk", "tags": ["home", "épicerie"]});
    let reply =
        Reply::tool_calls("Adding it.", &[("call_a", "add_task", milk.clone()), ("call_b", "list_tasks", json!({}))]);
    // Every 5 bytes: lines, JSON and the two bytes of `é` cut between reads.
    api.reply(reply.clone().cut_every(5));
    api.reply(reply);
    for _ in 0..2 {
        let (parts, error) = read(&model(&api), asking("add milk")).await.unwrap();
        assert!(error.is_none(), "{error:?}");
        assert_eq!(text(&parts), "Adding it.");
        assert_eq!(
            calls(&parts),
            [
                ToolCall { id: "call_a".into(), name: "add_task".into(), arguments: milk.clone() },
                ToolCall { id: "call_b".into(), name: "list_tasks".into(), arguments: json!({}) },
            ]
        );
        assert!(matches!(parts.last(), Some(CompletionPart::ToolCall(_))), "the calls once the answer is whole");
    }
}

#[tokio::test]
async fn history_with_tool_calls_and_their_results_goes_back_as_the_format_says() {
    let api = ScriptedApi::start().await;
    api.reply(Reply::text(&["Done."]));
    let request = ChatRequest {
        messages: vec![
            ChatMessage::System("You manage tasks.".into()),
            ChatMessage::User("add milk".into()),
            ChatMessage::Assistant {
                content: String::new(),
                tool_calls: vec![ToolCall {
                    id: "call_a".into(),
                    name: "add_task".into(),
                    arguments: json!({"title": ""}),
                }],
            },
            ChatMessage::Tool {
                call_id: "call_a".into(),
                content: r#"{"error":{"code":"invalid_arguments","field":"title"}}"#.into(),
            },
            ChatMessage::Assistant {
                content: "Retrying.".into(),
                tool_calls: vec![ToolCall { id: "call_b".into(), name: "add_task".into(), arguments: json!("{oops") }],
            },
            ChatMessage::Tool { call_id: "call_b".into(), content: r#"{"id":7}"#.into() },
        ],
        tools: vec![],
    };
    let (parts, _) = read(&model(&api), request).await.unwrap();
    assert_eq!(text(&parts), "Done.");
    let asked = &api.asked()[0];
    assert_eq!(
        asked.messages()[2..],
        [
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "add_task", "arguments": "{\"title\":\"\"}"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "call_a", "content": "{\"error\":{\"code\":\"invalid_arguments\",\"field\":\"title\"}}"}),
            json!({"role": "assistant", "content": "Retrying.", "tool_calls": [
                {"id": "call_b", "type": "function", "function": {"name": "add_task", "arguments": "{oops"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "call_b", "content": "{\"id\":7}"}),
        ]
    );
    assert!(asked.body.get("tools").is_none(), "no tools offered: none sent");
}

#[tokio::test]
async fn refusals_and_outages_are_told_apart() {
    let api = ScriptedApi::start().await;
    let cases = [
        (401, "Incorrect API key provided: sk-test-********6789"),
        (403, "You are not allowed to use this model"),
        (400, "This model's maximum context length is 128000 tokens"),
        (404, "The model `gpt-test` does not exist"),
        (429, "Rate limit reached"),
        (500, "The server had an error"),
        (503, "The engine is currently overloaded"),
    ];
    for (status, message) in cases {
        api.reply(Reply::error(status, message));
        let error = read(&model(&api), asking("hi")).await.map(|_| ()).unwrap_err();
        let shown = error.to_string();
        match status {
            401 | 403 => {
                assert!(matches!(error, ModelError::Rejected(_)), "{status}: {error:?}");
                assert!(
                    !shown.contains("sk-test") && !shown.contains(message),
                    "{status}: the server's words kept out: {shown}"
                );
            }
            400 | 404 => {
                assert!(matches!(error, ModelError::Rejected(_)), "{status}: {error:?}");
                assert!(shown.contains(message), "{status}: {shown}");
            }
            _ => assert!(matches!(error, ModelError::Unavailable(_)), "{status}: {error:?}"),
        }
    }
    drop(api);
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", closed.local_addr().unwrap());
    drop(closed);
    let nowhere = OpenAiChat::new(&LlmConfig::new(&url, SecretString::from(KEY), "m").unwrap()).unwrap();
    let error = nowhere.complete(asking("hi")).await.map(|_| ()).unwrap_err();
    assert!(matches!(error, ModelError::Unavailable(_)), "{error:?}");
}

#[tokio::test]
async fn an_answer_cut_off_or_stalled_is_an_error_never_a_short_answer() {
    let api = ScriptedApi::start().await;
    let mut config = config(&api);
    config.read_timeout = Duration::from_millis(300);
    let model = OpenAiChat::new(&config).unwrap();

    // The connection ends after two of the five events: no finish_reason, no [DONE].
    api.reply(Reply::text(&["Hel", "lo"]).truncated(2));
    let (parts, error) = read(&model, asking("hi")).await.unwrap();
    assert_eq!(text(&parts), "Hel");
    assert!(matches!(error, Some(ModelError::Unavailable(_))), "{error:?}");

    // The server stops sending, the connection open.
    api.reply(Reply::text(&["Hel", "lo"]).truncated(2).then_stall());
    let (parts, error) = read(&model, asking("hi")).await.unwrap();
    assert_eq!(text(&parts), "Hel");
    assert!(error.unwrap().to_string().contains("stalled"));

    // Once the finish_reason came, a missing [DONE] loses nothing.
    let events = [
        json!({"choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": null}]}).to_string(),
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}).to_string(),
    ];
    api.reply(Reply::events(&events));
    api.reply(Reply::events(&events).then_stall());
    for _ in 0..2 {
        let (parts, error) = read(&model, asking("hi")).await.unwrap();
        assert_eq!((text(&parts), error.map(|e| e.to_string())), ("Hi".into(), None));
    }

    // No answer at all within the read deadline.
    api.reply(Reply::text(&["late"]).delayed(Duration::from_secs(5)));
    let error = read(&model, asking("hi")).await.map(|_| ()).unwrap_err();
    assert!(matches!(&error, ModelError::Unavailable(e) if e.to_string().contains("no answer within")), "{error:?}");
}

#[tokio::test]
async fn an_error_in_the_stream_or_a_chunk_out_of_format_ends_it() {
    let api = ScriptedApi::start().await;
    let hello = json!({"choices": [{"index": 0, "delta": {"content": "Hel"}}]}).to_string();
    api.reply(Reply::events(&[hello.clone(), json!({"error": {"message": "overloaded"}}).to_string()]));
    api.reply(Reply::events(&[hello, "{not json".to_owned()]));
    let (parts, error) = read(&model(&api), asking("hi")).await.unwrap();
    assert_eq!(text(&parts), "Hel");
    assert!(matches!(&error, Some(ModelError::Unavailable(e)) if e.to_string().contains("overloaded")), "{error:?}");
    let (_, error) = read(&model(&api), asking("hi")).await.unwrap();
    assert!(matches!(error, Some(ModelError::Malformed(_))), "{error:?}");
}

#[tokio::test]
async fn a_server_that_does_not_stream_is_read_whole() {
    let api = ScriptedApi::start().await;
    let answer: Value = json!({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "tool_calls",
    "message": {"role": "assistant", "content": null, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "add_task", "arguments": "{\"title\":\"milk\"}"}}
    ]}}]});
    api.reply(Reply::json(&answer));
    let (parts, error) = read(&model(&api), asking("add milk")).await.unwrap();
    assert!(error.is_none());
    assert_eq!(
        calls(&parts),
        [ToolCall { id: "call_1".into(), name: "add_task".into(), arguments: json!({"title": "milk"}) }]
    );
}

/// A log sink for one test: everything written at any level.
#[derive(Clone, Default)]
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_key_is_in_no_log_line_no_error_and_no_debug_output() {
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let api = ScriptedApi::start().await;
    api.reply(Reply::text(&["Hi"]));
    api.reply(Reply::error(401, &format!("Incorrect API key provided: {KEY}")));
    api.reply(Reply::error(400, "Unrecognized request argument"));
    let config = config(&api);
    let model = model(&api);
    let (parts, _) = read(&model, asking("hi")).await.unwrap();
    assert_eq!(text(&parts), "Hi");
    let refused = read(&model, asking("hi")).await.map(|_| ()).unwrap_err();
    let bad = read(&model, asking("hi")).await.map(|_| ()).unwrap_err();

    let logged = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("asking the model"), "the test sees the adapter's log: {logged}");
    for shown in [logged, refused.to_string(), bad.to_string(), format!("{model:?}"), format!("{config:?}")] {
        assert!(!shown.contains(KEY), "the key shown in {shown}");
    }
    assert_eq!(api.asked()[1].authorization.as_deref(), Some(format!("Bearer {KEY}").as_str()), "yet it is sent");
}
