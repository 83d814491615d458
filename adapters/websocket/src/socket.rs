//! One open socket: the acknowledgement, then each event of the subscription as a text frame and
//! a ping every interval, while the client's frames are read for pongs and a close; then one
//! close, with the code of whatever ended it, and a bounded wait for the client's close reply.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use todo_tasks::{Ended, LiveSubscription};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite;

use crate::SocketConfig;
use crate::close::{GOING_AWAY, INVALID_DATA, NO_PONG, PROTOCOL_ERROR, TOO_BIG, TOO_SLOW};

/// How a socket ends, as the server sees it.
enum Finish {
    /// The server closes it with this frame, then waits for the client's reply.
    Close(CloseFrame),
    /// The client closed it (its close is answered while draining) or the connection broke.
    Done,
}

fn close(code: u16, reason: &'static str) -> Finish {
    Finish::Close(CloseFrame { code, reason: Utf8Bytes::from_static(reason) })
}

fn ended(end: Ended) -> Finish {
    match end {
        Ended::TooSlow => close(TOO_SLOW, "too slow: reconnect and refetch"),
        Ended::Closed => close(GOING_AWAY, "server going away"),
    }
}

fn shutting_down() -> Finish {
    close(GOING_AWAY, "server shutting down")
}

/// Whether the shutdown signal has fired (or can no longer fire: its sender is gone).
pub(crate) fn stopping_now(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
}

/// Serves one upgraded socket until it ends.
pub(crate) async fn run(
    socket: WebSocket,
    mut subscription: LiveSubscription,
    config: SocketConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    let user = subscription.user().clone();
    tracing::debug!(user_id = %user, "live socket open");
    let (mut tx, mut rx) = socket.split();
    let pongs = AtomicU64::new(0);
    let finish = tokio::select! {
        finish = read_client(&mut rx, &pongs) => finish,
        finish = feed(&mut tx, &mut subscription, &config, &mut shutdown, &pongs) => finish,
    };
    drop(subscription);
    let code = match &finish {
        Finish::Close(frame) => Some(frame.code),
        Finish::Done => None,
    };
    tracing::info!(user_id = %user, close_code = ?code, "live socket closed");
    let _ = tokio::time::timeout(config.close_timeout, async {
        if let Finish::Close(frame) = finish
            && tx.send(Message::Close(Some(frame))).await.is_err()
        {
            return;
        }
        // Reading on answers the client's close, or reads the reply to ours.
        while let Some(Ok(_)) = rx.next().await {}
    })
    .await;
}

/// Reads the client's frames until it closes or breaks the protocol: pongs are counted, pings
/// are answered (by tungstenite), text and binary messages are ignored.
async fn read_client(rx: &mut SplitStream<WebSocket>, pongs: &AtomicU64) -> Finish {
    loop {
        match rx.next().await {
            Some(Ok(Message::Pong(_))) => {
                pongs.fetch_add(1, Ordering::SeqCst);
            }
            Some(Ok(Message::Close(_))) | None => return Finish::Done,
            Some(Ok(Message::Ping(_) | Message::Text(_) | Message::Binary(_))) => {}
            Some(Err(e)) => return refused(e),
        }
    }
}

/// The close for a client frame the socket cannot take.
fn refused(e: axum::Error) -> Finish {
    let e = e.into_inner();
    let Some(e) = e.downcast_ref::<tungstenite::Error>() else {
        tracing::debug!(error = %e, "live socket read failed");
        return Finish::Done;
    };
    tracing::debug!(error = %e, "live socket refused a client frame");
    match e {
        tungstenite::Error::Capacity(_) => close(TOO_BIG, "message too big"),
        tungstenite::Error::Protocol(_) => close(PROTOCOL_ERROR, "protocol error"),
        tungstenite::Error::Utf8(_) => close(INVALID_DATA, "text is not UTF-8"),
        _ => Finish::Done,
    }
}

/// Writes the acknowledgement, then the events and pings, until something ends the socket.
async fn feed(
    tx: &mut SplitSink<WebSocket, Message>,
    subscription: &mut LiveSubscription,
    config: &SocketConfig,
    shutdown: &mut watch::Receiver<bool>,
    pongs: &AtomicU64,
) -> Finish {
    let ack = serde_json::json!({"type": "subscribed", "user_id": subscription.user()}).to_string();
    if let Err(finish) = write(tx, Message::Text(ack.into()), subscription, config, shutdown).await {
        return finish;
    }
    let every = config.ping_interval.max(Duration::from_millis(10));
    let mut pings = tokio::time::interval_at(Instant::now() + every, every);
    pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // The pongs counted when the ping in flight went out, and when it is due back.
    let mut in_flight: Option<(u64, Instant)> = None;
    loop {
        let answered =
            |in_flight: Option<(u64, Instant)>| in_flight.is_some_and(|(seen, _)| pongs.load(Ordering::SeqCst) > seen);
        let due = in_flight.map_or_else(Instant::now, |(_, due)| due);
        let message = tokio::select! {
            biased;
            () = stopped(shutdown) => return shutting_down(),
            () = tokio::time::sleep_until(due), if in_flight.is_some() => {
                if !answered(in_flight) {
                    return close(NO_PONG, "no pong in time");
                }
                in_flight = None;
                continue;
            }
            _ = pings.tick() => {
                if in_flight.is_some() && !answered(in_flight) {
                    continue;
                }
                in_flight = Some((pongs.load(Ordering::SeqCst), Instant::now() + config.pong_timeout));
                Message::Ping(Default::default())
            }
            next = subscription.next() => match next {
                Ok(event) => match serde_json::to_string(event.as_ref()) {
                    Ok(json) => Message::Text(json.into()),
                    Err(e) => {
                        tracing::warn!(event_id = %event.id(), error = %e, "live event not serialisable; skipped");
                        continue;
                    }
                },
                Err(end) => return ended(end),
            },
        };
        if let Err(finish) = write(tx, message, subscription, config, shutdown).await {
            return finish;
        }
    }
}

/// Writes one frame, unless the socket must end first: the shutdown, the subscription ended
/// (too slow), or the frame still not out after the write timeout (too slow).
async fn write(
    tx: &mut SplitSink<WebSocket, Message>,
    message: Message,
    subscription: &LiveSubscription,
    config: &SocketConfig,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), Finish> {
    tokio::select! {
        biased;
        () = stopped(shutdown) => Err(shutting_down()),
        end = subscription.ended() => Err(ended(end)),
        () = tokio::time::sleep(config.write_timeout) => Err(ended(Ended::TooSlow)),
        sent = tx.send(message) => sent.map_err(|e| {
            tracing::debug!(error = %e, "live socket write failed");
            Finish::Done
        }),
    }
}
