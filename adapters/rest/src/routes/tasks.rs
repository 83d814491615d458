//! `/api/{user_id}/tasks...`: create, list, read, update, complete and delete tasks.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use todo_http_server::{ApiError, JsonBody, json};
use todo_ports::TaskService;

use crate::error::from_service;
use crate::path::{task_id, user_id};
use crate::query::task_query;
use crate::wire::task::{TaskBody, TaskPageView, TaskView};

type Tasks = State<Arc<dyn TaskService>>;

/// The task routes over `tasks`.
pub fn routes(tasks: Arc<dyn TaskService>) -> Router {
    Router::new()
        .route("/api/{user_id}/tasks", get(list).post(create))
        .route("/api/{user_id}/tasks/{task_id}", get(read).put(update).patch(update).delete(delete))
        .route("/api/{user_id}/tasks/{task_id}/complete", post(complete).patch(complete))
        .with_state(tasks)
}

async fn create(
    State(tasks): Tasks,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<TaskBody>,
) -> Result<Response, ApiError> {
    let task = tasks.create(&user_id(&user)?, body.into()).await.map_err(from_service)?;
    Ok(json(StatusCode::CREATED, &TaskView::from(&task)))
}

async fn list(State(tasks): Tasks, Path(user): Path<String>, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let user = user_id(&user)?;
    let query = task_query(query.as_deref())?;
    let page = tasks.list(&user, query.clone()).await.map_err(from_service)?;
    Ok(json(StatusCode::OK, &TaskPageView::of(&page, &query)))
}

async fn read(State(tasks): Tasks, Path((user, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let (user, id) = (user_id(&user)?, task_id(&id)?);
    let task = tasks.get(&user, id).await.map_err(from_service)?;
    Ok(json(StatusCode::OK, &TaskView::from(&task)))
}

async fn update(
    State(tasks): Tasks,
    Path((user, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<TaskBody>,
) -> Result<Response, ApiError> {
    let (user, id) = (user_id(&user)?, task_id(&id)?);
    let task = tasks.update(&user, id, body.into()).await.map_err(from_service)?;
    Ok(json(StatusCode::OK, &TaskView::from(&task)))
}

async fn complete(State(tasks): Tasks, Path((user, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let (user, id) = (user_id(&user)?, task_id(&id)?);
    let task = tasks.complete(&user, id).await.map_err(from_service)?;
    Ok(json(StatusCode::OK, &TaskView::from(&task)))
}

async fn delete(State(tasks): Tasks, Path((user, id)): Path<(String, String)>) -> Result<Response, ApiError> {
    let (user, id) = (user_id(&user)?, task_id(&id)?);
    tasks.delete(&user, id).await.map_err(from_service)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
