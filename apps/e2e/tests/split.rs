//! The seeds' acceptance scenarios on the split: each service its own process with its own
//! `daprd`, events through Kafka, reminders through the Dapr Scheduler, every user-facing route
//! behind a bearer token. One split serves every test here; each test has users of its own.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is its failure

use std::sync::OnceLock;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use todo_e2e::{Split, user, wait_until};

const PATIENCE: Duration = Duration::from_secs(30);

/// The split of this test binary, started by the first test that needs it.
fn split() -> Option<&'static Split> {
    static SPLIT: OnceLock<Option<Split>> = OnceLock::new();
    SPLIT.get_or_init(|| Split::up("main", 20000)).as_ref()
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
    let task = split.create(&alice, &token, json!({"title": "Buy milk", "priority_id": 2, "tags": ["home"]})).await;
    wait_until("task.created in the audit log", PATIENCE, async || {
        audit_of(split, &alice, &token).await.iter().any(|e| e["event_type"] == "task.created")
    })
    .await;
    let log = audit_of(split, &alice, &token).await;
    assert_eq!(log.len(), 1, "once: {log:?}");
    assert_eq!(
        (log[0]["data"]["id"].clone(), log[0]["data"]["title"].clone()),
        (task["id"].clone(), json!("Buy milk"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_a_recurring_task_makes_its_next_instance_in_the_recurring_task_service() {
    let Some(split) = split() else { return };
    let bob = user("bob");
    let token = split.token(&bob, 600);
    let task = split
        .create(
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
    let open = format!("{backend}/api/{bob}/tasks?completed=false");
    wait_until("the next instance", PATIENCE, async || {
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
    let task = split
        .create(&carol, &token, json!({"title": "Call the bank", "due_date": due, "reminder_offset_minutes": 1}))
        .await;
    let feed = format!("{}/api/{carol}/notifications", split.url("notifications", 0));
    wait_until("the reminder in the feed", Duration::from_secs(60), async || {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_gets_its_users_changes_and_never_another_users() {
    let Some(split) = split() else { return };
    let (dana, erin) = (user("dana"), user("erin"));
    let (dana_token, erin_token) = (split.token(&dana, 600), split.token(&erin, 600));
    let mut dana_socket = split.socket(0, &dana_token).await;
    let mut erin_socket = split.socket(0, &erin_token).await;
    assert_eq!(dana_socket.first, json!({"type": "subscribed", "user_id": dana}));
    let sent = std::time::Instant::now();
    let task = split.create(&dana, &dana_token, json!({"title": "Water the plants"})).await;
    let event = dana_socket.next_event(PATIENCE).await.expect("dana's task.created");
    println!("task.created reached dana's socket {} ms after the request", sent.elapsed().as_millis());
    assert_eq!((event["event_type"].clone(), event["data"]["id"].clone()), (json!("task.created"), task["id"].clone()));
    let url = format!("{}/api/{dana}/tasks/{}/complete", split.url("backend", 0), task["id"]);
    assert_eq!(split.call(Method::POST, &url, Some(&dana_token), None).await.status, StatusCode::OK);
    let event = dana_socket.next_event(PATIENCE).await.expect("dana's task.completed");
    assert_eq!(event["event_type"], "task.completed");
    // Erin made one task of her own meanwhile: that is all she sees.
    split.create(&erin, &erin_token, json!({"title": "Erin's"})).await;
    let seen = erin_socket.events_within(Duration::from_secs(3)).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["data"]["user_id"], erin.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_of_the_sync_service_delivers_to_its_own_sockets() {
    let Some(split) = split() else { return };
    split.services(&["start", "sync", "1"]);
    let fay = user("fay");
    let token = split.token(&fay, 600);
    let mut on_first = split.socket(0, &token).await;
    let mut on_second = split.socket(1, &token).await;
    let task = split.create(&fay, &token, json!({"title": "Seen everywhere"})).await;
    for socket in [&mut on_first, &mut on_second] {
        let event = socket.next_event(PATIENCE).await.expect("the event on this replica");
        assert_eq!(event["data"]["id"], task["id"]);
    }
}

/// The user-facing routes of the split, each with a path of `user`'s.
fn user_routes(split: &Split, user: &str) -> Vec<(Method, String, Option<Value>)> {
    let (backend, audit, notes) = (split.url("backend", 0), split.url("audit", 0), split.url("notifications", 0));
    let body = Some(json!({"title": "x"}));
    vec![
        (Method::GET, format!("{backend}/api/{user}/tasks"), None),
        (Method::POST, format!("{backend}/api/{user}/tasks"), body.clone()),
        (Method::GET, format!("{backend}/api/{user}/tasks/1"), None),
        (Method::PUT, format!("{backend}/api/{user}/tasks/1"), body.clone()),
        (Method::PATCH, format!("{backend}/api/{user}/tasks/1"), body),
        (Method::DELETE, format!("{backend}/api/{user}/tasks/1"), None),
        (Method::POST, format!("{backend}/api/{user}/tasks/1/complete"), None),
        (Method::GET, format!("{backend}/api/{user}/conversations/s1"), None),
        (Method::PUT, format!("{backend}/api/{user}/conversations/s1"), Some(json!({"messages": []}))),
        (
            Method::POST,
            format!("{backend}/api/{user}/conversations/s1/messages"),
            Some(json!({"role": "user", "content": "hi"})),
        ),
        (Method::DELETE, format!("{backend}/api/{user}/conversations/s1"), None),
        (Method::GET, format!("{audit}/api/{user}/audit"), None),
        (Method::GET, format!("{notes}/api/{user}/notifications"), None),
    ]
}

/// `token` with its signature replaced by that of another key.
fn resigned(token: &str, other: &str) -> String {
    let mut parts: Vec<&str> = token.split('.').collect();
    parts[2] = other.split('.').nth(2).unwrap();
    parts.join(".")
}

/// `token`'s claims under `{"alg":"none"}` and no signature.
fn unsigned(token: &str) -> String {
    format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.", token.split('.').nth(1).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_user_route_demands_a_valid_token_of_its_own_user() {
    let Some(split) = split() else { return };
    let (gus, hal) = (user("gus"), user("hal"));
    let (good, hals) = (split.token(&gus, 600), split.token(&hal, 600));
    let refused = [
        ("no token", None),
        ("an expired token", Some(split.token(&gus, -120))),
        ("a wrong signature", Some(resigned(&good, &hals))),
        ("alg none", Some(unsigned(&good))),
        ("garbage", Some("not-a-jwt".to_owned())),
    ];
    for (method, url, body) in user_routes(split, &gus) {
        for (what, token) in &refused {
            let answer = split.call(method.clone(), &url, token.as_deref(), body.clone()).await;
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {url} with {what}: {:?}", answer.body);
            assert_eq!(answer.body["error"]["code"], "unauthorized", "{method} {url} with {what}");
            assert!(
                answer.headers.get("www-authenticate").is_some_and(|v| v.to_str().unwrap().starts_with("Bearer")),
                "{method} {url} with {what}: WWW-Authenticate"
            );
        }
        let answer = split.call(method.clone(), &url, Some(&hals), body.clone()).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{method} {url} with another user's token: {:?}", answer.body);
        assert_eq!(answer.body["error"]["code"], "forbidden");
        let answer = split.call(method.clone(), &url, Some(&good), body.clone()).await;
        assert!(
            !matches!(answer.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
            "{method} {url} with its user's token: {}",
            answer.status
        );
    }
    // Nothing of gus's was changed by the refused calls: his list is as the good calls left it.
    let list =
        split.call(Method::GET, &format!("{}/api/{gus}/tasks", split.url("backend", 0)), Some(&good), None).await;
    assert_eq!(list.body["total"], 1, "only the one create with his own token: {:?}", list.body);
    // The socket: no token, a bad one and another user's are refused at the handshake.
    let ws = format!("{}/ws", split.url("sync", 0)).replacen("http", "ws", 1);
    for (what, url) in
        [("no token", ws.clone()), ("an expired token", format!("{ws}?access_token={}", split.token(&gus, -120)))]
    {
        let refused = tokio_tungstenite::connect_async(url).await;
        match refused {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401, "{what}"),
            other => panic!("{what}: the socket opened: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_id_runs_through_a_request_and_every_consumer_it_caused() {
    let Some(split) = split() else { return };
    let ida = user("ida");
    let token = split.token(&ida, 600);
    let trace_id = format!("{:032x}", std::process::id() as u128 * 7919 + 1);
    let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
    let url = format!("{}/api/{ida}/tasks", split.url("backend", 0));
    let body = json!({"title": "Traced", "due_date": "2031-05-31T09:00:00Z", "recurrence": {"frequency": "weekly"}});
    let answer = split.call_with(Method::POST, &url, Some(&token), Some(body), &[("traceparent", &traceparent)]).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let complete = format!("{url}/{}/complete", answer.body["id"]);
    split.call_with(Method::POST, &complete, Some(&token), None, &[("traceparent", &traceparent)]).await;
    let in_trace = |service: &str| {
        split.log(service, 0).into_iter().filter(|l| l["span"]["trace_id"] == trace_id.as_str()).count()
    };
    wait_until("the audit service's lines in the request's trace", PATIENCE, async || {
        in_trace("audit") >= 3 // task.created, task.completed, and the next instance's task.created
    })
    .await;
    assert!(in_trace("backend") >= 2, "the backend's request lines carry the trace");
    assert!(in_trace("recurring-tasks") >= 1, "the recurring-task service's lines carry the trace");
    assert!(in_trace("sync") >= 1, "the sync service's lines carry the trace");
}
