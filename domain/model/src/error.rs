//! The one error of the model: an input that breaks a rule, naming the field it concerns.

/// A rule of the domain that an input breaks. `field` is the input's field name as clients
/// spell it (`title`, `recurrence.frequency`, ...), so an HTTP adapter can echo it back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// Field the rule is about.
    pub field: String,
    /// What is wrong, in lowercase words.
    pub message: String,
}

impl ValidationError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}
