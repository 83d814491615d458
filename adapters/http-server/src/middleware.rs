//! What every request goes through, whatever route it reaches: a request id and a log line,
//! JSON bodies on every error, and a panic turned into a 500 for that request alone.

use std::time::Instant;

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, StatusCode};
use tracing::Instrument;

use todo_ports::model::TraceParent;

use crate::ApiError;

/// The header carrying the request id, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The trace a request works in: a child of the caller's `traceparent` when it sent a valid
/// one, else a new trace.
fn trace_of(req: &Request) -> TraceParent {
    req.headers()
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
        .map_or_else(TraceParent::root, |tp| tp.child())
}

/// The id of a request: its own `X-Request-ID` when that is a short plain token, else the id
/// of its trace.
fn request_id(req: &Request, trace: &TraceParent) -> String {
    let plain = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    req.headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| plain(id))
        .map_or_else(|| trace.trace_id().to_owned(), str::to_owned)
}

/// Gives the request its trace and id, runs it in a span that carries both (and in the trace,
/// so that the events it writes and the calls it makes continue it), answers with the id in
/// `X-Request-ID`, and logs one line per request.
pub(crate) async fn log_and_id(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let trace = trace_of(&req);
    let id = request_id(&req, &trace);
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let span = tracing::info_span!("request", request_id = %id, trace_id = trace.trace_id());
    let mut response = todo_ports::trace::scope(Some(trace), next.run(req)).instrument(span.clone()).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    let status = response.status().as_u16();
    span.in_scope(|| {
        tracing::info!(%method, path = ?path, status, elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, "request");
    });
    response
}

/// Gives an error response that has no JSON body (a 405 from the router, a rejection of an
/// extractor) the API's error body, keeping its status and headers (`Allow` among them).
pub(crate) async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let is_error = response.status().is_client_error() || response.status().is_server_error();
    let is_json = response.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_error || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let mut error = ApiError::for_status(parts.status);
    let text = String::from_utf8_lossy(&text).trim().to_owned();
    if !text.is_empty() && parts.status.is_client_error() {
        error.message = text;
    }
    parts.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    parts.headers.remove(CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(error.body()))
}

/// The answer to a request whose handler panicked: a 500, logged with the panic's message in
/// the request's span (so with its request id); the connection and every other request go on.
pub(crate) fn panicked(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    tracing::error!(panic = ?message, "request handler panicked");
    ApiError::internal().into_response()
}

/// The answer to a path no route serves.
pub(crate) async fn no_route() -> Response {
    ApiError::for_status(StatusCode::NOT_FOUND).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder().uri("/");
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn the_trace_continues_the_callers_and_the_id_is_the_clients_or_the_traces() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let req = request(&[("traceparent", tp), ("x-request-id", "r1")]);
        let trace = trace_of(&req);
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(trace.as_str(), tp, "a span of its own in the caller's trace");
        assert_eq!(request_id(&req, &trace), "r1");
        let req = request(&[("traceparent", "garbage"), ("x-request-id", "evil id; forged")]);
        let trace = trace_of(&req);
        assert_eq!(request_id(&req, &trace), trace.trace_id());
    }
}
