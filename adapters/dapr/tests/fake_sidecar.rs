//! The client's edge cases against an in-process HTTP server on 127.0.0.1:0 playing the
//! sidecar: how each answer maps to the ports' error kinds, deadlines, headers. What the real
//! sidecar does is proven by the contract suites (`contract-tests/tests/dapr.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use time::macros::datetime;
use todo_adapter_dapr::{Dapr, DaprConfig, ErrorKind, SidecarClient};
use todo_ports::model::{
    Conversation, ConversationKey, Event, SessionId, Task, TaskEvent, TaskEventType, TaskId, TaskPatch, Topic,
    TraceParent, UserId,
};
use todo_ports::{BusError, EventBus, Precondition, ReminderJob, Scheduler, SchedulerError, StateError, StateStore};

/// A request as the fake sidecar saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

type Reply = Arc<dyn Fn(&Seen) -> (u16, Vec<(&'static str, String)>, String, Duration) + Send + Sync>;

struct FakeSidecar {
    endpoint: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeSidecar {
    /// Starts a server answering each request with `reply(request)`: status, headers, body,
    /// delay before answering.
    async fn start(reply: Reply) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let seen2 = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let reply = reply.clone();
                let seen = seen2.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                        let reply = reply.clone();
                        let seen = seen.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body.collect().await.unwrap().to_bytes();
                            let s =
                                Seen { method: parts.method, uri: parts.uri.to_string(), headers: parts.headers, body };
                            let (status, headers, body, delay) = reply(&s);
                            seen.lock().unwrap().push(s);
                            tokio::time::sleep(delay).await;
                            let mut r = Response::new(Full::new(Bytes::from(body)));
                            *r.status_mut() = StatusCode::from_u16(status).unwrap();
                            for (k, v) in headers {
                                r.headers_mut().insert(k, v.parse().unwrap());
                            }
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { endpoint, seen }
    }

    fn answering(status: u16, body: &'static str) -> Reply {
        Arc::new(move |_| (status, vec![], body.to_owned(), Duration::ZERO))
    }

    fn dapr(&self, token: Option<&str>) -> Dapr {
        let mut vars = HashMap::new();
        vars.insert("DAPR_HTTP_ENDPOINT", self.endpoint.clone());
        if let Some(t) = token {
            vars.insert("DAPR_API_TOKEN", t.to_owned());
        }
        let config =
            DaprConfig::from_lookup(|k| vars.get(k).cloned()).unwrap().with_timeout(Duration::from_millis(300));
        Dapr::new(config)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn event(user: &str) -> Event {
    let t = datetime!(2026-01-01 10:00 UTC);
    let mut task =
        Task::create(UserId::parse(user).unwrap(), TaskPatch { title: Some("t".into()), ..TaskPatch::default() }, t)
            .unwrap();
    task.id = TaskId(1);
    TaskEvent::new(TaskEventType::Created, task, t).into()
}

fn conversation() -> Conversation {
    let key = ConversationKey { user_id: UserId::parse("u1").unwrap(), session_id: SessionId::parse("s1").unwrap() };
    Conversation::new(key, datetime!(2026-01-01 10:00 UTC))
}

#[tokio::test]
async fn a_publish_carries_json_length_key_id_type_and_token() {
    let sidecar = FakeSidecar::start(FakeSidecar::answering(204, "")).await;
    let e = event("usr_1");
    sidecar.dapr(Some("tok")).bus.publish(Topic::TaskEvents, &e).await.unwrap();
    let seen = sidecar.seen();
    let r = &seen[0];
    assert_eq!(r.method, Method::POST);
    assert_eq!(
        r.uri,
        format!(
            "/v1.0/publish/kafka-pubsub/task-events?metadata.partitionKey=usr_1&metadata.cloudevent.id={}&metadata.cloudevent.type=task.created",
            e.id()
        )
    );
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["content-length"], r.body.len().to_string().as_str());
    assert_eq!(r.headers["dapr-api-token"], "tok");
    let back: Event = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(back, e);
}

#[tokio::test]
async fn the_trace_context_of_the_task_goes_with_each_call() {
    let sidecar = FakeSidecar::start(FakeSidecar::answering(204, "")).await;
    let tp = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
    let bus = sidecar.dapr(None).bus;
    todo_ports::trace::scope(Some(tp.clone()), bus.publish(Topic::TaskEvents, &event("u"))).await.unwrap();
    assert_eq!(sidecar.seen()[0].headers["traceparent"], tp.as_str());
    assert!(!sidecar.seen()[0].headers.contains_key("dapr-api-token"));
}

#[tokio::test]
async fn each_event_is_published_in_the_trace_it_was_written_in() {
    let sidecar = FakeSidecar::start(FakeSidecar::answering(204, "")).await;
    let (written, caller) = (TraceParent::root(), TraceParent::root());
    let bus = sidecar.dapr(None).bus;
    let traced = event("u").with_trace(Some(written.clone()));
    todo_ports::trace::scope(Some(caller), bus.publish(Topic::TaskEvents, &traced)).await.unwrap();
    assert_eq!(sidecar.seen()[0].headers["traceparent"], written.as_str(), "the event's trace, not the relay's");

    let batch = [traced, event("v")];
    bus.publish_batch(Topic::TaskEvents, &batch).await.unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&sidecar.seen()[1].body).unwrap();
    assert_eq!(entries[0]["metadata"]["cloudevent.traceparent"], written.as_str());
    assert!(entries[1]["metadata"].get("cloudevent.traceparent").is_none(), "{entries}");
}

#[tokio::test]
async fn publish_maps_5xx_to_unavailable_and_4xx_to_rejected() {
    let sidecar = FakeSidecar::start(FakeSidecar::answering(
        500,
        r#"{"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE","message":"kafka down"}"#,
    ))
    .await;
    let err = sidecar.dapr(None).bus.publish(Topic::TaskEvents, &event("u")).await.unwrap_err();
    assert!(matches!(err, BusError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("kafka down"), "{err}");

    let sidecar =
        FakeSidecar::start(FakeSidecar::answering(403, r#"{"errorCode":"ERR_PUBSUB_FORBIDDEN","message":"no"}"#)).await;
    let err = sidecar.dapr(None).bus.publish(Topic::TaskEvents, &event("u")).await.unwrap_err();
    assert!(matches!(err, BusError::Rejected(_)), "{err:?}");
}

#[tokio::test]
async fn a_success_other_than_204_is_not_taken_for_an_accepted_publish() {
    let sidecar = FakeSidecar::start(FakeSidecar::answering(200, "")).await;
    let err = sidecar.dapr(None).bus.publish(Topic::TaskEvents, &event("u")).await.unwrap_err();
    assert!(matches!(err, BusError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_slow_sidecar_is_unavailable_after_the_deadline() {
    let sidecar = FakeSidecar::start(Arc::new(|_| (204, vec![], String::new(), Duration::from_secs(5)))).await;
    let started = std::time::Instant::now();
    let err = sidecar.dapr(None).bus.publish(Topic::TaskEvents, &event("u")).await.unwrap_err();
    assert!(matches!(err, BusError::Unavailable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let dapr =
        Dapr::new(DaprConfig { http_endpoint: endpoint, timeout: Duration::from_millis(300), ..DaprConfig::default() });
    let err = dapr.bus.publish(Topic::TaskEvents, &event("u")).await.unwrap_err();
    assert!(matches!(err, BusError::Unavailable(_)), "{err:?}");
    let err = dapr.state.get(&conversation().key()).await.unwrap_err();
    assert!(matches!(err, StateError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_bulk_publish_names_exactly_the_failed_entries() {
    let sidecar = FakeSidecar::start(FakeSidecar::answering(
        500,
        r#"{"failedEntries":[{"entryId":"1","error":"broker said no"}],"errorCode":"ERR_PUBSUB_PUBLISH_MESSAGE"}"#,
    ))
    .await;
    let events = [event("a"), event("b"), event("c")];
    let err = sidecar.dapr(None).bus.publish_batch(Topic::TaskEvents, &events).await.unwrap_err();
    assert_eq!(err.failed, vec![events[1].id()]);
    let seen = sidecar.seen();
    assert_eq!(seen[0].uri, "/v1.0/publish/bulk/kafka-pubsub/task-events");
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body[2]["entryId"], "2");
    assert_eq!(body[2]["metadata"]["partitionKey"], "c");
    assert_eq!(body[2]["metadata"]["cloudevent.id"], events[2].id().to_string());
    assert_eq!(body[2]["contentType"], "application/json");

    let sidecar = FakeSidecar::start(FakeSidecar::answering(503, "")).await;
    let err = sidecar.dapr(None).bus.publish_batch(Topic::TaskEvents, &events).await.unwrap_err();
    assert_eq!(err.failed.len(), 3);
}

#[tokio::test]
async fn state_answers_map_to_conflict_unavailable_and_internal() {
    let c = conversation();
    type Case = (u16, &'static str, fn(&StateError) -> bool);
    let cases: [Case; 5] = [
        (409, r#"{"errorCode":"ERR_STATE_SAVE","message":"possible etag mismatch"}"#, |e| {
            matches!(e, StateError::Conflict)
        }),
        (400, r#"{"errorCode":"ERR_STATE_SAVE","message":"invalid etag value: strconv.Atoi"}"#, |e| {
            matches!(e, StateError::Conflict)
        }),
        (
            500,
            r#"{"errorCode":"ERR_STATE_SAVE","message":"failed saving state in state store statestore: failed to set key a||k: ERR user_script:14: failed to set key a||k script: d9, on @user_script:14."}"#,
            |e| matches!(e, StateError::Conflict),
        ),
        (500, r#"{"errorCode":"ERR_STATE_SAVE","message":"dial tcp: connection refused"}"#, |e| {
            matches!(e, StateError::Unavailable(_))
        }),
        (400, r#"{"errorCode":"ERR_MALFORMED_REQUEST","message":"bad key"}"#, |e| matches!(e, StateError::Internal(_))),
    ];
    for (status, body, expected) in cases {
        let sidecar = FakeSidecar::start(Arc::new(move |_| (status, vec![], body.to_owned(), Duration::ZERO))).await;
        let err = sidecar
            .dapr(None)
            .state
            .save(&c, &Precondition::Matches(todo_ports::ETag("3".into())), Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(expected(&err), "{status} {body}: {err:?}");
    }
}

#[tokio::test]
async fn a_save_sends_ttl_first_write_and_the_etag() {
    let sidecar = FakeSidecar::start(FakeSidecar::answering(204, "")).await;
    let c = conversation();
    let dapr = sidecar.dapr(None);
    dapr.state
        .save(&c, &Precondition::Matches(todo_ports::ETag("3".into())), Duration::from_millis(1500))
        .await
        .unwrap();
    dapr.state.save(&c, &Precondition::Absent, Duration::from_secs(60)).await.unwrap();
    let seen = sidecar.seen();
    assert_eq!(seen[0].uri, "/v1.0/state/statestore");
    let item: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(item[0]["key"], "conversation:u1:s1");
    assert_eq!(item[0]["etag"], "3");
    assert_eq!(item[0]["metadata"]["ttlInSeconds"], "2");
    assert_eq!(item[0]["options"]["concurrency"], "first-write");
    assert_eq!(serde_json::from_value::<Conversation>(item[0]["value"].clone()).unwrap(), c);
    let item: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert!(item[0].get("etag").is_none(), "{item}");
    assert_eq!(item[0]["options"]["concurrency"], "first-write");
}

#[tokio::test]
async fn a_get_reads_204_as_missing_and_the_etag_header_as_the_version() {
    let c = conversation();
    let body = serde_json::to_string(&c).unwrap();
    let sidecar = FakeSidecar::start(Arc::new(move |s: &Seen| {
        if s.uri.contains("missing") {
            (204, vec![], String::new(), Duration::ZERO)
        } else {
            (200, vec![("etag", "7".to_owned())], body.clone(), Duration::ZERO)
        }
    }))
    .await;
    let dapr = sidecar.dapr(None);
    let got = dapr.state.get(&c.key()).await.unwrap().unwrap();
    assert_eq!(got.value, c);
    assert_eq!(got.etag.0, "7");
    let missing =
        ConversationKey { user_id: UserId::parse("missing").unwrap(), session_id: SessionId::parse("s").unwrap() };
    assert!(dapr.state.get(&missing).await.unwrap().is_none());
    assert_eq!(sidecar.seen()[0].uri, "/v1.0/state/statestore/conversation:u1:s1?consistency=strong");
}

#[tokio::test]
async fn a_delete_sends_if_match() {
    let sidecar = FakeSidecar::start(FakeSidecar::answering(
        409,
        r#"{"errorCode":"ERR_STATE_DELETE","message":"possible etag mismatch"}"#,
    ))
    .await;
    let c = conversation();
    let err = sidecar
        .dapr(None)
        .state
        .delete(&c.key(), &Precondition::Matches(todo_ports::ETag("4".into())))
        .await
        .unwrap_err();
    assert!(matches!(err, StateError::Conflict));
    assert_eq!(sidecar.seen()[0].method, Method::DELETE);
    assert_eq!(sidecar.seen()[0].headers["if-match"], "4");
}

#[tokio::test]
async fn a_job_is_one_shot_overwriting_with_a_failure_policy_and_cancel_tolerates_missing() {
    let sidecar = FakeSidecar::start(Arc::new(|s: &Seen| {
        if s.method == Method::DELETE {
            (
                500,
                vec![],
                r#"{"errorCode":"DAPR_SCHEDULER_DELETE_JOB","message":"job not found"}"#.into(),
                Duration::ZERO,
            )
        } else {
            (204, vec![], String::new(), Duration::ZERO)
        }
    }))
    .await;
    let dapr = sidecar.dapr(None);
    let job = ReminderJob {
        task_id: TaskId(9),
        user_id: UserId::parse("u").unwrap(),
        due_date: datetime!(2026-01-01 10:00 UTC),
        fire_at: datetime!(2026-01-01 09:00 +01:00),
    };
    dapr.scheduler.schedule(&job).await.unwrap();
    dapr.scheduler.cancel(TaskId(9)).await.unwrap();
    let seen = sidecar.seen();
    assert_eq!(seen[0].uri, "/v1.0-alpha1/jobs/reminder-9");
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body["dueTime"], "2026-01-01T08:00:00Z");
    assert_eq!(body["overwrite"], true);
    assert_eq!(body["data"]["task_id"], 9);
    assert!(body["failurePolicy"]["constant"]["maxRetries"].as_u64().unwrap() > 0);
    assert_eq!(seen[1].uri, "/v1.0-alpha1/jobs/reminder-9");

    let sidecar = FakeSidecar::start(FakeSidecar::answering(
        500,
        r#"{"errorCode":"DAPR_SCHEDULER_SCHEDULE_JOB","message":"scheduler down"}"#,
    ))
    .await;
    let err = sidecar.dapr(None).scheduler.schedule(&job).await.unwrap_err();
    assert!(matches!(err, SchedulerError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn waiting_for_the_sidecar_polls_until_outbound_health_answers() {
    let calls = Arc::new(Mutex::new(0));
    let calls2 = calls.clone();
    let sidecar = FakeSidecar::start(Arc::new(move |s: &Seen| {
        assert_eq!(s.uri, "/v1.0/healthz/outbound");
        let mut n = calls2.lock().unwrap();
        *n += 1;
        if *n < 3 {
            (500, vec![], r#"{"errorCode":"ERR_OUTBOUND_HEALTH_NOT_READY"}"#.into(), Duration::ZERO)
        } else {
            (204, vec![], String::new(), Duration::ZERO)
        }
    }))
    .await;
    let client: SidecarClient = sidecar.dapr(None).client;
    client.wait_until_ready(Duration::from_secs(5)).await.unwrap();
    assert_eq!(*calls.lock().unwrap(), 3);

    let sidecar = FakeSidecar::start(FakeSidecar::answering(500, "")).await;
    let err = sidecar.dapr(None).client.wait_until_ready(Duration::from_millis(300)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
}

#[tokio::test]
async fn an_invocation_forwards_only_the_chosen_headers_and_returns_the_answer() {
    let sidecar = FakeSidecar::start(Arc::new(|_| {
        (201, vec![("x-answer", "yes".to_owned())], "{\"ok\":1}".to_owned(), Duration::ZERO)
    }))
    .await;
    let mut headers = HeaderMap::new();
    headers.insert("authorization", "Bearer abc".parse().unwrap());
    headers.insert("x-request-id", "req-1".parse().unwrap());
    headers.insert("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("cookie", "secret".parse().unwrap());
    let answer = sidecar
        .dapr(None)
        .invoker
        .invoke("backend", Method::POST, "/tasks?x=1", &headers, Bytes::from_static(b"{}"))
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.headers["x-answer"], "yes");
    assert_eq!(answer.body, Bytes::from_static(b"{\"ok\":1}"));
    let seen = &sidecar.seen()[0];
    assert_eq!(seen.uri, "/v1.0/invoke/backend/method/tasks?x=1");
    assert_eq!(seen.headers["authorization"], "Bearer abc");
    assert_eq!(seen.headers["x-request-id"], "req-1");
    assert!(seen.headers.contains_key("traceparent"));
    assert!(!seen.headers.contains_key("cookie"));
}
