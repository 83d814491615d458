//! `HsSigner`: the tokens it signs are the ones a verifier of the same configuration accepts,
//! with that configuration's issuer, audience and user claim; nothing else can be signed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use todo_auth::testing::TestIssuer;
use todo_auth::{HsSigner, JwtConfig, JwtVerifier, MintError};
use todo_ports::model::UserId;
use todo_ports::{IdentityError, TokenVerifier};

fn secret_config() -> JwtConfig {
    JwtConfig::secret(SecretString::from("a-test-secret-of-more-than-32-bytes!")).unwrap()
}

#[tokio::test]
async fn a_signed_token_verifies_under_the_same_configuration() {
    let config = secret_config().with_issuer("todo-dev").with_audience("todo").with_user_claim("preferred_username");
    let minted =
        HsSigner::new(&config).unwrap().sign(&UserId::parse("alice").unwrap(), Duration::from_secs(600)).unwrap();
    let user = JwtVerifier::new(&config).unwrap().verify(minted.token.expose_secret()).await.unwrap();
    assert_eq!(user.as_str(), "alice");
    let left = minted.expires_at.duration_since(SystemTime::now()).unwrap();
    assert!(left <= Duration::from_secs(600) && left > Duration::from_secs(590), "{left:?}");
    assert!(!format!("{minted:?}").contains(minted.token.expose_secret()), "no token in Debug");
}

#[tokio::test]
async fn another_secret_or_issuer_refuses_it() {
    let token = HsSigner::new(&secret_config()).unwrap().sign(&UserId::parse("bob").unwrap(), Duration::from_secs(60));
    let token = token.unwrap().token;
    let other = JwtConfig::secret(SecretString::from("another-secret-of-more-than-32-bytes")).unwrap();
    for config in [other, secret_config().with_issuer("someone-else")] {
        let refused = JwtVerifier::new(&config).unwrap().verify(token.expose_secret()).await;
        assert!(matches!(refused, Err(IdentityError::Invalid(_))), "{refused:?}");
    }
}

#[tokio::test]
async fn only_a_shared_secret_can_sign_and_only_sane_lifetimes() {
    let issuer = TestIssuer::start().await.unwrap();
    assert_eq!(HsSigner::new(&issuer.config()).unwrap_err(), MintError::NoSecret);
    let signer = HsSigner::new(&secret_config()).unwrap();
    let alice = UserId::parse("alice").unwrap();
    assert_eq!(signer.sign(&alice, Duration::ZERO).unwrap_err(), MintError::Lifetime);
    assert_eq!(signer.sign(&alice, Duration::from_secs(400 * 365 * 24 * 3600)).unwrap_err(), MintError::Lifetime);
}
