//! The backend of the microservice deployment, end to end on the real local stack: the app on
//! PostgreSQL with a real `daprd` sidecar, events through Kafka, reminders through the Dapr
//! Scheduler (Jobs API). Skipped loudly without the stack, failing under `TODO_REQUIRE_STACK=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use todo_adapter_postgres::testing::TempDatabase;
use todo_contract_tests::dapr_harness::{Sidecar, SidecarSpec, dapr_run, free_port, sockets_off_loopback};
use todo_contract_tests::support::wait_until;

async fn call(addr: std::net::SocketAddr, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())))
        .unwrap();
    let response = client.request(req).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_runs_on_postgres_kafka_and_the_dapr_scheduler() {
    let Some(run) = dapr_run("backend on the stack") else { return };
    let db = TempDatabase::create(run.stack.get("TODO_STACK_PG_ADMIN_URL")).await.expect("database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dapr_port = free_port();
    let prefix = run.topic_prefix();
    let url = db.url().to_owned();
    let config = todo_runtime::Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.clone()),
        "DAPR_HTTP_PORT" => Some(dapr_port.to_string()),
        "TOPIC_PREFIX" => Some(prefix.clone()),
        _ => None,
    })
    .unwrap();
    let app = todo_runtime::Background::spawn(todo_runtime::Runtime::new(config), listener).unwrap();
    let spec =
        SidecarSpec { app_port: Some(addr.port()), http_port: dapr_port, ..SidecarSpec::new(run.app_id("backend")) };
    let sidecar = Sidecar::start(run, spec).await;

    // complete a monthly task: task.completed goes through the outbox, Dapr and Kafka to the
    // recurring-task consumer, which creates the next instance in PostgreSQL
    let (status, task) = call(
        addr,
        Method::POST,
        "/api/e2e/tasks",
        Some(json!({
            "title": "Pay rent", "due_date": "2028-01-31T09:00:00Z", "recurrence": {"frequency": "monthly"}
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let (status, _) = call(addr, Method::PATCH, &format!("/api/e2e/tasks/{}/complete", task["id"]), None).await;
    assert_eq!(status, StatusCode::OK);
    wait_until("the next instance through Kafka", Duration::from_secs(30), async || {
        call(addr, Method::GET, "/api/e2e/tasks?completed=false", None).await.1["total"] == 1
    })
    .await;
    let (_, open) = call(addr, Method::GET, "/api/e2e/tasks?completed=false", None).await;
    assert_eq!(open["items"][0]["due_date"], "2028-02-29T09:00:00Z");
    wait_until("three audited events", Duration::from_secs(30), async || {
        call(addr, Method::GET, "/api/e2e/audit", None).await.1["items"].as_array().is_some_and(|a| a.len() == 3)
    })
    .await;

    // a reminder one minute before a due date 62 s away fires through the Scheduler in ~2 s
    let due = (time::OffsetDateTime::now_utc() + time::Duration::seconds(62))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, _) = call(
        addr,
        Method::POST,
        "/api/e2e/tasks",
        Some(json!({
            "title": "Stand-up", "due_date": due, "reminder_offset_minutes": 1
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    wait_until("the reminder through the Jobs API and Kafka", Duration::from_secs(30), async || {
        call(addr, Method::GET, "/api/e2e/notifications", None).await.1["items"]
            .as_array()
            .is_some_and(|a| a.len() == 1)
    })
    .await;
    let (_, notes) = call(addr, Method::GET, "/api/e2e/notifications", None).await;
    assert_eq!(notes["items"][0]["event"]["data"]["task_title"], "Stand-up", "{notes}");

    // every listener and connection of the stack, the sidecar and the app is on 127.0.0.1
    let off_loopback = sockets_off_loopback();
    assert!(off_loopback.is_empty(), "sockets off loopback:\n{}", off_loopback.join("\n"));

    app.stop().await.unwrap();
    drop(sidecar);
}
