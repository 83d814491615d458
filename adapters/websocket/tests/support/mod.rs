//! A real server on 127.0.0.1 (`todo_http_server::serve` with the feed's router, behind a
//! stand-in for the auth guard) and a real WebSocket client.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use time::macros::datetime;
use todo_adapter_websocket::{SocketConfig, routes};
use todo_http_server::{ServerConfig, serve};
use todo_ports::Caller;
use todo_ports::model::{Event, Task, TaskEvent, TaskEventType, TaskPatch, UserId};
use todo_tasks::LiveUpdates;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Long enough for anything on loopback; only a hang reaches it.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The header the stand-in guard reads the caller from (the real guard verifies a token).
pub const TEST_USER: &str = "x-test-user";

pub type Client = WebSocketStream<TcpStream>;

pub struct Server {
    pub addr: SocketAddr,
    pub live: Arc<LiveUpdates>,
    pub stop: watch::Sender<bool>,
    pub done: JoinHandle<std::io::Result<()>>,
}

/// Puts the `Caller` named by [`TEST_USER`] in the request, as the auth guard would.
async fn identity(mut req: Request, next: Next) -> Response {
    let user = req.headers().get(TEST_USER).and_then(|v| v.to_str().ok()).map(|v| UserId::parse(v).unwrap());
    if let Some(user) = user {
        req.extensions_mut().insert(Caller(user));
    }
    next.run(req).await
}

/// Serves the feed of `live` until `stop` turns true; the same signal closes the sockets.
pub async fn start_with(live: Arc<LiveUpdates>, config: SocketConfig) -> Server {
    let (stop, stopping) = watch::channel(false);
    let router = routes(live.clone(), config, stopping.clone()).layer(axum::middleware::from_fn(identity));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut signal = stopping;
    let done = tokio::spawn(serve(listener, router, ServerConfig::default(), async move {
        let _ = signal.wait_for(|stopping| *stopping).await;
    }));
    Server { addr, live, stop, done }
}

pub async fn start(config: SocketConfig) -> Server {
    start_with(Arc::new(LiveUpdates::default()), config).await
}

pub fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

/// A `task.created` event of `owner`'s, its description `padding` characters long.
pub fn event(owner: &str, title: &str, padding: usize) -> Event {
    let now = datetime!(2026-01-10 12:00 UTC);
    let description = (padding > 0).then(|| "x".repeat(padding));
    let patch = TaskPatch { title: Some(title.into()), description: Some(description), ..TaskPatch::default() };
    let task = Task::create(user(owner), patch, now).unwrap();
    TaskEvent::new(TaskEventType::Created, task, now).into()
}

/// A client socket of `name`, past its handshake and the acknowledgement.
pub async fn connect(addr: SocketAddr, name: &str) -> Client {
    connect_over(TcpStream::connect(addr).await.unwrap(), addr, name).await
}

/// The same over a socket with a small receive buffer, so that a client that stops reading
/// is felt by the server soon.
pub async fn connect_small(addr: SocketAddr, name: &str) -> Client {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    connect_over(socket.connect(addr).await.unwrap(), addr, name).await
}

async fn connect_over(stream: TcpStream, addr: SocketAddr, name: &str) -> Client {
    let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
    request.headers_mut().insert(TEST_USER, name.parse().unwrap());
    let (mut ws, response) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    assert_eq!(response.status(), 101);
    let ack = next_json(&mut ws).await;
    assert_eq!(ack, serde_json::json!({"type": "subscribed", "user_id": name}));
    ws
}

/// The next text frame as JSON, skipping pings (answered by the client as it reads).
pub async fn next_json(ws: &mut Client) -> Value {
    loop {
        let message = tokio::time::timeout(PATIENCE, ws.next()).await.expect("no frame came").expect("stream ended");
        match message.unwrap() {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Whether a text frame comes within `wait`.
pub async fn text_within(ws: &mut Client, wait: Duration) -> Option<Value> {
    tokio::time::timeout(wait, next_json(ws)).await.ok()
}

/// Reads on until the server's close frame, then until the end of the connection (which sends
/// the client's reply); the code (and the text frames read before it).
pub async fn close_code(ws: &mut Client) -> (u16, usize) {
    let mut texts = 0;
    loop {
        let message = tokio::time::timeout(PATIENCE, ws.next()).await.expect("not closed in time");
        match message {
            Some(Ok(Message::Close(Some(frame)))) => {
                while let Ok(Some(Ok(_))) = tokio::time::timeout(PATIENCE, ws.next()).await {}
                return (u16::from(frame.code), texts);
            }
            Some(Ok(Message::Text(_))) => texts += 1,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Sends a text message.
pub async fn send_text(ws: &mut Client, text: String) {
    ws.send(Message::text(text)).await.unwrap();
}

/// The title of the task in an event's JSON envelope.
pub fn title(json: &Value) -> &str {
    json["data"]["title"].as_str().unwrap_or_else(|| panic!("not a task event: {json}"))
}

/// Waits until `condition` holds, failing after [`PATIENCE`].
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
