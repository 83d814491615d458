//! The bus, state and scheduler suites against the Dapr adapter over real `daprd` sidecars
//! and the local stack (Kafka, Redis, the Dapr Scheduler), plus what only Dapr has: the cron
//! binding, service invocation between two apps, and how the replicas of one app share (or each
//! get) a topic's events.
//!
//! The apps here serve the Dapr routes exactly as production does: [`DaprApp::router`] on the one
//! HTTP server (`todo_http_server::serve`).
//!
//! Skipped (loudly) when the stack is not up; `TODO_REQUIRE_STACK=1` turns the skip into a
//! failure. See `contract-tests/src/dapr_harness.rs` for how sidecars are isolated.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use todo_adapter_dapr::{
    DaprApp, DaprConfig, DaprEventBus, DaprInvoker, DaprScheduler, DaprStateStore, FailurePolicy, SidecarClient,
};
use todo_contract_tests::dapr_harness::{ConsumerGroup, DaprRun, Resources, Sidecar, SidecarSpec, dapr_run};
use todo_contract_tests::event_bus::BusHarness;
use todo_contract_tests::scheduler::SchedulerHarness;
use todo_contract_tests::state_store::StateHarness;
use todo_contract_tests::support::{eventually, task_event, unique_user};
use todo_ports::model::{Event, Topic};
use todo_ports::{
    EventBus, EventHandler, HandlerError, JobHandler, Scheduler, ServiceError, StateStore, Subscription, SweepReport,
    SweepService,
};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

/// An app server on 127.0.0.1 serving a [`DaprApp`] as production does, stopped when dropped.
struct AppServer {
    port: u16,
    _stop: oneshot::Sender<()>,
}

impl AppServer {
    async fn start(app: DaprApp) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind app port");
        let port = listener.local_addr().expect("addr").port();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(todo_http_server::serve(
            listener,
            app.router(),
            todo_http_server::ServerConfig::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        Self { port, _stop: stop }
    }
}

fn token(t: &str) -> Option<secrecy::SecretString> {
    Some(secrecy::SecretString::from(t.to_owned()))
}

fn client(run: &DaprRun, http_port: u16, token: Option<&str>) -> SidecarClient {
    client_with_prefix(&run.topic_prefix(), http_port, token)
}

fn client_with_prefix(topic_prefix: &str, http_port: u16, token: Option<&str>) -> SidecarClient {
    let mut vars = HashMap::new();
    vars.insert("DAPR_HTTP_PORT", http_port.to_string());
    if let Some(t) = token {
        vars.insert("DAPR_API_TOKEN", t.to_owned());
    }
    let config = DaprConfig::from_lookup(|k| vars.get(k).cloned())
        .expect("config")
        .with_topic_prefix(topic_prefix)
        .with_timeout(Duration::from_secs(20));
    SidecarClient::new(config)
}

// ------------------------------------------------------------------------------------- bus

/// Collects every event of a dead-letter topic.
#[derive(Default)]
struct DeadLetters(Mutex<Vec<Event>>);

#[async_trait]
impl EventHandler for DeadLetters {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        self.0.lock().expect("lock").push(event.clone());
        Ok(())
    }
}

struct DaprBus {
    run: &'static DaprRun,
    app_id: String,
    spec: SidecarSpec,
    bus: Arc<DaprEventBus>,
    subscriptions: Vec<Subscription>,
    dead_letters: HashMap<Topic, Arc<DeadLetters>>,
    running: Option<(AppServer, Sidecar)>,
}

async fn dapr_bus(case: &'static str) -> Option<DaprBus> {
    let run = dapr_run("dapr event bus contract")?;
    let app_id = run.app_id(case);
    let spec = SidecarSpec::new(app_id.clone());
    let bus = Arc::new(DaprEventBus::new(client(run, spec.http_port, None)));
    Some(DaprBus { run, app_id, spec, bus, subscriptions: vec![], dead_letters: HashMap::new(), running: None })
}

#[async_trait]
impl BusHarness for DaprBus {
    fn bus(&self) -> Arc<dyn EventBus> {
        self.bus.clone()
    }

    fn subscribe(&mut self, subscription: Subscription) {
        self.subscriptions.push(subscription);
    }

    async fn start(&mut self) {
        let mut dlq_subs = Vec::new();
        for s in &self.subscriptions {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.dead_letters.entry(s.topic) {
                let collector = Arc::new(DeadLetters::default());
                slot.insert(collector.clone());
                let name = match s.topic {
                    Topic::TaskEvents => "dlq-task-events",
                    Topic::TaskUpdates => "dlq-task-updates",
                    Topic::Reminders => "dlq-reminders",
                };
                dlq_subs.push(Subscription { topic: s.topic, name, handler: collector });
            }
        }
        // With an app token, so that every delivery proves daprd presents it.
        let app_token = format!("app-{}", uuid::Uuid::new_v4().simple());
        let app = DaprApp::new("kafka-pubsub")
            .with_subscriptions(self.subscriptions.clone())
            .with_app_token(token(&app_token))
            .with_topic_prefix(self.run.topic_prefix())
            .with_dead_letter_subscriptions(dlq_subs);
        let server = AppServer::start(app).await;
        let mut spec = self.spec.clone();
        spec.app_port = Some(server.port);
        spec.app_api_token = Some(app_token);
        let sidecar = Sidecar::start(self.run, spec).await;
        self.running = Some((server, sidecar));
    }

    async fn dead_letters(&self, topic: Topic) -> Vec<Event> {
        self.dead_letters.get(&topic).map(|d| d.0.lock().expect("lock").clone()).unwrap_or_default()
    }

    fn patience(&self) -> Duration {
        Duration::from_secs(40)
    }

    fn quiet_period(&self) -> Duration {
        Duration::from_secs(4)
    }
}

impl Drop for DaprBus {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some((_, sidecar)) = &self.running
        {
            eprintln!("---- daprd {} log tail ({}):\n{}", self.app_id, sidecar.log.display(), sidecar.log_tail(30));
        }
    }
}

mod bus {
    todo_contract_tests::event_bus_contract_tests!(super::dapr_bus);
}

// ----------------------------------------------------------------------------------- state

struct DaprState {
    store: Arc<DaprStateStore>,
    _sidecar: Sidecar,
}

impl StateHarness for DaprState {
    fn store(&self) -> Arc<dyn StateStore> {
        self.store.clone()
    }
}

async fn dapr_state(case: &'static str) -> Option<DaprState> {
    let run = dapr_run("dapr state store contract")?;
    let token = format!("tok-{}", uuid::Uuid::new_v4().simple());
    let mut spec = SidecarSpec::new(run.app_id(case));
    spec.api_token = Some(token.clone());
    let sidecar = Sidecar::start(run, spec.clone()).await;
    let store = Arc::new(DaprStateStore::new(client(run, spec.http_port, Some(&token))));
    Some(DaprState { store, _sidecar: sidecar })
}

mod state {
    todo_contract_tests::state_store_contract_tests!(super::dapr_state);
}

// ------------------------------------------------------------------------------- scheduler

struct DaprJobs {
    run: &'static DaprRun,
    spec: SidecarSpec,
    scheduler: Arc<DaprScheduler>,
    running: Option<(AppServer, Sidecar)>,
}

async fn dapr_scheduler(case: &'static str) -> Option<DaprJobs> {
    let run = dapr_run("dapr scheduler contract")?;
    let spec = SidecarSpec::new(run.app_id(case));
    let scheduler = Arc::new(
        DaprScheduler::new(client(run, spec.http_port, None))
            .with_failure_policy(FailurePolicy { interval: Duration::from_secs(1), max_retries: 3 }),
    );
    Some(DaprJobs { run, spec, scheduler, running: None })
}

#[async_trait]
impl SchedulerHarness for DaprJobs {
    fn scheduler(&self) -> Arc<dyn Scheduler> {
        self.scheduler.clone()
    }

    async fn start(&mut self, handler: Arc<dyn JobHandler>) {
        let app_token = format!("app-{}", uuid::Uuid::new_v4().simple());
        let server =
            AppServer::start(DaprApp::new("kafka-pubsub").with_jobs(handler).with_app_token(token(&app_token))).await;
        let mut spec = self.spec.clone();
        spec.app_port = Some(server.port);
        spec.app_api_token = Some(app_token);
        let sidecar = Sidecar::start(self.run, spec).await;
        self.running = Some((server, sidecar));
    }

    fn lateness(&self) -> Duration {
        Duration::from_secs(3)
    }
}

mod scheduler {
    todo_contract_tests::scheduler_contract_tests!(super::dapr_scheduler);
}

// ---------------------------------------------------------------------------- Dapr only

#[derive(Default)]
struct CountingSweep(Mutex<u32>);

#[async_trait]
impl SweepService for CountingSweep {
    async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        *self.0.lock().expect("lock") += 1;
        Ok(SweepReport::default())
    }
}

/// The cron binding (here every second) posts its route, with the app token, and the app's
/// sweep runs on each tick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cron_binding_fires_its_route() {
    let Some(run) = dapr_run("dapr cron binding") else { return };
    let sweep = Arc::new(CountingSweep::default());
    let app_token = format!("app-{}", uuid::Uuid::new_v4().simple());
    let app = DaprApp::new("kafka-pubsub").with_app_token(token(&app_token)).with_cron("reminder-cron", sweep.clone());
    let server = AppServer::start(app).await;
    let mut spec = SidecarSpec::new(run.app_id("cron"));
    spec.app_port = Some(server.port);
    spec.resources = Resources::WithCron;
    spec.app_api_token = Some(app_token);
    let sidecar = Sidecar::start(run, spec).await;
    let ticks =
        eventually(Duration::from_secs(10), || async { (*sweep.0.lock().expect("lock") >= 2).then_some(()) }).await;
    assert!(ticks.is_some(), "cron ticks: {}; daprd log:\n{}", *sweep.0.lock().expect("lock"), sidecar.log_tail(30));
}

/// What the invoked app saw.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    uri: String,
    headers: HeaderMap,
    body: Bytes,
}

/// An invocation reaches a second app through both sidecars with the caller's Authorization,
/// X-Request-ID, Content-Type and trace, and its answer comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_reaches_a_second_app_with_the_headers() {
    let Some(run) = dapr_run("dapr service invocation") else { return };
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let target_port = listener.local_addr().expect("addr").port();
    let seen2 = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let seen = seen2.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        seen.lock().expect("lock").push(Seen {
                            method: parts.method,
                            uri: parts.uri.to_string(),
                            headers: parts.headers,
                            body,
                        });
                        let mut r = Response::new(Full::new(Bytes::from_static(b"{\"id\":7}")));
                        *r.status_mut() = StatusCode::CREATED;
                        r.headers_mut().insert("content-type", "application/json".parse().expect("value"));
                        r.headers_mut().insert("x-target", "yes".parse().expect("value"));
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    let target_id = run.app_id("invoke-target");
    let mut target = SidecarSpec::new(target_id.clone());
    target.app_port = Some(target_port);
    let _target = Sidecar::start(run, target).await;
    let caller_token = format!("tok-{}", uuid::Uuid::new_v4().simple());
    let mut caller = SidecarSpec::new(run.app_id("invoke-caller"));
    caller.api_token = Some(caller_token.clone());
    let caller_sidecar = Sidecar::start(run, caller.clone()).await;
    let invoker = DaprInvoker::new(client(run, caller.http_port, Some(&caller_token)));

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut headers = HeaderMap::new();
    headers.insert("authorization", "Bearer user-jwt".parse().expect("value"));
    headers.insert("x-request-id", "req-42".parse().expect("value"));
    headers.insert("content-type", "application/json".parse().expect("value"));
    headers.insert("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01").parse().expect("value"));
    headers.insert("cookie", "not-forwarded".parse().expect("value"));
    // Name resolution (SQLite) may need a moment to list a new sidecar.
    let answer = eventually(Duration::from_secs(15), || async {
        let a = invoker
            .invoke(&target_id, Method::POST, "/tasks?check=1", &headers, Bytes::from_static(b"{\"title\":\"x\"}"))
            .await
            .ok()?;
        (a.status != StatusCode::INTERNAL_SERVER_ERROR).then_some(a)
    })
    .await
    .unwrap_or_else(|| panic!("the invocation never reached the target; caller log:\n{}", caller_sidecar.log_tail(30)));
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(answer.body, Bytes::from_static(b"{\"id\":7}"));
    assert_eq!(answer.headers.get("x-target").map(|v| v.as_bytes()), Some(&b"yes"[..]));

    let seen = seen.lock().expect("lock").last().cloned().expect("the target saw the call");
    assert_eq!(seen.method, Method::POST);
    assert_eq!(seen.uri, "/tasks?check=1");
    assert_eq!(seen.body, Bytes::from_static(b"{\"title\":\"x\"}"));
    let h = |name: &str| seen.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(h("authorization"), "Bearer user-jwt");
    assert_eq!(h("x-request-id"), "req-42");
    assert_eq!(h("content-type"), "application/json");
    assert!(h("traceparent").contains(trace_id), "the trace continues: {}", h("traceparent"));
    assert_eq!(h("cookie"), "", "only the chosen headers are forwarded");
    assert_eq!(h("dapr-api-token"), "", "the caller's sidecar token does not travel");
    assert!(h("dapr-caller-app-id").starts_with(&run.run_id), "caller id: {}", h("dapr-caller-app-id"));
}

/// The sidecar refuses calls without its API token, and the client maps that to a rejection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_api_token_is_rejected() {
    let Some(run) = dapr_run("dapr api token") else { return };
    let mut spec = SidecarSpec::new(run.app_id("token"));
    spec.api_token = Some("right".into());
    let _sidecar = Sidecar::start(run, spec.clone()).await;
    let wrong = client(run, spec.http_port, Some("wrong"));
    wrong.wait_until_ready(Duration::from_secs(5)).await.expect("healthz needs no token");
    let store = DaprStateStore::new(wrong);
    let key = todo_contract_tests::support::conversation("token").key();
    let err = store.get(&key).await.expect_err("a wrong token must fail");
    assert!(matches!(err, todo_ports::StateError::Internal(_)), "401 is a rejection: {err:?}");
}

// ------------------------------------------------------------------ replicas of one app

/// Every event one replica's app was handed, in order.
#[derive(Default)]
struct Deliveries(Mutex<Vec<Uuid>>);

impl Deliveries {
    fn count(&self, id: Uuid) -> usize {
        self.0.lock().expect("lock").iter().filter(|&&e| e == id).count()
    }

    fn got_any_of(&self, ids: &[Uuid]) -> bool {
        ids.iter().any(|&id| self.count(id) > 0)
    }

    fn got_all_of(&self, ids: &[Uuid]) -> bool {
        ids.iter().all(|&id| self.count(id) > 0)
    }
}

#[async_trait]
impl EventHandler for Deliveries {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        self.0.lock().expect("lock").push(event.id());
        Ok(())
    }
}

/// Two replicas of one app (one app id), each its app server and its sidecar, subscribed to
/// `task-updates` on a topic of the test's own, with the given consumer groups.
struct Replicas {
    bus: DaprEventBus,
    deliveries: Vec<Arc<Deliveries>>,
    running: Vec<(AppServer, Sidecar)>,
}

impl Replicas {
    async fn start(run: &'static DaprRun, case: &str, groups: [ConsumerGroup; 2]) -> Self {
        let prefix = format!("{}{case}-", run.topic_prefix());
        run.create_topic(&format!("{prefix}{}", Topic::TaskUpdates.name()));
        let app_id = run.app_id(case);
        let (mut deliveries, mut running) = (Vec::new(), Vec::new());
        for group in groups {
            let log = Arc::new(Deliveries::default());
            let app_token = format!("app-{}", uuid::Uuid::new_v4().simple());
            let app = DaprApp::new("kafka-pubsub")
                .with_subscriptions(vec![Subscription {
                    topic: Topic::TaskUpdates,
                    name: "sync",
                    handler: log.clone(),
                }])
                .with_app_token(token(&app_token))
                .with_topic_prefix(prefix.clone());
            let server = AppServer::start(app).await;
            let spec = SidecarSpec {
                app_port: Some(server.port),
                app_api_token: Some(app_token),
                consumer_group: group,
                ..SidecarSpec::new(app_id.clone())
            };
            let sidecar = Sidecar::start(run, spec).await;
            deliveries.push(log);
            running.push((server, sidecar));
        }
        let bus = DaprEventBus::new(client_with_prefix(&prefix, running[0].1.http_port, None));
        Self { bus, deliveries, running }
    }

    /// Publishes probe events until every replica has been handed one: from then on each
    /// replica's consumer holds partitions (a fan-out group starts at the newest offset, so it
    /// misses what was published before), and a shared group has shared them out.
    async fn wait_until_each_consumes(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut probes = Vec::new();
        while !self.deliveries.iter().all(|d| d.got_any_of(&probes)) {
            assert!(tokio::time::Instant::now() < deadline, "a replica never got a probe:\n{}", self.log_tails());
            for _ in 0..6 {
                let probe = task_event(&unique_user("probe"), "probe");
                self.bus.publish(Topic::TaskUpdates, &probe).await.expect("publish a probe");
                probes.push(probe.id());
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Publishes `n` events, each of another user (so they spread over the partitions).
    async fn publish(&self, n: usize) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for i in 0..n {
            let event = task_event(&unique_user("replicas"), &format!("update {i}"));
            self.bus.publish(Topic::TaskUpdates, &event).await.expect("publish");
            ids.push(event.id());
        }
        ids
    }

    /// Publishes [`EVENTS`] events once every replica consumes, and checks that each replica
    /// gets all of them.
    async fn each_gets_every_event(&self) {
        self.wait_until_each_consumes().await;
        let ids = self.publish(EVENTS).await;
        let all = eventually(Duration::from_secs(40), || async {
            self.deliveries.iter().all(|d| d.got_all_of(&ids)).then_some(())
        })
        .await;
        assert!(all.is_some(), "of {EVENTS} events the replicas got {:?}:\n{}", self.shares(&ids), self.log_tails());
    }

    /// How many of `ids` each replica got.
    fn shares(&self, ids: &[Uuid]) -> Vec<usize> {
        self.deliveries.iter().map(|d| ids.iter().filter(|&&id| d.count(id) > 0).count()).collect()
    }

    fn log_tails(&self) -> String {
        self.running
            .iter()
            .map(|(_, s)| format!("---- daprd {} ({}):\n{}", s.app_id, s.log.display(), s.log_tail(20)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

const EVENTS: usize = 30;

/// The WebSocket sync service's case: with a consumer group per sidecar (`{appID}.{uuid}`, as in
/// `infra/dapr/local/kafka-pubsub-fanout.yaml`), two replicas of one app id each get all events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_of_a_fan_out_app_gets_every_event() {
    let Some(run) = dapr_run("dapr fan-out replicas") else { return };
    let replicas = Replicas::start(run, "fan-out", [ConsumerGroup::PerReplica, ConsumerGroup::PerReplica]).await;
    replicas.each_gets_every_event().await;
}

/// The same with `{appID}.{podName}` and a `POD_NAME` per sidecar, as the Kubernetes injector
/// sets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_replica_named_by_its_pod_gets_every_event() {
    let Some(run) = dapr_run("dapr fan-out replicas by pod name") else { return };
    let pods = [ConsumerGroup::PerPod("sync-0".into()), ConsumerGroup::PerPod("sync-1".into())];
    Replicas::start(run, "fan-out-pods", pods).await.each_gets_every_event().await;
}

/// Every other service: two replicas of one app id share its group, so each event is handled
/// once in all, and both replicas handle some.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_of_an_ordinary_app_share_the_events() {
    let Some(run) = dapr_run("dapr shared replicas") else { return };
    let replicas = Replicas::start(run, "shared", [ConsumerGroup::PerApp, ConsumerGroup::PerApp]).await;
    replicas.wait_until_each_consumes().await;
    let ids = replicas.publish(EVENTS).await;
    let total = |id: Uuid| replicas.deliveries.iter().map(|d| d.count(id)).sum::<usize>();
    let all = eventually(Duration::from_secs(40), || async { ids.iter().all(|&id| total(id) > 0).then_some(()) }).await;
    assert!(all.is_some(), "not every event was handled:\n{}", replicas.log_tails());
    // Give a second delivery (to either replica) the time to show up.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let twice: Vec<Uuid> = ids.iter().copied().filter(|&id| total(id) != 1).collect();
    assert!(twice.is_empty(), "{} of {EVENTS} events were handled more than once", twice.len());
    let shares = replicas.shares(&ids);
    assert!(shares.iter().all(|&n| n > 0), "one replica handled everything: {shares:?}");
}
