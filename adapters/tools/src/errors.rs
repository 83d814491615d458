//! Use-case and REST parsing errors as tool errors: the one place a [`ServiceError`] or an
//! [`ApiError`] becomes a [`ToolError`].

use todo_http_server::ApiError;
use todo_ports::{ServiceError, ToolError};

/// A rule broken by argument `field`.
pub(crate) fn invalid(field: &str, message: &str) -> ToolError {
    ToolError::Invalid { field: Some(field.to_owned()), message: message.to_owned() }
}

/// A failed use case: a broken rule names its field, an unknown task is not found, a storm of
/// concurrent writers is worth a retry (as a dependency down is), anything else is internal.
pub(crate) fn from_service(e: ServiceError) -> ToolError {
    match e {
        ServiceError::Invalid(e) => ToolError::Invalid { field: Some(e.field), message: e.message },
        ServiceError::NotFound(what) => ToolError::NotFound(what.to_owned()),
        ServiceError::Conflict(message) => ToolError::Unavailable(message.into()),
        ServiceError::Unavailable(source) => ToolError::Unavailable(source),
        ServiceError::Internal(source) => ToolError::Internal(source),
    }
}

/// An input the REST parsing refused (a 400 or 422 naming its field). Its message starts with
/// the field it is about (`title: ...`, `tags[1]: ...`, or the object holding a missing field,
/// `recurrence: missing field ...`); a tool error names the field apart, so that prefix goes.
pub(crate) fn from_api(e: ApiError) -> ToolError {
    let message = match (&e.field, e.message.split_once(": ")) {
        (Some(field), Some((head, rest))) if about(field, head) => rest.to_owned(),
        _ => e.message.clone(),
    };
    ToolError::Invalid { field: e.field, message }
}

/// Whether the message prefix `head` (a path such as `tags[1]` or `recurrence`) is `field` or
/// the object holding it.
fn about(field: &str, head: &str) -> bool {
    let path: String = head.split('[').next().unwrap_or(head).to_owned();
    field == path || field.strip_prefix(&path).is_some_and(|rest| rest.starts_with('.'))
}
