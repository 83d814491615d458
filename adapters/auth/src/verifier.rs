//! [`JwtVerifier`]: the [`TokenVerifier`] of signed JWTs, by a key set (RS256, ES256, EdDSA) or
//! a shared secret (HS256).
//!
//! The rules, in the order they are applied:
//! 1. a token longer than [`MAX_TOKEN_BYTES`] is refused unread;
//! 2. its header names the algorithm, which must be the one of the key source: HS256 under a
//!    secret, RS256/ES256/EdDSA under a key set, and then the one of the key its `kid` names
//!    (`alg: none` and every other algorithm are refused, so no token chooses how it is
//!    checked);
//! 3. the signature;
//! 4. `exp` is required, and it and `nbf` (when present) are checked with the leeway; `iss` and
//!    `aud` are required and checked when configured;
//! 5. the user claim is a string that is a valid [`UserId`].
//!
//! Reasons given in [`IdentityError::Invalid`] are fixed texts (and the configured claim's
//! name): never a piece of the token.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};
use todo_ports::model::UserId;
use todo_ports::{IdentityError, TokenVerifier};

use crate::config::{AuthConfigError, JwtConfig, KeySource};
use crate::jwks::{HttpSource, KeyCache};

/// The longest token read, bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The algorithms a key set may sign with.
const KEY_SET_ALGORITHMS: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

enum Keys {
    Secret(Arc<DecodingKey>),
    Jwks(KeyCache),
}

/// Verifies JWT bearer tokens as its [`JwtConfig`] says. `Debug` shows no key.
pub struct JwtVerifier {
    keys: Keys,
    validation: Validation,
    user_claim: String,
}

impl fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match self.keys {
            Keys::Secret(_) => "shared secret (HS256)",
            Keys::Jwks(_) => "key set (RS256, ES256, EdDSA)",
        };
        f.debug_struct("JwtVerifier")
            .field("keys", &keys)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .field("user_claim", &self.user_claim)
            .field("leeway_secs", &self.validation.leeway)
            .finish()
    }
}

/// Makes jsonwebtoken use its RustCrypto backend even where another crate of the build turns
/// its other backend on too (then neither is chosen by itself).
fn install_crypto_provider() {
    if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
        // Only fails when another provider won a race to be installed: then that one is used.
        let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
    }
}

impl JwtVerifier {
    /// A verifier as `config` says. With a key set, nothing is fetched yet: the first token
    /// fetches it.
    ///
    /// # Errors
    /// [`AuthConfigError::Invalid`] for an unusable secret, [`AuthConfigError::Tls`] when the
    /// https client cannot be set up.
    pub fn new(config: &JwtConfig) -> Result<Self, AuthConfigError> {
        install_crypto_provider();
        let keys = match &config.keys {
            KeySource::Secret(secret) => {
                let key = DecodingKey::from_secret(secret.expose_secret().as_bytes()).map_err(|_| {
                    AuthConfigError::Invalid { key: "AUTH_JWT_SECRET", why: "is not a usable HS256 key".to_owned() }
                })?;
                Keys::Secret(Arc::new(key))
            }
            KeySource::Jwks(url) => {
                let source = HttpSource::new(url.clone(), &config.jwks)?;
                Keys::Jwks(KeyCache::new(Box::new(source), config.jwks.clone()))
            }
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = config.leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp"];
        if let Some(issuer) = &config.issuer {
            validation.set_issuer(&[issuer]);
            required.push("iss");
        }
        match &config.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        Ok(Self { keys, validation, user_claim: config.user_claim.clone() })
    }

    /// The key that checks a token with this header, if the key source takes its algorithm.
    async fn key_for(&self, header: &jsonwebtoken::Header) -> Result<Arc<DecodingKey>, IdentityError> {
        match &self.keys {
            Keys::Secret(key) if header.alg == Algorithm::HS256 => Ok(key.clone()),
            Keys::Secret(_) => Err(invalid("algorithm not accepted: tokens here are HS256")),
            Keys::Jwks(cache) if KEY_SET_ALGORITHMS.contains(&header.alg) => {
                cache.key_for(header.kid.as_deref(), header.alg).await
            }
            Keys::Jwks(_) => Err(invalid("algorithm not accepted: tokens here are RS256, ES256 or EdDSA")),
        }
    }
}

fn invalid(reason: impl Into<String>) -> IdentityError {
    IdentityError::Invalid(reason.into())
}

/// Why a token's header cannot be read: `alg: none` named as such, anything else malformed.
fn unreadable_header(token: &str) -> IdentityError {
    let alg = token
        .split('.')
        .next()
        .and_then(|segment| URL_SAFE_NO_PAD.decode(segment).ok())
        .and_then(|json| serde_json::from_slice::<Value>(&json).ok())
        .and_then(|header| header.get("alg").and_then(Value::as_str).map(str::to_ascii_lowercase));
    match alg.as_deref() {
        Some("none") => invalid("unsigned tokens (alg none) are refused"),
        Some(_) => invalid("malformed token header or algorithm not accepted"),
        None => invalid("malformed token"),
    }
}

/// A failed check as the identity port says it.
fn refusal(error: &jsonwebtoken::errors::Error) -> IdentityError {
    let reason = match error.kind() {
        ErrorKind::ExpiredSignature => return IdentityError::Expired,
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidSignature => "bad signature".to_owned(),
        ErrorKind::InvalidIssuer => "wrong issuer".to_owned(),
        ErrorKind::InvalidAudience => "wrong audience".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => format!("the token has no `{claim}` claim"),
        ErrorKind::InvalidClaimFormat(claim) => format!("the `{claim}` claim is malformed"),
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::MissingAlgorithm => "algorithm not accepted".to_owned(),
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            "malformed token".to_owned()
        }
        _ => "token refused".to_owned(),
    };
    IdentityError::Invalid(reason)
}

/// The user the verified claims name.
fn user_of(claims: &Map<String, Value>, claim: &str) -> Result<UserId, IdentityError> {
    match claims.get(claim) {
        Some(Value::String(raw)) => {
            UserId::parse(raw).map_err(|_| invalid(format!("the `{claim}` claim is not a valid user id")))
        }
        Some(_) => Err(invalid(format!("the `{claim}` claim is not a string"))),
        None => Err(invalid(format!("the token has no `{claim}` claim"))),
    }
}

#[async_trait]
impl TokenVerifier for JwtVerifier {
    async fn verify(&self, token: &str) -> Result<UserId, IdentityError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("the token is too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| unreadable_header(token))?;
        let key = self.key_for(&header).await?;
        let mut validation = self.validation.clone();
        validation.algorithms = vec![header.alg];
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation).map_err(|e| refusal(&e))?;
        user_of(&data.claims, &self.user_claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_claim_must_be_a_valid_user_id_string() {
        let claims = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(user_of(&claims(serde_json::json!({"sub": "alice"})), "sub").unwrap().as_str(), "alice");
        for (value, reason) in [
            (serde_json::json!({"sub": 7}), "not a string"),
            (serde_json::json!({"sub": ["alice"]}), "not a string"),
            (serde_json::json!({"sub": "a:b"}), "not a valid user id"),
            (serde_json::json!({"sub": ""}), "not a valid user id"),
            (serde_json::json!({"uid": "alice"}), "no `sub` claim"),
        ] {
            let err = user_of(&claims(value.clone()), "sub").unwrap_err();
            assert!(matches!(&err, IdentityError::Invalid(r) if r.contains(reason)), "{value}: {err:?}");
        }
    }

    #[test]
    fn an_unreadable_header_says_whether_it_was_alg_none() {
        let none = format!("{}.e30.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#));
        assert!(matches!(unreadable_header(&none), IdentityError::Invalid(r) if r.contains("alg none")));
        assert!(matches!(unreadable_header("garbage"), IdentityError::Invalid(r) if r == "malformed token"));
    }
}
