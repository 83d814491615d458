//! `JwtVerifier` against a test issuer serving its key set over loopback HTTP, and under a
//! shared secret: what it accepts, what it refuses and why, and how it fetches keys.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use todo_auth::testing::{KeyKind, TestIssuer, hs256};
use todo_auth::{JwtConfig, JwtVerifier};
use todo_ports::{IdentityError, TokenVerifier};

const SECRET: &[u8] = b"a-test-secret-of-more-than-32-bytes!";

fn verifier(config: &JwtConfig) -> JwtVerifier {
    JwtVerifier::new(config).unwrap()
}

fn secret_config() -> JwtConfig {
    JwtConfig::secret(SecretString::from(std::str::from_utf8(SECRET).unwrap())).unwrap()
}

async fn user(verifier: &JwtVerifier, token: &str) -> String {
    match verifier.verify(token).await {
        Ok(user) => user.as_str().to_owned(),
        Err(e) => panic!("expected the token to verify, got {e:?}"),
    }
}

/// The reason of an `Invalid` refusal (anything else fails the test).
async fn invalid(verifier: &JwtVerifier, token: &str) -> String {
    match verifier.verify(token).await {
        Err(IdentityError::Invalid(reason)) => {
            assert!(token.len() < 8 || !reason.contains(token), "the reason echoes the token");
            reason
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_of_each_key_set_algorithm_verify() {
    let issuer = TestIssuer::start_with(&[KeyKind::Ed25519, KeyKind::P256, KeyKind::Rsa]).await.unwrap();
    let verifier = verifier(&issuer.config());
    for (kind, sub) in [(KeyKind::Ed25519, "alice"), (KeyKind::P256, "bob"), (KeyKind::Rsa, "carol")] {
        assert_eq!(user(&verifier, &issuer.token_by(kind, sub).sign()).await, sub, "{kind:?}");
    }
    assert_eq!(issuer.fetches(), 1, "one fetch served all three");
}

#[tokio::test]
async fn hs256_tokens_verify_under_the_secret() {
    let verifier = verifier(&secret_config());
    assert_eq!(user(&verifier, &hs256(SECRET, "alice").sign()).await, "alice");
    let reason = invalid(&verifier, &hs256(b"another-secret-of-more-than-32-bytes", "alice").sign()).await;
    assert_eq!(reason, "bad signature");
}

#[tokio::test]
async fn expiry_is_required_and_checked_with_the_leeway() {
    let verifier = verifier(&secret_config().with_leeway(Duration::from_secs(30)));
    assert_eq!(user(&verifier, &hs256(SECRET, "alice").expires_in(-10).sign()).await, "alice", "within the leeway");
    let expired = hs256(SECRET, "alice").expires_in(-60).sign();
    assert!(matches!(verifier.verify(&expired).await, Err(IdentityError::Expired)));
    let reason = invalid(&verifier, &hs256(SECRET, "alice").without("exp").sign()).await;
    assert!(reason.contains("`exp`"), "{reason}");
    let reason = invalid(&verifier, &hs256(SECRET, "alice").claim("exp", "tomorrow").sign()).await;
    assert!(reason.contains("`exp`"), "{reason}");
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused_beyond_the_leeway() {
    let verifier = verifier(&secret_config().with_leeway(Duration::from_secs(30)));
    assert_eq!(user(&verifier, &hs256(SECRET, "alice").not_before_in(10).sign()).await, "alice");
    let reason = invalid(&verifier, &hs256(SECRET, "alice").not_before_in(120).sign()).await;
    assert!(reason.contains("nbf"), "{reason}");
}

/// `token` with its claims replaced, its signature kept.
fn with_claims(token: &str, claims: &serde_json::Value) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
    parts.join(".")
}

#[tokio::test]
async fn a_changed_token_or_one_signed_by_a_stranger_has_a_bad_signature() {
    let issuer = TestIssuer::start().await.unwrap();
    let verifier = verifier(&issuer.config());
    let token = issuer.token("alice").sign();
    let exp = todo_auth::testing::now() + 600;
    let forged = with_claims(&token, &serde_json::json!({"sub": "bob", "exp": exp, "iss": issuer.issuer()}));
    assert_eq!(invalid(&verifier, &forged).await, "bad signature");
    let stranger = TestIssuer::start().await.unwrap();
    let foreign = stranger.token("alice").kid(Some(&issuer.kid(KeyKind::Ed25519))).issuer(&issuer.issuer()).sign();
    assert_eq!(invalid(&verifier, &foreign).await, "bad signature");
    for garbage in ["", "abc", "a.b.c", "....", &format!("{token}.extra")] {
        invalid(&verifier, garbage).await;
    }
}

#[tokio::test]
async fn unsigned_tokens_are_refused() {
    let issuer = TestIssuer::start().await.unwrap();
    let verifier = verifier(&issuer.config());
    let reason = invalid(&verifier, &issuer.token("alice").unsigned()).await;
    assert!(reason.contains("alg none"), "{reason}");
    let under_secret = self::verifier(&secret_config());
    invalid(&under_secret, &hs256(SECRET, "alice").unsigned()).await;
}

#[tokio::test]
async fn a_token_signed_with_another_algorithm_than_its_keys_is_refused() {
    let issuer = TestIssuer::start_with(&[KeyKind::Rsa, KeyKind::Ed25519]).await.unwrap();
    let verifier = verifier(&issuer.config());
    // HS256 "signed" with the RSA public key's bytes, naming the RSA key: the classic forgery.
    let pem = issuer.public_key_pem(KeyKind::Rsa);
    let der = issuer.public_key_der(KeyKind::Rsa);
    for secret in [pem.as_bytes(), der.as_slice()] {
        let reason = invalid(&verifier, &issuer.token_by(KeyKind::Rsa, "alice").sign_hs256_with(secret)).await;
        assert!(reason.contains("algorithm"), "{reason}");
    }
    // A key set token under a secret, and a secret's token against a key set.
    let under_secret = self::verifier(&secret_config());
    assert!(invalid(&under_secret, &issuer.token_by(KeyKind::Rsa, "alice").sign()).await.contains("algorithm"));
    assert!(invalid(&verifier, &hs256(SECRET, "alice").sign()).await.contains("algorithm"));
    // An Ed25519-signed token naming the RSA key's kid.
    let rsa_kid = issuer.kid(KeyKind::Rsa);
    let reason = invalid(&verifier, &issuer.token_by(KeyKind::Ed25519, "alice").kid(Some(&rsa_kid)).sign()).await;
    assert!(reason.contains("algorithm"), "{reason}");
}

#[tokio::test]
async fn issuer_and_audience_are_checked_when_configured() {
    let issuer = TestIssuer::start().await.unwrap();
    let verifier = verifier(&issuer.config().with_audience("todo"));
    assert_eq!(user(&verifier, &issuer.token("alice").audience("todo").sign()).await, "alice");
    let listed = issuer.token("alice").claim("aud", serde_json::json!(["other", "todo"])).sign();
    assert_eq!(user(&verifier, &listed).await, "alice");
    assert_eq!(invalid(&verifier, &issuer.token("alice").audience("other").sign()).await, "wrong audience");
    assert!(invalid(&verifier, &issuer.token("alice").sign()).await.contains("`aud`"));
    let elsewhere = issuer.token("alice").audience("todo").issuer("https://elsewhere.example").sign();
    assert_eq!(invalid(&verifier, &elsewhere).await, "wrong issuer");
    assert!(invalid(&verifier, &issuer.token("alice").audience("todo").without("iss").sign()).await.contains("`iss`"));
    // Unconfigured, neither is looked at.
    let lax = self::verifier(&JwtConfig::jwks(&issuer.jwks_url()).unwrap());
    assert_eq!(user(&lax, &issuer.token("alice").audience("any").issuer("anyone").sign()).await, "alice");
}

#[tokio::test]
async fn the_user_comes_from_the_configured_claim() {
    let verifier = verifier(&secret_config().with_user_claim("uid"));
    assert_eq!(user(&verifier, &hs256(SECRET, "ignored-sub").claim("uid", "alice").sign()).await, "alice");
    let reason = invalid(&verifier, &hs256(SECRET, "alice").sign()).await;
    assert!(reason.contains("no `uid` claim"), "{reason}");
}

#[tokio::test]
async fn a_user_claim_that_is_not_a_valid_user_id_is_refused() {
    let verifier = verifier(&secret_config());
    for sub in [serde_json::json!("a:b"), serde_json::json!(""), serde_json::json!(".."), serde_json::json!(42)] {
        let reason = invalid(&verifier, &hs256(SECRET, "x").claim("sub", sub.clone()).sign()).await;
        assert!(reason.contains("`sub`"), "{sub}: {reason}");
    }
    assert!(invalid(&verifier, &hs256(SECRET, "x").without("sub").sign()).await.contains("no `sub` claim"));
}

#[tokio::test]
async fn an_overlong_token_is_refused_unread() {
    let verifier = verifier(&secret_config());
    let long = hs256(SECRET, "alice").claim("pad", "x".repeat(todo_auth::MAX_TOKEN_BYTES)).sign();
    assert_eq!(invalid(&verifier, &long).await, "the token is too long");
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_set_and_finds_a_rotated_key() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut config = issuer.config();
    config.jwks.refetch_interval = Duration::ZERO;
    let verifier = verifier(&config);
    assert_eq!(user(&verifier, &issuer.token("alice").sign()).await, "alice");
    assert_eq!(issuer.fetches(), 1);
    let new_kid = issuer.rotate(KeyKind::Ed25519);
    let token = issuer.token("alice").sign();
    assert_eq!(user(&verifier, &token).await, "alice");
    assert_eq!(issuer.fetches(), 2, "one refetch for the new kid");
    assert_eq!(user(&verifier, &token).await, "alice");
    assert_eq!(issuer.fetches(), 2, "then it is cached");
    assert!(!new_kid.is_empty());
}

#[tokio::test]
async fn a_flood_of_unknown_kids_fetches_the_set_once_per_interval() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut config = issuer.config();
    config.jwks.refetch_interval = Duration::from_secs(3600);
    let verifier = Arc::new(verifier(&config));
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..100 {
        let token = issuer.token("alice").kid(Some(&format!("made-up-{i}"))).sign();
        let verifier = verifier.clone();
        flood.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(outcome) = flood.join_next().await {
        assert!(matches!(outcome.unwrap(), Err(IdentityError::Invalid(_))));
    }
    assert_eq!(issuer.fetches(), 1, "a hundred unknown kids, one fetch");
    assert_eq!(user(&verifier, &issuer.token("alice").sign()).await, "alice", "the fetched key serves");
    issuer.rotate(KeyKind::Ed25519);
    let reason = invalid(&verifier, &issuer.token("alice").sign()).await;
    assert!(reason.contains("key id"), "{reason}");
    assert_eq!(issuer.fetches(), 1, "not even a real new kid refetches within the interval");
}

#[tokio::test]
async fn a_token_without_kid_uses_the_one_key_of_its_kind() {
    let issuer = TestIssuer::start_with(&[KeyKind::Ed25519, KeyKind::P256]).await.unwrap();
    let verifier = verifier(&issuer.config());
    assert_eq!(user(&verifier, &issuer.token_by(KeyKind::P256, "alice").kid(None).sign()).await, "alice");
}

#[tokio::test]
async fn an_unreachable_key_set_is_unavailable_and_recovers_by_itself() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut config = issuer.config();
    config.jwks.refetch_interval = Duration::from_millis(50);
    let verifier = verifier(&config);
    let token = issuer.token("alice").sign();
    issuer.stop().await;
    assert!(matches!(verifier.verify(&token).await, Err(IdentityError::Unavailable(_))));
    issuer.restart().await.unwrap();
    let mut outcome = verifier.verify(&token).await;
    for _ in 0..100 {
        if outcome.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        outcome = verifier.verify(&token).await;
    }
    assert_eq!(outcome.unwrap().as_str(), "alice");
}

#[tokio::test]
async fn cached_keys_serve_while_the_issuer_is_down_but_unknown_kids_are_unavailable() {
    let issuer = TestIssuer::start().await.unwrap();
    let mut config = issuer.config();
    config.jwks.refetch_interval = Duration::ZERO;
    let verifier = verifier(&config);
    let token = issuer.token("alice").sign();
    assert_eq!(user(&verifier, &token).await, "alice");
    issuer.stop().await;
    assert_eq!(user(&verifier, &token).await, "alice");
    let unknown = issuer.token("alice").kid(Some("rotated-while-down")).sign();
    assert!(matches!(verifier.verify(&unknown).await, Err(IdentityError::Unavailable(_))));
}

#[tokio::test]
async fn a_key_set_server_that_never_answers_is_unavailable_after_the_deadline() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let mut config = JwtConfig::jwks(&format!("http://{addr}/jwks")).unwrap();
    config.jwks.fetch_timeout = Duration::from_millis(200);
    let verifier = verifier(&config);
    let token = hs256(SECRET, "alice").sign();
    let issuer_token = TestIssuer::start().await.unwrap().token("alice").sign();
    assert!(invalid(&verifier, &token).await.contains("algorithm"), "HS256 is refused before any fetch");
    match verifier.verify(&issuer_token).await {
        Err(IdentityError::Unavailable(e)) => assert!(e.to_string().contains("longer than"), "{e}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    held.abort();
}

#[tokio::test]
async fn debug_output_shows_no_key() {
    let verifier = verifier(&secret_config());
    let shown = format!("{verifier:?} {:?}", secret_config());
    assert!(!shown.contains("a-test-secret"), "{shown}");
}

#[tokio::test]
async fn an_https_key_set_is_fetched_over_tls() {
    // The issuer speaks plain HTTP: a client that really does TLS fails its handshake there.
    let issuer = TestIssuer::start().await.unwrap();
    let url = issuer.jwks_url().replace("http://", "https://");
    let verifier = verifier(&JwtConfig::jwks(&url).unwrap());
    match verifier.verify(&issuer.token("alice").sign()).await {
        Err(IdentityError::Unavailable(e)) => assert!(e.to_string().contains("corrupt message"), "a TLS failure: {e}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(issuer.fetches(), 0, "no plain request reached the issuer");
}
