//! `POST /api/{user_id}/chat`: one turn of the chat assistant, its answer streamed as
//! server-sent events (`delta`, `tool`, then `done` or `error`; see [`crate::wire::chat`]).
//!
//! Until the turn sends its first event nothing has happened, so a refusal then is an ordinary
//! JSON error with its status: 422 for a bad body, 503 `chat_unavailable` without a model, 503
//! `model_unavailable` when the model cannot be reached, 502 when it refuses. Once the stream
//! has begun (200), what stops the turn comes as an `error` event. The turn runs on its own
//! task: a client that goes away stops nothing, and the turn is stored all the same.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use futures_util::StreamExt;
use http::HeaderValue;
use todo_http_server::{ApiError, JsonBody};
use todo_ports::{ChatError, ChatEvent, ChatService, TurnSummary};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::error::from_chat;
use crate::path::user_id;
use crate::wire::chat::{ChatBody, DeltaView, DoneView, ToolView};

/// Events a turn may send ahead of a slow client.
const BUFFERED_EVENTS: usize = 64;
/// A comment line this often keeps proxies from closing a quiet stream (a long tool call).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

type Chat = State<Arc<dyn ChatService>>;
type Turn = JoinHandle<Result<TurnSummary, ChatError>>;

/// The chat route over `chat`.
pub fn routes(chat: Arc<dyn ChatService>) -> Router {
    Router::new().route("/api/{user_id}/chat", post(turn)).with_state(chat)
}

async fn turn(
    State(chat): Chat,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<ChatBody>,
) -> Result<Response, ApiError> {
    let key = body.key(user_id(&user)?)?;
    let (events, mut received) = mpsc::channel(BUFFERED_EVENTS);
    let trace = todo_ports::trace::current();
    let work = async move { chat.turn(&key, body.message, events).await };
    let running: Turn = tokio::spawn(todo_ports::trace::scope(trace, work).instrument(tracing::Span::current()));
    let Some(first) = received.recv().await else {
        // The turn ended without a word: refused before anything happened, or answered nothing.
        return match running.await {
            Ok(Ok(summary)) => Ok(stream(Streaming { pending: None, received, running: None, ended: Some(summary) })),
            Ok(Err(e)) => Err(from_chat(e)),
            Err(e) => {
                tracing::error!(error = %e, "a chat turn panicked");
                Err(ApiError::internal())
            }
        };
    };
    Ok(stream(Streaming { pending: Some(first), received, running: Some(running), ended: None }))
}

/// A turn's events as they come, then how it ended.
struct Streaming {
    pending: Option<ChatEvent>,
    received: mpsc::Receiver<ChatEvent>,
    running: Option<Turn>,
    ended: Option<TurnSummary>,
}

impl Streaming {
    async fn next(&mut self) -> Option<Event> {
        if let Some(event) = self.pending.take() {
            return Some(event_of(&event));
        }
        if let Some(event) = self.received.recv().await {
            return Some(event_of(&event));
        }
        if let Some(summary) = self.ended.take() {
            return Some(data("done", &DoneView::from(&summary)));
        }
        Some(match self.running.take()?.await {
            Ok(Ok(summary)) => data("done", &DoneView::from(&summary)),
            Ok(Err(e)) => error_event(&from_chat(e)),
            Err(e) => {
                tracing::error!(error = %e, "a chat turn panicked");
                error_event(&ApiError::internal())
            }
        })
    }
}

fn stream(streaming: Streaming) -> Response {
    let events = futures_util::stream::unfold(streaming, |mut s| async move { s.next().await.map(|e| (e, s)) });
    let mut response =
        Sse::new(events.map(Ok::<_, Infallible>)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response();
    // Proxies that buffer answers (nginx) would hold the stream back.
    response.headers_mut().insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

fn event_of(event: &ChatEvent) -> Event {
    match event {
        ChatEvent::Text(text) => data("delta", &DeltaView::new(text)),
        ChatEvent::Tool(report) => data("tool", &ToolView::from(report)),
    }
}

fn error_event(e: &ApiError) -> Event {
    Event::default().event("error").data(String::from_utf8_lossy(&e.body()))
}

fn data<T: serde::Serialize>(name: &'static str, value: &T) -> Event {
    match serde_json::to_string(value) {
        Ok(json) => Event::default().event(name).data(json),
        Err(e) => {
            tracing::error!(error = %e, "a chat event is not serializable");
            error_event(&ApiError::internal())
        }
    }
}
