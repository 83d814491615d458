//! Path segments, parsed strictly: a user id by its documented pattern (400 otherwise), a task id
//! in canonical decimal only (`7`, never `+7`, `07` or `0`; anything else names no task: 404).

use todo_http_server::ApiError;
use todo_ports::model::{ConversationKey, SessionId, TaskId, UserId};

/// The `{user_id}` segment.
pub(crate) fn user_id(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|e| ApiError::bad_parameter("user_id", e.message))
}

/// The `{task_id}` segment: a positive integer written as `i64` prints it.
pub(crate) fn task_id(raw: &str) -> Result<TaskId, ApiError> {
    canonical_task_id(raw).ok_or_else(|| ApiError::not_found("task"))
}

/// A task id in canonical decimal, wherever it is written (a path segment, a query parameter, a
/// tool's argument).
pub fn canonical_task_id(raw: &str) -> Option<TaskId> {
    let canonical = !raw.is_empty() && !raw.starts_with('0') && raw.bytes().all(|b| b.is_ascii_digit());
    raw.parse::<i64>().ok().filter(|_| canonical).map(TaskId)
}

/// The `{user_id}` and `{session_id}` segments.
pub(crate) fn conversation(user: &str, session: &str) -> Result<ConversationKey, ApiError> {
    let session_id = SessionId::parse(session).map_err(|e| ApiError::bad_parameter("session_id", e.message))?;
    Ok(ConversationKey { user_id: user_id(user)?, session_id })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_are_canonical_positive_decimals() {
        assert_eq!(task_id("7").unwrap(), TaskId(7));
        assert_eq!(task_id("9223372036854775807").unwrap(), TaskId(i64::MAX));
        for bad in ["", "0", "07", "+7", "-7", " 7", "7 ", "7.0", "1e3", "abc", "9223372036854775808"] {
            assert_eq!(task_id(bad).unwrap_err().code, "not_found", "{bad:?}");
        }
    }

    #[test]
    fn user_ids_follow_the_pattern() {
        assert!(user_id("ada@example.org").is_ok());
        for bad in [".", "..", "...", "", "a:b", "a b"] {
            assert_eq!(user_id(bad).unwrap_err().code, "invalid_parameter", "{bad:?}");
        }
    }
}
