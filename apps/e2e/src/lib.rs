//! The split as its users meet it: every service its own process with its own `daprd`, started
//! by `infra/local/services` (the command the README gives) on the local stack, called over
//! HTTP and WebSocket with bearer tokens.
//!
//! A [`Split`] runs beside any other (its own state dir, ports shifted by an offset, topics
//! and databases named with a prefix) and stops everything it started when dropped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)] // test support: a failed expectation is the test's failure

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

pub use todo_contract_tests::support::wait_until;

pub mod browser;

/// The services, as `infra/local/services` names them.
pub const SERVICES: [&str; 6] = ["backend", "recurring-tasks", "notifications", "audit", "sync", "frontend"];

/// A running split.
pub struct Split {
    run: PathBuf,
    offset: u16,
    prefix: String,
    script: PathBuf,
    env: Vec<(String, String)>,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// What came back from a call.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body, parsed as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

impl Split {
    /// Starts every service (replica 0) of a split named `name`, its ports shifted by `offset`,
    /// or `None` (after a loud message) when the stack is not up and `TODO_REQUIRE_STACK` is
    /// unset.
    pub fn up(name: &str, offset: u16) -> Option<Self> {
        Self::up_with(name, offset, &[])
    }

    /// [`Split::up`] with more settings of `infra/local/services` (`TODO_SERVICES_RESILIENCY`, or
    /// `TODO_SERVICES_OIDC` for a split that trusts an OpenID provider).
    pub fn up_with(name: &str, offset: u16, env: &[(&str, &str)]) -> Option<Self> {
        todo_contract_tests::stack::stack(name)?;
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let split = Self {
            run: std::env::temp_dir().join(format!("todo-e2e-{name}")),
            offset,
            prefix: format!("e2e-{name}-"),
            script: repo.join("infra/local/services"),
            env: env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            // No pooled connections: a split is shared by tests on runtimes of their own, and a
            // connection kept by a runtime that has ended fails the next call ("runtime dropped
            // the dispatch task").
            http: Client::builder(TokioExecutor::new()).pool_max_idle_per_host(0).build_http(),
        };
        split.services(&["down"]);
        split.services(&["up"]);
        Some(split)
    }

    /// Runs `infra/local/services ARGS` for this split and returns what it printed; panics with
    /// its output when it fails.
    pub fn services(&self, args: &[&str]) -> String {
        let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
        let out = Command::new(&self.script)
            .args(args)
            .env("TODO_SERVICES_RUN", &self.run)
            .env("TODO_SERVICES_OFFSET", self.offset.to_string())
            .env("TODO_SERVICES_PREFIX", &self.prefix)
            .env("TODO_SERVICES_PROFILE", profile)
            .env("TODO_SERVICES_LOG", "info,todo=debug")
            .env("TODO_SERVICES_LOG_FORMAT", "json")
            .env("TODO_SERVICES_OWNER", std::process::id().to_string())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("infra/local/services runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "infra/local/services {args:?} failed:\n{text}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A secret of the run (`dapr-api-token`, `app-api-token`, `jwt`).
    pub fn secret(&self, name: &str) -> String {
        std::fs::read_to_string(self.run.join("secrets").join(name)).expect("the run's secret").trim().to_owned()
    }

    /// The topic prefix and database name prefix of this split.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The base URL of replica `replica` of `service` (the frontend's is port 3000, the seeds').
    pub fn url(&self, service: &str, replica: u16) -> String {
        let index = SERVICES.iter().position(|s| *s == service).expect("a service of the split") as u16;
        let base = if service == "frontend" { 3000 } else { 8000 + index };
        format!("http://127.0.0.1:{}", base + self.offset + 100 * replica)
    }

    /// The base URL of the sidecar of replica `replica` of `service`.
    pub fn sidecar_url(&self, service: &str, replica: u16) -> String {
        let index = SERVICES.iter().position(|s| *s == service).expect("a service of the split") as u16;
        format!("http://127.0.0.1:{}", 3500 + self.offset + index + 100 * replica)
    }

    /// A bearer token for `user`, valid for `seconds` (negative: already expired).
    pub fn token(&self, user: &str, seconds: i64) -> String {
        self.services(&["token", user, &seconds.to_string()]).trim().to_owned()
    }

    /// The log lines replica `replica` of `service` has written (JSON, one per line).
    pub fn log(&self, service: &str, replica: u16) -> Vec<Value> {
        let text = std::fs::read_to_string(self.run.join(format!("logs/{service}-{replica}.log"))).unwrap_or_default();
        text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Calls `url` with `token` as bearer (when given) and `body` as JSON (when given).
    pub async fn call(&self, method: Method, url: &str, token: Option<&str>, body: Option<Value>) -> Answer {
        self.call_with(method, url, token, body, &[]).await
    }

    /// [`Split::call`] with more headers.
    pub async fn call_with(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(url);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default()))).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(30), self.http.request(req))
            .await
            .expect("an answer within 30 s")
            .expect("a connection");
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    /// Creates a task for `user` on the backend; panics unless it answers 201. The task.
    pub async fn create(&self, user: &str, token: &str, body: Value) -> Value {
        let url = format!("{}/api/{user}/tasks", self.url("backend", 0));
        let answer = self.call(Method::POST, &url, Some(token), Some(body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body
    }

    /// Opens `GET /ws` on replica `replica` of the sync service with `token` as the
    /// `access_token` query parameter, as a browser would, and waits for its first frame.
    pub async fn socket(&self, replica: u16, token: &str) -> Socket {
        let url = format!("{}/ws?access_token={token}", self.url("sync", replica)).replacen("http", "ws", 1);
        let (mut stream, _) = tokio_tungstenite::connect_async(url).await.expect("the WebSocket opens");
        let first = tokio::time::timeout(Duration::from_secs(10), stream.next()).await.expect("a first frame");
        let first = match first {
            Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap_or(Value::Null),
            other => panic!("first frame: {other:?}"),
        };
        Socket { stream, first }
    }
}

impl Drop for Split {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .arg("down")
            .env("TODO_SERVICES_RUN", &self.run)
            .env("TODO_SERVICES_OFFSET", self.offset.to_string())
            .output();
    }
}

/// A client's WebSocket to the sync service.
pub struct Socket {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    /// The first frame the service sent.
    pub first: Value,
}

impl Socket {
    /// The next event frame within `patience`, or `None`; pings are answered on the way.
    pub async fn next_event(&mut self, patience: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            match frame.ok()? {
                Message::Text(t) => return serde_json::from_str(&t).ok(),
                Message::Ping(p) => {
                    let _ = self.stream.send(Message::Pong(p)).await;
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    /// Every event frame that arrives within `patience`.
    pub async fn events_within(&mut self, patience: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + patience;
        let mut events = Vec::new();
        while let Some(e) = self.next_event(deadline.saturating_duration_since(tokio::time::Instant::now())).await {
            events.push(e);
        }
        events
    }
}

/// A user id of this test run only (runs share topics and databases): `name` and a nonce.
pub fn user(name: &str) -> String {
    unique(name)
}

/// `name` and a nonce of this process and moment: a user id or a task title no earlier run
/// left in the split's shared topics and databases.
pub fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{name}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}
