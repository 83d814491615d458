//! Identifiers: a task's integer id and the id of the user who owns it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A task's id, assigned by the task repository (positive, as the seed schema's `integer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(pub i64);

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The owner of tasks, conversations and notifications. Carried by every event so that
/// consumers can keep users' data apart.
///
/// 1 to 128 characters from `A-Z a-z 0-9 _ - . @`, not made of dots alone (so never `.` or `..`
/// in a path), and no `:` (it separates state-store key parts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// Parses a user id, refusing empty, overlong or oddly spelled ones.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        parse_key_part(raw, "user_id").map(Self)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for UserId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// Checks one part of a composite key (user id, session id).
pub(crate) fn parse_key_part(raw: &str, field: &str) -> Result<String, ValidationError> {
    if raw.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if raw.len() > 128 {
        return Err(ValidationError::new(field, "must be at most 128 characters"));
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@')) {
        return Err(ValidationError::new(field, "may contain only letters, digits, '_', '-', '.' and '@'"));
    }
    if raw.bytes().all(|b| b == b'.') {
        return Err(ValidationError::new(field, "must not be made of dots alone"));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_short_plain_words() {
        assert!(UserId::parse("usr_abc123").is_ok());
        assert!(UserId::parse("a.b-c").is_ok());
        assert!(UserId::parse("ada@example.org").is_ok());
        assert!(UserId::parse(&"x".repeat(128)).is_ok());
        for bad in ["", ".", "..", "...", "a:b", "a b", "a/b", "ü", "a\u{0}", &"x".repeat(129)] {
            assert_eq!(UserId::parse(bad).unwrap_err().field, "user_id", "{bad:?}");
        }
    }
}
