//! The services reached through the frontend's own Dapr sidecar: `/v1.0/invoke/{app-id}/method/…`
//! under the sidecar's Resiliency spec (timeouts, retries, a circuit breaker per app and path).
//!
//! Which calls the sidecar may retry is decided here, by how the request is sent. daprd (1.18)
//! retries an invocation only when it can replay its body, that is when the request has a
//! `Content-Length`; a request with a chunked body is never retried, and its transport errors are
//! final (`pkg/api/http/directmessaging.go`). So:
//!
//! - `GET`, `PUT`, `PATCH`, `DELETE` (safe to repeat) go through [`DaprInvoker`], with a length:
//!   the Resiliency spec retries them on connection errors and on 502, 503 and 504;
//! - `POST` (a create, a chat turn: repeating one would make a second task or run a turn's tools
//!   twice) goes with a chunked body, so the sidecar sends it once whatever happens. Its answer is
//!   streamed back as it comes (a chat turn's server-sent events).
//!
//! Either way the breaker counts every failure, and an answer that is the sidecar's own (its
//! `{"errorCode": …}` body: the target unreachable, the breaker open, the policy timeout) becomes
//! [`UpstreamError::Unavailable`], never a page of the sidecar's.

use std::convert::Infallible;
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::ExposeSecret;
use todo_adapter_dapr::{
    DAPR_API_TOKEN_HEADER, DaprConfig, DaprInvoker, FORWARDED_HEADERS, SidecarClient, TRACEPARENT,
};
use todo_adapter_web::{Call, Reply, Upstream, UpstreamError};

/// A body sent in one chunk without a length, so that hyper frames it `chunked`.
type Chunked = StreamBody<futures_util::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

/// The most of a sidecar error body read to classify it.
const MAX_ERROR_BYTES: usize = 16 * 1024;

/// The services behind the frontend's sidecar.
#[derive(Clone)]
pub struct Sidecar {
    invoker: DaprInvoker,
    config: DaprConfig,
    streaming: Client<HttpConnector, Chunked>,
}

impl Sidecar {
    /// Calls through the sidecar `client` talks to.
    pub fn new(client: SidecarClient) -> Self {
        let config = client.config().clone();
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeout));
        let streaming =
            Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        Self { invoker: DaprInvoker::new(client), config, streaming }
    }

    /// `POST` with a chunked body, never replayed by the sidecar; the answer streams.
    async fn post_once(&self, call: Call) -> Result<Reply, UpstreamError> {
        let app = call.service.app_id();
        let unavailable = |detail: String| UpstreamError::Unavailable { service: app, circuit_open: false, detail };
        let path = call.path_and_query.trim_start_matches('/');
        let uri = format!("{}/v1.0/invoke/{app}/method/{path}", self.config.http_endpoint);
        let body: Chunked = StreamBody::new(futures_util::stream::iter(vec![Ok(Frame::data(call.body.clone()))]));
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(&uri)
            .body(body)
            .map_err(|e| unavailable(format!("bad request {uri}: {e}")))?;
        let headers = request.headers_mut();
        for name in FORWARDED_HEADERS.iter().chain([&http::header::ACCEPT]) {
            for value in call.headers.get_all(name) {
                headers.append(name.clone(), value.clone());
            }
        }
        if !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(token) = &self.config.api_token
            && let Ok(value) = HeaderValue::from_str(token.expose_secret())
        {
            headers.insert(DAPR_API_TOKEN_HEADER, value);
        }
        if !headers.contains_key(TRACEPARENT)
            && let Some(tp) = todo_ports::trace::current().and_then(|tp| HeaderValue::from_str(tp.as_str()).ok())
        {
            headers.insert(TRACEPARENT, tp);
        }
        let response = tokio::time::timeout(self.config.timeout, self.streaming.request(request))
            .await
            .map_err(|_| unavailable(format!("POST {path}: no answer within {:?}", self.config.timeout)))?
            .map_err(|e| unavailable(format!("POST {path}: {e}")))?;
        let (parts, body) = response.into_parts();
        if parts.status.is_success() {
            return Ok(Reply { status: parts.status, headers: parts.headers, body: Body::new(body) });
        }
        // An error answer is small: read it whole to tell the sidecar's own from the target's.
        let bytes = http_body_util::Limited::new(body, MAX_ERROR_BYTES)
            .collect()
            .await
            .map_err(|e| unavailable(format!("POST {path}: reading the answer: {e}")))?
            .to_bytes();
        answer(app, parts.status, parts.headers, bytes)
    }
}

/// The target's answer as a [`Reply`], or, when the body is the sidecar's own error, the
/// unavailability it reports.
fn answer(app: &'static str, status: StatusCode, headers: HeaderMap, body: Bytes) -> Result<Reply, UpstreamError> {
    if let Some(detail) = sidecar_error(status, &body) {
        let circuit_open = detail.contains("circuit breaker is open") || detail.contains("too many requests");
        return Err(UpstreamError::Unavailable { service: app, circuit_open, detail });
    }
    Ok(Reply { status, headers, body: Body::from(body) })
}

/// What the sidecar said, when `body` is an error of the sidecar's rather than the target's: a
/// `{"errorCode","message"}` body (the target unreachable, the breaker open, a timeout), or the
/// plain-text refusal of a wrong `dapr-api-token`.
fn sidecar_error(status: StatusCode, body: &[u8]) -> Option<String> {
    if status.is_success() {
        return None;
    }
    if status == StatusCode::UNAUTHORIZED && body.starts_with(b"invalid api token") {
        return Some("the sidecar refused DAPR_API_TOKEN".into());
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let code = value.get("errorCode")?.as_str()?;
    let message = value.get("message").and_then(|m| m.as_str()).unwrap_or_default();
    Some(format!("{} {code}: {message}", status.as_u16()))
}

#[async_trait]
impl Upstream for Sidecar {
    async fn call(&self, call: Call) -> Result<Reply, UpstreamError> {
        if call.method == Method::POST {
            return self.post_once(call).await;
        }
        let app = call.service.app_id();
        match self
            .invoker
            .invoke(app, call.method.clone(), &call.path_and_query, &call.headers, call.body.clone())
            .await
        {
            Ok(answered) => answer(app, answered.status, answered.headers, answered.body),
            Err(e) => Err(UpstreamError::Unavailable { service: app, circuit_open: false, detail: e.to_string() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sidecars_own_errors_are_told_from_the_targets() {
        let dapr = br#"{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke, id: backend, err: circuit breaker is open"}"#;
        let Err(UpstreamError::Unavailable { circuit_open, .. }) =
            answer("backend", StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new(), Bytes::from_static(dapr))
        else {
            panic!("the breaker's answer is an unavailability")
        };
        assert!(circuit_open);
        let refused =
            br#"{"errorCode":"ERR_DIRECT_INVOKE","message":"failed to invoke, id: backend, err: connection refused"}"#;
        assert!(matches!(
            answer("backend", StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new(), Bytes::from_static(refused)),
            Err(UpstreamError::Unavailable { circuit_open: false, .. })
        ));
        let target = br#"{"error":{"code":"validation_failed","message":"title: must not be blank","field":"title"}}"#;
        let reply =
            answer("backend", StatusCode::UNPROCESSABLE_ENTITY, HeaderMap::new(), Bytes::from_static(target)).unwrap();
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        let down = br#"{"error":{"code":"unavailable","message":"a dependency is unavailable; retry shortly"}}"#;
        assert!(answer("backend", StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new(), Bytes::from_static(down)).is_ok());
        assert!(sidecar_error(StatusCode::UNAUTHORIZED, b"invalid api token").is_some());
        assert!(sidecar_error(StatusCode::UNAUTHORIZED, br#"{"error":{"code":"unauthorized"}}"#).is_none());
    }
}
