//! Tokens this system signs itself: HS256 with the shared secret the services verify
//! (`AUTH_JWT_SECRET`), carrying the claims [`JwtVerifier`](crate::JwtVerifier) checks under the
//! same [`JwtConfig`]. For development sign-ins on loopback only; a deployment signs users in
//! through an OpenID provider instead.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value};
use todo_ports::model::UserId;

use crate::config::{JwtConfig, KeySource};

/// Why no token could be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// The configuration verifies with a key set, whose private keys this process does not hold.
    #[error("tokens can be signed only with AUTH_JWT_SECRET (a key set's private keys are the issuer's)")]
    NoSecret,
    /// The lifetime does not fit a token (zero, or beyond the calendar).
    #[error("a token lifetime must be between 1 second and 10 years")]
    Lifetime,
    /// The signature could not be made.
    #[error("signing the token failed: {0}")]
    Sign(String),
}

/// A signed token and when it expires.
pub struct Minted {
    /// The compact JWT; never in `Debug`.
    pub token: SecretString,
    /// Its `exp`.
    pub expires_at: SystemTime,
}

impl fmt::Debug for Minted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minted").field("token", &"[redacted]").field("expires_at", &self.expires_at).finish()
    }
}

/// Signs HS256 tokens that a verifier of the same [`JwtConfig`] accepts: the user in its
/// `user_claim`, `iat`, `exp`, and `iss`/`aud` when the configuration demands them.
pub struct HsSigner {
    key: EncodingKey,
    issuer: Option<String>,
    audience: Option<String>,
    user_claim: String,
}

impl fmt::Debug for HsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HsSigner")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("user_claim", &self.user_claim)
            .finish_non_exhaustive()
    }
}

/// The longest lifetime accepted.
const MAX_LIFETIME: Duration = Duration::from_secs(10 * 366 * 24 * 3600);

impl HsSigner {
    /// A signer for the tokens `config` verifies.
    ///
    /// # Errors
    /// [`MintError::NoSecret`] when `config` verifies with a key set.
    pub fn new(config: &JwtConfig) -> Result<Self, MintError> {
        let KeySource::Secret(secret) = &config.keys else { return Err(MintError::NoSecret) };
        Ok(Self {
            key: EncodingKey::from_secret(secret.expose_secret().as_bytes())
                .map_err(|e| MintError::Sign(e.to_string()))?,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            user_claim: config.user_claim.clone(),
        })
    }

    /// A token for `user`, valid for `lifetime` from now.
    ///
    /// # Errors
    /// [`MintError::Lifetime`] for a zero or absurd lifetime, [`MintError::Sign`] if signing fails.
    pub fn sign(&self, user: &UserId, lifetime: Duration) -> Result<Minted, MintError> {
        if lifetime.is_zero() || lifetime > MAX_LIFETIME {
            return Err(MintError::Lifetime);
        }
        let now = SystemTime::now();
        let expires_at = now + Duration::from_secs(lifetime.as_secs().max(1));
        let secs = |t: SystemTime| t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        let mut claims = Map::new();
        claims.insert(self.user_claim.clone(), Value::from(user.as_str()));
        claims.insert("iat".into(), Value::from(secs(now)));
        claims.insert("exp".into(), Value::from(secs(expires_at)));
        if let Some(iss) = &self.issuer {
            claims.insert("iss".into(), Value::from(iss.as_str()));
        }
        if let Some(aud) = &self.audience {
            claims.insert("aud".into(), Value::from(aud.as_str()));
        }
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| MintError::Sign(e.to_string()))?;
        Ok(Minted { token: SecretString::from(token), expires_at })
    }
}
