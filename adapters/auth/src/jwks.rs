//! A JSON Web Key Set, fetched over HTTP(S) and cached by `kid`.
//!
//! - A token whose `kid` is not in the cache refetches the set, at most once per
//!   [`JwksOptions::refetch_interval`] whatever the number of such tokens; fetches are single
//!   flight (callers arriving during one wait for it).
//! - A set older than [`JwksOptions::ttl`] is refetched in the background on its next use, the
//!   cached keys serving meanwhile (and for as long as the issuer cannot be reached).
//! - No usable cached key and the issuer unreachable: [`IdentityError::Unavailable`]; the next
//!   attempt, one interval later, recovers by itself.
//! - Only signing keys of the three accepted kinds are kept: RSA (RS256, 2048 bits or more),
//!   P-256 (ES256) and Ed25519 (EdDSA). Symmetric keys in a set are ignored, so an HS256 token
//!   never meets a key it could be checked against.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{ACCEPT, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use todo_http_client::{HttpsClient, error_chain, https_client, is_loopback};
use todo_ports::IdentityError;
use tokio::time::Instant;

use crate::config::{AuthConfigError, JwksOptions};

/// The smallest RSA modulus kept, bytes (2048 bits).
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// Why a key set could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    /// The fetch did not finish in time.
    #[error("fetching the key set took longer than {0:?}")]
    Timeout(Duration),
    /// The issuer could not be reached, or the exchange failed.
    #[error("fetching the key set failed: {0}")]
    Request(String),
    /// The issuer answered something else than 200.
    #[error("the key set's server answered {0}")]
    Status(u16),
    /// The answer's body could not be read whole (or is too large).
    #[error("reading the key set failed: {0}")]
    Body(String),
    /// The answer is not a JSON Web Key Set.
    #[error("the key set is not a JSON Web Key Set: {0}")]
    Parse(String),
}

/// Where key sets come from: the issuer over HTTP, or a fake in unit tests.
#[async_trait::async_trait]
pub(crate) trait KeySetSource: Send + Sync {
    /// The set's bytes, as served.
    async fn fetch(&self) -> Result<Bytes, JwksError>;
}

/// A key set at a URL.
pub(crate) struct HttpSource {
    client: HttpsClient<Empty<Bytes>>,
    url: Uri,
    timeout: Duration,
    max_bytes: usize,
}

impl HttpSource {
    /// A client for `url`: `https` through rustls (ring, the webpki roots), or plain `http`.
    pub(crate) fn new(url: Uri, options: &JwksOptions) -> Result<Self, AuthConfigError> {
        if url.scheme_str() == Some("http") && !is_loopback(&url) {
            tracing::warn!(url = %url, "the key set is fetched over plain http: use https outside a trusted network");
        }
        let client = https_client(None).map_err(|e| AuthConfigError::Tls(e.to_string()))?;
        Ok(Self { client, url, timeout: options.fetch_timeout, max_bytes: options.max_bytes })
    }
}

#[async_trait::async_trait]
impl KeySetSource for HttpSource {
    async fn fetch(&self) -> Result<Bytes, JwksError> {
        let request = Request::get(self.url.clone())
            .header(ACCEPT, "application/jwk-set+json, application/json")
            .header(USER_AGENT, concat!("todo-auth/", env!("CARGO_PKG_VERSION")))
            .body(Empty::new())
            .map_err(|e| JwksError::Request(e.to_string()))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| JwksError::Request(error_chain(&e)))?;
            if response.status() != StatusCode::OK {
                return Err(JwksError::Status(response.status().as_u16()));
            }
            let body = Limited::new(response.into_body(), self.max_bytes)
                .collect()
                .await
                .map_err(|e| JwksError::Body(error_chain(e.as_ref())))?;
            Ok(body.to_bytes())
        };
        tokio::time::timeout(self.timeout, exchange).await.map_err(|_| JwksError::Timeout(self.timeout))?
    }
}

/// One usable key of a set.
#[derive(Clone)]
struct CachedKey {
    kid: Option<String>,
    alg: Algorithm,
    key: Arc<DecodingKey>,
}

/// The keys of a set that can verify tokens, the rest left out (and logged at debug).
fn parse_key_set(body: &[u8]) -> Result<Vec<CachedKey>, JwksError> {
    #[derive(serde::Deserialize)]
    struct RawSet {
        keys: Vec<serde_json::Value>,
    }
    let raw: RawSet = serde_json::from_slice(body).map_err(|e| JwksError::Parse(e.to_string()))?;
    let keys: Vec<CachedKey> = raw
        .keys
        .into_iter()
        .filter_map(|value| match usable_key(value) {
            Ok(key) => Some(key),
            Err(why) => {
                tracing::debug!(why, "a key of the set is left out");
                None
            }
        })
        .collect();
    if keys.is_empty() {
        tracing::warn!("the key set holds no usable signing key");
    }
    Ok(keys)
}

fn usable_key(value: serde_json::Value) -> Result<CachedKey, &'static str> {
    let jwk: Jwk = serde_json::from_value(value).map_err(|_| "not a JSON Web Key")?;
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return Err("not a signing key");
    }
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let modulus = URL_SAFE_NO_PAD.decode(rsa.n.trim_end_matches('=')).map_err(|_| "bad RSA modulus")?;
            let significant = modulus.iter().skip_while(|b| **b == 0).count();
            if significant < MIN_RSA_MODULUS_BYTES {
                return Err("RSA key shorter than 2048 bits");
            }
            Algorithm::RS256
        }
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        _ => return Err("not an RSA, P-256 or Ed25519 key"),
    };
    if let Some(declared) = jwk.common.key_algorithm
        && Algorithm::try_from(declared).ok() != Some(alg)
    {
        return Err("declares an algorithm that is not the one accepted for its kind");
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "key parameters rejected")?;
    Ok(CachedKey { kid: jwk.common.key_id, alg, key: Arc::new(key) })
}

/// What the cache knows about a token's key.
enum Lookup {
    Found(Arc<DecodingKey>),
    /// The `kid` names a key of another algorithm than the token's.
    WrongAlgorithm,
    /// No `kid`, and several keys of the token's algorithm.
    Ambiguous,
    NotFound,
}

fn find(keys: &[CachedKey], kid: Option<&str>, alg: Algorithm) -> Lookup {
    match kid {
        Some(kid) => {
            let mut named = keys.iter().filter(|k| k.kid.as_deref() == Some(kid)).peekable();
            if named.peek().is_none() {
                return Lookup::NotFound;
            }
            named.find(|k| k.alg == alg).map_or(Lookup::WrongAlgorithm, |k| Lookup::Found(k.key.clone()))
        }
        None => {
            let mut of_alg = keys.iter().filter(|k| k.alg == alg);
            match (of_alg.next(), of_alg.next()) {
                (Some(only), None) => Lookup::Found(only.key.clone()),
                (Some(_), Some(_)) => Lookup::Ambiguous,
                (None, _) => Lookup::NotFound,
            }
        }
    }
}

#[derive(Default)]
struct State {
    keys: Arc<[CachedKey]>,
    /// The last successful fetch.
    fetched_at: Option<Instant>,
    /// The last fetch started, successful or not.
    attempted_at: Option<Instant>,
    /// Why the last fetch failed, when it did.
    failure: Option<JwksError>,
}

struct Shared {
    source: Box<dyn KeySetSource>,
    options: JwksOptions,
    state: Mutex<State>,
    /// Held while a fetch runs: one at a time.
    fetching: tokio::sync::Mutex<()>,
    /// A background refresh is queued or running.
    refreshing: AtomicBool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn due(&self, now: Instant) -> bool {
        self.state().attempted_at.is_none_or(|at| now.duration_since(at) >= self.options.refetch_interval)
    }

    /// Fetches the set unless a fetch started less than an interval ago.
    async fn refetch_if_due(&self) {
        let _one_at_a_time = self.fetching.lock().await;
        let now = Instant::now();
        if !self.due(now) {
            return;
        }
        self.state().attempted_at = Some(now);
        let outcome = match self.source.fetch().await {
            Ok(body) => parse_key_set(&body),
            Err(e) => Err(e),
        };
        let mut state = self.state();
        match outcome {
            Ok(keys) => {
                tracing::debug!(keys = keys.len(), "fetched the key set");
                state.keys = keys.into();
                state.fetched_at = Some(Instant::now());
                state.failure = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, cached_keys = state.keys.len(), "cannot fetch the key set");
                state.failure = Some(e);
            }
        }
    }
}

/// A key set and its cache.
pub(crate) struct KeyCache {
    shared: Arc<Shared>,
}

impl KeyCache {
    pub(crate) fn new(source: Box<dyn KeySetSource>, options: JwksOptions) -> Self {
        let shared = Shared {
            source,
            options,
            state: Mutex::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
            refreshing: AtomicBool::new(false),
        };
        Self { shared: Arc::new(shared) }
    }

    /// The cached answer for a token's key, and whether the set is due for a refresh.
    fn lookup(&self, kid: Option<&str>, alg: Algorithm) -> (Lookup, bool) {
        let state = self.shared.state();
        let stale = state.fetched_at.is_some_and(|at| at.elapsed() >= self.shared.options.ttl);
        (find(&state.keys, kid, alg), stale)
    }

    /// Refreshes the set in the background, unless a refresh is already on its way or not due.
    fn refresh_in_background(&self) {
        if !self.shared.due(Instant::now()) || self.shared.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.shared.refreshing.store(false, Ordering::Release);
            return;
        };
        let shared = self.shared.clone();
        runtime.spawn(async move {
            shared.refetch_if_due().await;
            shared.refreshing.store(false, Ordering::Release);
        });
    }

    /// The key that checks a token of algorithm `alg` naming `kid`.
    ///
    /// # Errors
    /// [`IdentityError::Invalid`] when the set has no such key (after one refetch, when one is
    /// due), [`IdentityError::Unavailable`] when the set cannot be fetched and the cache cannot
    /// answer.
    pub(crate) async fn key_for(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<DecodingKey>, IdentityError> {
        match self.lookup(kid, alg) {
            (Lookup::Found(key), stale) => {
                if stale {
                    self.refresh_in_background();
                }
                return Ok(key);
            }
            (Lookup::NotFound, _) => {}
            (other, _) => return Err(refused(&other, kid)),
        }
        self.shared.refetch_if_due().await;
        match self.lookup(kid, alg).0 {
            Lookup::Found(key) => Ok(key),
            Lookup::NotFound => match self.shared.state().failure.clone() {
                Some(failure) => Err(IdentityError::Unavailable(Box::new(failure))),
                None => Err(refused(&Lookup::NotFound, kid)),
            },
            other => Err(refused(&other, kid)),
        }
    }
}

fn refused(lookup: &Lookup, kid: Option<&str>) -> IdentityError {
    let reason = match (lookup, kid) {
        (Lookup::WrongAlgorithm, _) => "the token's algorithm is not the one of its key",
        (Lookup::Ambiguous, _) => "the token names no key id and several keys could sign it",
        (_, Some(_)) => "the token's key id is not in the key set",
        (_, None) => "no key of the token's algorithm in the key set",
    };
    IdentityError::Invalid(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// Serves whatever `body` holds (an error when `None`), counting fetches.
    struct Fake {
        body: Mutex<Option<String>>,
        fetches: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl KeySetSource for Arc<Fake> {
        async fn fetch(&self) -> Result<Bytes, JwksError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let body = self.body.lock().unwrap().clone();
            body.map(Bytes::from).ok_or_else(|| JwksError::Request("connection refused".to_owned()))
        }
    }

    fn ed25519(kid: &str) -> serde_json::Value {
        // A well-formed Ed25519 public key (that of the all-zero seed); nothing is signed here.
        serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"})
    }

    fn set(keys: &[serde_json::Value]) -> Option<String> {
        Some(serde_json::json!({ "keys": keys }).to_string())
    }

    fn cache(body: Option<String>) -> (Arc<Fake>, KeyCache) {
        let fake = Arc::new(Fake { body: Mutex::new(body), fetches: AtomicUsize::new(0) });
        let options = JwksOptions {
            refetch_interval: Duration::from_secs(10),
            ttl: Duration::from_secs(300),
            ..JwksOptions::default()
        };
        (fake.clone(), KeyCache::new(Box::new(fake), options))
    }

    fn fetches(fake: &Fake) -> usize {
        fake.fetches.load(Ordering::SeqCst)
    }

    #[tokio::test(start_paused = true)]
    async fn unknown_kids_refetch_at_most_once_per_interval() {
        let (fake, cache) = cache(set(&[ed25519("a")]));
        assert!(cache.key_for(Some("a"), Algorithm::EdDSA).await.is_ok());
        assert_eq!(fetches(&fake), 1);
        for i in 0..50 {
            let err = cache.key_for(Some(&format!("made-up-{i}")), Algorithm::EdDSA).await.unwrap_err();
            assert!(matches!(err, IdentityError::Invalid(_)));
        }
        assert_eq!(fetches(&fake), 1, "within the interval of the first fetch");
        tokio::time::advance(Duration::from_secs(10)).await;
        *fake.body.lock().unwrap() = set(&[ed25519("a"), ed25519("b")]);
        for _ in 0..5 {
            assert!(cache.key_for(Some("b"), Algorithm::EdDSA).await.is_ok());
        }
        assert_eq!(fetches(&fake), 2, "one refetch found the new key");
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_set_is_unavailable_then_recovers_an_interval_later() {
        let (fake, cache) = cache(None);
        let err = cache.key_for(Some("a"), Algorithm::EdDSA).await.unwrap_err();
        assert!(matches!(err, IdentityError::Unavailable(_)), "{err:?}");
        let err = cache.key_for(Some("a"), Algorithm::EdDSA).await.unwrap_err();
        assert!(matches!(err, IdentityError::Unavailable(_)));
        assert_eq!(fetches(&fake), 1, "no second attempt within the interval");
        *fake.body.lock().unwrap() = set(&[ed25519("a")]);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(cache.key_for(Some("a"), Algorithm::EdDSA).await.is_ok());
        assert_eq!(fetches(&fake), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stale_set_is_refreshed_in_the_background_and_serves_meanwhile() {
        let (fake, cache) = cache(set(&[ed25519("a")]));
        assert!(cache.key_for(Some("a"), Algorithm::EdDSA).await.is_ok());
        *fake.body.lock().unwrap() = None;
        tokio::time::advance(Duration::from_secs(301)).await;
        assert!(cache.key_for(Some("a"), Algorithm::EdDSA).await.is_ok(), "the cached key serves");
        tokio::task::yield_now().await;
        assert_eq!(fetches(&fake), 2, "a refresh was tried");
        assert!(cache.key_for(Some("a"), Algorithm::EdDSA).await.is_ok(), "and the key still serves after it failed");
        *fake.body.lock().unwrap() = set(&[ed25519("c")]);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(cache.key_for(Some("a"), Algorithm::EdDSA).await.is_ok());
        tokio::task::yield_now().await;
        assert_eq!(fetches(&fake), 3);
        let err = cache.key_for(Some("a"), Algorithm::EdDSA).await.unwrap_err();
        assert!(matches!(err, IdentityError::Invalid(_)), "the refreshed set no longer has it");
    }

    #[tokio::test(start_paused = true)]
    async fn a_kid_of_another_algorithm_or_an_ambiguous_missing_kid_is_invalid() {
        let (_, cache) = cache(set(&[ed25519("a"), ed25519("b")]));
        let err = cache.key_for(Some("a"), Algorithm::ES256).await.unwrap_err();
        assert!(matches!(&err, IdentityError::Invalid(r) if r.contains("algorithm")), "{err:?}");
        let err = cache.key_for(None, Algorithm::EdDSA).await.unwrap_err();
        assert!(matches!(&err, IdentityError::Invalid(r) if r.contains("several")), "{err:?}");
        let (_, single) = self::cache(set(&[ed25519("only")]));
        assert!(single.key_for(None, Algorithm::EdDSA).await.is_ok(), "the one key of its kind");
    }

    #[test]
    fn only_signing_keys_of_the_accepted_kinds_are_kept() {
        let keys = parse_key_set(
            serde_json::json!({"keys": [
                ed25519("ok"),
                {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
                {"kty": "OKP", "crv": "Ed25519", "kid": "enc", "use": "enc", "x": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"},
                {"kty": "OKP", "crv": "Ed25519", "kid": "lies", "alg": "RS256", "x": "O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"},
                {"kty": "RSA", "kid": "small", "n": "AQAB", "e": "AQAB"},
                {"kty": "weird", "kid": "w"},
                "not even an object"
            ]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let kids: Vec<_> = keys.iter().map(|k| k.kid.as_deref()).collect();
        assert_eq!(kids, [Some("ok")]);
        assert!(matches!(parse_key_set(b"<html>"), Err(JwksError::Parse(_))));
    }
}
