//! The live feed as a client meets it, over a real server and a real WebSocket client on
//! 127.0.0.1: each user gets their own events and no one else's, on every socket they have
//! open; a slow client or a silent one is closed with its code while the others go on; shutdown
//! closes every socket with 1001; and the hub forgets every socket that closed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use futures_util::SinkExt;
use todo_adapter_memory::{InMemoryEventBus, InMemoryScheduler, InMemoryStateStore, InMemoryStore};
use todo_adapter_websocket::{SocketConfig, close};
use todo_ports::model::{Event, TaskPatch, Topic};
use todo_ports::{EventHandler, SystemClock, TaskService};
use todo_tasks::{LiveUpdates, Ports, Role, Todo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use support::*;

#[tokio::test]
async fn a_users_socket_gets_that_users_events_and_never_another_users() {
    let server = start(SocketConfig::default()).await;
    let (mut alice, mut bob) = (connect(server.addr, "alice").await, connect(server.addr, "bob").await);
    server.live.handle(&event("bob", "bob's", 0)).await.unwrap();
    server.live.handle(&event("alice", "alice's", 0)).await.unwrap();
    assert_eq!(title(&next_json(&mut alice).await), "alice's", "alice's first event is not hers");
    assert_eq!(title(&next_json(&mut bob).await), "bob's");
    assert_eq!(text_within(&mut bob, Duration::from_millis(300)).await, None, "bob got a second event");
}

#[tokio::test]
async fn every_socket_of_a_user_gets_each_of_their_events() {
    let server = start(SocketConfig::default()).await;
    let (mut phone, mut laptop) = (connect(server.addr, "alice").await, connect(server.addr, "alice").await);
    for n in 0..5 {
        server.live.handle(&event("alice", &format!("t{n}"), 0)).await.unwrap();
    }
    for socket in [&mut phone, &mut laptop] {
        for n in 0..5 {
            assert_eq!(title(&next_json(socket).await), format!("t{n}"));
        }
    }
}

#[tokio::test]
async fn a_task_written_through_the_use_cases_arrives_exactly_as_published_on_task_updates() {
    let store = InMemoryStore::new();
    let bus = InMemoryEventBus::recording();
    let ports = Ports::over_store(
        store,
        bus.clone(),
        InMemoryStateStore::new(),
        InMemoryScheduler::new(),
        Arc::new(SystemClock),
    );
    let todo = Todo::new(ports);
    for subscription in todo.subscriptions(&[Role::Sync]) {
        bus.subscribe(subscription);
    }
    let relay = todo.relay.clone();
    let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move { relay.run(async move { drop(relay_stopped.await) }).await });
    let server = start_with(todo.live.clone(), SocketConfig::default()).await;
    let mut alice = connect(server.addr, "alice").await;
    let mut bob = connect(server.addr, "bob").await;

    let patch = TaskPatch { title: Some("Pay rent".into()), ..TaskPatch::default() };
    let task = todo.tasks.create(&user("alice"), patch).await.unwrap();
    let received = next_json(&mut alice).await;

    let published: Vec<Event> =
        bus.published().into_iter().filter(|(topic, _)| *topic == Topic::TaskUpdates).map(|(_, e)| e).collect();
    assert_eq!(published.len(), 1);
    assert_eq!(received, serde_json::to_value(&published[0]).unwrap());
    assert_eq!(
        (received["event_type"].as_str(), received["data"]["id"].as_i64()),
        (Some("task.created"), Some(task.id.0))
    );
    assert_eq!(text_within(&mut bob, Duration::from_millis(300)).await, None, "bob got alice's task");
    drop(stop_relay);
}

#[tokio::test]
async fn without_a_caller_the_handshake_is_refused_with_a_json_401() {
    let server = start(SocketConfig::default()).await;
    let request = format!("ws://{}/ws", server.addr);
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let refused = tokio_tungstenite::client_async(request, stream).await.unwrap_err();
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else { panic!("not refused: {refused:?}") };
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert_eq!(server.live.subscriptions(), 0);
}

#[tokio::test]
async fn a_plain_request_to_the_feed_gets_a_json_400() {
    let server = start(SocketConfig::default()).await;
    let mut s = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    s.write_all(format!("GET /ws HTTP/1.1\r\nHost: x\r\n{TEST_USER}: alice\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = String::new();
    tokio::time::timeout(PATIENCE, s.read_to_string(&mut raw)).await.unwrap().unwrap();
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(raw.contains("application/json") && raw.contains("\"not_a_websocket\""), "{raw}");
    assert_eq!(server.live.subscriptions(), 0);
}

#[tokio::test]
async fn a_client_that_stops_reading_is_closed_as_too_slow_while_a_fast_one_keeps_receiving() {
    let server = start_with(Arc::new(LiveUpdates::new(8)), SocketConfig::default()).await;
    let mut slow = connect_small(server.addr, "alice").await;
    let mut fast = connect(server.addr, "alice").await;
    // Paced by the fast client, until the slow one's kernel buffers and then its queue of 8
    // are full and the hub ends it.
    let mut sent = 0;
    while server.live.subscriptions_of(&user("alice")) == 2 {
        assert!(sent < 50_000, "the slow client was never found too slow");
        server.live.handle(&event("alice", &format!("t{sent}"), 4000)).await.unwrap();
        assert_eq!(title(&next_json(&mut fast).await), format!("t{sent}"));
        sent += 1;
    }
    server.live.handle(&event("alice", "after", 0)).await.unwrap();
    assert_eq!(title(&next_json(&mut fast).await), "after", "the fast client was held back");
    let (code, read_before) = close_code(&mut slow).await;
    assert_eq!(code, close::TOO_SLOW);
    assert!(read_before < sent, "the slow client got every event ({read_before} of {sent}) and was still closed");
    server.live.handle(&event("alice", "later", 0)).await.unwrap();
    assert_eq!(title(&next_json(&mut fast).await), "later");
    assert_eq!(server.live.subscriptions_of(&user("alice")), 1);
}

#[tokio::test]
async fn a_client_whose_writes_stall_is_closed_as_too_slow_even_with_no_more_events() {
    let config = SocketConfig { write_timeout: Duration::from_millis(300), ..SocketConfig::default() };
    let server = start_with(Arc::new(LiveUpdates::new(100_000)), config).await;
    let mut stalled = connect_small(server.addr, "alice").await;
    // Far more than the kernel buffers hold, and far less than the queue: the write stalls.
    let events = 3000;
    for n in 0..events {
        server.live.handle(&event("alice", &format!("t{n}"), 4000)).await.unwrap();
    }
    eventually("the stalled socket is given up", || server.live.subscriptions() == 0).await;
    let (code, read_before) = close_code(&mut stalled).await;
    assert_eq!(code, close::TOO_SLOW);
    assert!(read_before < events, "every event went out ({read_before}), yet it was closed");
}

#[tokio::test]
async fn a_socket_that_answers_no_ping_is_closed_and_one_that_answers_stays_open() {
    let config = SocketConfig {
        ping_interval: Duration::from_millis(100),
        pong_timeout: Duration::from_millis(500),
        ..SocketConfig::default()
    };
    let server = start(config).await;
    let mut silent = connect(server.addr, "alice").await;
    let mut answering = connect(server.addr, "bob").await;
    // Reading answers pings; the silent client does not read for a while, so it answers none.
    assert_eq!(text_within(&mut answering, Duration::from_millis(1500)).await, None);
    let (code, _) = close_code(&mut silent).await;
    assert_eq!(code, close::NO_PONG);
    eventually("the silent socket is forgotten", || server.live.subscriptions_of(&user("alice")) == 0).await;
    server.live.handle(&event("bob", "still here", 0)).await.unwrap();
    assert_eq!(title(&next_json(&mut answering).await), "still here");
}

#[tokio::test]
async fn small_client_messages_are_ignored_and_one_over_the_limit_closes_with_1009() {
    let server = start(SocketConfig::default()).await;
    let mut alice = connect(server.addr, "alice").await;
    send_text(&mut alice, "hello".into()).await;
    alice.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    server.live.handle(&event("alice", "still served", 0)).await.unwrap();
    assert_eq!(title(&next_json(&mut alice).await), "still served");
    send_text(&mut alice, "x".repeat(5000)).await;
    assert_eq!(close_code(&mut alice).await.0, close::TOO_BIG);
    eventually("the socket is forgotten", || server.live.subscriptions() == 0).await;
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001_and_the_server_ends() {
    let server = start(SocketConfig::default()).await;
    let mut sockets = vec![
        connect(server.addr, "alice").await,
        connect(server.addr, "alice").await,
        connect(server.addr, "bob").await,
    ];
    server.stop.send(true).unwrap();
    for socket in &mut sockets {
        assert_eq!(close_code(socket).await.0, close::GOING_AWAY);
    }
    tokio::time::timeout(PATIENCE, server.done).await.expect("the server did not end").unwrap().unwrap();
    assert_eq!(server.live.subscriptions(), 0);
}

#[tokio::test]
async fn the_hub_forgets_sockets_closed_by_the_client_or_dropped() {
    let server = start(SocketConfig::default()).await;
    let mut closing = connect(server.addr, "alice").await;
    let dropped = connect(server.addr, "alice").await;
    let staying = connect(server.addr, "bob").await;
    assert_eq!(server.live.subscriptions(), 3);

    closing.send(Message::Close(Some(CloseFrame { code: 1000.into(), reason: "bye".into() }))).await.unwrap();
    assert_eq!(close_code(&mut closing).await.0, 1000, "the close is answered with its code");
    drop(dropped);
    eventually("alice's sockets are forgotten", || server.live.subscriptions_of(&user("alice")) == 0).await;
    assert_eq!(server.live.subscriptions(), 1);
    drop(staying);
    eventually("every socket is forgotten", || server.live.subscriptions() == 0).await;
}
