#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - [`routes`] and [`SocketConfig`]: the `GET /ws` route and its limits.
//! - [`close`]: the close codes.
//! - `socket`: one open socket: the feed out, pings, client frames in, and how it closes.

mod socket;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use todo_http_server::ApiError;
use todo_ports::Caller;
use todo_tasks::LiveUpdates;
use tokio::sync::watch;

/// The close codes the server sends, and why (RFC 6455, section 7.4.1).
pub mod close {
    /// The server is shutting down (or the live feed is gone): reconnect to another instance.
    pub const GOING_AWAY: u16 = 1001;
    /// The client sent a frame that breaks the protocol.
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// The client sent a text message that is not UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// The client answered no ping within [`crate::SocketConfig::pong_timeout`].
    pub const NO_PONG: u16 = 1008;
    /// The client sent a message over [`crate::SocketConfig::max_message_bytes`].
    pub const TOO_BIG: u16 = 1009;
    /// The client fell behind the feed and has missed events ("try again later"): reconnect,
    /// refetch what it shows, and follow the feed again.
    pub const TOO_SLOW: u16 = 1013;
}

/// Limits and keep-alive of the sockets of [`routes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketConfig {
    /// How often the server pings an open socket (default 20 s; at least 10 ms).
    pub ping_interval: Duration,
    /// How long a ping may go unanswered before the socket is closed (default 10 s).
    pub pong_timeout: Duration,
    /// How long one frame may take to be written before the client counts as too slow and the
    /// socket is closed (default 10 s).
    pub write_timeout: Duration,
    /// How long the server waits, once it has decided to close, for its close frame to go out
    /// and the client's to come back, before it drops the connection (default 5 s).
    pub close_timeout: Duration,
    /// Largest message (and frame) the client may send; a larger one closes the socket with
    /// 1009 (default 4 KiB).
    pub max_message_bytes: usize,
}

impl Default for SocketConfig {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(20),
            pong_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            max_message_bytes: 4 * 1024,
        }
    }
}

struct Feed {
    live: Arc<LiveUpdates>,
    config: SocketConfig,
    shutdown: watch::Receiver<bool>,
}

/// `GET /ws`: upgrades to a WebSocket carrying the caller's task events as they happen.
///
/// The caller is the [`Caller`] an auth guard in front of this router put in the request's
/// extensions (401 without one). When `shutdown` turns `true` (or its sender is dropped) every
/// open socket is closed with 1001 and new upgrades are answered 503. The protocol is in the
/// crate's README.
pub fn routes(live: Arc<LiveUpdates>, config: SocketConfig, shutdown: watch::Receiver<bool>) -> Router {
    let feed = Arc::new(Feed { live, config, shutdown });
    Router::new().route("/ws", get(upgrade)).with_state(feed)
}

async fn upgrade(
    State(feed): State<Arc<Feed>>,
    caller: Option<Extension<Caller>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let Some(Extension(Caller(user))) = caller else {
        return ApiError::unauthorized("a valid bearer token is required").into_response();
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return not_a_handshake(&rejection),
    };
    if socket::stopping_now(&feed.shutdown) {
        return ApiError::unavailable().into_response();
    }
    // Subscribed before the handshake is answered: no event falls between the two.
    let subscription = feed.live.subscribe(&user);
    let (config, shutdown) = (feed.config.clone(), feed.shutdown.clone());
    let max = config.max_message_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(max.clamp(1024, 128 * 1024))
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |ws| socket::run(ws, subscription, config, shutdown))
}

/// The JSON error for a request to `/ws` that is not a WebSocket handshake.
fn not_a_handshake(rejection: &WebSocketUpgradeRejection) -> Response {
    let status = rejection.status();
    let code = if status == http::StatusCode::UPGRADE_REQUIRED { "upgrade_required" } else { "not_a_websocket" };
    let mut response = ApiError::new(status, code, rejection.body_text()).into_response();
    if status == http::StatusCode::UPGRADE_REQUIRED {
        response.headers_mut().insert(http::header::UPGRADE, http::HeaderValue::from_static("websocket"));
    }
    response
}
