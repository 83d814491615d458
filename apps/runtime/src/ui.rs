//! The web UI's pieces that depend on how the services verify tokens, shared by the all-in-one
//! app and the frontend app: which tokens the development sign-in hands out.

use std::sync::Arc;
use std::time::Duration;

use todo_adapter_web::{DevTokens, Issued, SignInError, Untokened};
use todo_auth::{AuthConfig, HsSigner, KeySource};
use todo_ports::model::UserId;

/// The tokens of the development sign-in, for services verifying as `auth` says: HS256 under
/// `AUTH_JWT_SECRET` (with its `AUTH_ISSUER`, `AUTH_AUDIENCE`, `AUTH_USER_CLAIM`), or none when
/// the services check no token (`AUTH_MODE=none`, or the all-in-one app running open).
///
/// # Errors
/// A key set (`AUTH_JWKS_URL`): its private keys are the issuer's, so there is nothing to sign
/// with; nothing configured outside the all-in-one app.
pub fn dev_tokens(auth: &AuthConfig) -> Result<Arc<dyn DevTokens>, String> {
    match auth {
        AuthConfig::Jwt(jwt) => match &jwt.keys {
            KeySource::Secret(_) => {
                Ok(Arc::new(Signed(HsSigner::new(jwt).map_err(|e| format!("AUTH_DEV_SIGNER: {e}"))?)))
            }
            KeySource::Jwks(_) => Err("AUTH_DEV_SIGNER signs with AUTH_JWT_SECRET; with AUTH_JWKS_URL sign in \
                                       through the provider (OIDC_ISSUER_URL) instead"
                .into()),
        },
        AuthConfig::Off => Ok(Arc::new(Untokened)),
        AuthConfig::Unconfigured => Err("AUTH_DEV_SIGNER needs the services' AUTH_JWT_SECRET (or AUTH_MODE=none \
                                         where they run without authentication)"
            .into()),
    }
}

/// Development tokens signed with the shared secret.
struct Signed(HsSigner);

impl DevTokens for Signed {
    fn issue(&self, user: &UserId, lifetime: Duration) -> Result<Issued, SignInError> {
        let minted = self.0.sign(user, lifetime).map_err(|e| SignInError::Unavailable(e.to_string()))?;
        Ok(Issued { token: Some(minted.token), expires_at: minted.expires_at })
    }
}
