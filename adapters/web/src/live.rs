//! The live feed for the browser: `GET /ui/ws` relays the sync service's `GET /ws` for the
//! session's user. The session token lives in an `HttpOnly` cookie, out of reach of the page's
//! scripts, so the page cannot put it in a WebSocket URL; the frontend opens the upstream socket
//! itself with `Authorization: Bearer` and passes the frames on. (Dapr's service invocation does
//! not carry WebSocket upgrades: `Upgrade` is a hop-by-hop header it drops, and the sidecars
//! talk gRPC to each other. So the sync service is reached directly, at `SYNC_URL`.)
//!
//! Text and binary frames go both ways; each side keeps its own pings (the upstream client
//! answers the sync service's, the frontend pings the browser every 20 s and closes a browser
//! silent for 30 s with 1008). A close on either side closes the other with the same code; an
//! upstream that cannot be reached closes the browser's socket with 1013 (try again later), a
//! token it refuses with 1008, and the frontend shutting down with 1001.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use http::HeaderValue;
use http::header::AUTHORIZATION;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as UpCloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as Up};

use crate::session::Session;

/// How often the browser is pinged.
const PING_EVERY: Duration = Duration::from_secs(20);
/// How long the browser may stay silent (no frame, no pong) before its socket is closed.
const SILENCE: Duration = Duration::from_secs(30);
/// How long opening the upstream socket may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The close codes of the relay (RFC 6455, 7.4.1).
pub mod close {
    /// The frontend is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The session's token was refused upstream, or the browser went silent.
    pub const POLICY: u16 = 1008;
    /// The sync service cannot be reached now: reconnect later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// Where the sync service's feed is: its `ws://` (or `wss://`) base URL.
#[derive(Debug, Clone)]
pub struct LiveFeed {
    base: String,
}

impl LiveFeed {
    /// The feed of the sync service at `url` (`http://sync:8004`, `ws://…`, or their TLS forms).
    ///
    /// # Errors
    /// A URL that is not one of those schemes with a host.
    pub fn new(url: &str) -> Result<Self, String> {
        let url = url.trim().trim_end_matches('/');
        let base = if let Some(rest) = url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else if let Some(rest) = url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if url.starts_with("ws://") || url.starts_with("wss://") {
            url.to_owned()
        } else {
            return Err(format!("{url:?} is not an http(s):// or ws(s):// URL"));
        };
        let uri: http::Uri = base.parse().map_err(|e| format!("{url:?}: {e}"))?;
        if uri.host().is_none() || !uri.path().trim_matches('/').is_empty() {
            return Err(format!("{url:?} must name a host and no path"));
        }
        if base.starts_with("wss://") {
            return Err("wss:// needs TLS, which the relay does not speak: reach the sync service in-cluster".into());
        }
        Ok(Self { base })
    }

    /// The upstream URL for `user`.
    fn url(&self, user: &str) -> String {
        format!("{}/ws?user_id={user}", self.base)
    }
}

enum Finish {
    /// Close the browser's socket with this.
    Close(u16, String),
    /// The browser closed (or vanished); nothing more to send it.
    Done,
}

/// Relays the feed of `session`'s user to `browser` until either side ends.
pub(crate) async fn relay(
    browser: WebSocket,
    feed: LiveFeed,
    session: Session,
    mut shutdown: Option<watch::Receiver<bool>>,
) {
    let user = session.user.clone();
    let (mut to_browser, mut from_browser) = browser.split();
    let finish = match connect(&feed, &session).await {
        Err(finish) => finish,
        Ok(upstream) => {
            tracing::debug!(user_id = %user, "live relay open");
            let (mut to_up, mut from_up) = upstream.split();
            let mut pings = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
            pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut heard = Instant::now();
            let finish = loop {
                tokio::select! {
                    frame = from_up.next() => match frame {
                        Some(Ok(Up::Text(text))) => {
                            if to_browser.send(Message::Text(Utf8Bytes::from(text.as_str()))).await.is_err() {
                                break Finish::Done;
                            }
                        }
                        Some(Ok(Up::Binary(bytes))) => {
                            if to_browser.send(Message::Binary(bytes)).await.is_err() {
                                break Finish::Done;
                            }
                        }
                        Some(Ok(Up::Close(frame))) => {
                            let (code, reason) = frame.map_or((close::TRY_AGAIN_LATER, String::new()), |f| {
                                (u16::from(f.code), f.reason.as_str().to_owned())
                            });
                            break Finish::Close(code, reason);
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "live relay: upstream failed");
                            break Finish::Close(close::TRY_AGAIN_LATER, "live feed interrupted".into());
                        }
                        None => break Finish::Close(close::TRY_AGAIN_LATER, "live feed interrupted".into()),
                    },
                    frame = from_browser.next() => {
                        heard = Instant::now();
                        match frame {
                            Some(Ok(Message::Text(text))) => {
                                if to_up.send(Up::text(text.as_str())).await.is_err() {
                                    break Finish::Close(close::TRY_AGAIN_LATER, "live feed interrupted".into());
                                }
                            }
                            Some(Ok(Message::Binary(bytes))) => {
                                if to_up.send(Up::Binary(bytes)).await.is_err() {
                                    break Finish::Close(close::TRY_AGAIN_LATER, "live feed interrupted".into());
                                }
                            }
                            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break Finish::Done,
                            Some(Ok(_)) => {}
                        }
                    },
                    _ = pings.tick() => {
                        if heard.elapsed() > SILENCE {
                            break Finish::Close(close::POLICY, "no answer to pings".into());
                        }
                        if to_browser.send(Message::Ping(bytes::Bytes::new())).await.is_err() {
                            break Finish::Done;
                        }
                    },
                    () = stopping(&mut shutdown) => {
                        break Finish::Close(close::GOING_AWAY, "server shutting down".into());
                    },
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                let _ = to_up.send(Up::Close(Some(UpCloseFrame { code: 1000.into(), reason: "".into() }))).await;
            })
            .await;
            finish
        }
    };
    let code = match &finish {
        Finish::Close(code, _) => Some(*code),
        Finish::Done => None,
    };
    tracing::debug!(user_id = %user, close_code = ?code, "live relay closed");
    if let Finish::Close(code, reason) = finish {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
            if to_browser.send(Message::Close(Some(frame))).await.is_ok() {
                while let Some(Ok(_)) = from_browser.next().await {}
            }
        })
        .await;
    }
}

/// Completes when `shutdown` turns true (never without one).
async fn stopping(shutdown: &mut Option<watch::Receiver<bool>>) {
    match shutdown {
        Some(rx) => {
            if rx.wait_for(|stopping| *stopping).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

type Upstream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the sync service's socket for the session's user, or says how to close the browser's.
async fn connect(feed: &LiveFeed, session: &Session) -> Result<Upstream, Finish> {
    let unavailable = || Finish::Close(close::TRY_AGAIN_LATER, "live feed unavailable".into());
    let mut request = feed.url(&session.user).into_client_request().map_err(|e| {
        tracing::warn!(error = %e, "live relay: bad upstream URL");
        unavailable()
    })?;
    if let Some(token) = session.token().and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
        request.headers_mut().insert(AUTHORIZATION, token);
    }
    match tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async(request)).await {
        Ok(Ok((upstream, _))) => Ok(upstream),
        Ok(Err(tungstenite::Error::Http(response))) if matches!(response.status().as_u16(), 401 | 403) => {
            tracing::info!(user_id = %session.user, status = response.status().as_u16(), "live relay: token refused");
            Err(Finish::Close(close::POLICY, "sign in again".into()))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "live relay: the sync service cannot be reached");
            Err(unavailable())
        }
        Err(_) => {
            tracing::warn!("live relay: the sync service did not answer in time");
            Err(unavailable())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_url_takes_http_or_ws() {
        assert_eq!(
            LiveFeed::new("http://127.0.0.1:8004/").unwrap().url("alice"),
            "ws://127.0.0.1:8004/ws?user_id=alice"
        );
        assert_eq!(LiveFeed::new("ws://sync:8004").unwrap().url("a"), "ws://sync:8004/ws?user_id=a");
        for bad in ["sync:8004", "ftp://x", "http://x/ws", "https://sync.example.com"] {
            assert!(LiveFeed::new(bad).is_err(), "{bad}");
        }
    }
}
