//! The diagnostic source every port error may carry.

/// An adapter's underlying error, kept for logs; callers act on the enclosing error's kind.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
