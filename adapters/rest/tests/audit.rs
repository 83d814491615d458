//! `GET /api/{user_id}/audit` through its router, over a mock of the activity service: the query
//! string becomes the `AuditQuery` the service gets, the page comes back as
//! `{"items","next_cursor"}`, and the cursor, handed back, names the same position.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is its failure

use std::sync::Arc;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use time::macros::datetime;
use todo_adapter_rest::routes::activity;
use todo_ports::model::{Task, TaskEvent, TaskEventType, TaskId, TaskPatch, UserId};
use todo_ports::{AuditPage, AuditPosition, AuditQuery, MockActivityService};
use tower::ServiceExt;

fn event(user: &str, id: i64, event_type: TaskEventType) -> TaskEvent {
    let at = datetime!(2026-03-01 12:00 UTC);
    let patch = TaskPatch { title: Some(format!("task {id}")), ..TaskPatch::default() };
    let task = Task::create(UserId::parse(user).unwrap(), patch, at).unwrap().with_id(TaskId(id));
    TaskEvent::new(event_type, task, at)
}

async fn get(activity: MockActivityService, uri: &str) -> (StatusCode, Value) {
    let router = activity::audit(Arc::new(activity));
    let response = router.oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn the_query_string_is_the_services_query_and_the_cursor_comes_back_as_the_position() {
    let position = AuditPosition { occurred_at: datetime!(2026-03-01 11:59:59.000001 UTC), seq: 41 };
    let events = vec![event("ada", 7, TaskEventType::Completed), event("ada", 7, TaskEventType::Updated)];
    let page = AuditPage { items: events.clone(), next: Some(position) };
    let mut first = MockActivityService::new();
    first
        .expect_audit()
        .withf(|q| {
            *q == AuditQuery {
                task_id: Some(TaskId(7)),
                event_type: Some(TaskEventType::Completed),
                since: Some(datetime!(2026-02-28 23:00 UTC)),
                until: Some(datetime!(2026-03-02 00:00 UTC)),
                limit: 2,
                ..AuditQuery::new(UserId::parse("ada").unwrap())
            }
        })
        .times(1)
        .returning(move |_| Ok(page.clone()));
    let (status, body) = get(
        first,
        "/api/ada/audit?task_id=7&event_type=task.completed&since=2026-03-01T00:00:00%2B01:00&until=2026-03-02T00:00:00Z&limit=2",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"], serde_json::to_value(&events).unwrap(), "the events as they were published");
    let cursor = body["next_cursor"].as_str().unwrap().to_owned();

    let mut next = MockActivityService::new();
    next.expect_audit()
        .withf(move |q| q.after == Some(position) && q.task_id.is_none())
        .times(1)
        .returning(|_| Ok(AuditPage { items: Vec::new(), next: None }));
    let (status, body) = get(next, &format!("/api/ada/audit?cursor={cursor}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, serde_json::json!({"items": [], "next_cursor": null}));
}

#[tokio::test]
async fn a_bad_parameter_is_a_400_naming_it_and_the_service_is_not_called() {
    for (query, name) in [
        ("task_id=07", "task_id"),
        ("event_type=task.archived", "event_type"),
        ("since=2026-13-01T00:00:00Z", "since"),
        ("until=10000-01-01T00:00:00Z", "until"),
        ("limit=500", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("page=2", "page"),
    ] {
        let mut activity = MockActivityService::new();
        activity.expect_audit().never();
        let (status, body) = get(activity, &format!("/api/ada/audit?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["code"], "invalid_parameter", "{query}");
        assert_eq!(body["error"]["field"], name, "{query}: {body}");
    }
}
