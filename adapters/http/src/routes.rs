//! The route table: which path and method reach which use case, and how each answer is
//! written. Returns `None` for paths the REST API does not own.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use todo_ports::model::{ConversationKey, SessionId, TaskId, UserId};

use crate::server::{empty, json, json_of};
use crate::{query, wire, ApiError, HttpServer};

type Answer = Result<Response<Full<Bytes>>, ApiError>;

/// Routes `req`, or `None` when no route of the REST API matches its path.
pub async fn route(server: &HttpServer, req: &Request<Bytes>) -> Option<Answer> {
    let path = req.uri().path();
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let method = req.method();
    let s = &server.services;
    let answer = match segments.as_slice() {
        ["healthz"] => only(method, &[Method::GET], || async { Ok(json(StatusCode::OK, &json!({"status": "ok"}))) }).await,
        ["dapr", "cron", "reminder-cron"] => {
            if let Err(e) = check_dapr_token(server, req) {
                return Some(Err(e));
            }
            match *method {
                // daprd probes a binding's route with OPTIONS at start-up.
                Method::OPTIONS => Ok(empty(StatusCode::OK)),
                Method::POST => {
                    let report = s.sweep.sweep().await.map_err(ApiError::from);
                    report.map(|r| json(StatusCode::OK, &json!({"status": "SUCCESS", "processed": r.processed()})))
                }
                _ => Err(not_allowed(&[Method::POST, Method::OPTIONS])),
            }
        }
        ["api", user, rest @ ..] => {
            let user = match UserId::parse(user) {
                Ok(u) => u,
                Err(e) => return Some(Err(ApiError::bad_parameter("user_id", e.message))),
            };
            api(server, req, &user, rest).await?
        }
        _ => return None,
    };
    Some(answer)
}

/// Routes under `/api/{user_id}/`.
async fn api(server: &HttpServer, req: &Request<Bytes>, user: &UserId, rest: &[&str]) -> Option<Answer> {
    let s = &server.services;
    let method = req.method().clone();
    let q = req.uri().query();
    let body = req.body();
    Some(match rest {
        ["tasks"] => match method {
            Method::POST => async {
                let patch = wire::task_patch(wire::object(body)?)?;
                let task = s.tasks.create(user, patch).await?;
                Ok(json_of(StatusCode::CREATED, &task))
            }
            .await,
            Method::GET => async {
                let query = query::task_query(q)?;
                let (limit, offset) = (query.limit, query.offset);
                let page = s.tasks.list(user, query).await?;
                let body = json!({"items": page.items, "total": page.total, "limit": limit, "offset": offset});
                Ok(json(StatusCode::OK, &body))
            }
            .await,
            _ => Err(not_allowed(&[Method::GET, Method::POST])),
        },
        ["tasks", id] => {
            let Some(id) = task_id(id) else { return Some(Err(ApiError::not_found("task"))) };
            match method {
                Method::GET => async { Ok(json_of(StatusCode::OK, &s.tasks.get(user, id).await?)) }.await,
                Method::PUT | Method::PATCH => async {
                    let patch = wire::task_patch(wire::object(body)?)?;
                    Ok(json_of(StatusCode::OK, &s.tasks.update(user, id, patch).await?))
                }
                .await,
                Method::DELETE => async {
                    s.tasks.delete(user, id).await?;
                    Ok(empty(StatusCode::NO_CONTENT))
                }
                .await,
                _ => Err(not_allowed(&[Method::GET, Method::PUT, Method::PATCH, Method::DELETE])),
            }
        }
        ["tasks", id, "complete"] => {
            let Some(id) = task_id(id) else { return Some(Err(ApiError::not_found("task"))) };
            match method {
                Method::PATCH | Method::POST => async {
                    Ok(json_of(StatusCode::OK, &s.tasks.complete(user, id).await?))
                }
                .await,
                _ => Err(not_allowed(&[Method::PATCH, Method::POST])),
            }
        }
        ["audit"] => match method {
            Method::GET => async {
                let events = s.activity.audit(user, query::feed_limit(q)?).await?;
                Ok(json(StatusCode::OK, &json!({ "items": events })))
            }
            .await,
            _ => Err(not_allowed(&[Method::GET])),
        },
        ["notifications"] => match method {
            Method::GET => async {
                let items: Vec<_> =
                    s.activity.notifications(user, query::feed_limit(q)?).await?.iter().map(|n| n.to_json()).collect();
                Ok(json(StatusCode::OK, &json!({ "items": items })))
            }
            .await,
            _ => Err(not_allowed(&[Method::GET])),
        },
        ["conversations", session] => {
            let key = match conversation_key(user, session) {
                Ok(key) => key,
                Err(e) => return Some(Err(e)),
            };
            match method {
                Method::GET => async { Ok(json_of(StatusCode::OK, &s.conversations.get(&key).await?)) }.await,
                Method::PUT => async {
                    let (messages, context) = wire::conversation(wire::object(body)?)?;
                    Ok(json_of(StatusCode::OK, &s.conversations.put(&key, messages, context).await?))
                }
                .await,
                Method::DELETE => async {
                    s.conversations.delete(&key).await?;
                    Ok(empty(StatusCode::NO_CONTENT))
                }
                .await,
                _ => Err(not_allowed(&[Method::GET, Method::PUT, Method::DELETE])),
            }
        }
        ["conversations", session, "messages"] => {
            let key = match conversation_key(user, session) {
                Ok(key) => key,
                Err(e) => return Some(Err(e)),
            };
            match method {
                Method::POST => async {
                    let message = wire::message(wire::object(body)?)?;
                    Ok(json_of(StatusCode::CREATED, &s.conversations.append(&key, message).await?))
                }
                .await,
                _ => Err(not_allowed(&[Method::POST])),
            }
        }
        _ => Err(ApiError::not_found("route")),
    })
}

async fn only<F, Fut>(method: &Method, allowed: &[Method], f: F) -> Answer
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Answer>,
{
    if allowed.contains(method) { f().await } else { Err(not_allowed(allowed)) }
}

fn not_allowed(allowed: &[Method]) -> ApiError {
    let list: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("allowed: {}", list.join(", ")))
}

/// A task id from the path; ids that cannot exist are unknown tasks.
fn task_id(raw: &str) -> Option<TaskId> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).map(TaskId)
}

fn conversation_key(user: &UserId, session: &str) -> Result<ConversationKey, ApiError> {
    let session_id = SessionId::parse(session).map_err(|e| ApiError::bad_parameter("session_id", e.message))?;
    Ok(ConversationKey { user_id: user.clone(), session_id })
}

/// Refuses a Dapr-only route called without the app token, when one is configured.
fn check_dapr_token(server: &HttpServer, req: &Request<Bytes>) -> Result<(), ApiError> {
    let Some(expected) = &server.config.app_api_token else { return Ok(()) };
    let given = req.headers().get("dapr-api-token").and_then(|v| v.to_str().ok());
    if given == Some(expected.as_str()) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong dapr-api-token"))
    }
}
