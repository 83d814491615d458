//! `POST /api/{user_id}/chat` through its router, over a mock of the chat service: the body
//! names the conversation, the turn's events come back as server-sent events (parsed here as a
//! client would), and what stops a turn is a JSON error before the stream begins, an `error`
//! event after.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is its failure

use std::sync::Arc;

use axum::body::Body;
use http::{Request, StatusCode};
use serde_json::json;
use todo_adapter_rest::routes::chat;
use todo_adapter_rest::testing::Answer;
use todo_ports::model::{ConversationKey, SessionId, ToolCall, UserId};
use todo_ports::{ChatError, ChatEvent, MockChatService, ModelError, ToolFailure, ToolReport, TurnSummary};
use tower::ServiceExt;

async fn post(service: MockChatService, path: &str, body: &str) -> Answer {
    let router = chat::routes(Arc::new(service));
    let request = Request::post(path).header("content-type", "application/json").body(Body::from(body.to_owned()));
    Answer::read(router.oneshot(request.unwrap()).await.unwrap()).await
}

fn key(user: &str, session: &str) -> ConversationKey {
    ConversationKey { user_id: UserId::parse(user).unwrap(), session_id: SessionId::parse(session).unwrap() }
}

#[tokio::test]
async fn a_turn_streams_its_text_and_tools_then_what_it_stored() {
    let mut service = MockChatService::new();
    service.expect_turn().withf(|k, message, _| *k == key("ada", "s1") && message == "add milk").times(1).returning(
        |_, _, events| {
            let call = ToolCall { id: "c1".into(), name: "add_task".into(), arguments: json!({"title": "milk"}) };
            let failed = ToolFailure {
                code: "invalid_arguments",
                message: "title: too long".into(),
                field: Some("title".into()),
            };
            for event in [
                ChatEvent::Tool(ToolReport { call: call.clone(), outcome: Err(failed) }),
                ChatEvent::Tool(ToolReport { call, outcome: Ok(json!({"id": 1, "title": "milk"})) }),
                ChatEvent::Text("Added ".into()),
                ChatEvent::Text("milk.\nAnything else?".into()),
            ] {
                events.try_send(event).unwrap();
            }
            Ok(TurnSummary { answer: "Added milk.\nAnything else?".into(), messages: 6, rounds: 3 })
        },
    );
    let answer = post(service, "/api/ada/chat", r#"{"session_id": "s1", "message": "add milk"}"#).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.events(),
        [
            (
                "tool".into(),
                json!({"id": "c1", "name": "add_task", "arguments": {"title": "milk"}, "ok": false,
            "error": {"code": "invalid_arguments", "message": "title: too long", "field": "title"}})
            ),
            (
                "tool".into(),
                json!({"id": "c1", "name": "add_task", "arguments": {"title": "milk"}, "ok": true,
            "result": {"id": 1, "title": "milk"}})
            ),
            ("delta".into(), json!({"text": "Added "})),
            ("delta".into(), json!({"text": "milk.\nAnything else?"})),
            ("done".into(), json!({"answer": "Added milk.\nAnything else?", "messages": 6, "rounds": 3})),
        ]
    );
}

#[tokio::test]
async fn what_stops_a_turn_after_it_began_is_an_error_event() {
    let mut service = MockChatService::new();
    service.expect_turn().returning(|_, _, events| {
        events.try_send(ChatEvent::Text("Let me".into())).unwrap();
        Err(ModelError::Unavailable("connection reset".into()).into())
    });
    let answer = post(service, "/api/ada/chat", r#"{"session_id": "s1", "message": "hi"}"#).await;
    assert_eq!(answer.status, StatusCode::OK);
    let events = answer.events();
    assert_eq!(events[0], ("delta".into(), json!({"text": "Let me"})));
    assert_eq!(events[1].0, "error");
    assert_eq!(events[1].1["error"]["code"], "model_unavailable");
    assert!(!answer.body.contains("connection reset"), "the detail stays in the log");
}

#[tokio::test]
async fn without_a_model_the_answer_is_503_saying_what_to_set() {
    let mut service = MockChatService::new();
    service
        .expect_turn()
        .returning(|_, _, _| Err(ChatError::Unconfigured("set LLM_BASE_URL, LLM_API_KEY and LLM_MODEL".into())));
    let answer = post(service, "/api/ada/chat", r#"{"session_id": "s1", "message": "hi"}"#).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        answer.json(),
        json!({"error": {"code": "chat_unavailable", "message": "set LLM_BASE_URL, LLM_API_KEY and LLM_MODEL"}})
    );
}

/// A failure of the service, and the status and code it must be answered with.
type Case = (fn() -> ChatError, StatusCode, &'static str);

#[tokio::test]
async fn a_refusal_before_anything_happened_has_its_own_status() {
    let cases: [Case; 4] = [
        (
            || ChatError::Invalid(todo_ports::model::ValidationError::new("message", "must not be empty")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (|| ChatError::ModelUnavailable("down".into()), StatusCode::SERVICE_UNAVAILABLE, "model_unavailable"),
        (
            || ChatError::ModelRejected("401 Unauthorized: the API key was refused".into()),
            StatusCode::BAD_GATEWAY,
            "model_rejected",
        ),
        (|| ChatError::Unavailable("redis down".into()), StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
    ];
    for (error, status, code) in cases {
        let mut service = MockChatService::new();
        service.expect_turn().returning(move |_, _, _| Err(error()));
        let answer = post(service, "/api/ada/chat", r#"{"session_id": "s1", "message": "x"}"#).await;
        assert_eq!((answer.status, answer.json()["error"]["code"].as_str()), (status, Some(code)), "{}", answer.body);
        assert!(!answer.body.contains("API key") && !answer.body.contains("redis"), "{}", answer.body);
    }
}

#[tokio::test]
async fn bad_bodies_and_paths_are_refused_before_the_service() {
    for (path, body, status, field) in [
        ("/api/ada/chat", r#"{"message": "hi"}"#, 422, "session_id"),
        ("/api/ada/chat", r#"{"session_id": "s1"}"#, 422, "message"),
        ("/api/ada/chat", r#"{"session_id": "a b", "message": "hi"}"#, 422, "session_id"),
        ("/api/ada/chat", r#"{"session_id": "s1", "message": "hi", "stream": false}"#, 422, "stream"),
        ("/api/a%20b/chat", r#"{"session_id": "s1", "message": "hi"}"#, 400, "user_id"),
    ] {
        let mut service = MockChatService::new();
        service.expect_turn().never();
        let answer = post(service, path, body).await;
        let error = answer.json();
        assert_eq!((answer.status.as_u16(), error["error"]["field"].as_str()), (status, Some(field)), "{body}");
    }
}
