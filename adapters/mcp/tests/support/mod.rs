//! The MCP server as an app serves it: the task tools on the in-memory adapters, `/mcp` behind
//! the HS256 guard, served by the project's HTTP server on a loopback port.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use secrecy::SecretString;
use todo_adapter_mcp::McpConfig;
use todo_adapter_memory::{InMemoryEventBus, InMemoryScheduler, InMemoryStateStore, InMemoryStore};
use todo_adapter_tools::TaskTools;
use todo_auth::testing::hs256;
use todo_auth::{Guard, JwtConfig, JwtVerifier, guard};
use todo_http_server::ServerConfig;
use todo_ports::model::{Event, Topic, UserId};
use todo_ports::{SystemClock, TaskQuery, TaskService};
use todo_tasks::{Ports, RelayStep, Todo};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The secret tokens are signed with.
pub const SECRET: &str = "a-test-secret-of-more-than-32-bytes!";

/// A token for `user`.
pub fn token(user: &str) -> String {
    hs256(SECRET.as_bytes(), user).sign()
}

/// The use cases on memory, with a recording bus the relay publishes to on demand.
#[derive(Clone)]
pub struct System {
    pub todo: Todo,
    pub bus: Arc<InMemoryEventBus>,
}

impl System {
    pub fn new() -> Self {
        let bus = InMemoryEventBus::recording();
        let todo = Todo::new(Ports::over_store(
            InMemoryStore::new(),
            bus.clone(),
            InMemoryStateStore::new(),
            InMemoryScheduler::new(),
            Arc::new(SystemClock),
        ));
        Self { todo, bus }
    }

    /// The titles of `user`'s tasks, by creation.
    pub async fn titles(&self, user: &str) -> Vec<String> {
        let page = self.todo.tasks.list(&UserId::parse(user).unwrap(), TaskQuery::default()).await.unwrap();
        page.items.into_iter().map(|t| t.title).collect()
    }

    /// Every event published so far, once the relay has published the outbox.
    pub async fn events(&self) -> Vec<(Topic, Event)> {
        while let RelayStep::Published(_) = self.todo.relay.step().await.unwrap() {}
        self.bus.published()
    }
}

/// One server over a system (several may share one: replicas).
pub struct App {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<std::io::Result<()>>>,
}

impl App {
    pub async fn start(system: &System) -> Self {
        let verifier = JwtVerifier::new(&JwtConfig::secret(SecretString::from(SECRET)).unwrap()).unwrap();
        let tools = Arc::new(TaskTools::new(system.todo.tasks.clone()));
        let routes: Router = guard(todo_adapter_mcp::routes(tools, McpConfig::default()), Guard::verifying(verifier));
        Self::serve(routes).await
    }

    /// A server over a fresh system.
    pub async fn fresh() -> (System, Self) {
        let system = System::new();
        let app = Self::start(&system).await;
        (system, app)
    }

    pub async fn serve(routes: Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let served = tokio::spawn(todo_http_server::serve(listener, routes, ServerConfig::default(), async move {
            let _ = stopped.await;
        }));
        Self { addr, stop: Some(stop), served: Some(served) }
    }

    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            served.await.unwrap().unwrap();
        }
    }
}

/// A raw HTTP answer: status, headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: serde_json::Value,
}

/// `method` on `url` with `headers` and `body`, over a plain hyper client.
pub async fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<serde_json::Value>) -> Answer {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let mut request = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = body.map(|b| bytes::Bytes::from(b.to_string())).unwrap_or_default();
    let response = client.request(request.body(Full::new(body)).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    Answer { status: parts.status.as_u16(), headers: parts.headers, body }
}

/// `POST /mcp` of one JSON-RPC message as an MCP client sends it.
pub async fn post(url: &str, token: Option<&str>, message: serde_json::Value) -> Answer {
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json"), ("accept", "application/json, text/event-stream")];
    if let Some(bearer) = &bearer {
        headers.push(("authorization", bearer));
    }
    http("POST", url, &headers, Some(message)).await
}
