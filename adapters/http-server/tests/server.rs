//! The server as a client meets it, over real sockets on 127.0.0.1: errors are JSON whoever
//! writes them, oversized bodies get a 413 the client can read, slow and idle clients are cut
//! off, a connection cap holds, a panic fails one request, and shutdown drains.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::Value;
use todo_http_server::{JsonBody, ServerConfig, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

fn routes() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hi" }).post(|JsonBody(v): JsonBody<Value>| async move { v.to_string() }))
        .route("/panic", get(panics))
        .route("/stream", get(streams))
        .route(
            "/slow",
            post(|| async {
                tokio::time::sleep(Duration::from_millis(600)).await;
                "done"
            }),
        )
}

/// Five pieces 300 ms apart.
async fn streams() -> axum::body::Body {
    let pieces = futures_util::stream::iter(0..5).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok::<_, std::convert::Infallible>(format!("piece {i}\n"))
    });
    axum::body::Body::from_stream(pieces)
}

async fn panics() -> &'static str {
    panic!("boom at the handler")
}

struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start(config: ServerConfig) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let done = tokio::spawn(serve(listener, routes(), config, async {
        let _ = stopped.await;
    }));
    Running { addr, stop: Some(stop), done }
}

/// Sends `raw` and reads until the server closes or `patience` passes.
async fn exchange(addr: SocketAddr, raw: &[u8], patience: Duration) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(raw).await.unwrap();
    read_all(&mut s, patience).await
}

async fn read_all(s: &mut TcpStream, patience: Duration) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(patience, s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status and JSON body of the first response in `raw`.
fn status_and_json(raw: &str) -> (u16, Value) {
    let status = raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((raw, ""));
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: application/json"), "not JSON:\n{raw}");
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(rest.len());
    let body = &rest[..length.min(rest.len())];
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("body not JSON ({e}):\n{raw}")))
}

const QUICK: Duration = Duration::from_secs(3);

#[tokio::test]
async fn unknown_routes_wrong_methods_and_head_answer_as_the_api_does() {
    let app = start(ServerConfig::default()).await;
    let (status, body) = status_and_json(
        &exchange(app.addr, b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", QUICK).await,
    );
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));

    let raw = exchange(app.addr, b"DELETE /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", QUICK).await;
    let (status, body) = status_and_json(&raw);
    assert_eq!((status, body["error"]["code"].as_str()), (405, Some("method_not_allowed")));
    let allow =
        raw.lines().find(|l| l.to_ascii_lowercase().starts_with("allow:")).unwrap_or_default().to_ascii_uppercase();
    assert!(allow.contains("GET") && allow.contains("POST") && allow.contains("HEAD"), "{raw}");

    let raw = exchange(app.addr, b"HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", QUICK).await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.ends_with("\r\n\r\n"), "HEAD answers without a body: {raw:?}");
}

#[tokio::test]
async fn requests_hyper_refuses_get_json_errors_too() {
    let app = start(ServerConfig { max_head_bytes: 16 * 1024, ..ServerConfig::default() }).await;
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(10_000));
    let big_header = format!("GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(20_000));
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("a raw 0xFF byte", b"GET /hel\xfflo HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        ("a space in the target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400),
        ("obsolete line folding", b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n".to_vec(), 400),
        (
            "two Content-Lengths",
            b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
            400,
        ),
        ("HTTP/0.9", b"GET /hello\r\n\r\n".to_vec(), 400),
        ("a target too long", long_target.into_bytes(), 414),
        ("headers too large", big_header.into_bytes(), 431),
    ];
    for (what, raw, expected) in cases {
        let answer = exchange(app.addr, &raw, QUICK).await;
        let (status, body) = status_and_json(&answer);
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(body["error"]["code"].as_str().is_some_and(|c| !c.is_empty()), "{what}: {answer}");
    }
}

#[tokio::test]
async fn an_oversized_body_sent_whole_gets_a_413_the_client_can_read() {
    let app = start(ServerConfig::default()).await;
    let body = vec![b'x'; 5 * 1024 * 1024];
    let mut raw = format!(
        "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let answer = exchange(app.addr, &raw, Duration::from_secs(10)).await;
    let (status, json) = status_and_json(&answer);
    assert_eq!((status, json["error"]["code"].as_str()), (413, Some("payload_too_large")), "{answer}");

    // The same without a declared length (chunked): the limit is found while reading.
    let mut raw = b"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..40 {
        raw.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        raw.extend_from_slice(&vec![b'y'; 64 * 1024]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let (status, _) = status_and_json(&exchange(app.addr, &raw, Duration::from_secs(10)).await);
    assert_eq!(status, 413);
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_at_the_header_timeout() {
    let timeout = Duration::from_millis(800);
    let app = start(ServerConfig { header_timeout: timeout, ..ServerConfig::default() }).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    let started = tokio::time::Instant::now();
    let head = b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: 1234567890\r\n\r\n";
    let mut closed = false;
    for byte in head {
        if s.write_all(&[*byte]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 64];
        if let Ok(Ok(0)) = tokio::time::timeout(Duration::from_millis(150), s.read(&mut buf)).await {
            closed = true;
            break;
        }
    }
    assert!(closed, "the slow head was served or kept open");
    let held = started.elapsed();
    assert!(held >= timeout && held < timeout * 4, "held {held:?} for a header timeout of {timeout:?}");
}

#[tokio::test]
async fn a_stalled_body_is_answered_408() {
    let app = start(ServerConfig { body_timeout: Duration::from_millis(500), ..ServerConfig::default() }).await;
    let raw =
        b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"a\":";
    let (status, body) = status_and_json(&exchange(app.addr, raw, QUICK).await);
    assert_eq!((status, body["error"]["code"].as_str()), (408, Some("request_timeout")));
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_and_new_ones_served() {
    let app = start(ServerConfig { idle_timeout: Duration::from_millis(700), ..ServerConfig::default() }).await;
    let mut idle = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        idle.push(s);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for s in &mut idle {
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf))
            .await
            .expect("closed, not hanging")
            .unwrap_or(0);
        assert_eq!(n, 0, "an idle keep-alive connection stayed open");
    }
    let raw = exchange(app.addr, b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", QUICK).await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
}

#[tokio::test]
async fn a_response_streaming_longer_than_the_idle_timeout_is_written_whole() {
    let app = start(ServerConfig { idle_timeout: Duration::from_millis(500), ..ServerConfig::default() }).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    // 1.5 s of streaming, three idle timeouts; the read ends when the connection, idle after the
    // response, is closed.
    let raw = read_all(&mut s, Duration::from_secs(5)).await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("piece 4\n") && raw.ends_with("0\r\n\r\n"), "the stream was cut: {raw:?}");
}

#[tokio::test]
async fn beyond_the_connection_cap_clients_wait_for_a_free_slot() {
    let app = start(ServerConfig { max_connections: 4, ..ServerConfig::default() }).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(app.addr).await.unwrap();
        s.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let mut buf = [0u8; 512];
        assert!(s.read(&mut buf).await.unwrap() > 0);
        held.push(s);
    }
    let mut waiting = TcpStream::connect(app.addr).await.unwrap();
    waiting.write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 512];
    assert!(
        tokio::time::timeout(Duration::from_millis(400), waiting.read(&mut buf)).await.is_err(),
        "served beyond the cap"
    );
    drop(held.pop());
    let raw = read_all(&mut waiting, QUICK).await;
    assert!(raw.starts_with("HTTP/1.1 200"), "not served once a slot freed: {raw:?}");
}

#[tokio::test]
async fn a_panicking_handler_fails_its_request_only() {
    let app = start(ServerConfig::default()).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let raw = read_all(&mut s, QUICK).await;
    let (status, body) = status_and_json(&raw);
    assert_eq!((status, body["error"]["code"].as_str()), (500, Some("internal")));
    assert!(
        raw.matches("HTTP/1.1 ").count() == 2 && raw.trim_end().ends_with("hi"),
        "the next request on the connection: {raw}"
    );
}

#[tokio::test]
async fn shutdown_lets_the_request_in_flight_finish() {
    let mut app = start(ServerConfig::default()).await;
    let mut s = TcpStream::connect(app.addr).await.unwrap();
    s.write_all(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = app.stop.take().unwrap().send(());
    let raw = read_all(&mut s, QUICK).await;
    assert!(raw.starts_with("HTTP/1.1 200") && raw.ends_with("done"), "{raw}");
    app.done.await.unwrap().unwrap();
    assert!(TcpStream::connect(app.addr).await.is_err(), "still accepting after shutdown");
}
