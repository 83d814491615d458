//! The error every route answers with: a status, a stable code and a message, written as
//! `{"error":{"code","message","field"?}}` with `Content-Type: application/json`.

use axum::response::{IntoResponse, Response};
use http::header::{CONNECTION, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

/// A failed request, ready to be written as a JSON error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable, machine-readable code (`validation_failed`, `not_found`, ...).
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The input field concerned, for validation errors.
    pub field: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None }
    }

    /// The same error about `field`.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400: the body is not JSON.
    pub fn malformed_json(detail: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", format!("request body is not valid JSON: {detail}"))
    }

    /// 400: a path segment or query parameter is invalid.
    pub fn bad_parameter(name: &str, message: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", format!("{name}: {message}")).with_field(name)
    }

    /// 404 for an unknown route or resource.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 422: a field breaks a rule.
    pub fn invalid(field: impl Into<String>, message: impl std::fmt::Display) -> Self {
        let field = field.into();
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", format!("{field}: {message}"))
            .with_field(field)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the caller is known but may not do this (another user's resources).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 503: a dependency is down; the client may retry shortly.
    pub fn unavailable() -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "a dependency is unavailable; retry shortly")
    }

    /// 500: a bug; details are in the log, not in the answer.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Vec<u8> {
        let body = Body { error: Inner { code: self.code, message: &self.message, field: self.field.as_deref() } };
        serde_json::to_vec(&body)
            .unwrap_or_else(|_| br#"{"error":{"code":"internal","message":"internal error"}}"#.to_vec())
    }

    /// The stable code and message of a status the server writes without a route (hyper's own
    /// errors, a method not allowed, a route not found).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, message) = match status.as_u16() {
            400 => ("bad_request", "the request is not valid HTTP/1.1"),
            404 => ("not_found", "route not found"),
            405 => ("method_not_allowed", "method not allowed; see the Allow header"),
            408 => ("request_timeout", "the request took too long to arrive"),
            413 => ("payload_too_large", "request body too large"),
            414 => ("uri_too_long", "request target too long"),
            431 => ("headers_too_large", "request headers too large"),
            501 => ("not_implemented", "not implemented"),
            503 => ("unavailable", "a dependency is unavailable; retry shortly"),
            505 => ("http_version_not_supported", "only HTTP/1.1 and HTTP/1.0 are served"),
            s if s >= 500 => ("internal", "internal error"),
            _ => ("error", "the request failed"),
        };
        Self::new(status, code, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body()).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        match self.status {
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            // The rest of such a body may still be on its way: do not read it as the next request.
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT => {
                headers.insert(CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_has_the_documented_shape() {
        let e = ApiError::invalid("title", "must not be blank");
        let v: serde_json::Value = serde_json::from_slice(&e.body()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"code": "validation_failed", "message": "title: must not be blank", "field": "title"}})
        );
        let v: serde_json::Value = serde_json::from_slice(&ApiError::not_found("task").body()).unwrap();
        assert!(v["error"].get("field").is_none());
    }
}
