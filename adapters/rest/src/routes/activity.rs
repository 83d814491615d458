//! `/api/{user_id}/audit` and `/api/{user_id}/notifications`: what the consumers recorded.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use http::StatusCode;
use todo_http_server::{ApiError, json};
use todo_ports::ActivityService;

use crate::error::from_service;
use crate::path::user_id;
use crate::query::{audit_query, feed_limit};
use crate::wire::feed::{AuditPageView, Items, NotificationView};

type Activity = State<Arc<dyn ActivityService>>;

/// `GET /api/{user_id}/audit` over `activity`.
pub fn audit(activity: Arc<dyn ActivityService>) -> Router {
    Router::new().route("/api/{user_id}/audit", get(audit_log)).with_state(activity)
}

/// `GET /api/{user_id}/notifications` over `activity`.
pub fn notifications(activity: Arc<dyn ActivityService>) -> Router {
    Router::new().route("/api/{user_id}/notifications", get(feed)).with_state(activity)
}

async fn audit_log(State(a): Activity, Path(user): Path<String>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let query = audit_query(user_id(&user)?, q.as_deref())?;
    let page = a.audit(query).await.map_err(from_service)?;
    Ok(json(StatusCode::OK, &AuditPageView::from(&page)))
}

async fn feed(State(a): Activity, Path(user): Path<String>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let (user, limit) = (user_id(&user)?, feed_limit(q.as_deref())?);
    let notes = a.notifications(&user, limit).await.map_err(from_service)?;
    Ok(json(StatusCode::OK, &Items { items: notes.iter().map(NotificationView::from).collect() }))
}
