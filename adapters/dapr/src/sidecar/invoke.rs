//! Service invocation: calling another app through the sidecars.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, Method, StatusCode};

use super::client::{SidecarClient, SidecarError, TRACEPARENT, TRACESTATE, encode};

/// The request id header forwarded to the invoked app.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Headers of the caller's request that an invocation carries to the target app.
pub const FORWARDED_HEADERS: [HeaderName; 5] = [AUTHORIZATION, CONTENT_TYPE, X_REQUEST_ID, TRACEPARENT, TRACESTATE];

/// What the invoked app answered.
#[derive(Debug, Clone)]
pub struct InvokeResponse {
    /// The target's status (or the sidecar's, when it could not reach the target: 500
    /// `ERR_DIRECT_INVOKE`).
    pub status: StatusCode,
    /// The target's headers.
    pub headers: HeaderMap,
    /// The target's body.
    pub body: Bytes,
}

/// Calls methods of other apps through the sidecar.
#[derive(Debug, Clone)]
pub struct DaprInvoker {
    client: SidecarClient,
}

impl DaprInvoker {
    /// An invoker using `client`'s sidecar.
    pub fn new(client: SidecarClient) -> Self {
        Self { client }
    }

    /// Calls `method path` on app `app_id` via `/v1.0/invoke/{app_id}/method/{path}`, carrying
    /// the [`FORWARDED_HEADERS`] found in `headers` (others are dropped) and `body`. `path` may
    /// include a query string. Any status of the target is returned as is.
    ///
    /// # Errors
    /// Only when the sidecar cannot be reached or does not answer in time (`Unavailable`).
    #[tracing::instrument(name = "invoke.dapr", skip(self, headers, body), fields(status))]
    pub async fn invoke(
        &self,
        app_id: &str,
        method: Method,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<InvokeResponse, SidecarError> {
        let mut forwarded = HeaderMap::new();
        for name in FORWARDED_HEADERS {
            for value in headers.get_all(&name) {
                forwarded.append(name.clone(), value.clone());
            }
        }
        let (path, query) = match path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path, None),
        };
        let path = path.trim_start_matches('/');
        let mut uri = format!("/v1.0/invoke/{}/method/{}", encode(app_id, false), path);
        if let Some(q) = query {
            uri.push('?');
            uri.push_str(q);
        }
        let body =
            if body.is_empty() && (method == Method::GET || method == Method::DELETE) { None } else { Some(body) };
        let answer = self.client.send(method, &uri, forwarded, body, self.client.config().timeout).await?;
        tracing::Span::current().record("status", answer.status.as_u16());
        Ok(InvokeResponse { status: answer.status, headers: answer.headers, body: answer.body })
    }
}
