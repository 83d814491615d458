//! The app side of Dapr: the routes the sidecar calls on the app.
//!
//! | route | what |
//! |---|---|
//! | `GET /dapr/subscribe` | the app's subscriptions, each with `deadLetterTopic` `{topic}-dlq` |
//! | `POST /events/{name}` | a delivered CloudEvent for subscription `name` |
//! | `POST /job/{name}` | a fired Scheduler job ([`crate::JobData`]) |
//! | `POST /dapr/cron/{binding}` (and `OPTIONS`) | a tick of a cron input binding |
//!
//! [`DaprApp::handle`] answers these and returns `None` for any other path, so that an HTTP
//! server can try it first and fall back to its own routes.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};
use todo_ports::model::Event;
use todo_ports::{HandlerError, JobHandler, ReminderJob, Subscription, SweepService};

use crate::client::{DAPR_API_TOKEN_HEADER, TRACEPARENT, with_traceparent};
use crate::scheduler::JobData;

/// Route prefix of event deliveries.
pub const EVENTS_PREFIX: &str = "/events/";
/// Route prefix of job callbacks.
pub const JOB_PREFIX: &str = "/job/";
/// Route prefix of cron bindings.
pub const CRON_PREFIX: &str = "/dapr/cron/";

/// The routes Dapr calls on an app, built from what the app registers.
pub struct DaprApp {
    pubsub_name: String,
    topic_prefix: String,
    subscriptions: Vec<Subscription>,
    dead_letter_subscriptions: Vec<Subscription>,
    jobs: Option<Arc<dyn JobHandler>>,
    crons: BTreeMap<String, Arc<dyn SweepService>>,
    app_api_token: Option<String>,
}

impl std::fmt::Debug for DaprApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaprApp")
            .field("pubsub_name", &self.pubsub_name)
            .field("subscriptions", &self.subscriptions)
            .field("dead_letter_subscriptions", &self.dead_letter_subscriptions)
            .field("jobs", &self.jobs.is_some())
            .field("crons", &self.crons.keys().collect::<Vec<_>>())
            .field("app_api_token", &self.app_api_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// One entry of the `/dapr/subscribe` listing: one per topic.
struct Route {
    topic: String,
    path: String,
    dead_letter_topic: Option<String>,
}

impl DaprApp {
    /// The routes of an app consuming `subscriptions` from pub/sub component `pubsub_name`,
    /// running fired jobs with `jobs` (when `None`, `/job/*` is not handled), and, when
    /// `app_api_token` is set, refusing calls without a matching `dapr-api-token` header.
    pub fn new(
        subscriptions: Vec<Subscription>,
        jobs: Option<Arc<dyn JobHandler>>,
        app_api_token: Option<String>,
        pubsub_name: impl Into<String>,
    ) -> Self {
        Self {
            pubsub_name: pubsub_name.into(),
            topic_prefix: String::new(),
            subscriptions,
            dead_letter_subscriptions: Vec::new(),
            jobs,
            crons: BTreeMap::new(),
            app_api_token: app_api_token.filter(|t| !t.is_empty()),
        }
    }

    /// Puts `prefix` before every topic name (must match [`crate::DaprConfig::topic_prefix`]).
    pub fn with_topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    /// Also consumes the dead-letter topic `{topic}-dlq` of each of `subscriptions` (their
    /// `topic` names the live topic), at `/events/{name}`.
    pub fn with_dead_letter_subscriptions(mut self, subscriptions: Vec<Subscription>) -> Self {
        self.dead_letter_subscriptions = subscriptions;
        self
    }

    /// Serves the cron input binding `binding` (component route `/dapr/cron/{binding}`) by
    /// running `sweep` on each tick.
    pub fn with_cron(mut self, binding: impl Into<String>, sweep: Arc<dyn SweepService>) -> Self {
        self.crons.insert(binding.into(), sweep);
        self
    }

    fn topic_name(&self, topic: todo_ports::model::Topic) -> String {
        format!("{}{}", self.topic_prefix, topic.name())
    }

    /// The subscriptions as Dapr reads them. Dapr allows one subscription per topic and app,
    /// so subscriptions sharing a topic share one route, `/events/{a}+{b}`, whose delivery
    /// goes to each of them.
    fn routes(&self) -> Vec<Route> {
        let mut by_topic: BTreeMap<(bool, String), Vec<&'static str>> = BTreeMap::new();
        for s in &self.subscriptions {
            by_topic.entry((false, self.topic_name(s.topic))).or_default().push(s.name);
        }
        for s in &self.dead_letter_subscriptions {
            by_topic.entry((true, format!("{}-dlq", self.topic_name(s.topic)))).or_default().push(s.name);
        }
        by_topic
            .into_iter()
            .map(|((dead_letters, topic), names)| Route {
                dead_letter_topic: (!dead_letters).then(|| format!("{topic}-dlq")),
                path: format!("{EVENTS_PREFIX}{}", names.join("+")),
                topic,
            })
            .collect()
    }

    /// The `GET /dapr/subscribe` body.
    pub fn subscriptions_json(&self) -> Value {
        Value::Array(
            self.routes()
                .into_iter()
                .map(|r| {
                    let mut entry = json!({ "pubsubname": self.pubsub_name, "topic": r.topic, "route": r.path });
                    if let Some(dlq) = r.dead_letter_topic {
                        entry["deadLetterTopic"] = Value::String(dlq);
                    }
                    entry
                })
                .collect(),
        )
    }

    fn owns(&self, method: &Method, path: &str) -> bool {
        (path == "/dapr/subscribe" && method == Method::GET)
            || (path.starts_with(EVENTS_PREFIX) && method == Method::POST)
            || (path.starts_with(JOB_PREFIX) && method == Method::POST && self.jobs.is_some())
            || (path.strip_prefix(CRON_PREFIX).is_some_and(|b| self.crons.contains_key(b))
                && (method == Method::POST || method == Method::OPTIONS))
    }

    fn authorized(&self, req: &Request<Bytes>) -> bool {
        let Some(expected) = &self.app_api_token else { return true };
        req.headers()
            .get(DAPR_API_TOKEN_HEADER)
            .is_some_and(|got| constant_time_eq(got.as_bytes(), expected.as_bytes()))
    }

    /// Answers `req` if its path is one of the Dapr routes, else `None`.
    pub async fn handle(&self, req: Request<Bytes>) -> Option<Response<Full<Bytes>>> {
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        if !self.owns(&method, &path) {
            return None;
        }
        if !self.authorized(&req) {
            tracing::warn!(%method, %path, "dapr callback without a valid dapr-api-token");
            return Some(error(StatusCode::UNAUTHORIZED, "unauthorized", "missing or invalid dapr-api-token header"));
        }
        let traceparent = req.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let response = with_traceparent(traceparent, async {
            if path == "/dapr/subscribe" {
                json_response(StatusCode::OK, &self.subscriptions_json())
            } else if let Some(names) = path.strip_prefix(EVENTS_PREFIX) {
                self.deliver(names, req.body()).await
            } else if let Some(name) = path.strip_prefix(JOB_PREFIX) {
                self.fire(name, req.body()).await
            } else if let Some(binding) = path.strip_prefix(CRON_PREFIX) {
                if method == Method::OPTIONS {
                    json_response(StatusCode::OK, &json!({}))
                } else {
                    self.tick(binding).await
                }
            } else {
                error(StatusCode::NOT_FOUND, "not_found", "no such route")
            }
        })
        .await;
        Some(response)
    }

    async fn deliver(&self, names: &str, body: &Bytes) -> Response<Full<Bytes>> {
        let handlers: Vec<&Subscription> = names
            .split('+')
            .filter_map(|n| self.subscriptions.iter().chain(&self.dead_letter_subscriptions).find(|s| s.name == n))
            .collect();
        if handlers.is_empty() {
            tracing::warn!(route = names, "event for an unknown subscription dropped");
            return status_response("DROP");
        }
        let (event, envelope) = match decode_cloud_event(body) {
            Ok(decoded) => decoded,
            Err(why) => {
                tracing::warn!(subscription = names, reason = %why, "malformed event dropped");
                return status_response("DROP");
            }
        };
        let mut outcome = "SUCCESS";
        for sub in handlers {
            let result = sub.handler.handle(&event).await;
            let this = match &result {
                Ok(()) => "SUCCESS",
                Err(HandlerError::Transient(_)) => "RETRY",
                Err(HandlerError::Rejected(_)) => "DROP",
            };
            match &result {
                Ok(()) => tracing::info!(
                    subscription = sub.name, topic = %envelope.topic, event_id = %event.id(),
                    event_type = event.event_type(), status = this, "event delivered"
                ),
                Err(e) => tracing::warn!(
                    subscription = sub.name, topic = %envelope.topic, event_id = %event.id(),
                    event_type = event.event_type(), status = this, error = %e, "event delivered"
                ),
            }
            outcome = match (outcome, this) {
                ("RETRY", _) | (_, "RETRY") => "RETRY",
                ("DROP", _) | (_, "DROP") => "DROP",
                _ => "SUCCESS",
            };
        }
        status_response(outcome)
    }

    async fn fire(&self, name: &str, body: &Bytes) -> Response<Full<Bytes>> {
        let Some(jobs) = &self.jobs else {
            return error(StatusCode::NOT_FOUND, "not_found", "no job handler");
        };
        let job: ReminderJob = match JobData::from_callback(body) {
            Ok(data) => data.into(),
            Err(e) => {
                // Retrying cannot make the data readable: acknowledge and log.
                tracing::warn!(job = name, error = %e, "undecodable job dropped");
                return json_response(StatusCode::OK, &json!({"status": "DROP"}));
            }
        };
        match jobs.fire(&job).await {
            Ok(()) => {
                tracing::info!(job = name, task_id = %job.task_id, "job fired");
                json_response(StatusCode::OK, &json!({"status": "SUCCESS"}))
            }
            Err(e) => {
                tracing::warn!(job = name, task_id = %job.task_id, error = %e, "job failed; the scheduler will retry");
                error(StatusCode::INTERNAL_SERVER_ERROR, "job_failed", &e.to_string())
            }
        }
    }

    async fn tick(&self, binding: &str) -> Response<Full<Bytes>> {
        let Some(sweep) = self.crons.get(binding) else {
            return error(StatusCode::NOT_FOUND, "not_found", "no such binding");
        };
        match sweep.sweep().await {
            Ok(report) => {
                tracing::info!(binding, reminders = report.reminders, instances = report.instances, "cron tick");
                json_response(
                    StatusCode::OK,
                    &json!({"reminders": report.reminders, "instances": report.instances}),
                )
            }
            Err(e) => {
                tracing::warn!(binding, error = %e, "cron tick failed");
                error(StatusCode::INTERNAL_SERVER_ERROR, "sweep_failed", &e.to_string())
            }
        }
    }
}

/// What the CloudEvent said besides its data.
#[derive(Debug, Default)]
pub struct Envelope {
    /// The CloudEvent id.
    pub id: String,
    /// The topic it came from.
    pub topic: String,
    /// The CloudEvent type.
    pub event_type: String,
}

/// Reads a delivered CloudEvent whose `data` is a domain [`Event`]: as a JSON object (what a
/// JSON publish gives), or as a JSON string holding it (what a publish without the JSON
/// content type gives).
///
/// # Errors
/// A description of what is wrong, for the log line.
pub fn decode_cloud_event(body: &[u8]) -> Result<(Event, Envelope), String> {
    let ce: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(mut ce) = ce else { return Err("not a JSON object".into()) };
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let envelope = Envelope { id: text(ce.get("id")), topic: text(ce.get("topic")), event_type: text(ce.get("type")) };
    let data = match ce.remove("data") {
        Some(Value::String(s)) => serde_json::from_str(&s).map_err(|e| format!("data is a string but not JSON: {e}"))?,
        Some(v @ Value::Object(_)) => v,
        Some(other) => return Err(format!("data is {other}, not an event")),
        None if ce.contains_key("data_base64") => return Err("binary data (data_base64)".into()),
        None => return Err("no data".into()),
    };
    let event: Event = serde_json::from_value(data).map_err(|e| format!("data is not an event: {e}"))?;
    Ok((event, envelope))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn status_response(status: &str) -> Response<Full<Bytes>> {
    json_response(StatusCode::OK, &json!({ "status": status }))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    json_response(status, &json!({"error": {"code": code, "message": message}}))
}

/// Serves `app` alone on `listener` (HTTP/1.1, keep-alive) until `shutdown` completes; paths
/// it does not own answer 404. For apps without another HTTP server (workers); apps with a
/// REST API call [`DaprApp::handle`] from their own server instead.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Arc<DaprApp>,
    shutdown: impl std::future::Future<Output = ()> + Send,
) {
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => return,
        };
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let app = app.clone();
                async move {
                    let (parts, body) = req.into_parts();
                    let body = match http_body_util::BodyExt::collect(body).await {
                        Ok(b) => b.to_bytes(),
                        Err(e) => return Ok::<_, std::convert::Infallible>(error(StatusCode::BAD_REQUEST, "bad_request", &e.to_string())),
                    };
                    let req = Request::from_parts(parts, body);
                    Ok(app.handle(req).await.unwrap_or_else(|| error(StatusCode::NOT_FOUND, "not_found", "no such route")))
                }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}
