//! The API's error: a status, a stable code and a message, written as
//! `{"error":{"code","message"}}`. Every failure of a request ends up here.

use hyper::StatusCode;
use todo_ports::ServiceError;
use todo_ports::model::ValidationError;

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

impl ApiError {
    /// An error without a field.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None }
    }

    /// 400: the body is not JSON.
    pub fn malformed_json(detail: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", format!("request body is not valid JSON: {detail}"))
    }

    /// 400: a path segment or query parameter is invalid.
    pub fn bad_parameter(name: &str, message: impl std::fmt::Display) -> Self {
        Self {
            field: Some(name.to_owned()),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", format!("{name}: {message}"))
        }
    }

    /// 404 for an unknown route or resource.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    /// 422: a field breaks a rule.
    pub fn invalid(e: ValidationError) -> Self {
        Self {
            message: e.to_string(),
            field: Some(e.field),
            ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "")
        }
    }

    /// The error as a JSON body.
    pub fn body(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(field) = &self.field {
            error["field"] = field.as_str().into();
        }
        serde_json::json!({ "error": error })
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::invalid(e)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid(e) => Self::invalid(e),
            ServiceError::NotFound(what) => Self::not_found(what),
            ServiceError::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            ServiceError::Unavailable(source) => {
                tracing::warn!(error = %source, "dependency unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "a dependency is unavailable; retry shortly")
            }
            ServiceError::Internal(source) => {
                tracing::error!(error = %source, "internal error");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error")
            }
        }
    }
}
