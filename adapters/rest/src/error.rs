//! Use-case errors as API errors: the one place a [`ServiceError`] becomes a status.

use todo_http_server::ApiError;
use todo_ports::ServiceError;
use todo_ports::model::ValidationError;

/// The answer to a failed use case: 422 naming the field, 404, 409, 503 (logged), 500 (logged).
pub(crate) fn from_service(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Invalid(e) => from_validation(e),
        ServiceError::NotFound(what) => ApiError::not_found(what),
        ServiceError::Conflict(message) => ApiError::new(http::StatusCode::CONFLICT, "conflict", message),
        ServiceError::Unavailable(source) => {
            tracing::warn!(error = %source, "dependency unavailable");
            ApiError::unavailable()
        }
        ServiceError::Internal(source) => {
            tracing::error!(error = %source, "internal error");
            ApiError::internal()
        }
    }
}

/// 422 about the rule's field.
pub(crate) fn from_validation(e: ValidationError) -> ApiError {
    ApiError::invalid(e.field, e.message)
}
