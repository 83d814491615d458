//! The routes the sidecar calls on the app, called directly.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::macros::datetime;
use todo_adapter_dapr::{DaprApp, JobData};
use todo_ports::model::{Event, Task, TaskEvent, TaskEventType, TaskId, TaskPatch, Topic, UserId};
use todo_ports::{
    BoxError, EventHandler, HandlerError, JobHandler, ReminderJob, ServiceError, Subscription, SweepReport, SweepService,
};

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Event>>,
    answer: Mutex<Option<fn() -> HandlerError>>,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        self.events.lock().unwrap().push(event.clone());
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
    let mut task = Task::create(UserId::parse("u1").unwrap(), TaskPatch { title: Some("t".into()), ..TaskPatch::default() }, t).unwrap();
    task.id = TaskId(1);
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

async fn call(app: &DaprApp, req: Request<Bytes>) -> Option<(StatusCode, Value)> {
    let response = app.handle(req).await?;
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Some((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

fn app_with(recorder: Arc<Recorder>, jobs: Option<Arc<dyn JobHandler>>, token: Option<&str>) -> DaprApp {
    let subs = vec![
        Subscription { topic: Topic::TaskEvents, name: "audit", handler: recorder.clone() },
        Subscription { topic: Topic::Reminders, name: "notifications", handler: recorder },
    ];
    DaprApp::new(subs, jobs, token.map(str::to_owned), "kafka-pubsub")
}

#[tokio::test]
async fn the_subscribe_listing_has_a_route_and_dead_letter_topic_per_subscription() {
    let app = app_with(Arc::default(), None, None);
    let (status, body) = call(&app, request(Method::GET, "/dapr/subscribe", Bytes::new(), None)).await.unwrap();
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
    let app = DaprApp::new(
        vec![
            Subscription { topic: Topic::TaskEvents, name: "audit", handler: r.clone() },
            Subscription { topic: Topic::TaskEvents, name: "recurring", handler: r.clone() },
        ],
        None,
        None,
        "kafka-pubsub",
    )
    .with_topic_prefix("t1-")
    .with_dead_letter_subscriptions(vec![Subscription { topic: Topic::TaskEvents, name: "dlq", handler: r.clone() }]);
    let (_, body) = call(&app, request(Method::GET, "/dapr/subscribe", Bytes::new(), None)).await.unwrap();
    assert_eq!(
        body,
        json!([
            {"pubsubname": "kafka-pubsub", "topic": "t1-task-events", "route": "/events/audit+recurring", "deadLetterTopic": "t1-task-events-dlq"},
            {"pubsubname": "kafka-pubsub", "topic": "t1-task-events-dlq", "route": "/events/dlq"},
        ])
    );
    let (_, body) = call(&app, request(Method::POST, "/events/audit+recurring", cloud_event(serde_json::to_value(event()).unwrap()), None))
        .await
        .unwrap();
    assert_eq!(body, json!({"status": "SUCCESS"}));
    assert_eq!(r.events.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_delivery_answers_success_retry_or_drop_from_the_handler_result() {
    let recorder: Arc<Recorder> = Arc::default();
    let app = app_with(recorder.clone(), None, None);
    let e = event();
    let body = cloud_event(serde_json::to_value(&e).unwrap());
    let (status, got) = call(&app, request(Method::POST, "/events/audit", body.clone(), None)).await.unwrap();
    assert_eq!((status, got), (StatusCode::OK, json!({"status": "SUCCESS"})));
    assert_eq!(recorder.events.lock().unwrap()[0], e);

    *recorder.answer.lock().unwrap() = Some(|| HandlerError::Transient("db".into()));
    let (_, got) = call(&app, request(Method::POST, "/events/audit", body.clone(), None)).await.unwrap();
    assert_eq!(got, json!({"status": "RETRY"}));

    *recorder.answer.lock().unwrap() = Some(|| HandlerError::Rejected("bad".into()));
    let (_, got) = call(&app, request(Method::POST, "/events/audit", body, None)).await.unwrap();
    assert_eq!(got, json!({"status": "DROP"}));
}

#[tokio::test]
async fn malformed_events_are_dropped_without_reaching_the_handler() {
    let recorder: Arc<Recorder> = Arc::default();
    let app = app_with(recorder.clone(), None, None);
    for body in [Bytes::from_static(b"not json"), cloud_event(json!({"event_id": "nope"})), cloud_event(json!(42))] {
        let (status, got) = call(&app, request(Method::POST, "/events/audit", body, None)).await.unwrap();
        assert_eq!((status, got), (StatusCode::OK, json!({"status": "DROP"})));
    }
    assert!(recorder.events.lock().unwrap().is_empty());
    // data sent as a JSON string (a publish without the JSON content type) is still read
    let as_string = cloud_event(Value::String(serde_json::to_string(&event()).unwrap()));
    let (_, got) = call(&app, request(Method::POST, "/events/audit", as_string, None)).await.unwrap();
    assert_eq!(got, json!({"status": "SUCCESS"}));
}

#[tokio::test]
async fn a_job_callback_fires_the_handler_and_a_failure_is_not_2xx() {
    let jobs = Arc::new(Jobs::default());
    let app = app_with(Arc::default(), Some(jobs.clone()), None);
    let job = ReminderJob {
        task_id: TaskId(3),
        user_id: UserId::parse("u1").unwrap(),
        due_date: datetime!(2026-01-01 10:00 UTC),
        fire_at: datetime!(2026-01-01 09:00 UTC),
    };
    let body = Bytes::from(serde_json::to_vec(&JobData::from(&job)).unwrap());
    let (status, _) = call(&app, request(Method::POST, "/job/reminder-3", body.clone(), None)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(jobs.fired.lock().unwrap()[0], job);

    let failing = Arc::new(Jobs { fail: true, ..Jobs::default() });
    let app = app_with(Arc::default(), Some(failing), None);
    let (status, body) = call(&app, request(Method::POST, "/job/reminder-3", body, None)).await.unwrap();
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["error"]["code"], "job_failed");
}

#[tokio::test]
async fn foreign_paths_are_left_to_the_caller() {
    let app = app_with(Arc::default(), None, Some("t"));
    assert!(call(&app, request(Method::GET, "/tasks", Bytes::new(), None)).await.is_none());
    assert!(call(&app, request(Method::POST, "/job/x", Bytes::new(), None)).await.is_none(), "no job handler: not ours");
    assert!(call(&app, request(Method::GET, "/events/audit", Bytes::new(), None)).await.is_none());
    assert!(call(&app, request(Method::POST, "/dapr/cron/reminder-cron", Bytes::new(), None)).await.is_none());
}

#[tokio::test]
async fn with_an_app_token_every_dapr_route_wants_it() {
    let app = app_with(Arc::default(), Some(Arc::new(Jobs::default())), Some("s3cret"))
        .with_cron("reminder-cron", Arc::new(Sweep));
    for (method, path) in [
        (Method::GET, "/dapr/subscribe"),
        (Method::POST, "/events/audit"),
        (Method::POST, "/job/reminder-1"),
        (Method::POST, "/dapr/cron/reminder-cron"),
    ] {
        for token in [None, Some("wrong")] {
            let (status, body) = call(&app, request(method.clone(), path, Bytes::new(), token)).await.unwrap();
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {token:?}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    let (status, _) = call(&app, request(Method::GET, "/dapr/subscribe", Bytes::new(), Some("s3cret"))).await.unwrap();
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_cron_tick_runs_the_sweep() {
    let app = app_with(Arc::default(), None, None).with_cron("reminder-cron", Arc::new(Sweep));
    let (status, body) = call(&app, request(Method::POST, "/dapr/cron/reminder-cron", Bytes::new(), None)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"reminders": 2, "instances": 1}));
    let (status, _) = call(&app, request(Method::OPTIONS, "/dapr/cron/reminder-cron", Bytes::new(), None)).await.unwrap();
    assert_eq!(status, StatusCode::OK);
}
