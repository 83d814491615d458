//! `/api/{user_id}/conversations/{session_id}...`: the chat agent's conversation state.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use todo_http_server::{ApiError, JsonBody, json};
use todo_ports::ConversationService;

use crate::error::from_service;
use crate::path::conversation;
use crate::wire::conversation::{ConversationBody, ConversationView, MessageBody};

type Conversations = State<Arc<dyn ConversationService>>;

/// The conversation routes over `conversations`.
pub fn routes(conversations: Arc<dyn ConversationService>) -> Router {
    Router::new()
        .route("/api/{user_id}/conversations/{session_id}", get(read).put(replace).delete(delete))
        .route("/api/{user_id}/conversations/{session_id}/messages", post(append))
        .with_state(conversations)
}

async fn read(State(c): Conversations, Path((user, session)): Path<(String, String)>) -> Result<Response, ApiError> {
    let conversation = c.get(&conversation(&user, &session)?).await.map_err(from_service)?;
    Ok(json(StatusCode::OK, &ConversationView::from(&conversation)))
}

async fn replace(
    State(c): Conversations,
    Path((user, session)): Path<(String, String)>,
    JsonBody(body): JsonBody<ConversationBody>,
) -> Result<Response, ApiError> {
    let key = conversation(&user, &session)?;
    let (messages, context) = body.into_parts();
    let stored = c.put(&key, messages, context).await.map_err(from_service)?;
    Ok(json(StatusCode::OK, &ConversationView::from(&stored)))
}

async fn delete(State(c): Conversations, Path((user, session)): Path<(String, String)>) -> Result<Response, ApiError> {
    c.delete(&conversation(&user, &session)?).await.map_err(from_service)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn append(
    State(c): Conversations,
    Path((user, session)): Path<(String, String)>,
    JsonBody(body): JsonBody<MessageBody>,
) -> Result<Response, ApiError> {
    let key = conversation(&user, &session)?;
    let stored = c.append(&key, body.into()).await.map_err(from_service)?;
    Ok(json(StatusCode::CREATED, &ConversationView::from(&stored)))
}
