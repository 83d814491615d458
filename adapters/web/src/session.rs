//! Sessions in sealed cookies: the signed-in user, the bearer token the frontend attaches to its
//! calls, the CSRF token and the expiry, encrypted and authenticated with AES-256-GCM under a key
//! derived from `SESSION_KEY`, so that any replica holding the key opens any replica's cookie and
//! the browser can neither read nor alter what is inside. The cookie is `HttpOnly` (page scripts
//! never see the token), `SameSite=Lax`, and `Secure` with the `__Host-` prefix beyond loopback.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// The largest cookie value opened (browsers keep 4 KiB per cookie).
const MAX_COOKIE_BYTES: usize = 4096;

/// The key sealing the cookies. Cheap to clone; `Debug` shows nothing of it.
#[derive(Clone)]
pub struct SessionKey(Arc<LessSafeKey>);

impl fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionKey([redacted])")
    }
}

/// `n` random bytes from the system's source.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The system's random source failing leaves the process nothing safe to do.
    #[allow(clippy::expect_used)]
    SystemRandom::new().fill(&mut bytes).expect("the system's random source");
    bytes
}

/// A random token of 32 bytes, base64url.
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

impl SessionKey {
    /// The key derived from `secret` (HKDF-SHA256, so that any secret of enough entropy serves).
    pub fn derive(secret: &SecretString) -> Self {
        let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, b"todo-dapr web session");
        let prk = salt.extract(secret.expose_secret().as_bytes());
        // A 32-byte output of HKDF-SHA256 is always within its limit, and is AES-256's key size.
        #[allow(clippy::expect_used)]
        let key: UnboundKey = prk.expand(&[b"session cookie v1"], &AES_256_GCM).expect("a 32-byte HKDF output").into();
        Self(Arc::new(LessSafeKey::new(key)))
    }

    /// A key made at random (sessions then end with the process).
    pub fn random() -> Self {
        let bytes = random_bytes::<32>();
        #[allow(clippy::expect_used)]
        let key = UnboundKey::new(&AES_256_GCM, &bytes).expect("a 32-byte AES-256 key");
        Self(Arc::new(LessSafeKey::new(key)))
    }

    /// `plain` encrypted for `purpose` (bound into the tag, so a cookie of one purpose never
    /// opens as another): base64url of a random nonce, the ciphertext and the tag.
    pub(crate) fn seal(&self, purpose: &str, plain: &[u8]) -> String {
        let nonce = random_bytes::<NONCE_LEN>();
        let mut sealed = plain.to_vec();
        // Sealing fails only for inputs beyond GCM's limit of 64 GiB.
        #[allow(clippy::expect_used)]
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(purpose.as_bytes()), &mut sealed)
            .expect("a cookie-sized plaintext");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// What [`SessionKey::seal`] sealed for `purpose`, or `None` for anything else (another
    /// key, another purpose, a changed byte).
    pub(crate) fn open(&self, purpose: &str, sealed: &str) -> Option<Vec<u8>> {
        if sealed.len() > MAX_COOKIE_BYTES {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut rest = rest.to_vec();
        let plain = self.0.open_in_place(nonce, Aad::from(purpose.as_bytes()), &mut rest).ok()?;
        Some(plain.to_vec())
    }
}

/// How a session was signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The development sign-in (a typed user id).
    Dev,
    /// The OpenID Connect flow.
    Oidc,
}

/// A signed-in browser. `Debug` shows neither token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user, a valid user id.
    #[serde(rename = "u")]
    pub user: String,
    /// The bearer token for the services, when they check tokens.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub(crate) token: Option<String>,
    /// The CSRF token state-changing requests must carry in `X-CSRF-Token`.
    #[serde(rename = "c")]
    pub(crate) csrf: String,
    /// When the session ends, seconds since the epoch.
    #[serde(rename = "x")]
    pub expires_at: u64,
    /// How it was signed in.
    #[serde(rename = "v")]
    pub via: Via,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .field("via", &self.via)
            .finish_non_exhaustive()
    }
}

/// Seconds since the epoch.
pub(crate) fn epoch_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

impl Session {
    /// A new session for `user` with `token`, ending at `expires_at`, with a fresh CSRF token.
    pub fn new(user: String, token: Option<SecretString>, expires_at: SystemTime, via: Via) -> Self {
        Self {
            user,
            token: token.map(|t| t.expose_secret().to_owned()),
            csrf: random_token(),
            expires_at: epoch_secs(expires_at),
            via,
        }
    }

    /// The bearer token, when there is one.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The CSRF token.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// How long it still lasts at `now` (zero once over).
    pub fn remaining(&self, now: SystemTime) -> Duration {
        Duration::from_secs(self.expires_at.saturating_sub(epoch_secs(now)))
    }
}

/// The two cookies of the UI and their attributes.
#[derive(Debug, Clone)]
pub struct Cookies {
    key: SessionKey,
    secure: bool,
}

/// The purpose (and name) of the session cookie.
const SESSION: &str = "todo_session";
/// The purpose (and name) of the cookie keeping a pending OpenID sign-in across the redirect.
const LOGIN: &str = "todo_login";

impl Cookies {
    /// Cookies sealed with `key`; `secure` adds `Secure` and the `__Host-` prefix.
    pub fn new(key: SessionKey, secure: bool) -> Self {
        Self { key, secure }
    }

    fn name(&self, purpose: &str) -> String {
        if self.secure { format!("__Host-{purpose}") } else { purpose.to_owned() }
    }

    /// `Set-Cookie` for `value` of `purpose`, living `max_age`.
    fn set(&self, purpose: &str, value: &str, max_age: Duration) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            self.name(purpose),
            max_age.as_secs()
        );
        // The name is ours and the value base64url: always a valid header value.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static("todo_invalid=; Max-Age=0"))
    }

    /// The value of cookie `purpose` in `headers`.
    fn read(&self, headers: &HeaderMap, purpose: &str) -> Option<String> {
        let name = self.name(purpose);
        headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.trim_matches('"').to_owned())
    }

    /// The session in `headers` that is still valid at `now`, if any.
    pub fn session(&self, headers: &HeaderMap, now: SystemTime) -> Option<Session> {
        let sealed = self.read(headers, SESSION)?;
        let plain = self.key.open(SESSION, &sealed)?;
        let session: Session = serde_json::from_slice(&plain).ok()?;
        (session.expires_at > epoch_secs(now)).then_some(session)
    }

    /// Whether `headers` carry a session cookie at all (valid or not).
    pub fn has_session_cookie(&self, headers: &HeaderMap) -> bool {
        self.read(headers, SESSION).is_some()
    }

    /// Adds the `Set-Cookie` that keeps `session` until it ends.
    pub fn store(&self, headers: &mut HeaderMap, session: &Session, now: SystemTime) {
        let plain = serde_json::to_vec(session).unwrap_or_default();
        let value = self.key.seal(SESSION, &plain);
        headers.append(SET_COOKIE, self.set(SESSION, &value, session.remaining(now)));
    }

    /// Adds the `Set-Cookie` that removes the session.
    pub fn clear(&self, headers: &mut HeaderMap) {
        headers.append(SET_COOKIE, self.set(SESSION, "", Duration::ZERO));
    }

    /// Adds the `Set-Cookie` keeping `pending` (serialised) for ten minutes.
    pub(crate) fn store_login(&self, headers: &mut HeaderMap, pending: &[u8]) {
        headers.append(SET_COOKIE, self.set(LOGIN, &self.key.seal(LOGIN, pending), Duration::from_secs(600)));
    }

    /// The pending sign-in kept by [`Cookies::store_login`].
    pub(crate) fn login(&self, headers: &HeaderMap) -> Option<Vec<u8>> {
        self.key.open(LOGIN, &self.read(headers, LOGIN)?)
    }

    /// Adds the `Set-Cookie` that removes the pending sign-in.
    pub(crate) fn clear_login(&self, headers: &mut HeaderMap) {
        headers.append(SET_COOKIE, self.set(LOGIN, "", Duration::ZERO));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn session(expires_at: SystemTime) -> Session {
        Session::new("alice".into(), Some(SecretString::from("tok.en.x")), expires_at, Via::Dev)
    }

    fn cookie_of(set: &HeaderValue) -> String {
        set.to_str().unwrap().split(';').next().unwrap().to_owned()
    }

    fn request_with(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_str(&format!("theme=dark; {cookie}")).unwrap());
        h
    }

    #[test]
    fn a_stored_session_opens_with_the_same_key_only() {
        let now = SystemTime::now();
        let key = SessionKey::derive(&SecretString::from("the-shared-session-key-of-32-bytes!"));
        let cookies = Cookies::new(key.clone(), false);
        let mut out = HeaderMap::new();
        let s = session(now + Duration::from_secs(60));
        cookies.store(&mut out, &s, now);
        let cookie = cookie_of(out.get(SET_COOKIE).unwrap());
        assert!(!cookie.contains("tok.en.x") && !cookie.contains("alice"), "sealed, not readable: {cookie}");
        assert_eq!(cookies.session(&request_with(&cookie), now), Some(s.clone()));
        // another replica with the same SESSION_KEY opens it; another key does not
        let replica =
            Cookies::new(SessionKey::derive(&SecretString::from("the-shared-session-key-of-32-bytes!")), false);
        assert_eq!(replica.session(&request_with(&cookie), now), Some(s));
        assert_eq!(Cookies::new(SessionKey::random(), false).session(&request_with(&cookie), now), None);
    }

    #[test]
    fn a_changed_expired_or_repurposed_cookie_is_no_session() {
        let now = SystemTime::now();
        let cookies = Cookies::new(SessionKey::random(), false);
        let mut out = HeaderMap::new();
        cookies.store(&mut out, &session(now + Duration::from_secs(60)), now);
        let cookie = cookie_of(out.get(SET_COOKIE).unwrap());
        let (name, value) = cookie.split_once('=').unwrap();
        let mut bytes = value.as_bytes().to_vec();
        let last = bytes.len() - 5;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        let tampered = format!("{name}={}", String::from_utf8(bytes).unwrap());
        assert_eq!(cookies.session(&request_with(&tampered), now), None, "a changed byte");
        assert_eq!(cookies.session(&request_with(&cookie), now + Duration::from_secs(61)), None, "expired");
        // the same sealed value presented as the login cookie does not open
        assert_eq!(cookies.login(&request_with(&format!("todo_login={value}"))), None);
        assert_eq!(cookies.session(&request_with("todo_session=garbage"), now), None);
    }

    #[test]
    fn cookie_attributes_follow_the_bind() {
        let now = SystemTime::now();
        let s = session(now + Duration::from_secs(3600));
        for (secure, name, tail) in [(false, "todo_session=", ""), (true, "__Host-todo_session=", "; Secure")] {
            let cookies = Cookies::new(SessionKey::random(), secure);
            let mut out = HeaderMap::new();
            cookies.store(&mut out, &s, now);
            let set = out.get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
            assert!(set.starts_with(name), "{set}");
            assert!(set.ends_with(&format!("; Path=/; HttpOnly; SameSite=Lax; Max-Age=3600{tail}")), "{set}");
            let mut cleared = HeaderMap::new();
            cookies.clear(&mut cleared);
            assert!(cleared.get(SET_COOKIE).unwrap().to_str().unwrap().contains("Max-Age=0"));
        }
        assert!(!format!("{s:?}").contains("tok.en.x") && !format!("{s:?}").contains(s.csrf()), "no token in Debug");
    }
}
