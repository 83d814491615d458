//! Use-case errors as API errors: the one place a [`ServiceError`] becomes a status.

use http::StatusCode;
use todo_http_server::ApiError;
use todo_ports::model::ValidationError;
use todo_ports::{ChatError, ServiceError};

/// The answer to a failed use case: 422 naming the field, 404, 409, 503 (logged), 500 (logged).
pub(crate) fn from_service(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Invalid(e) => from_validation(e),
        ServiceError::NotFound(what) => ApiError::not_found(what),
        ServiceError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
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

/// The answer to a failed chat turn: as [`from_service`] for the conversation's store, 503
/// `chat_unavailable` (saying what to set) without a model, 503 `model_unavailable` when it
/// cannot be reached, 502 when it refuses, answers garbage or keeps calling tools. What the
/// model's API said stays in the log: it may name the key or the deployment.
pub(crate) fn from_chat(e: ChatError) -> ApiError {
    let bad_gateway = |code, message: &str| ApiError::new(StatusCode::BAD_GATEWAY, code, message);
    match e {
        ChatError::Invalid(e) => from_validation(e),
        ChatError::Unconfigured(hint) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "chat_unavailable", hint),
        ChatError::ModelUnavailable(source) => {
            tracing::warn!(error = %source, "the chat model is unavailable");
            let message = "the assistant's model cannot be reached now; retry shortly";
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "model_unavailable", message)
        }
        ChatError::ModelRejected(why) => {
            tracing::error!(why, "the chat model's API refused the request");
            bad_gateway("model_rejected", "the assistant's model refused the request")
        }
        ChatError::ModelMalformed(why) => {
            tracing::warn!(why, "the chat model's answer is malformed");
            bad_gateway("model_failed", "the assistant's model answered something unreadable")
        }
        ChatError::TooManyRounds(rounds) => {
            let message = format!("the assistant was still calling tools after {rounds} rounds; what they did is kept");
            bad_gateway("too_many_rounds", &message)
        }
        ChatError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
        ChatError::Unavailable(source) => from_service(ServiceError::Unavailable(source)),
        ChatError::Internal(source) => from_service(ServiceError::Internal(source)),
    }
}

/// 422 about the rule's field.
pub(crate) fn from_validation(e: ValidationError) -> ApiError {
    ApiError::invalid(e.field, e.message)
}
