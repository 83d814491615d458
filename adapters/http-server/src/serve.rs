//! The accept loop: a connection cap, one hyper HTTP/1.1 connection per socket with the limits
//! of [`ServerConfig`], the layers every request goes through, and a graceful drain.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CONTENT_LENGTH, EXPECT};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tower_http::catch_panic::CatchPanicLayer;

use crate::body::GuardedBody;
use crate::conn::{BusyBody, ConnState, GuardedStream};
use crate::middleware::{json_errors, log_and_id, no_route, panicked};
use crate::{ApiError, ServerConfig};

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting and lets the
/// requests in flight finish (up to [`ServerConfig::drain_timeout`]); keep-alive connections
/// are closed once idle. Every request gets an id, a log line and JSON errors; a panicking
/// handler fails its own request only.
///
/// A connection upgraded by a `101 Switching Protocols` answer (a WebSocket) has none of the
/// header and idle deadlines (its protocol keeps its own keep-alive), still holds its slot under
/// [`ServerConfig::max_connections`], and is waited for by the drain: close such sockets on the
/// same shutdown signal.
///
/// # Errors
/// When the listener's address cannot be read.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let config = Arc::new(config);
    let limits = config.clone();
    let app = router
        .fallback(no_route)
        .layer(CatchPanicLayer::custom(panicked))
        .layer(axum::middleware::from_fn(move |req, next| refuse_oversized(limits.clone(), req, next)))
        .layer(axum::middleware::from_fn(json_errors))
        .layer(axum::middleware::from_fn(log_and_id));
    let address = listener.local_addr()?;
    let permits = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let (stopping, stop) = watch::channel(false);
    let mut shutdown = pin!(shutdown);
    tracing::debug!(%address, max_connections = config.max_connections, "serving");
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // A response written in several segments must not wait for the client's delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let state = ConnState::new();
        let io = GuardedStream::new(stream, state.clone(), config.header_timeout, config.idle_timeout, permit);
        let (app, limits, config, mut stop) = (app.clone(), config.clone(), config.clone(), stop.clone());
        let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let guard = state.begin();
            let (app, config, state) = (app.clone(), limits.clone(), state.clone());
            async move {
                let req = req.map(|body| GuardedBody::new(body, &config));
                let response = app.oneshot(req).await;
                if response.as_ref().is_ok_and(|r| r.status() == StatusCode::SWITCHING_PROTOCOLS) {
                    state.upgraded();
                    drop(guard);
                    return response;
                }
                // Busy until the response is written: a long stream is not an idle connection.
                response.map(|r| r.map(|body| axum::body::Body::new(BusyBody::new(body, guard))))
            }
        });
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                // A backstop behind the socket's own deadlines (see `conn`).
                .header_read_timeout(config.idle_timeout + config.header_timeout)
                .max_buf_size(config.max_head_bytes.max(8192));
            let conn = builder.serve_connection(TokioIo::new(io), service).with_upgrades();
            let mut conn = pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                () = async { drop(stop.wait_for(|stopping| *stopping).await) } => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    let all = u32::try_from(config.max_connections.max(1)).unwrap_or(u32::MAX);
    if tokio::time::timeout(config.drain_timeout, permits.acquire_many(all)).await.is_err() {
        tracing::warn!(after = ?config.drain_timeout, "connections still open at the end of the drain; closing them");
    }
    Ok(())
}

/// Answers 414 to a request whose target is over the limit, and 413 to one whose declared body is
/// over the limit, after reading (and throwing
/// away) that body up to the drain bound unless the client waits for `100 Continue`, so that a
/// client that sent it whole reads the answer.
async fn refuse_oversized(config: Arc<ServerConfig>, req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > config.max_uri_bytes {
        let message = format!("request target exceeds {} bytes", config.max_uri_bytes);
        return ApiError::new(StatusCode::URI_TOO_LONG, "uri_too_long", message).into_response();
    }
    let declared = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let Some(declared) = declared.filter(|n| *n > config.max_body_bytes as u64) else {
        return next.run(req).await;
    };
    let waits_for_continue =
        req.headers().get(EXPECT).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    if !waits_for_continue && declared <= config.max_drained_bytes as u64 {
        let _ = axum::body::to_bytes(req.into_body(), usize::MAX).await;
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("request body exceeds {} bytes", config.max_body_bytes),
    )
    .into_response()
}
