//! The two ways to a session: the development sign-in (a typed user id, and a token from
//! [`DevTokens`]) and the OpenID Connect authorization-code flow with PKCE ([`OidcFlow`], which
//! the frontend app plugs a relying party into).

use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use todo_ports::model::UserId;

/// Why a sign-in failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// The identity provider (or the token signer) cannot be reached or refused to serve now.
    #[error("sign-in is unavailable: {0}")]
    Unavailable(String),
    /// What came back does not complete a sign-in (a wrong `state`, a refused code, a token
    /// that does not verify, no usable user id).
    #[error("sign-in refused: {0}")]
    Refused(String),
}

/// A token for a user, and when it expires. `Debug` shows no token.
pub struct Issued {
    /// The bearer token, `None` when the services check none (the all-in-one app running open).
    pub token: Option<SecretString>,
    /// Its expiry (the session ends then too).
    pub expires_at: SystemTime,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Tokens for the development sign-in: whoever types a user id gets that user's token. Only
/// ever configured on loopback ([`crate::WebConfig::dev_sign_in`]).
pub trait DevTokens: Send + Sync {
    /// A token for `user`, valid for `lifetime`.
    ///
    /// # Errors
    /// [`SignInError::Unavailable`] when no token can be made.
    fn issue(&self, user: &UserId, lifetime: Duration) -> Result<Issued, SignInError>;
}

/// No token at all: the services behind run without authentication (the all-in-one app on
/// loopback with nothing configured), so the session's user id is all the frontend needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Untokened;

impl DevTokens for Untokened {
    fn issue(&self, _user: &UserId, lifetime: Duration) -> Result<Issued, SignInError> {
        Ok(Issued { token: None, expires_at: SystemTime::now() + lifetime })
    }
}

/// What the frontend keeps (sealed, in a short-lived cookie) between sending the browser to
/// the identity provider and its coming back. `Debug` shows none of it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent, which the callback must return.
    pub state: String,
    /// The `nonce` sent, which the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub verifier: String,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PendingLogin([redacted])")
    }
}

/// A completed sign-in. `Debug` shows no token.
pub struct SignedIn {
    /// The token the services accept (the ID token, whose signature they verify against the
    /// provider's key set).
    pub token: SecretString,
    /// The user it names.
    pub user_id: UserId,
    /// When it expires.
    pub expires_at: SystemTime,
}

impl fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedIn").field("user_id", &self.user_id).field("expires_at", &self.expires_at).finish()
    }
}

/// An OpenID Connect relying party: the authorization-code flow with PKCE.
///
/// `GET /auth/login` calls [`OidcFlow::begin`] and redirects the browser to its URL, keeping the
/// [`PendingLogin`] sealed in a cookie; `GET /auth/callback?code&state` calls
/// [`OidcFlow::finish`] with it and starts the session.
#[async_trait]
pub trait OidcFlow: Send + Sync {
    /// The provider's authorization URL to send the browser to, and what to keep until it
    /// comes back.
    ///
    /// # Errors
    /// [`SignInError::Unavailable`] when the provider cannot be reached.
    async fn begin(&self) -> Result<(String, PendingLogin), SignInError>;

    /// Exchanges `code` (checking `state` against `pending`) for a verified token.
    ///
    /// # Errors
    /// [`SignInError::Refused`] for a wrong state, a refused code or a token that does not
    /// verify; [`SignInError::Unavailable`] when the provider cannot be reached.
    async fn finish(&self, pending: PendingLogin, code: &str, state: &str) -> Result<SignedIn, SignInError>;
}
