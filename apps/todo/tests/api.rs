//! The all-in-one app over real HTTP on loopback: the README's walk-through, and every kind
//! of bad input getting its 4xx JSON error while changing nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

mod support;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use support::{App, assert_error, eventually};

#[tokio::test]
async fn the_readme_walk_through() {
    let app = App::start(&[]).await;
    let soon = (time::OffsetDateTime::now_utc() + time::Duration::minutes(30))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();

    let (status, rent) = app
        .json(
            Method::POST,
            "/api/alice/tasks",
            json!({
                "title": "Pay rent", "due_date": "2028-01-31T09:00:00Z",
                "recurrence": {"frequency": "monthly"}, "tags": ["home"], "priority_id": 1
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rent}");
    let id = rent["id"].as_i64().unwrap();

    let (status, done) = app.call(Method::PATCH, &format!("/api/alice/tasks/{id}/complete"), None).await;
    assert_eq!((status, &done["completed"]), (StatusCode::OK, &json!(true)));

    eventually("the next instance", async || app.get("/api/alice/tasks?completed=false").await.1["total"] == 1).await;
    let (_, open) = app.get("/api/alice/tasks?completed=false").await;
    assert_eq!(open["items"][0]["due_date"], "2028-02-29T09:00:00Z");
    assert_eq!(open["items"][0]["title"], "Pay rent");

    eventually("three audited events", async || {
        app.get("/api/alice/audit").await.1["items"].as_array().unwrap().len() == 3
    })
    .await;
    let (_, audit) = app.get("/api/alice/audit").await;
    let types: Vec<&str> =
        audit["items"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["task.created", "task.completed", "task.created"]);

    let (status, _) =
        app.json(Method::POST, "/api/alice/tasks", json!({"title": "Call the bank", "due_date": soon})).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, swept) = app.call(Method::POST, "/dapr/cron/reminder-cron", None).await;
    assert_eq!((status, &swept["status"]), (StatusCode::OK, &json!("SUCCESS")));
    eventually("the notification", async || {
        app.get("/api/alice/notifications").await.1["items"].as_array().unwrap().len() == 1
    })
    .await;
    let (_, notes) = app.get("/api/alice/notifications").await;
    assert_eq!(notes["items"][0]["event"]["event_type"], "reminder.due");
    assert_eq!(notes["items"][0]["event"]["data"]["task_title"], "Call the bank");

    let (status, conversation) = app
        .json(Method::POST, "/api/alice/conversations/s1/messages", json!({"role": "user", "content": "hello"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(conversation["messages"][0]["content"], "hello");
    let (status, _) = app.call(Method::DELETE, "/api/alice/conversations/s1", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(app.get("/api/alice/conversations/s1").await.0, StatusCode::NOT_FOUND);

    assert_eq!(app.get("/healthz").await, (StatusCode::OK, json!({"status": "ok"})));
    app.stop().await;
}

#[tokio::test]
async fn every_kind_of_bad_input_gets_its_4xx_and_changes_nothing() {
    let app = App::start(&[]).await;
    let (_, task) = app.json(Method::POST, "/api/bob/tasks", json!({"title": "keep me"})).await;
    let path = format!("/api/bob/tasks/{}", task["id"]);
    let before = app.get("/api/bob/tasks").await;

    let (s, b) = app.call(Method::POST, "/api/bob/tasks", Some(b"{\"title\": ".to_vec())).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "malformed_json");
    let (s, b) = app.call(Method::PUT, &path, Some(b"not json".to_vec())).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "malformed_json");
    let (s, b) = app.call(Method::POST, "/api/bob/tasks", Some(Vec::new())).await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "malformed_json");

    for (body, field) in [
        (json!({}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": "t", "description": "d".repeat(4001)}), "description"),
        (json!({"title": "t", "priority_id": 5}), "priority_id"),
        (json!({"title": "t", "tags": vec!["a"; 21]}), "tags"),
        (json!({"title": "t", "tags": ["x".repeat(51)]}), "tags"),
        (json!({"title": "t", "recurrence": {"frequency": "daily"}}), "due_date"),
        (
            json!({"title": "t", "due_date": "2028-01-01T00:00:00Z", "recurrence": {"frequency": "hourly"}}),
            "recurrence.frequency",
        ),
        (json!({"title": "t", "due_date": "soon"}), "due_date"),
        (json!({"title": "t", "colour": "red"}), "colour"),
        (json!([1, 2]), "body"),
    ] {
        let (s, b) = app.json(Method::POST, "/api/bob/tasks", body.clone()).await;
        assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(b["error"]["field"], field, "{body}");
        let (s, b) = app
            .json(
                Method::PUT,
                &path,
                body.as_object().map_or(body.clone(), |o| {
                    let mut o = o.clone();
                    o.remove("title");
                    if o.is_empty() { json!({"title": ""}) } else { Value::Object(o) }
                }),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "PUT {body} -> {b}");
    }

    let (s, b) = app.get("/api/bob/tasks/424242").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = app.get("/api/bob/tasks/abc").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = app.get(&path.replace("/bob/", "/mallory/")).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = app.call(Method::DELETE, &path.replace("/bob/", "/mallory/"), None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) = app.call(Method::PATCH, &format!("{}/complete", path.replace("/bob/", "/mallory/")), None).await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");

    let huge = json!({"title": "t", "description": "x".repeat(1024 * 1024)}).to_string().into_bytes();
    let (s, b) = app.call(Method::POST, "/api/bob/tasks", Some(huge.clone())).await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let (s, b) = app.call(Method::PUT, &path, Some(huge)).await;
    assert_error(s, &b, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let (s, b) = app.get("/api/bob/tasks?completed=maybe").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_parameter");
    let (s, b) = app.get("/api/bob/tasks?limit=100000").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_parameter");
    let (s, b) = app.get("/api/bob%3Aadmin/tasks").await;
    assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_parameter");
    let (s, b) = app.call(Method::PATCH, "/api/bob/tasks", None).await;
    assert_error(s, &b, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let (s, b) = app.get("/nowhere").await;
    assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    let (s, b) =
        app.json(Method::POST, "/api/bob/conversations/s1/messages", json!({"role": "robot", "content": "hi"})).await;
    assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(app.get("/api/bob/conversations/s1").await.0, StatusCode::NOT_FOUND);

    assert_eq!(app.get("/api/bob/tasks").await, before, "nothing changed");
    // One user's events are delivered in order: once a later write is audited, anything a
    // refused request had emitted would be too.
    let (_, sentinel) = app.json(Method::POST, "/api/bob/tasks", json!({"title": "sentinel"})).await;
    eventually("the sentinel audited", async || {
        app.get("/api/bob/audit").await.1["items"][0]["data"]["id"] == sentinel["id"]
    })
    .await;
    let (_, audit) = app.get("/api/bob/audit").await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 2, "only the two creates were audited: {audit}");
    app.stop().await;
}

#[tokio::test]
async fn dapr_only_routes_demand_the_app_token_when_one_is_set() {
    let app = App::start(&[("APP_API_TOKEN", "s3cret")]).await;
    let (s, b) = app.call(Method::POST, "/dapr/cron/reminder-cron", None).await;
    assert_error(s, &b, StatusCode::UNAUTHORIZED, "unauthorized");
    let (s, b) = app.call_with(Method::POST, "/dapr/cron/reminder-cron", None, &[("dapr-api-token", "s3cret")]).await;
    assert_eq!((s, &b["processed"]), (StatusCode::OK, &json!(0)));
    assert_eq!(app.get("/api/u/tasks").await.0, StatusCode::OK, "user routes need no Dapr token");
    app.stop().await;
}

#[tokio::test]
async fn a_process_serves_only_its_roles() {
    let app = App::start(&[("ROLES", "audit")]).await;
    for (method, path) in [
        (Method::POST, "/api/cy/tasks"),
        (Method::GET, "/api/cy/tasks"),
        (Method::GET, "/api/cy/notifications"),
        (Method::POST, "/dapr/cron/reminder-cron"),
    ] {
        let (s, b) = app.call(method.clone(), path, None).await;
        assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
    }
    assert_eq!(app.get("/api/cy/audit").await.0, StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_process_runs_only_the_consumers_of_its_roles() {
    let app = App::start(&[("ROLES", "backend,audit")]).await;
    let (_, task) = app
        .json(
            Method::POST,
            "/api/cy/tasks",
            json!({
                "title": "weekly", "due_date": "2030-01-07T09:00:00Z", "recurrence": {"frequency": "weekly"}
            }),
        )
        .await;
    app.call(Method::PATCH, &format!("/api/cy/tasks/{}/complete", task["id"]), None).await;
    eventually("the audit consumer", async || app.get("/api/cy/audit").await.1["items"].as_array().unwrap().len() == 2)
        .await;
    // A later event of the same user audited means the completion was delivered everywhere.
    let (_, sentinel) = app.json(Method::POST, "/api/cy/tasks", json!({"title": "sentinel"})).await;
    eventually("the sentinel audited", async || {
        app.get("/api/cy/audit").await.1["items"][0]["data"]["id"] == sentinel["id"]
    })
    .await;
    let (_, open) = app.get("/api/cy/tasks?completed=false").await;
    assert_eq!(open["total"], 1, "the sentinel only: no recurring-task consumer in this process: {open}");
    app.stop().await;
}
