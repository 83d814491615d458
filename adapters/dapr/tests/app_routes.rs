//! The routes the sidecar calls on the app, called through their router (the sidecar's own
//! calls are in `contract-tests/tests/dapr.rs`, through the app's HTTP server).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::body::Body;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::macros::datetime;
use todo_adapter_dapr::{DaprApp, JobData};
use todo_ports::model::{Event, Task, TaskEvent, TaskEventType, TaskId, TaskPatch, Topic, UserId};
use todo_ports::{
    BoxError, EventHandler, HandlerError, JobHandler, ReminderJob, ServiceError, Subscription, SweepReport,
    SweepService,
};
use tower::ServiceExt;

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    traces: Mutex<Vec<Option<String>>>,
    answer: Mutex<Option<fn() -> HandlerError>>,
    panics: bool,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        self.events.lock().unwrap().push(event.clone());
        self.traces.lock().unwrap().push(todo_ports::trace::current().map(|t| t.trace_id().to_owned()));
        assert!(!self.panics, "a handler that panics");
        match *self.answer.lock().unwrap() {
            Some(make) => Err(make()),
            None => Ok(()),
        }
    }
}

#[derive(Default)]
struct Jobs {
    fired: Mutex<Vec<ReminderJob>>,
    fail: bool,
}

#[async_trait]
impl JobHandler for Jobs {
    async fn fire(&self, job: &ReminderJob) -> Result<(), BoxError> {
        self.fired.lock().unwrap().push(job.clone());
        if self.fail { Err("db down".into()) } else { Ok(()) }
    }
}

struct Sweep;

#[async_trait]
impl SweepService for Sweep {
    async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        Ok(SweepReport { reminders: 2, instances: 1 })
    }
}

fn event() -> Event {
    let t = datetime!(2026-01-01 10:00 UTC);
    let task =
        Task::create(UserId::parse("u1").unwrap(), TaskPatch { title: Some("t".into()), ..TaskPatch::default() }, t)
            .unwrap()
            .with_id(TaskId(1));
    TaskEvent::new(TaskEventType::Created, task, t).into()
}

fn cloud_event(data: Value) -> Bytes {
    Bytes::from(
        json!({"specversion": "1.0", "id": "x", "source": "backend", "type": "task.created",
               "datacontenttype": "application/json", "topic": "task-events", "pubsubname": "kafka-pubsub",
               "data": data})
        .to_string(),
    )
}

fn request(method: Method, path: &str, body: Bytes, token: Option<&str>) -> Request<Bytes> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        b = b.header("dapr-api-token", t);
    }
    b.body(body).unwrap()
}

async fn call(app: &axum::Router, req: Request<Bytes>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(req.map(Body::from)).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn app_with(recorder: Arc<Recorder>, jobs: Option<Arc<dyn JobHandler>>, token: Option<&str>) -> DaprApp {
    let subs = vec![
        Subscription { topic: Topic::TaskEvents, name: "audit", handler: recorder.clone() },
        Subscription { topic: Topic::Reminders, name: "notifications", handler: recorder },
    ];
    let app =
        DaprApp::new("kafka-pubsub").with_subscriptions(subs).with_app_token(token.map(secrecy::SecretString::from));
    match jobs {
        Some(jobs) => app.with_jobs(jobs),
        None => app,
    }
}

#[tokio::test]
async fn a_delivery_is_handled_in_the_trace_the_sidecar_continues() {
    let recorder = Arc::new(Recorder::default());
    let app = app_with(recorder.clone(), None, None).router();
    let body = cloud_event(serde_json::to_value(event()).unwrap());
    let mut req = request(Method::POST, "/events/audit", body.clone(), None);
    req.headers_mut().insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
    assert_eq!(call(&app, req).await.0, StatusCode::OK);
    call(&app, request(Method::POST, "/events/audit", body, None)).await;
    let traces = recorder.traces.lock().unwrap().clone();
    assert_eq!(traces[0].as_deref(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
    assert!(
        traces[1].as_ref().is_some_and(|t| t.len() == 32 && t != "4bf92f3577b34da6a3ce929d0e0e4736"),
        "a new trace"
    );
    let events = recorder.events.lock().unwrap();
    assert_eq!(events[0].trace().map(|t| t.trace_id()), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
}

#[tokio::test]
async fn the_app_knows_once_the_sidecar_has_read_its_subscriptions() {
    let dapr = app_with(Arc::default(), None, Some("t0ken"));
    let listed = dapr.listed();
    let app = dapr.router();
    assert!(!listed.is_read());
    let (status, _) = call(&app, request(Method::GET, "/dapr/subscribe", Bytes::new(), None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(!listed.is_read(), "a caller without the app token is not the sidecar");
    call(&app, request(Method::GET, "/dapr/subscribe", Bytes::new(), Some("t0ken"))).await;
    assert!(listed.is_read());
}

#[tokio::test]
async fn the_subscribe_listing_has_a_route_and_dead_letter_topic_per_subscription() {
    let app = app_with(Arc::default(), None, None).router();
    let (status, body) = call(&app, request(Method::GET, "/dapr/subscribe", Bytes::new(), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!([
            {"pubsubname": "kafka-pubsub", "topic": "reminders", "route": "/events/notifications", "deadLetterTopic": "reminders-dlq"},
            {"pubsubname": "kafka-pubsub", "topic": "task-events", "route": "/events/audit", "deadLetterTopic": "task-events-dlq"},
        ])
    );
}

#[tokio::test]
async fn subscriptions_sharing_a_topic_share_a_route_and_dead_letter_subscriptions_have_none() {
    let r: Arc<Recorder> = Arc::default();
    let app = DaprApp::new("kafka-pubsub")
        .with_subscriptions(vec![
            Subscription { topic: Topic::TaskEvents, name: "audit", handler: r.clone() },
            Subscription { topic: Topic::TaskEvents, name: "recurring", handler: r.clone() },
        ])
        .with_topic_prefix("t1-")
        .with_dead_letter_subscriptions(vec![Subscription {
            topic: Topic::TaskEvents,
            name: "dlq",
            handler: r.clone(),
        }])
        .router();
    let (_, body) = call(&app, request(Method::GET, "/dapr/subscribe", Bytes::new(), None)).await;
    assert_eq!(
        body,
        json!([
            {"pubsubname": "kafka-pubsub", "topic": "t1-task-events", "route": "/events/audit+recurring", "deadLetterTopic": "t1-task-events-dlq"},
            {"pubsubname": "kafka-pubsub", "topic": "t1-task-events-dlq", "route": "/events/dlq"},
        ])
    );
    let (_, body) = call(
        &app,
        request(Method::POST, "/events/audit+recurring", cloud_event(serde_json::to_value(event()).unwrap()), None),
    )
    .await;
    assert_eq!(body, json!({"status": "SUCCESS"}));
    assert_eq!(r.events.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_delivery_answers_success_retry_or_drop_from_the_handler_result() {
    let recorder: Arc<Recorder> = Arc::default();
    let app = app_with(recorder.clone(), None, None).router();
    let e = event();
    let body = cloud_event(serde_json::to_value(&e).unwrap());
    let (status, got) = call(&app, request(Method::POST, "/events/audit", body.clone(), None)).await;
    assert_eq!((status, got), (StatusCode::OK, json!({"status": "SUCCESS"})));
    assert_eq!(recorder.events.lock().unwrap()[0], e);

    *recorder.answer.lock().unwrap() = Some(|| HandlerError::Transient("db".into()));
    let (_, got) = call(&app, request(Method::POST, "/events/audit", body.clone(), None)).await;
    assert_eq!(got, json!({"status": "RETRY"}));

    *recorder.answer.lock().unwrap() = Some(|| HandlerError::Rejected("bad".into()));
    let (_, got) = call(&app, request(Method::POST, "/events/audit", body, None)).await;
    assert_eq!(got, json!({"status": "DROP"}));
}

#[tokio::test]
async fn malformed_events_are_dropped_without_reaching_the_handler() {
    let recorder: Arc<Recorder> = Arc::default();
    let app = app_with(recorder.clone(), None, None).router();
    for body in [Bytes::from_static(b"not json"), cloud_event(json!({"event_id": "nope"})), cloud_event(json!(42))] {
        let (status, got) = call(&app, request(Method::POST, "/events/audit", body, None)).await;
        assert_eq!((status, got), (StatusCode::OK, json!({"status": "DROP"})));
    }
    assert!(recorder.events.lock().unwrap().is_empty());
    // data sent as a JSON string (a publish without the JSON content type) is still read
    let as_string = cloud_event(Value::String(serde_json::to_string(&event()).unwrap()));
    let (_, got) = call(&app, request(Method::POST, "/events/audit", as_string, None)).await;
    assert_eq!(got, json!({"status": "SUCCESS"}));
}

#[tokio::test]
async fn a_job_callback_fires_the_handler_and_a_failure_is_not_2xx() {
    let jobs = Arc::new(Jobs::default());
    let app = app_with(Arc::default(), Some(jobs.clone()), None).router();
    let job = ReminderJob {
        task_id: TaskId(3),
        user_id: UserId::parse("u1").unwrap(),
        due_date: datetime!(2026-01-01 10:00 UTC),
        fire_at: datetime!(2026-01-01 09:00 UTC),
    };
    let body = Bytes::from(serde_json::to_vec(&JobData::from(&job)).unwrap());
    let (status, _) = call(&app, request(Method::POST, "/job/reminder-3", body.clone(), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jobs.fired.lock().unwrap()[0], job);

    let failing = Arc::new(Jobs { fail: true, ..Jobs::default() });
    let app = app_with(Arc::default(), Some(failing), None).router();
    let (status, body) = call(&app, request(Method::POST, "/job/reminder-3", body, None)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "job_failed");
}

#[tokio::test]
async fn only_what_was_registered_is_a_route() {
    let app = app_with(Arc::default(), None, None).router();
    assert_eq!(call(&app, request(Method::GET, "/tasks", Bytes::new(), None)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        call(&app, request(Method::POST, "/job/x", Bytes::new(), None)).await.0,
        StatusCode::NOT_FOUND,
        "no job handler"
    );
    assert_eq!(
        call(&app, request(Method::GET, "/events/audit", Bytes::new(), None)).await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        call(&app, request(Method::POST, "/dapr/cron/reminder-cron", Bytes::new(), None)).await.0,
        StatusCode::NOT_FOUND
    );
    let app = app_with(Arc::default(), None, None).with_cron("reminder-cron", Arc::new(Sweep)).router();
    assert_eq!(
        call(&app, request(Method::POST, "/dapr/cron/other-cron", Bytes::new(), None)).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_panicking_handler_is_a_retry_and_the_route_goes_on() {
    let panicking = Arc::new(Recorder { panics: true, ..Recorder::default() });
    let app = DaprApp::new("kafka-pubsub")
        .with_subscriptions(vec![Subscription { topic: Topic::TaskEvents, name: "boom", handler: panicking }])
        .router();
    let body = cloud_event(serde_json::to_value(event()).unwrap());
    assert_eq!(
        call(&app, request(Method::POST, "/events/boom", body.clone(), None)).await,
        (StatusCode::OK, json!({"status": "RETRY"}))
    );
    assert_eq!(
        call(&app, request(Method::POST, "/events/boom", body, None)).await,
        (StatusCode::OK, json!({"status": "RETRY"}))
    );
}

#[tokio::test]
async fn an_event_out_of_the_calendar_is_dropped_before_any_handler() {
    let recorder: Arc<Recorder> = Arc::default();
    let app = app_with(recorder.clone(), None, None).router();
    let mut data = serde_json::to_value(event()).unwrap();
    data["data"]["due_date"] = json!("0000-01-01T00:00:00+00:01");
    let (_, got) = call(&app, request(Method::POST, "/events/audit", cloud_event(data), None)).await;
    assert_eq!(got, json!({"status": "DROP"}));
    assert!(recorder.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn with_an_app_token_every_dapr_route_wants_it() {
    let app = app_with(Arc::default(), Some(Arc::new(Jobs::default())), Some("s3cret"))
        .with_cron("reminder-cron", Arc::new(Sweep))
        .router();
    for (method, path) in [
        (Method::GET, "/dapr/subscribe"),
        (Method::POST, "/events/audit"),
        (Method::POST, "/job/reminder-1"),
        (Method::POST, "/dapr/cron/reminder-cron"),
    ] {
        for token in [None, Some("wrong")] {
            let (status, body) = call(&app, request(method.clone(), path, Bytes::new(), token)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {token:?}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    let (status, _) = call(&app, request(Method::GET, "/dapr/subscribe", Bytes::new(), Some("s3cret"))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_cron_tick_runs_the_sweep() {
    let app = app_with(Arc::default(), None, None).with_cron("reminder-cron", Arc::new(Sweep)).router();
    let (status, body) = call(&app, request(Method::POST, "/dapr/cron/reminder-cron", Bytes::new(), None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"status": "SUCCESS", "processed": 3, "reminders": 2, "instances": 1}));
    let (status, _) = call(&app, request(Method::OPTIONS, "/dapr/cron/reminder-cron", Bytes::new(), None)).await;
    assert_eq!(status, StatusCode::OK);
}
