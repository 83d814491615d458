//! Connections upgraded by a `101 Switching Protocols` answer (what a WebSocket is), over real
//! sockets on 127.0.0.1: the server's header and idle deadlines no longer apply, their bytes
//! are never rewritten as HTTP, and they hold their slot under the connection cap until they end.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::get;
use http::StatusCode;
use http::header::{CONNECTION, UPGRADE};
use hyper_util::rt::TokioIo;
use todo_http_server::{ServerConfig, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// `GET /echo` switches to a protocol that sends back every byte it gets.
fn routes() -> Router {
    Router::new().route("/hello", get(|| async { "hi" })).route("/echo", get(echo))
}

async fn echo(mut req: Request) -> Response {
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let mut io = TokioIo::new(upgraded);
        let mut buf = [0u8; 1024];
        while let Ok(n) = io.read(&mut buf).await {
            if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(CONNECTION, "upgrade")
        .header(UPGRADE, "echo")
        .body(Body::empty())
        .unwrap()
}

async fn start(config: ServerConfig) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, routes(), config, std::future::pending()));
    addr
}

/// A connection switched to the echo protocol.
async fn upgraded(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n").await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        assert_eq!(s.read(&mut byte).await.unwrap(), 1, "closed before the end of the head: {head:?}");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

async fn round_trip(s: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
    s.write_all(bytes).await.unwrap();
    let mut back = vec![0u8; bytes.len()];
    tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut back))
        .await
        .expect("no echo")
        .expect("the upgraded connection was closed");
    back
}

#[tokio::test]
async fn an_upgraded_connection_outlives_the_header_and_idle_deadlines() {
    let short = Duration::from_millis(300);
    let addr = start(ServerConfig { header_timeout: short, idle_timeout: short, ..ServerConfig::default() }).await;
    let mut s = upgraded(addr).await;
    assert_eq!(round_trip(&mut s, b"first").await, b"first");
    tokio::time::sleep(short * 3).await;
    assert_eq!(round_trip(&mut s, b"after both deadlines").await, b"after both deadlines");
    tokio::time::sleep(short * 3).await;
    assert_eq!(round_trip(&mut s, b"and again").await, b"and again");
}

#[tokio::test]
async fn bytes_of_an_upgraded_connection_are_never_rewritten_as_an_http_answer() {
    let addr = start(ServerConfig::default()).await;
    let mut s = upgraded(addr).await;
    let looks_like_http = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    for _ in 0..3 {
        assert_eq!(round_trip(&mut s, looks_like_http).await, looks_like_http);
    }
}

#[tokio::test]
async fn an_upgraded_connection_holds_its_slot_until_it_ends() {
    let addr = start(ServerConfig { max_connections: 1, ..ServerConfig::default() }).await;
    let mut tunnel = upgraded(addr).await;
    assert_eq!(round_trip(&mut tunnel, b"x").await, b"x");
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    waiting.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    assert!(
        tokio::time::timeout(Duration::from_millis(400), waiting.read(&mut buf)).await.is_err(),
        "served beyond the cap while the upgraded connection was open"
    );
    drop(tunnel);
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), waiting.read_to_end(&mut raw)).await.unwrap().unwrap();
    assert!(raw.starts_with(b"HTTP/1.1 200"), "not served once the upgraded connection ended: {raw:?}");
}
