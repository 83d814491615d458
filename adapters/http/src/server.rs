//! The HTTP server: accepts connections on a listener it is given, reads bodies up to 1 MiB,
//! routes, logs one line per request, and drains connections when the shutdown future fires.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use todo_ports::{ActivityService, ConversationService, SweepService, TaskService};

use crate::{routes, ApiError};

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The use cases the API serves.
#[derive(Clone)]
pub struct Services {
    /// Task commands and queries.
    pub tasks: Arc<dyn TaskService>,
    /// Conversation state.
    pub conversations: Arc<dyn ConversationService>,
    /// Audit log and notification feed.
    pub activity: Arc<dyn ActivityService>,
    /// The sweep behind the cron route.
    pub sweep: Arc<dyn SweepService>,
}

/// Server settings.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// When set, Dapr-only routes (`/dapr/...`) demand this value in the `dapr-api-token`
    /// header (Dapr's `APP_API_TOKEN`).
    pub app_api_token: Option<String>,
}

/// Answers requests for paths the REST API does not own (`None`: not mine either).
pub type Fallback = Arc<
    dyn Fn(Request<Bytes>) -> Pin<Box<dyn Future<Output = Option<Response<Full<Bytes>>>> + Send>> + Send + Sync,
>;

/// The REST API server.
#[derive(Clone)]
pub struct HttpServer {
    pub(crate) services: Services,
    pub(crate) config: HttpConfig,
    fallback: Option<Fallback>,
}

impl HttpServer {
    /// A server for `services`.
    pub fn new(services: Services, config: HttpConfig) -> Self {
        Self { services, config, fallback: None }
    }

    /// Sends requests for unknown paths to `fallback` before answering 404.
    pub fn with_fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = Some(fallback);
        self
    }

    /// Serves connections from `listener` until `shutdown` completes, then stops accepting and
    /// waits (up to 10 s) for requests in flight.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let server = Arc::new(self);
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, _) = match accepted {
                        Ok(conn) => conn,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    // A response written in several segments must not wait for the client's
                    // delayed ACK (Nagle), which would add up to 40 ms to a large listing.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
                    }
                    let server = server.clone();
                    let service = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        async move { Ok::<_, std::convert::Infallible>(server.handle(req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    tokio::spawn(async move {
                        if let Err(e) = conn.await {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
            tracing::warn!("requests still in flight after {DRAIN_TIMEOUT:?}; closing them");
        }
        Ok(())
    }

    /// Answers one request, logging it.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let started = Instant::now();
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let response = match read_body(req).await {
            Ok(req) => self.dispatch(req).await,
            Err(e) => json_error(&e),
        };
        tracing::info!(
            %method, path, status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, "request"
        );
        response
    }

    async fn dispatch(&self, req: Request<Bytes>) -> Response<Full<Bytes>> {
        if let Some(answer) = routes::route(self, &req).await {
            return answer.unwrap_or_else(|e| json_error(&e));
        }
        if let Some(fallback) = &self.fallback {
            if let Some(response) = fallback(req).await {
                return response;
            }
        }
        json_error(&ApiError::not_found("route"))
    }
}

/// The request with its body read, refusing bodies over [`MAX_BODY_BYTES`].
async fn read_body(req: Request<Incoming>) -> Result<Request<Bytes>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    let bytes = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
        Err(e) => return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("could not read the body: {e}"))),
    };
    Ok(Request::from_parts(parts, bytes))
}

/// A JSON response.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    json_of(status, body)
}

/// A JSON response of `value`, serialized straight to bytes (no intermediate `Value`).
pub(crate) fn json_of<T: serde::Serialize>(status: StatusCode, value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = status;
            response
                .headers_mut()
                .insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "response not serializable");
            json_error(&ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error"))
        }
    }
}

/// An empty response.
pub(crate) fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// The JSON error response of `e`.
pub(crate) fn json_error(e: &ApiError) -> Response<Full<Bytes>> {
    let mut response = json(e.status, &e.body());
    if e.status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(hyper::header::RETRY_AFTER, hyper::header::HeaderValue::from_static("1"));
    }
    response
}
