//! Who is calling: the driven port that turns a caller's bearer token into the user it speaks
//! for. Inbound adapters (REST, WebSocket, MCP) ask it before touching anything of a user.

use async_trait::async_trait;
use todo_model::UserId;

use crate::BoxError;

/// Why a token does not name a user.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// No token came with the call.
    #[error("no bearer token")]
    Missing,
    /// The token is not one this system accepts: malformed, badly signed, of a refused
    /// algorithm, from another issuer or audience, not yet valid, or without a usable user claim.
    /// The reason is safe to show the caller: it never quotes the token.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token was valid once and has expired.
    #[error("expired token")]
    Expired,
    /// The keys to check it with cannot be had now (the key set's server is down): try again.
    #[error("cannot verify tokens now: {0}")]
    Unavailable(BoxError),
}

/// Verifies bearer tokens.
#[cfg_attr(feature = "testing", mockall::automock)]
#[async_trait]
pub trait TokenVerifier: Send + Sync {
    /// The user `token` speaks for.
    ///
    /// # Errors
    /// [`IdentityError`]: why it speaks for no one.
    async fn verify(&self, token: &str) -> Result<UserId, IdentityError>;
}

/// The verified user of one inbound call, put beside the request by the inbound guard for the
/// handlers behind it (a route that serves a user reads it; a missing one means no identity).
/// With the guard off (embedded defaults) it is the user the request names, unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub UserId);
