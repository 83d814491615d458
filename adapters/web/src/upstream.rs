//! The services behind the UI and how the frontend reaches them: the [`Upstream`] port, with
//! [`InProcess`] for the all-in-one app (its own user routes, called in process) here and the
//! sidecar invocation in the frontend app.

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use tower::ServiceExt;

/// A service the UI needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Tasks (and the chat assistant): Dapr app id `backend`.
    Backend,
    /// The audit log: `audit-service`.
    Audit,
    /// The notification feed: `notification-service`.
    Notifications,
}

impl Service {
    /// Its Dapr app id.
    pub fn app_id(self) -> &'static str {
        match self {
            Self::Backend => "backend",
            Self::Audit => "audit-service",
            Self::Notifications => "notification-service",
        }
    }
}

/// One call to a service, on behalf of the signed-in user.
#[derive(Debug, Clone)]
pub struct Call {
    /// The service.
    pub service: Service,
    /// The method.
    pub method: Method,
    /// The path on the service (`/api/alice/tasks?limit=10`).
    pub path_and_query: String,
    /// `Authorization`, `Content-Type`, `Accept`, `X-Request-ID`: what the service may see.
    pub headers: HeaderMap,
    /// The body (empty for none).
    pub body: Bytes,
}

/// What the service answered (any status), its body possibly still streaming.
#[derive(Debug)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Body,
}

/// A service could not be reached: what the UI shows as "unavailable, retrying".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// It did not answer (down, unreachable, too slow), or its sidecar refused to call it.
    #[error("{service} is unavailable: {detail}")]
    Unavailable {
        /// The app id.
        service: &'static str,
        /// The sidecar's circuit breaker is open: calls fail at once until it half-opens.
        circuit_open: bool,
        /// What went wrong, for the log (never shown to the browser as is).
        detail: String,
    },
}

/// How the frontend reaches the services. Every call is the signed-in user's own: the caller
/// builds the path from the session's user and attaches the session's token.
#[async_trait]
pub trait Upstream: Send + Sync {
    /// Makes `call` and returns the service's answer, whatever its status.
    ///
    /// # Errors
    /// [`UpstreamError::Unavailable`] when no answer of the service's own came back.
    async fn call(&self, call: Call) -> Result<Reply, UpstreamError>;
}

/// The all-in-one app's services: its own user routes (behind their auth guard), called in
/// process with `tower::ServiceExt::oneshot`, no network in between.
#[derive(Clone)]
pub struct InProcess {
    routes: Router,
}

impl InProcess {
    /// Calls into `routes`, the app's user-facing routes as it serves them (guard included).
    pub fn new(routes: Router) -> Self {
        Self { routes }
    }
}

#[async_trait]
impl Upstream for InProcess {
    async fn call(&self, call: Call) -> Result<Reply, UpstreamError> {
        let unavailable =
            |detail: String| UpstreamError::Unavailable { service: call.service.app_id(), circuit_open: false, detail };
        let mut request = Request::builder()
            .method(call.method.clone())
            .uri(&call.path_and_query)
            .body(Body::from(call.body.clone()))
            .map_err(|e| unavailable(format!("bad request: {e}")))?;
        *request.headers_mut() = call.headers.clone();
        let response = match self.routes.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        Ok(Reply { status: parts.status, headers: parts.headers, body })
    }
}
