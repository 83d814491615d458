//! The seeds' acceptance scenarios on the split: each service its own process with its own
//! `daprd`, events through Kafka, reminders through the Dapr Scheduler, every user-facing route
//! behind a bearer token. One split serves every test here; each test has users of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is its failure

use std::sync::OnceLock;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use todo_e2e::{Split, eventually};

const PATIENCE: Duration = Duration::from_secs(30);

/// The split of this test binary, started by the first test that needs it.
fn split() -> Option<&'static Split> {
    static SPLIT: OnceLock<Option<Split>> = OnceLock::new();
    SPLIT.get_or_init(|| Split::up("main", 20000)).as_ref()
}

/// A user of this run only: runs share topics and databases.
fn user(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{name}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

async fn create(split: &Split, user: &str, token: &str, body: Value) -> Value {
    let url = format!("{}/api/{user}/tasks", split.url("backend", 0));
    let answer = split.call(Method::POST, &url, Some(token), Some(body)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
    answer.body
}

async fn audit_of(split: &Split, user: &str, token: &str) -> Vec<Value> {
    let url = format!("{}/api/{user}/audit?limit=200", split.url("audit", 0));
    let answer = split.call(Method::GET, &url, Some(token), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.body);
    answer.body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_task_reaches_the_audit_service_once_as_task_created() {
    let Some(split) = split() else { return };
    let alice = user("alice");
    let token = split.token(&alice, 600);
    let task = create(split, &alice, &token, json!({"title": "Buy milk", "priority_id": 2, "tags": ["home"]})).await;
    eventually("task.created in the audit log", PATIENCE, async || {
        audit_of(split, &alice, &token).await.iter().any(|e| e["event_type"] == "task.created")
    })
    .await;
    let log = audit_of(split, &alice, &token).await;
    assert_eq!(log.len(), 1, "once: {log:?}");
    assert_eq!((log[0]["data"]["id"].clone(), log[0]["data"]["title"].clone()), (task["id"].clone(), json!("Buy milk")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_a_recurring_task_makes_its_next_instance_in_the_recurring_task_service() {
    let Some(split) = split() else { return };
    let bob = user("bob");
    let token = split.token(&bob, 600);
    let task = create(
        split,
        &bob,
        &token,
        json!({"title": "Pay rent", "due_date": "2031-01-31T09:00:00Z", "recurrence": {"frequency": "monthly"}}),
    )
    .await;
    let backend = split.url("backend", 0);
    let done = split
        .call(Method::POST, &format!("{backend}/api/{bob}/tasks/{}/complete", task["id"]), Some(&token), None)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{:?}", done.body);
    let open = format!("{backend}/api/{bob}/tasks?status=pending");
    eventually("the next instance", PATIENCE, async || {
        split.call(Method::GET, &open, Some(&token), None).await.body["total"] == 1
    })
    .await;
    let next = split.call(Method::GET, &open, Some(&token), None).await.body["items"][0].clone();
    assert_eq!(next["due_date"], "2031-02-28T09:00:00Z", "monthly, capped at the month's end");
    assert_ne!(next["id"], task["id"]);
    let made = split.log("recurring-tasks", 0);
    assert!(
        made.iter().any(|l| l["fields"]["message"] == "next occurrence created"
            && l["fields"]["previous"].as_str() == Some(&task["id"].to_string())),
        "the recurring-task service made it"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(split.call(Method::GET, &open, Some(&token), None).await.body["total"], 1, "exactly one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reminder_through_the_jobs_api_is_logged_and_in_the_notification_feed() {
    let Some(split) = split() else { return };
    let carol = user("carol");
    let token = split.token(&carol, 600);
    // Due in 65 s with a reminder 1 minute before: the job fires in about 5 s.
    let due = time::OffsetDateTime::now_utc() + time::Duration::seconds(65);
    let due = due.format(&time::format_description::well_known::Rfc3339).unwrap();
    let task = create(
        split,
        &carol,
        &token,
        json!({"title": "Call the bank", "due_date": due, "reminder_offset_minutes": 1}),
    )
    .await;
    let feed = format!("{}/api/{carol}/notifications", split.url("notifications", 0));
    eventually("the reminder in the feed", Duration::from_secs(60), async || {
        let answer = split.call(Method::GET, &feed, Some(&token), None).await;
        answer.body["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    let items = split.call(Method::GET, &feed, Some(&token), None).await.body["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    assert_eq!(items[0]["event"]["event_type"], "reminder.due");
    assert_eq!(items[0]["event"]["data"]["task_id"], task["id"]);
    let logged = split.log("notifications", 0);
    assert!(
        logged.iter().any(|l| l["fields"]["message"] == "notification: task due soon"
            && l["fields"]["user_id"] == carol.as_str()
            && l["fields"]["task_id"].as_str() == Some(&task["id"].to_string())),
        "the notification service logged it with the task and user"
    );
}
