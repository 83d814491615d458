//! How long an event takes to cross the split, as a user sees it: from a create's response
//! (its commit) to its `task.created` on the user's WebSocket (the sync service, a consumer of
//! `task-updates`), and from a completion's response to the next instance's `task.created`.
//! Beside them, the anchor: an event published straight to the backend's sidecar, to the same
//! socket, i.e. what daprd, Kafka and the sync service cost without the outbox and its relay.
//!
//! `cargo bench -p todo-e2e --bench split_latency` (needs `infra/local/stack up`; builds the
//! release binaries of the services). `BENCH_CREATES` (1000), `BENCH_COMPLETIONS` (200),
//! `BENCH_ANCHORS` (200). Prints figures; asserts nothing about them.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed expectation is its failure

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use todo_e2e::Split;

fn setting(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// When each event reached the socket, by `(event_type, task id)`.
type Arrivals = Arc<Mutex<HashMap<(String, i64), Instant>>>;

fn summary(label: &str, mut ms: Vec<f64>) {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    println!(
        "{label:<44} n={:<5} p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms",
        ms.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        ms[ms.len() - 1]
    );
}

async fn wait_for(arrivals: &Arrivals, key: &(String, i64)) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(t) = arrivals.lock().unwrap().get(key) {
            return *t;
        }
        assert!(Instant::now() < deadline, "{key:?} never reached the socket");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Some(split) = Split::up("bench", 22000) else { return };
    let user = format!("bench-{}", std::process::id());
    let token = split.token(&user, 3600);
    let mut socket = split.socket(0, &token).await;
    let arrivals: Arrivals = Arc::default();
    let reader = {
        let arrivals = arrivals.clone();
        tokio::spawn(async move {
            while let Some(event) = socket.next_event(Duration::from_secs(120)).await {
                let key = (
                    event["event_type"].as_str().unwrap_or_default().to_owned(),
                    event["data"]["id"].as_i64().unwrap_or(-1),
                );
                arrivals.lock().unwrap().insert(key, Instant::now());
            }
        })
    };
    let backend = split.url("backend", 0);
    let tasks = format!("{backend}/api/{user}/tasks");

    // The anchor: straight to the backend's sidecar, an event of the same user and shape.
    let dapr_token = split.secret("dapr-api-token");
    let publish = format!(
        "{}/v1.0/publish/kafka-pubsub/{}task-updates?metadata.partitionKey={user}",
        split.sidecar_url("backend", 0),
        split.prefix()
    );
    let template = split.call(Method::POST, &tasks, Some(&token), Some(json!({"title": "template"}))).await.body;
    wait_for(&arrivals, &("task.created".into(), template["id"].as_i64().unwrap())).await;
    let mut anchor = Vec::new();
    for n in 0..setting("BENCH_ANCHORS", 200) {
        let id = 1_000_000_000 + n as i64;
        let mut data = template.clone();
        data["id"] = json!(id);
        data["revision"] = json!(0);
        data["series"] = Value::Null;
        let event = json!({"event_id": format!("00000000-0000-4000-8000-{:012}", n), "event_type": "task.updated",
                           "timestamp": data["updated_at"], "version": "v1.0", "data": data});
        let answer =
            split.call_with(Method::POST, &publish, None, Some(event), &[("dapr-api-token", &dapr_token)]).await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT, "{:?}", answer.body);
        let published = Instant::now();
        let arrived = wait_for(&arrivals, &("task.updated".into(), id)).await;
        anchor.push(arrived.saturating_duration_since(published).as_secs_f64() * 1000.0);
    }

    // Creates, one at a time: from the 201 to the socket.
    let mut created = Vec::new();
    for n in 0..setting("BENCH_CREATES", 1000) {
        let answer = split.call(Method::POST, &tasks, Some(&token), Some(json!({"title": format!("task {n}")}))).await;
        assert_eq!(answer.status, StatusCode::CREATED);
        let committed = Instant::now();
        let arrived = wait_for(&arrivals, &("task.created".into(), answer.body["id"].as_i64().unwrap())).await;
        created.push(arrived.saturating_duration_since(committed).as_secs_f64() * 1000.0);
    }

    // Completions of daily tasks: from the 200 to the next instance's task.created.
    let mut next = Vec::new();
    for n in 0..setting("BENCH_COMPLETIONS", 200) {
        let body = json!({"title": format!("daily {n}"), "due_date": "2031-03-01T08:00:00Z", "recurrence": {"frequency": "daily"}});
        let task = split.call(Method::POST, &tasks, Some(&token), Some(body)).await.body;
        let before: std::collections::HashSet<(String, i64)> = arrivals.lock().unwrap().keys().cloned().collect();
        let done = split.call(Method::POST, &format!("{tasks}/{}/complete", task["id"]), Some(&token), None).await;
        assert_eq!(done.status, StatusCode::OK);
        let completed = Instant::now();
        // The next instance is the one task.created of a task not seen before (ids come from
        // each service's own block, so it may be lower than the completed task's).
        let deadline = Instant::now() + Duration::from_secs(30);
        let arrived = loop {
            let found = arrivals
                .lock()
                .unwrap()
                .iter()
                .find(|(k, _)| k.0 == "task.created" && k.1 != task["id"].as_i64().unwrap() && !before.contains(*k))
                .map(|(_, t)| *t);
            if let Some(t) = found {
                break t;
            }
            assert!(Instant::now() < deadline, "no next instance of task {}", task["id"]);
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        next.push(arrived.saturating_duration_since(completed).as_secs_f64() * 1000.0);
    }
    reader.abort();

    println!("\n== the split on the local stack (release build, every service with its own daprd) ==");
    summary("anchor: publish to the backend's daprd -> socket", anchor);
    summary("create's 201 -> task.created on the socket", created);
    summary("completion's 200 -> next instance on the socket", next);
}
