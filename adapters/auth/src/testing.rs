//! A token issuer for tests and development sign-ins (feature `testing`): key pairs made at run
//! time (no private key ever lives in the repository), a JSON Web Key Set served over HTTP on
//! `127.0.0.1`, and tokens minted with whatever claims a test needs, including the malformed
//! and forged ones the verifier must refuse.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use todo_auth::testing::{KeyKind, TestIssuer};
//! let issuer = TestIssuer::start_with(&[KeyKind::Ed25519, KeyKind::P256]).await?;
//! let verifier = todo_auth::JwtVerifier::new(&issuer.config()).expect("a verifier");
//! let token = issuer.token_by(KeyKind::P256, "alice").expires_in(60).sign();
//! # let _ = (verifier, token);
//! # Ok(())
//! # }
//! ```
//!
//! Everything here panics on failures that cannot happen with the keys it makes (a key that
//! cannot be encoded, a kind the issuer was not started with): it is test support.

#![allow(clippy::expect_used)]

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

use crate::config::JwtConfig;

/// Where the issuer serves its key set.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// How long minted tokens live unless told otherwise, seconds.
pub const DEFAULT_LIFETIME_SECS: i64 = 600;

/// The kinds of signing key, one per algorithm a key set may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// Ed25519, for EdDSA.
    Ed25519,
    /// P-256, for ES256.
    P256,
    /// RSA, 2048 bits, for RS256.
    Rsa,
}

impl KeyKind {
    /// The algorithm tokens signed with such a key use.
    pub fn algorithm(self) -> Algorithm {
        match self {
            Self::Ed25519 => Algorithm::EdDSA,
            Self::P256 => Algorithm::ES256,
            Self::Rsa => Algorithm::RS256,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Ed25519 => "ed25519",
            Self::P256 => "p256",
            Self::Rsa => "rsa",
        }
    }
}

/// One key pair of the issuer.
struct IssuerKey {
    kind: KeyKind,
    kid: String,
    signing: EncodingKey,
    /// The public half, as served in the key set.
    jwk: Value,
    /// The public half as a DER `SubjectPublicKeyInfo`.
    public_der: Vec<u8>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn random_32() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes
}

impl IssuerKey {
    fn generate(kind: KeyKind, kid: String) -> Self {
        use ed25519_dalek::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
        let (signing, mut jwk, public_der) = match kind {
            KeyKind::Ed25519 => {
                let key = ed25519_dalek::SigningKey::from_bytes(&random_32());
                let der = key.to_pkcs8_der().expect("an Ed25519 key in PKCS#8");
                let public = key.verifying_key();
                let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(public.as_bytes())});
                let public_der = public.to_public_key_der().expect("an Ed25519 public key in DER").into_vec();
                (EncodingKey::from_ed_der(der.as_bytes()), jwk, public_der)
            }
            KeyKind::P256 => {
                use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
                let key = loop {
                    // A random scalar is below the group order but for a chance of about 2^-32.
                    if let Ok(key) = p256::SecretKey::from_slice(&random_32()) {
                        break key;
                    }
                };
                let der = key.to_pkcs8_der().expect("a P-256 key in PKCS#8");
                let public = key.public_key();
                let point = public.to_sec1_bytes();
                assert_eq!(point.len(), 65, "an uncompressed P-256 point");
                let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..])});
                let public_der = public.to_public_key_der().expect("a P-256 public key in DER").into_vec();
                (EncodingKey::from_ec_der(der.as_bytes()), jwk, public_der)
            }
            KeyKind::Rsa => {
                use rsa::pkcs1::EncodeRsaPrivateKey as _;
                use rsa::pkcs8::EncodePublicKey as _;
                use rsa::traits::PublicKeyParts as _;
                let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("an RSA key");
                let der = key.to_pkcs1_der().expect("an RSA key in PKCS#1");
                let public = key.to_public_key();
                let jwk = json!({"kty": "RSA", "n": b64(&public.n_bytes()), "e": b64(&public.e_bytes())});
                let public_der = public.to_public_key_der().expect("an RSA public key in DER").into_vec();
                (EncodingKey::from_rsa_der(der.as_bytes()), jwk, public_der)
            }
        };
        let kind_alg = format!("{:?}", kind.algorithm());
        if let Some(fields) = jwk.as_object_mut() {
            fields.insert("kid".to_owned(), Value::String(kid.clone()));
            fields.insert("alg".to_owned(), Value::String(kind_alg));
            fields.insert("use".to_owned(), Value::String("sig".to_owned()));
        }
        Self { kind, kid, signing, jwk, public_der }
    }
}

struct Shared {
    keys: Mutex<Vec<IssuerKey>>,
    fetches: AtomicUsize,
    next_kid: AtomicU64,
}

impl Shared {
    fn keys(&self) -> MutexGuard<'_, Vec<IssuerKey>> {
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn new_key(&self, kind: KeyKind) -> IssuerKey {
        let n = self.next_kid.fetch_add(1, Ordering::SeqCst);
        IssuerKey::generate(kind, format!("{}-{n}", kind.label()))
    }

    fn key_set(&self) -> Value {
        json!({"keys": self.keys().iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
    }
}

/// A token issuer serving its key set on `127.0.0.1`. Dropping it stops the server.
pub struct TestIssuer {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<String> = self.shared.keys().iter().map(|k| k.kid.clone()).collect();
        f.debug_struct("TestIssuer").field("addr", &self.addr).field("kids", &kids).finish()
    }
}

impl TestIssuer {
    /// An issuer with one Ed25519 key, serving on a free port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with(&[KeyKind::Ed25519]).await
    }

    /// An issuer with one key of each of `kinds` (the first signs [`TestIssuer::token`]s),
    /// serving on a free port.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn start_with(kinds: &[KeyKind]) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            keys: Mutex::new(Vec::new()),
            fetches: AtomicUsize::new(0),
            next_kid: AtomicU64::new(1),
        });
        let keys: Vec<IssuerKey> = kinds.iter().map(|kind| shared.new_key(*kind)).collect();
        *shared.keys() = keys;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(serve(listener, shared.clone()));
        Ok(Self { shared, addr, server: Mutex::new(Some(server)) })
    }

    /// The issuer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: also the `iss` of the tokens it mints.
    pub fn issuer(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where its key set is served.
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.issuer())
    }

    /// A verifier's settings for this issuer: its key set, its `iss`.
    pub fn config(&self) -> JwtConfig {
        JwtConfig::jwks(&self.jwks_url()).expect("a loopback URL").with_issuer(self.issuer())
    }

    /// How many times its key set was served.
    pub fn fetches(&self) -> usize {
        self.shared.fetches.load(Ordering::SeqCst)
    }

    /// The current `kid` of its key of `kind`.
    ///
    /// # Panics
    /// When it has no key of that kind.
    pub fn kid(&self, kind: KeyKind) -> String {
        self.with_key(kind, |key| key.kid.clone())
    }

    /// Its public key of `kind`, as a DER `SubjectPublicKeyInfo`.
    ///
    /// # Panics
    /// When it has no key of that kind.
    pub fn public_key_der(&self, kind: KeyKind) -> Vec<u8> {
        self.with_key(kind, |key| key.public_der.clone())
    }

    /// Its public key of `kind`, PEM-encoded (`-----BEGIN PUBLIC KEY-----`).
    ///
    /// # Panics
    /// When it has no key of that kind.
    pub fn public_key_pem(&self, kind: KeyKind) -> String {
        let body = STANDARD.encode(self.public_key_der(kind));
        let lines: Vec<&str> =
            body.as_bytes().chunks(64).map(|line| std::str::from_utf8(line).expect("base64 is ASCII")).collect();
        format!("-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n", lines.join("\n"))
    }

    fn with_key<T>(&self, kind: KeyKind, f: impl FnOnce(&IssuerKey) -> T) -> T {
        let keys = self.shared.keys();
        let key = keys.iter().find(|k| k.kind == kind).unwrap_or_else(|| panic!("the issuer has no {kind:?} key"));
        f(key)
    }

    /// A token for `sub` signed with its first key: `iss` this issuer, `exp` in
    /// [`DEFAULT_LIFETIME_SECS`], `iat` now, `kid` the key's.
    ///
    /// # Panics
    /// When it has no key at all.
    pub fn token(&self, sub: &str) -> TokenBuilder {
        let kind = self.shared.keys().first().map(|k| k.kind).expect("the issuer has a key");
        self.token_by(kind, sub)
    }

    /// The same, signed with its key of `kind`.
    ///
    /// # Panics
    /// When it has no key of that kind.
    pub fn token_by(&self, kind: KeyKind, sub: &str) -> TokenBuilder {
        let (signing, kid) = self.with_key(kind, |key| (key.signing.clone(), key.kid.clone()));
        TokenBuilder::new(signing, kind.algorithm(), Some(kid), sub).issuer(&self.issuer())
    }

    /// Replaces its key of `kind` by a new one (with a new `kid`, which it returns): tokens
    /// minted from now on name a key verifiers have not seen.
    ///
    /// # Panics
    /// When it has no key of that kind.
    pub fn rotate(&self, kind: KeyKind) -> String {
        let fresh = self.shared.new_key(kind);
        let kid = fresh.kid.clone();
        let mut keys = self.shared.keys();
        let slot = keys.iter_mut().find(|k| k.kind == kind).unwrap_or_else(|| panic!("the issuer has no {kind:?} key"));
        *slot = fresh;
        kid
    }

    /// Stops serving: the port is closed, open connections are cut.
    pub async fn stop(&self) {
        let server = self.server.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(server) = server {
            server.abort();
            let _ = server.await;
        }
    }

    /// Serves again on the same port (after [`TestIssuer::stop`]).
    ///
    /// # Errors
    /// When the port cannot be bound again.
    pub async fn restart(&self) -> std::io::Result<()> {
        self.stop().await;
        let listener = TcpListener::bind(self.addr).await?;
        let server = tokio::spawn(serve(listener, self.shared.clone()));
        *self.server.lock().unwrap_or_else(PoisonError::into_inner) = Some(server);
        Ok(())
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        if let Some(server) = self.server.lock().unwrap_or_else(PoisonError::into_inner).take() {
            server.abort();
        }
    }
}

/// Accepts connections until aborted; aborting it drops (and so cuts) every connection.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        while connections.try_join_next().is_some() {}
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(answer(&shared, request.method(), request.uri().path())) }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn answer(shared: &Shared, method: &Method, path: &str) -> Response<Full<Bytes>> {
    let (status, body) = if method == Method::GET && path == JWKS_PATH {
        shared.fetches.fetch_add(1, Ordering::SeqCst);
        (StatusCode::OK, shared.key_set().to_string())
    } else {
        (StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.to_owned())
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    response
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A token being made: claims and header to set, then signed (or forged).
#[must_use]
pub struct TokenBuilder {
    header: Header,
    claims: Map<String, Value>,
    signing: EncodingKey,
}

impl fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder").field("header", &self.header).field("claims", &self.claims).finish()
    }
}

/// A token for `sub` signed with `secret` (HS256), `exp` in [`DEFAULT_LIFETIME_SECS`].
///
/// # Panics
/// When `secret` is empty.
pub fn hs256(secret: &[u8], sub: &str) -> TokenBuilder {
    let signing = EncodingKey::from_secret(secret).expect("a non-empty secret");
    TokenBuilder::new(signing, Algorithm::HS256, None, sub)
}

impl TokenBuilder {
    fn new(signing: EncodingKey, alg: Algorithm, kid: Option<String>, sub: &str) -> Self {
        let mut header = Header::new(alg);
        header.kid = kid;
        let now = now();
        let mut claims = Map::new();
        claims.insert("sub".to_owned(), Value::String(sub.to_owned()));
        claims.insert("iat".to_owned(), Value::from(now));
        claims.insert("exp".to_owned(), Value::from(now + DEFAULT_LIFETIME_SECS));
        Self { header, claims, signing }
    }

    /// Sets claim `name`.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Leaves claim `name` out.
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// `exp` this many seconds from now (negative: in the past).
    pub fn expires_in(self, secs: i64) -> Self {
        self.claim("exp", now() + secs)
    }

    /// `nbf` this many seconds from now.
    pub fn not_before_in(self, secs: i64) -> Self {
        self.claim("nbf", now() + secs)
    }

    /// `iss`.
    pub fn issuer(self, iss: &str) -> Self {
        self.claim("iss", iss)
    }

    /// `aud`.
    pub fn audience(self, aud: &str) -> Self {
        self.claim("aud", aud)
    }

    /// The header's `kid` (`None`: no `kid`).
    pub fn kid(mut self, kid: Option<&str>) -> Self {
        self.header.kid = kid.map(str::to_owned);
        self
    }

    /// The signed token.
    ///
    /// # Errors
    /// When the key cannot sign (not with the keys this module makes).
    pub fn try_sign(self) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&self.header, &self.claims, &self.signing)
    }

    /// The signed token.
    ///
    /// # Panics
    /// When the key cannot sign (not with the keys this module makes).
    pub fn sign(self) -> String {
        self.try_sign().expect("a key that signs")
    }

    /// The same claims and `kid` with `alg: none` and no signature.
    pub fn unsigned(self) -> String {
        let mut header = json!({"typ": "JWT", "alg": "none"});
        if let (Some(kid), Some(fields)) = (&self.header.kid, header.as_object_mut()) {
            fields.insert("kid".to_owned(), Value::String(kid.clone()));
        }
        let claims = Value::Object(self.claims).to_string();
        format!("{}.{}.", b64(header.to_string().as_bytes()), b64(claims.as_bytes()))
    }

    /// The same claims and `kid`, signed HS256 with `secret`: the algorithm-confusion forgery,
    /// when `secret` is a public key's bytes.
    ///
    /// # Panics
    /// When `secret` is empty.
    pub fn sign_hs256_with(mut self, secret: &[u8]) -> String {
        self.header.alg = Algorithm::HS256;
        self.signing = EncodingKey::from_secret(secret).expect("a non-empty secret");
        self.sign()
    }
}
