//! The authorization-code flow with PKCE: [`Oidc::begin`] makes the URL to send the browser to
//! and the [`PendingLogin`] to keep until it comes back; [`Oidc::finish`] checks the callback,
//! exchanges the code and verifies the ID token into a [`SignedIn`].

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{HeaderValue, StatusCode, Uri};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;
use todo_auth::{JwtConfig, JwtVerifier};
use todo_ports::model::UserId;
use todo_ports::{IdentityError, TokenVerifier};

use crate::config::OidcConfig;
use crate::discovery::{ClientAuth, ProviderMetadata, endpoint};
use crate::http::HttpClient;
use crate::pkce::{is_verifier, random_token, s256_challenge};

/// The scopes asked for: the ID token, and the `email` and `profile` claims in it.
pub const SCOPES: &str = "openid email profile";

/// The longest authorization code accepted from a callback, bytes.
const MAX_CODE_BYTES: usize = 2048;

/// The longest provider-given text kept in an error (`error`, `error_description`).
const MAX_PROVIDER_TEXT: usize = 200;

/// Why a sign-in did not happen. No message holds a secret, a code or a token.
///
/// For a web frontend: [`OidcError::Unavailable`] is a 503 (try again later);
/// [`OidcError::StateMismatch`], [`OidcError::BadCallback`], [`OidcError::Denied`] and
/// [`OidcError::InvalidIdToken`] end this attempt (say so, offer to sign in again);
/// [`OidcError::Provider`] and [`OidcError::Internal`] are a misconfiguration (502/500).
/// `Denied`'s texts come from the provider or from the callback's query, which anyone can
/// forge: escape them when showing them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached, did not answer in time, or answered 5xx.
    #[error("the OpenID provider is unavailable: {0}")]
    Unavailable(String),
    /// The provider answered something the protocol does not allow (a bad discovery document,
    /// another issuer, a token answer without `id_token`).
    #[error("the OpenID provider answered outside the protocol: {0}")]
    Provider(String),
    /// The callback lacks `code` or `state`, repeats one, or carries an oversized code.
    #[error("malformed callback: {0}")]
    BadCallback(&'static str),
    /// The callback's `state` is not the pending sign-in's: a stale, crossed or forged callback.
    #[error("the callback's state does not match the pending sign-in")]
    StateMismatch,
    /// The provider refused: the callback carried `error=…` (the user cancelled, say), or the
    /// token endpoint refused the code (`invalid_grant`: used already, expired, or the PKCE
    /// verifier does not match).
    #[error("the OpenID provider refused: {error}{}", in_parentheses(.description))]
    Denied {
        /// The OAuth 2.0 error code (`access_denied`, `invalid_grant`, …).
        error: String,
        /// The provider's explanation, when it gave one.
        description: Option<String>,
    },
    /// The ID token failed verification: signature, issuer, audience, expiry, nonce, or the user
    /// claim (a fixed reason that never quotes the token).
    #[error("the ID token is refused: {0}")]
    InvalidIdToken(String),
    /// Something on this side failed (the random source, the TLS client's set-up).
    #[error("OIDC sign-in failed internally: {0}")]
    Internal(String),
}

fn in_parentheses(text: &Option<String>) -> String {
    text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default()
}

fn truncated(text: &str) -> String {
    match text.char_indices().nth(MAX_PROVIDER_TEXT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// What a sign-in in progress must remember until the browser comes back: `state` (matched
/// against the callback's), `nonce` (matched against the ID token's) and the PKCE code
/// verifier. Keep it server-side or in a short-lived `HttpOnly`, `Secure`, `SameSite=Lax` cookie
/// ([`PendingLogin::encode`]); use it once. `Debug` shows the state only.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingLogin {
    state: String,
    nonce: String,
    verifier: String,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("nonce", &"[REDACTED]")
            .field("verifier", &"[REDACTED]")
            .finish()
    }
}

impl PendingLogin {
    fn fresh() -> Result<Self, OidcError> {
        let random = || random_token().map_err(|e| OidcError::Internal(format!("random source: {e}")));
        Ok(Self { state: random()?, nonce: random()?, verifier: random()? })
    }

    /// The `state` sent in the authorization request.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// One line to store (a cookie value): `v1.<state>.<nonce>.<verifier>`, all base64url.
    pub fn encode(&self) -> String {
        format!("v1.{}.{}.{}", self.state, self.nonce, self.verifier)
    }

    /// Reads what [`PendingLogin::encode`] wrote; `None` for anything else.
    pub fn decode(raw: &str) -> Option<Self> {
        let mut parts = raw.split('.');
        let (Some("v1"), Some(state), Some(nonce), Some(verifier), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let token = |s: &str| (16..=128).contains(&s.len()) && URL_SAFE_NO_PAD.decode(s).is_ok();
        (token(state) && token(nonce) && is_verifier(verifier)).then(|| Self {
            state: state.to_owned(),
            nonce: nonce.to_owned(),
            verifier: verifier.to_owned(),
        })
    }
}

/// The parameters of the request the provider sends the browser back with.
#[derive(Clone, PartialEq, Eq)]
pub struct Callback {
    /// The authorization code.
    pub code: String,
    /// The state, to match against [`PendingLogin::state`].
    pub state: String,
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback").field("code", &"[REDACTED]").field("state", &self.state).finish()
    }
}

impl Callback {
    /// Reads the callback's query string (without the `?`).
    ///
    /// # Errors
    /// [`OidcError::Denied`] when it carries `error` (RFC 6749, section 4.1.2.1);
    /// [`OidcError::BadCallback`] when `code` or `state` is missing, empty or repeated, or the
    /// code is longer than 2 KiB.
    pub fn from_query(query: &str) -> Result<Self, OidcError> {
        let (mut code, mut state, mut error, mut description) = (None, None, None, None);
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let slot = match key.as_ref() {
                "code" => &mut code,
                "state" => &mut state,
                "error" => &mut error,
                "error_description" => &mut description,
                _ => continue,
            };
            if slot.replace(value.into_owned()).is_some() {
                return Err(OidcError::BadCallback("a parameter is repeated"));
            }
        }
        if let Some(error) = error {
            return Err(OidcError::Denied {
                error: truncated(&error),
                description: description.as_deref().map(truncated),
            });
        }
        let code = code.filter(|c| !c.is_empty()).ok_or(OidcError::BadCallback("no code"))?;
        let state = state.filter(|s| !s.is_empty()).ok_or(OidcError::BadCallback("no state"))?;
        Ok(Self { code, state })
    }
}

/// A finished sign-in. `Debug` shows no token.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The verified ID token: the bearer the services accept when their `AUTH_*` settings are
    /// [`Oidc::service_settings`].
    pub id_token: SecretString,
    /// The user the token names (its user claim).
    pub user_id: UserId,
    /// When the token expires (its `exp`): sign in again after it.
    pub expires_at: SystemTime,
}

/// The relying party for one configured provider. Cheap to share behind an `Arc`; the
/// provider's keys are fetched and cached as the services' verifier does it.
pub struct Oidc {
    config: OidcConfig,
    metadata: ProviderMetadata,
    token_endpoint: Uri,
    client_auth: ClientAuth,
    http: HttpClient,
    verifier: JwtVerifier,
}

impl fmt::Debug for Oidc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.config.issuer)
            .field("client_id", &self.config.client_id)
            .field("redirect_url", &self.config.redirect_url)
            .field("user_claim", &self.config.user_claim)
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    error_description: Option<String>,
}

impl Oidc {
    /// Fetches and checks the provider's discovery document, and sets up the ID token's
    /// verifier (the provider's key set; `iss` = the issuer; `aud` = the client id; the user
    /// claim). Nothing else is fetched yet.
    ///
    /// # Errors
    /// [`OidcError::Unavailable`] when the document cannot be fetched (5xx, no answer);
    /// [`OidcError::Provider`] when it is not a usable document for this issuer.
    pub async fn discover(config: OidcConfig) -> Result<Self, OidcError> {
        let http = HttpClient::new(config.timeout)?;
        let url = endpoint("the discovery URL", &config.discovery_url())?;
        let answer = http.get(url).await?;
        match answer.status {
            StatusCode::OK => {}
            status if status.is_server_error() => {
                return Err(OidcError::Unavailable(format!("discovery answered {status}")));
            }
            status => return Err(OidcError::Provider(format!("discovery answered {status}"))),
        }
        let metadata = ProviderMetadata::parse(&answer.body, &config.issuer)?;
        let token_endpoint = endpoint("token_endpoint", &metadata.token_endpoint)?;
        let client_auth = metadata.client_auth()?;
        let verifier = JwtVerifier::new(&jwt_config(&config, &metadata)?)
            .map_err(|e| OidcError::Internal(format!("ID token verifier: {e}")))?;
        tracing::info!(issuer = %config.issuer, client_id = %config.client_id, "oidc.discovered");
        Ok(Self { config, metadata, token_endpoint, client_auth, http, verifier })
    }

    /// The provider's metadata, as discovered.
    pub fn provider(&self) -> &ProviderMetadata {
        &self.metadata
    }

    /// The settings this relying party was made with.
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The `AUTH_*` settings under which the services accept the ID tokens this relying party
    /// obtains: `AUTH_JWKS_URL` (the provider's `jwks_uri`), `AUTH_ISSUER`, `AUTH_AUDIENCE` (the
    /// client id) and `AUTH_USER_CLAIM`.
    pub fn service_settings(&self) -> [(&'static str, String); 4] {
        [
            ("AUTH_JWKS_URL", self.metadata.jwks_uri.clone()),
            ("AUTH_ISSUER", self.metadata.issuer.clone()),
            ("AUTH_AUDIENCE", self.config.client_id.clone()),
            ("AUTH_USER_CLAIM", self.config.user_claim.clone()),
        ]
    }

    /// Starts a sign-in: the URL to redirect the browser to (`response_type=code`, the
    /// [`SCOPES`], a fresh `state` and `nonce`, the PKCE `S256` challenge) and what to keep
    /// until the callback.
    ///
    /// # Errors
    /// [`OidcError::Internal`] when the random source fails.
    pub fn begin(&self) -> Result<(String, PendingLogin), OidcError> {
        let pending = PendingLogin::fresh()?;
        Ok((authorization_url(&self.metadata.authorization_endpoint, &self.config, &pending), pending))
    }

    /// Finishes a sign-in from the callback's `code` and `state`: the state must be the
    /// pending sign-in's; the code is exchanged (with the PKCE verifier and the client's
    /// secret) for an ID token, which must verify (signature by the provider's keys, issuer,
    /// audience, expiry, the pending sign-in's nonce, a user claim that is a valid user id,
    /// and with `email` as that claim, `email_verified: true`).
    ///
    /// # Errors
    /// [`OidcError::StateMismatch`], [`OidcError::BadCallback`] (empty or oversized code),
    /// [`OidcError::Denied`] (the provider refused the code), [`OidcError::InvalidIdToken`],
    /// [`OidcError::Unavailable`], [`OidcError::Provider`].
    pub async fn finish(&self, pending: &PendingLogin, code: &str, state: &str) -> Result<SignedIn, OidcError> {
        if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            tracing::info!("oidc.callback refused: state mismatch");
            return Err(OidcError::StateMismatch);
        }
        if code.is_empty() {
            return Err(OidcError::BadCallback("no code"));
        }
        if code.len() > MAX_CODE_BYTES {
            return Err(OidcError::BadCallback("the code is too long"));
        }
        let id_token = self.exchange(code, pending).await?;
        let user_id = self.verifier.verify(&id_token).await.map_err(|e| match e {
            IdentityError::Expired => OidcError::InvalidIdToken("the token has expired".into()),
            IdentityError::Unavailable(why) => OidcError::Unavailable(format!("the provider's keys: {why}")),
            IdentityError::Invalid(why) => OidcError::InvalidIdToken(why),
            IdentityError::Missing => OidcError::Provider("the token answer has an empty id_token".into()),
        })?;
        // The signature was checked above, on these very bytes: the claims can be read.
        let claims = claims_of(&id_token)?;
        let expires_at = check_claims(&claims, &self.config, &pending.nonce)?;
        tracing::info!(user_id = %user_id.as_str(), "oidc.signed_in");
        Ok(SignedIn { id_token: SecretString::from(id_token), user_id, expires_at })
    }

    /// The token request: `authorization_code` grant with the verifier; the ID token back.
    async fn exchange(&self, code: &str, pending: &PendingLogin) -> Result<String, OidcError> {
        // The serializer is not `Sync` (it may hold an encoding function): it must not live
        // across the `await`, or `finish`'s future is not `Send` (an axum handler's must be).
        let (form, authorization) = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", &self.config.redirect_url)
                .append_pair("code_verifier", &pending.verifier);
            let authorization = match self.client_auth {
                ClientAuth::Basic => Some(basic_auth(&self.config.client_id, &self.config.client_secret)?),
                ClientAuth::Post => {
                    form.append_pair("client_id", &self.config.client_id)
                        .append_pair("client_secret", self.config.client_secret.expose_secret());
                    None
                }
            };
            (form.finish(), authorization)
        };
        let answer = self.http.post_form(self.token_endpoint.clone(), form, authorization).await?;
        match answer.status {
            StatusCode::OK => {
                let token: TokenAnswer = serde_json::from_slice(&answer.body)
                    .map_err(|e| OidcError::Provider(format!("the token answer cannot be read: {e}")))?;
                token.id_token.ok_or_else(|| OidcError::Provider("the token answer has no id_token".into()))
            }
            status if status.is_server_error() => {
                Err(OidcError::Unavailable(format!("the token endpoint answered {status}")))
            }
            status => match serde_json::from_slice::<ErrorAnswer>(&answer.body) {
                Ok(refusal) => {
                    tracing::info!(error = %truncated(&refusal.error), "oidc.token refused");
                    Err(OidcError::Denied {
                        error: truncated(&refusal.error),
                        description: refusal.error_description.as_deref().map(truncated),
                    })
                }
                Err(_) => Err(OidcError::Provider(format!("the token endpoint answered {status}"))),
            },
        }
    }
}

/// The verifier's settings for this provider and client: what the services' `AUTH_*` say.
fn jwt_config(config: &OidcConfig, metadata: &ProviderMetadata) -> Result<JwtConfig, OidcError> {
    Ok(JwtConfig::jwks(&metadata.jwks_uri)
        .map_err(|e| OidcError::Provider(format!("jwks_uri: {e}")))?
        .with_issuer(&metadata.issuer)
        .with_audience(&config.client_id)
        .with_user_claim(&config.user_claim))
}

/// The authorization request's URL: the endpoint (keeping any query it has) and the flow's
/// parameters, form-encoded.
fn authorization_url(endpoint: &str, config: &OidcConfig, pending: &PendingLogin) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &config.client_id)
        .append_pair("redirect_uri", &config.redirect_url)
        .append_pair("scope", SCOPES)
        .append_pair("state", &pending.state)
        .append_pair("nonce", &pending.nonce)
        .append_pair("code_challenge", &s256_challenge(&pending.verifier))
        .append_pair("code_challenge_method", "S256")
        .finish();
    let joint = match endpoint.split_once('?') {
        Some((_, existing)) if existing.is_empty() || existing.ends_with('&') => "",
        Some(_) => "&",
        None => "?",
    };
    format!("{endpoint}{joint}{query}")
}

/// `Authorization: Basic` of the form-encoded id and secret (RFC 6749, section 2.3.1).
fn basic_auth(client_id: &str, secret: &SecretString) -> Result<HeaderValue, OidcError> {
    let encode = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let credentials = STANDARD.encode(format!("{}:{}", encode(client_id), encode(secret.expose_secret())));
    let mut value = HeaderValue::try_from(format!("Basic {credentials}"))
        .map_err(|_| OidcError::Internal("client credentials do not fit a header".into()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The payload of a JWT whose signature has been checked.
fn claims_of(token: &str) -> Result<Map<String, Value>, OidcError> {
    token
        .split('.')
        .nth(1)
        .and_then(|payload| URL_SAFE_NO_PAD.decode(payload).ok())
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(|| OidcError::InvalidIdToken("malformed token".into()))
}

/// The ID token's checks beyond the verifier's (OpenID Connect Core 1.0, section 3.1.3.7): the
/// nonce is the pending sign-in's; with several audiences, `azp` is this client; `iat` is
/// there; with `email` as the user claim, the address is verified. The expiry, back.
fn check_claims(claims: &Map<String, Value>, config: &OidcConfig, nonce: &str) -> Result<SystemTime, OidcError> {
    let refused = |why: &str| Err(OidcError::InvalidIdToken(why.to_owned()));
    match claims.get("nonce") {
        Some(Value::String(n)) if bool::from(n.as_bytes().ct_eq(nonce.as_bytes())) => {}
        Some(_) => return refused("the nonce is not the sign-in's"),
        None => return refused("the token has no nonce"),
    }
    let azp = claims.get("azp").and_then(Value::as_str);
    if let Some(Value::Array(audiences)) = claims.get("aud")
        && audiences.len() > 1
        && azp.is_none()
    {
        return refused("several audiences and no azp");
    }
    if azp.is_some_and(|azp| azp != config.client_id) {
        return refused("azp is another client");
    }
    if !claims.get("iat").is_some_and(Value::is_number) {
        return refused("the token has no iat");
    }
    if config.user_claim == "email" && claims.get("email_verified") != Some(&Value::Bool(true)) {
        return refused("the email address is not verified");
    }
    match claims.get("exp").and_then(Value::as_u64) {
        Some(exp) => Ok(UNIX_EPOCH + Duration::from_secs(exp)),
        None => refused("the `exp` claim is malformed"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn config() -> OidcConfig {
        OidcConfig::new(
            "http://127.0.0.1:55556/dex",
            "todo web",
            SecretString::from("s3cret:&+/="),
            "http://127.0.0.1:8080/auth/callback?x=1",
        )
        .unwrap()
    }

    fn pending() -> PendingLogin {
        PendingLogin {
            state: "c3RhdGUtc3RhdGUtc3RhdGU".into(),
            nonce: "bm9uY2Utbm9uY2Utbm9uY2U".into(),
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
        }
    }

    fn query_of(url: &str) -> Vec<(String, String)> {
        let (_, query) = url.split_once('?').unwrap();
        form_urlencoded::parse(query.as_bytes()).into_owned().collect()
    }

    #[test]
    fn the_authorization_url_carries_the_code_flow_with_pkce_s256() {
        let url = authorization_url("http://127.0.0.1:55556/dex/auth", &config(), &pending());
        assert!(url.starts_with("http://127.0.0.1:55556/dex/auth?response_type=code&"), "{url}");
        let q = query_of(&url);
        let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("client_id"), Some("todo web"));
        assert_eq!(get("redirect_uri"), Some("http://127.0.0.1:8080/auth/callback?x=1"));
        assert_eq!(get("scope"), Some("openid email profile"));
        assert_eq!(get("state"), Some("c3RhdGUtc3RhdGUtc3RhdGU"));
        assert_eq!(get("nonce"), Some("bm9uY2Utbm9uY2Utbm9uY2U"));
        assert_eq!(get("code_challenge"), Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert_eq!(get("code_challenge_method"), Some("S256"));
        assert_eq!(q.len(), 8, "and nothing else, the verifier least of all: {q:?}");
        assert!(!url.contains("dBjftJeZ4CVP"));
    }

    #[test]
    fn an_endpoint_with_a_query_keeps_it() {
        let url = authorization_url("https://idp.example/authorize?tenant=a", &config(), &pending());
        assert!(url.starts_with("https://idp.example/authorize?tenant=a&response_type=code&"), "{url}");
        let url = authorization_url("https://idp.example/authorize?", &config(), &pending());
        assert!(url.starts_with("https://idp.example/authorize?response_type=code&"), "{url}");
    }

    #[test]
    fn basic_auth_form_encodes_id_and_secret() {
        let value = basic_auth("todo web", &SecretString::from("s3cret:&+/=")).unwrap();
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "todo+web:s3cret%3A%26%2B%2F%3D");
        assert!(value.is_sensitive());
    }

    #[test]
    fn a_pending_login_round_trips_and_garbage_does_not_decode() {
        let p = pending();
        assert_eq!(PendingLogin::decode(&p.encode()), Some(p.clone()));
        let fresh = PendingLogin::fresh().unwrap();
        assert_eq!(PendingLogin::decode(&fresh.encode()).as_ref(), Some(&fresh));
        for bad in [
            "",
            "v1",
            "v2.a.b.c",
            &format!("{}.extra", p.encode()),
            "v1.c3RhdGU.bm9uY2U.short",
            "v1.!!!!!!!!!!!!!!!!!!!!.x.y",
        ] {
            assert_eq!(PendingLogin::decode(bad), None, "{bad}");
        }
        let shown = format!("{p:?}");
        assert!(shown.contains("c3RhdGU") && !shown.contains("bm9uY2U") && !shown.contains("dBjft"), "{shown}");
    }

    #[test]
    fn the_callback_is_read_and_its_errors_are_named() {
        let cb = Callback::from_query("code=abc%2Bdef&state=xyz&session_state=ignored").unwrap();
        assert_eq!((cb.code.as_str(), cb.state.as_str()), ("abc+def", "xyz"));
        assert!(!format!("{cb:?}").contains("abc"));
        assert_eq!(
            Callback::from_query("error=access_denied&error_description=The+user+said+no&state=xyz").unwrap_err(),
            OidcError::Denied { error: "access_denied".into(), description: Some("The user said no".into()) }
        );
        assert_eq!(Callback::from_query("state=xyz").unwrap_err(), OidcError::BadCallback("no code"));
        assert_eq!(Callback::from_query("code=abc&state=").unwrap_err(), OidcError::BadCallback("no state"));
        assert_eq!(
            Callback::from_query("code=abc&state=x&state=y").unwrap_err(),
            OidcError::BadCallback("a parameter is repeated")
        );
        let long = "x".repeat(5000);
        match Callback::from_query(&format!("error={long}")).unwrap_err() {
            OidcError::Denied { error, .. } => assert!(error.chars().count() <= MAX_PROVIDER_TEXT + 1),
            other => panic!("{other:?}"),
        }
    }

    fn claims(value: serde_json::Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn good() -> serde_json::Value {
        json!({"nonce": "bm9uY2Utbm9uY2Utbm9uY2U", "aud": "todo web", "iat": 1, "exp": 1_900_000_000,
               "email": "alice@example.com", "email_verified": true})
    }

    #[test]
    fn the_id_token_claims_beyond_the_signature_are_checked() {
        let nonce = "bm9uY2Utbm9uY2Utbm9uY2U";
        let expires = check_claims(&claims(good()), &config(), nonce).unwrap();
        assert_eq!(expires, UNIX_EPOCH + Duration::from_secs(1_900_000_000));
        let with = |k: &str, v: Value| {
            let mut c = good();
            c[k] = v;
            claims(c)
        };
        let without = |k: &str| {
            let mut c = claims(good());
            c.remove(k);
            c
        };
        for (claims, why) in [
            (with("nonce", json!("another")), "nonce is not"),
            (without("nonce"), "no nonce"),
            (with("aud", json!(["todo web", "other"])), "no azp"),
            (with("azp", json!("other")), "another client"),
            (without("iat"), "no iat"),
            (with("email_verified", json!(false)), "not verified"),
            (without("email_verified"), "not verified"),
            (with("email_verified", json!("true")), "not verified"),
        ] {
            match check_claims(&claims, &config(), nonce) {
                Err(OidcError::InvalidIdToken(reason)) => assert!(reason.contains(why), "{reason} / {why}"),
                other => panic!("{why}: {other:?}"),
            }
        }
        let mut several = good();
        several["aud"] = json!(["todo web", "other"]);
        several["azp"] = json!("todo web");
        assert!(check_claims(&claims(several), &config(), nonce).is_ok());
        let by_sub = config().with_user_claim("sub");
        assert!(check_claims(&without("email_verified"), &by_sub, nonce).is_ok());
    }
}
