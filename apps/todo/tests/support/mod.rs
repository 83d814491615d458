//! The app as a client meets it: `todo_runtime` started on a port of 127.0.0.1 with the
//! settings a test gives, called over HTTP/1.1 keep-alive connections.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use todo_ports::Clock;
use tokio::sync::oneshot;

pub struct App {
    pub addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), todo_runtime::Error>>>,
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl App {
    pub async fn start(vars: &[(&str, &str)]) -> Self {
        Self::start_with(vars, None).await
    }

    /// The app with `vars` as its environment (the sweep off), on `clock` when given.
    pub async fn start_with(vars: &[(&str, &str)], clock: Option<Arc<dyn Clock>>) -> Self {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut config =
            todo_runtime::Config::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())).unwrap();
        config.sweep_interval = None;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let mut runtime = todo_runtime::Runtime::new(config);
        if let Some(clock) = clock {
            runtime = runtime.with_clock(clock);
        }
        let done = tokio::spawn(runtime.run(listener, async move {
            let _ = stopped.await;
        }));
        let client = Client::builder(TokioExecutor::new()).build_http();
        let app = Self { addr, client, stop: Some(stop), done: Some(done) };
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        app
    }

    /// Sends a request; a body goes as `application/json`. An error answer must be JSON.
    pub async fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>, headers: &[(&str, &str)]) -> Answer {
        let mut req = Request::builder().method(method).uri(format!("http://{}{path}", self.addr));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default()))).unwrap();
        let response = self.client.request(req).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let is_json = headers.get("content-type").is_some_and(|v| v == "application/json");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            assert!(is_json, "a body that is not JSON: {bytes:?}");
            serde_json::from_slice(&bytes).unwrap()
        };
        Answer { status, headers, body }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> (StatusCode, Value) {
        let answer = self.send(method, path, body, &[]).await;
        (answer.status, answer.body)
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let answer = self.send(method, path, body, headers).await;
        (answer.status, answer.body)
    }

    pub async fn json(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(method, path, Some(body.to_string().into_bytes())).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.unwrap().unwrap();
        }
    }
}

/// Waits until `check` holds (every 10 ms, at most 5 s).
pub async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// An error answer as the API documents it: this status, this code, a message.
pub fn assert_error(status: StatusCode, body: &Value, expected: StatusCode, code: &str) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
}
