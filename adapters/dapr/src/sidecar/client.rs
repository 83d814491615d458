//! The one HTTP client of the sidecar: pooled keep-alive connections, per-call deadlines,
//! the API token, trace propagation, and the single place where the sidecar's answers become
//! error kinds.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use secrecy::ExposeSecret;
use serde::Deserialize;
use todo_ports::BoxError;
use todo_retry::Policy;

use crate::DaprConfig;

/// Header carrying the sidecar's API token (both directions).
pub const DAPR_API_TOKEN_HEADER: HeaderName = HeaderName::from_static("dapr-api-token");
/// W3C trace context header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// W3C trace state header.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// What kind of failure a sidecar call ended in; each port maps it to its own error enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The sidecar or what is behind it cannot serve now: connection refused, timeout, 5xx.
    /// Retrying later may work.
    Unavailable,
    /// The sidecar refused the request itself (4xx); retrying the same request will not help.
    Rejected,
    /// An optimistic-concurrency precondition failed (409, or an ETag error).
    Conflict,
}

/// A failed sidecar call: its kind, and what the sidecar said.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct SidecarError {
    /// What the caller should do about it.
    pub kind: ErrorKind,
    /// The HTTP status, when the sidecar answered.
    pub status: Option<StatusCode>,
    /// Dapr's `errorCode`, when the body had one.
    pub error_code: Option<String>,
    /// Dapr's `message`, the body's text, or the transport error.
    pub message: String,
    /// The answer's body, for callers that read more of it (bulk publish).
    #[source]
    source: Option<BoxError>,
    pub(crate) body: Bytes,
}

impl SidecarError {
    pub(crate) fn transport(message: String, source: Option<BoxError>) -> Self {
        Self { kind: ErrorKind::Unavailable, status: None, error_code: None, message, source, body: Bytes::new() }
    }

    pub(crate) fn unexpected(message: String) -> Self {
        Self { kind: ErrorKind::Rejected, status: None, error_code: None, message, source: None, body: Bytes::new() }
    }

    /// Builds the error of a non-success answer, classifying it with [`classify`].
    pub(crate) fn from_answer(status: StatusCode, body: Bytes) -> Self {
        let parsed: Option<DaprErrorBody> = serde_json::from_slice(&body).ok();
        let (error_code, message) = match parsed {
            Some(b) => (b.error_code, b.message.unwrap_or_default()),
            None => (None, String::from_utf8_lossy(&body).trim().chars().take(500).collect()),
        };
        let kind = classify(status, error_code.as_deref(), &message);
        Self { kind, status: Some(status), error_code, message, source: None, body }
    }

    fn describe(&self) -> String {
        let mut s = String::from("dapr sidecar");
        if let Some(status) = self.status {
            s.push_str(&format!(" answered {}", status.as_u16()));
        }
        if let Some(code) = &self.error_code {
            s.push_str(&format!(" {code}"));
        }
        if !self.message.is_empty() {
            s.push_str(": ");
            s.push_str(&self.message);
        }
        s
    }
}

#[derive(Deserialize)]
struct DaprErrorBody {
    #[serde(rename = "errorCode")]
    error_code: Option<String>,
    message: Option<String>,
}

/// The one mapping from a sidecar answer to an [`ErrorKind`]:
///
/// | answer | kind |
/// |---|---|
/// | 409, or a 4xx whose code/message is about an ETag | `Conflict` |
/// | 500 `ERR_STATE_SAVE` "failed to set key … user_script" (Redis refusing a create-only write) | `Conflict` |
/// | 408, 429 | `Unavailable` |
/// | other 4xx | `Rejected` |
/// | 5xx (and anything else that is not a success) | `Unavailable` |
///
/// Transport failures (connection refused, reset, deadline) are `Unavailable` too.
pub fn classify(status: StatusCode, error_code: Option<&str>, message: &str) -> ErrorKind {
    let about_etag = error_code.is_some_and(|c| c.to_ascii_lowercase().contains("etag"))
        || message.to_ascii_lowercase().contains("etag");
    let redis_first_write_refused = error_code == Some("ERR_STATE_SAVE")
        && message.contains("failed to set key")
        && message.contains("user_script");
    match status.as_u16() {
        409 => ErrorKind::Conflict,
        500 if redis_first_write_refused => ErrorKind::Conflict,
        408 | 429 => ErrorKind::Unavailable,
        400..=499 if about_etag => ErrorKind::Conflict,
        400..=499 => ErrorKind::Rejected,
        _ => ErrorKind::Unavailable,
    }
}

/// A sidecar answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

/// Client of one sidecar's HTTP API; cheap to clone (one connection pool).
#[derive(Clone)]
pub struct SidecarClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: Client<HttpConnector, Full<Bytes>>,
    config: DaprConfig,
}

impl std::fmt::Debug for SidecarClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SidecarClient").field("config", &self.inner.config).finish()
    }
}

impl SidecarClient {
    /// A client of the sidecar `config` names. Must be called within a Tokio runtime.
    pub fn new(config: DaprConfig) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeout));
        connector.set_keepalive(Some(Duration::from_secs(60)));
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(32)
            .build(connector);
        Self { inner: Arc::new(Inner { http, config }) }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &DaprConfig {
        &self.inner.config
    }

    /// Waits until the sidecar's components are loaded (`GET /v1.0/healthz/outbound` answers
    /// 204), polling as [`Policy::SIDECAR_READY`] says, for at most `max`. Call it after the
    /// app's own listener is up: the sidecar waits for the app port before it is fully ready.
    ///
    /// # Errors
    /// An `Unavailable` error with the last failure when `max` passes first.
    pub async fn wait_until_ready(&self, max: Duration) -> Result<(), SidecarError> {
        let deadline = tokio::time::Instant::now() + max;
        let mut pauses = Policy::SIDECAR_READY.delays();
        loop {
            let per_try = self.inner.config.timeout.min(Duration::from_secs(2));
            let last = match self.send(Method::GET, "/v1.0/healthz/outbound", HeaderMap::new(), None, per_try).await {
                Ok(a) if a.status == StatusCode::NO_CONTENT || a.status == StatusCode::OK => return Ok(()),
                Ok(a) => SidecarError::from_answer(a.status, a.body),
                Err(e) => e,
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                tracing::warn!(endpoint = %self.inner.config.http_endpoint, error = %last, "dapr sidecar not ready in time");
                return Err(SidecarError {
                    kind: ErrorKind::Unavailable,
                    message: format!("not ready after {max:?}: {}", last.describe()),
                    ..last
                });
            }
            tracing::debug!(error = %last, "waiting for the dapr sidecar");
            let pause = pauses.next().unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(pause.min(deadline - now)).await;
        }
    }

    /// Sends one request and returns whatever the sidecar answered (any status). `body` goes
    /// with `Content-Type: application/json` unless `headers` names another type.
    ///
    /// # Errors
    /// `Unavailable` when the sidecar cannot be reached or does not answer within `timeout`.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Answer, SidecarError> {
        let uri = format!("{}{}", self.inner.config.http_endpoint, path_and_query);
        let body = body.unwrap_or_default();
        if !body.is_empty() || method == Method::POST || method == Method::PUT {
            if !headers.contains_key(CONTENT_TYPE) {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
        }
        if let Some(token) = &self.inner.config.api_token {
            let value = HeaderValue::from_str(token.expose_secret())
                .map_err(|e| SidecarError::unexpected(format!("the API token is not a header value: {e}")))?;
            headers.insert(DAPR_API_TOKEN_HEADER, value);
        }
        // The trace the caller works in (`todo_ports::trace`) goes with every call.
        if !headers.contains_key(TRACEPARENT)
            && let Some(tp) = todo_ports::trace::current().and_then(|tp| HeaderValue::from_str(tp.as_str()).ok())
        {
            headers.insert(TRACEPARENT, tp);
        }
        let mut request = Request::builder()
            .method(method.clone())
            .uri(&uri)
            .body(Full::new(body))
            .map_err(|e| SidecarError::unexpected(format!("bad request {method} {uri}: {e}")))?;
        *request.headers_mut() = headers;
        let call = async {
            let response =
                self.inner.http.request(request).await.map_err(|e| {
                    SidecarError::transport(format!("{method} {path_and_query}: {e}"), Some(Box::new(e)))
                })?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .map_err(|e| {
                    SidecarError::transport(
                        format!("{method} {path_and_query}: reading the answer: {e}"),
                        Some(Box::new(e)),
                    )
                })?
                .to_bytes();
            Ok(Answer { status: parts.status, headers: parts.headers, body })
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => {
                Err(SidecarError::transport(format!("{method} {path_and_query}: no answer within {timeout:?}"), None))
            }
        }
    }

    /// Like [`SidecarClient::send`] with the configured deadline, turning every status outside
    /// 2xx into a classified [`SidecarError`].
    pub(crate) async fn call(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<Answer, SidecarError> {
        let answer = self.send(method, path_and_query, headers, body, self.inner.config.timeout).await?;
        if answer.status.is_success() { Ok(answer) } else { Err(SidecarError::from_answer(answer.status, answer.body)) }
    }
}

/// What stays as it is in a path segment or query value: the unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');
/// The same, keeping `:` too (Dapr's state keys, `conversation:{user}:{session}`).
const UNRESERVED_AND_COLON: &AsciiSet = &UNRESERVED.remove(b':');

/// Percent-encodes `s` for a URL path segment or query value: everything but the unreserved
/// characters (and `:` when `keep_colon`) is escaped.
pub(crate) fn encode(s: &str, keep_colon: bool) -> String {
    utf8_percent_encode(s, if keep_colon { UNRESERVED_AND_COLON } else { UNRESERVED }).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_table() {
        let c = |s: u16, code: Option<&str>, m: &str| classify(StatusCode::from_u16(s).unwrap(), code, m);
        assert_eq!(c(409, Some("ERR_STATE_SAVE"), "possible etag mismatch"), ErrorKind::Conflict);
        assert_eq!(c(400, Some("ERR_STATE_SAVE"), "invalid etag value"), ErrorKind::Conflict);
        assert_eq!(c(400, Some("ERR_MALFORMED_REQUEST"), "bad key"), ErrorKind::Rejected);
        assert_eq!(c(403, Some("ERR_PUBSUB_FORBIDDEN"), ""), ErrorKind::Rejected);
        assert_eq!(c(404, Some("ERR_PUBSUB_NOT_FOUND"), ""), ErrorKind::Rejected);
        assert_eq!(c(429, None, ""), ErrorKind::Unavailable);
        assert_eq!(c(500, Some("ERR_PUBSUB_PUBLISH_MESSAGE"), "broker down"), ErrorKind::Unavailable);
        let redis = "failed saving state in state store statestore: failed to set key a||k: ERR user_script:14: failed to set key a||k script: d9, on @user_script:14.";
        assert_eq!(c(500, Some("ERR_STATE_SAVE"), redis), ErrorKind::Conflict);
        assert_eq!(c(500, Some("ERR_STATE_SAVE"), "failed to set key a||k ttl: i/o timeout"), ErrorKind::Unavailable);
        assert_eq!(c(503, None, ""), ErrorKind::Unavailable);
    }

    #[test]
    fn encoding_keeps_key_characters() {
        assert_eq!(encode("conversation:u1:s-1", true), "conversation:u1:s-1");
        assert_eq!(encode("a b/c", false), "a%20b%2Fc");
        assert_eq!(encode("a:b", false), "a%3Ab");
        assert_eq!(encode("ü~", false), "%C3%BC~");
    }
}
