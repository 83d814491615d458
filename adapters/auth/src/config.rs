//! The `AUTH_*` settings, read once from a lookup (the process environment in production, a map
//! in tests) into an [`AuthConfig`]: verify JWTs, explicitly off, or nothing said.

use std::time::Duration;

use http::Uri;
use secrecy::{ExposeSecret, SecretString};

/// The smallest shared secret accepted for HS256: as long as the hash (RFC 7518, 3.2).
pub const MIN_SECRET_BYTES: usize = 32;

/// The largest clock-skew leeway accepted, seconds.
pub const MAX_LEEWAY_SECS: u64 = 300;

/// A setting that cannot be used. No message shows a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthConfigError {
    /// A variable's value is not what it must be.
    #[error("{key}: {why}")]
    Invalid {
        /// The variable.
        key: &'static str,
        /// What it must be.
        why: String,
    },
    /// Settings that contradict each other.
    #[error("{0}")]
    Conflict(&'static str),
    /// Nothing is configured, and this process must not run without verified identities.
    #[error(
        "authentication is not configured: set AUTH_JWKS_URL or AUTH_JWT_SECRET, or AUTH_MODE=none to run without it"
    )]
    Unconfigured,
    /// The TLS client for fetching key sets could not be set up.
    #[error("TLS client for AUTH_JWKS_URL: {0}")]
    Tls(String),
}

/// What the `AUTH_*` settings ask for.
#[derive(Debug, Clone)]
pub enum AuthConfig {
    /// Verify JWT bearer tokens.
    Jwt(Box<JwtConfig>),
    /// `AUTH_MODE=none`: no identity is checked.
    Off,
    /// Nothing set: the app decides (the all-in-one app on loopback runs without identities; a
    /// split service refuses to start).
    Unconfigured,
}

/// Where the keys that sign accepted tokens come from. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// `AUTH_JWKS_URL`: a JSON Web Key Set (RS256, ES256 and EdDSA keys), fetched and cached.
    Jwks(Uri),
    /// `AUTH_JWT_SECRET`: a shared secret (HS256), at least [`MIN_SECRET_BYTES`] long.
    Secret(SecretString),
}

/// How a key set is fetched and kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksOptions {
    /// The least time between two fetches, whatever asks for them: a token naming an unknown
    /// `kid` refetches the set at most this often, so a flood of made-up kids cannot hammer the
    /// issuer (default 10 s). A set that could not be fetched is tried again this often too.
    pub refetch_interval: Duration,
    /// How long a fetched set is used before it is fetched again, in the background, on the
    /// next use (default 5 min).
    pub ttl: Duration,
    /// How long one fetch may take, from connecting to the last byte (default 5 s).
    pub fetch_timeout: Duration,
    /// The largest key set accepted (default 1 MiB).
    pub max_bytes: usize,
}

impl Default for JwksOptions {
    fn default() -> Self {
        Self {
            refetch_interval: Duration::from_secs(10),
            ttl: Duration::from_secs(300),
            fetch_timeout: Duration::from_secs(5),
            max_bytes: 1024 * 1024,
        }
    }
}

/// How tokens are verified.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    /// The keys.
    pub keys: KeySource,
    /// `AUTH_ISSUER`: the `iss` every token must carry, when set.
    pub issuer: Option<String>,
    /// `AUTH_AUDIENCE`: the `aud` every token must carry (or list), when set. Without it a
    /// token's `aud` is not checked.
    pub audience: Option<String>,
    /// `AUTH_USER_CLAIM`: the claim naming the user, a string that is a valid user id (default
    /// `sub`).
    pub user_claim: String,
    /// `AUTH_LEEWAY_SECS`: clock skew allowed on `exp` and `nbf` (default 30 s, at most
    /// [`MAX_LEEWAY_SECS`]).
    pub leeway: Duration,
    /// How the key set is fetched and kept (with [`KeySource::Jwks`]).
    pub jwks: JwksOptions,
}

impl JwtConfig {
    /// Tokens signed by the keys of the set at `url`, other settings at their defaults.
    ///
    /// # Errors
    /// [`AuthConfigError::Invalid`] when `url` is not an `http` or `https` URL with a host.
    pub fn jwks(url: &str) -> Result<Self, AuthConfigError> {
        Ok(Self::with_keys(KeySource::Jwks(jwks_url(url)?)))
    }

    /// Tokens signed with `secret` (HS256), other settings at their defaults.
    ///
    /// # Errors
    /// [`AuthConfigError::Invalid`] when `secret` is shorter than [`MIN_SECRET_BYTES`].
    pub fn secret(secret: SecretString) -> Result<Self, AuthConfigError> {
        if secret.expose_secret().len() < MIN_SECRET_BYTES {
            return Err(AuthConfigError::Invalid {
                key: "AUTH_JWT_SECRET",
                why: format!("must be at least {MIN_SECRET_BYTES} bytes (HS256 wants a 256-bit key)"),
            });
        }
        Ok(Self::with_keys(KeySource::Secret(secret)))
    }

    fn with_keys(keys: KeySource) -> Self {
        Self {
            keys,
            issuer: None,
            audience: None,
            user_claim: "sub".to_owned(),
            leeway: Duration::from_secs(30),
            jwks: JwksOptions::default(),
        }
    }

    /// The same, demanding `iss` = `issuer`.
    #[must_use]
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = Some(issuer.into());
        self
    }

    /// The same, demanding `aud` to be or contain `audience`.
    #[must_use]
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The same, taking the user from `claim`.
    #[must_use]
    pub fn with_user_claim(mut self, claim: impl Into<String>) -> Self {
        self.user_claim = claim.into();
        self
    }

    /// The same, with `leeway` on `exp` and `nbf`.
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }
}

/// Reads settings from a lookup; empty (or blank) values count as unset.
struct Settings<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    fn get(&self, key: &str) -> Option<String> {
        (self.0)(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }
}

impl AuthConfig {
    /// Reads the settings of the process environment.
    ///
    /// # Errors
    /// See [`AuthConfig::from_lookup`].
    pub fn from_env() -> Result<Self, AuthConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads the `AUTH_*` settings through `lookup`:
    ///
    /// - `AUTH_MODE`: `none` turns authentication off, `jwt` demands a key source; unset, a
    ///   key source turns it on and its absence leaves it [`AuthConfig::Unconfigured`];
    /// - `AUTH_JWKS_URL` or `AUTH_JWT_SECRET` (not both): the keys;
    /// - `AUTH_ISSUER`, `AUTH_AUDIENCE`, `AUTH_USER_CLAIM` (default `sub`), `AUTH_LEEWAY_SECS`
    ///   (default 30).
    ///
    /// # Errors
    /// The first setting that cannot be used: an unknown mode, both key sources, a key source
    /// with `AUTH_MODE=none`, token settings without a key source, a bad URL, a short secret, a
    /// leeway that is not a small number of seconds.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, AuthConfigError> {
        let s = Settings(lookup);
        let mode = s.get("AUTH_MODE").map(|m| m.to_ascii_lowercase());
        let url = s.get("AUTH_JWKS_URL");
        let secret = s.get("AUTH_JWT_SECRET");
        let keys = match (url, secret) {
            (Some(_), Some(_)) => {
                return Err(AuthConfigError::Conflict("AUTH_JWKS_URL and AUTH_JWT_SECRET are both set; choose one"));
            }
            (Some(url), None) => Some(JwtConfig::jwks(&url)?),
            (None, Some(secret)) => Some(JwtConfig::secret(SecretString::from(secret))?),
            (None, None) => None,
        };
        let tuning = ["AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_USER_CLAIM", "AUTH_LEEWAY_SECS"];
        match (mode.as_deref(), keys) {
            (Some("none"), Some(_)) => Err(AuthConfigError::Conflict(
                "AUTH_MODE=none turns authentication off, but AUTH_JWKS_URL or AUTH_JWT_SECRET is set",
            )),
            (Some("none"), None) => Ok(Self::Off),
            (Some("jwt") | None, Some(config)) => Ok(Self::Jwt(Box::new(tune(&s, config)?))),
            (Some("jwt"), None) => {
                Err(AuthConfigError::Conflict("AUTH_MODE=jwt needs AUTH_JWKS_URL or AUTH_JWT_SECRET"))
            }
            (None, None) => match tuning.into_iter().find(|key| s.get(key).is_some()) {
                Some(key) => Err(AuthConfigError::Invalid {
                    key,
                    why: "set without AUTH_JWKS_URL or AUTH_JWT_SECRET to verify tokens with".to_owned(),
                }),
                None => Ok(Self::Unconfigured),
            },
            (Some(other), _) => Err(AuthConfigError::Invalid {
                key: "AUTH_MODE",
                why: format!("{other:?} is not a mode (expected `none` or `jwt`)"),
            }),
        }
    }
}

/// The optional token settings on top of the key source.
fn tune<F: Fn(&str) -> Option<String>>(s: &Settings<F>, mut config: JwtConfig) -> Result<JwtConfig, AuthConfigError> {
    config.issuer = s.get("AUTH_ISSUER");
    config.audience = s.get("AUTH_AUDIENCE");
    if let Some(claim) = s.get("AUTH_USER_CLAIM") {
        config.user_claim = claim;
    }
    if let Some(raw) = s.get("AUTH_LEEWAY_SECS") {
        let secs = raw.parse::<u64>().ok().filter(|secs| *secs <= MAX_LEEWAY_SECS).ok_or_else(|| {
            AuthConfigError::Invalid {
                key: "AUTH_LEEWAY_SECS",
                why: format!("must be a whole number of seconds from 0 to {MAX_LEEWAY_SECS}"),
            }
        })?;
        config.leeway = Duration::from_secs(secs);
    }
    Ok(config)
}

/// A key set's URL: `http` or `https`, with a host.
fn jwks_url(raw: &str) -> Result<Uri, AuthConfigError> {
    let invalid = |why: &str| AuthConfigError::Invalid { key: "AUTH_JWKS_URL", why: why.to_owned() };
    let uri: Uri = raw.parse().map_err(|_| invalid("is not a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(invalid("must be an http:// or https:// URL")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("must name a host"));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(invalid("must not carry credentials"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-s3cret";

    fn read(pairs: &[(&str, &str)]) -> Result<AuthConfig, AuthConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        AuthConfig::from_lookup(|key| map.get(key).cloned())
    }

    fn jwt(pairs: &[(&str, &str)]) -> JwtConfig {
        match read(pairs).unwrap() {
            AuthConfig::Jwt(config) => *config,
            other => panic!("expected a JWT setting, got {other:?}"),
        }
    }

    #[test]
    fn nothing_set_is_unconfigured_and_empty_values_count_as_unset() {
        assert!(matches!(read(&[]).unwrap(), AuthConfig::Unconfigured));
        assert!(matches!(
            read(&[("AUTH_MODE", ""), ("AUTH_JWKS_URL", " "), ("AUTH_JWT_SECRET", ""), ("AUTH_ISSUER", "")]).unwrap(),
            AuthConfig::Unconfigured
        ));
    }

    #[test]
    fn auth_mode_none_turns_it_off_explicitly() {
        assert!(matches!(read(&[("AUTH_MODE", "none")]).unwrap(), AuthConfig::Off));
        assert!(matches!(read(&[("AUTH_MODE", "NONE")]).unwrap(), AuthConfig::Off));
    }

    #[test]
    fn a_key_source_turns_it_on_with_defaults() {
        let config = jwt(&[("AUTH_JWKS_URL", "https://issuer.example/.well-known/jwks.json")]);
        assert!(matches!(&config.keys, KeySource::Jwks(uri) if uri.host() == Some("issuer.example")));
        assert_eq!(
            (config.issuer, config.audience, config.user_claim.as_str(), config.leeway),
            (None, None, "sub", Duration::from_secs(30))
        );
        assert_eq!(config.jwks, JwksOptions::default());
        let config = jwt(&[("AUTH_JWT_SECRET", SECRET), ("AUTH_MODE", "jwt")]);
        assert!(matches!(&config.keys, KeySource::Secret(s) if s.expose_secret() == SECRET));
    }

    #[test]
    fn the_token_settings_are_read() {
        let config = jwt(&[
            ("AUTH_JWKS_URL", "http://127.0.0.1:9/jwks"),
            ("AUTH_ISSUER", "https://issuer.example"),
            ("AUTH_AUDIENCE", "todo"),
            ("AUTH_USER_CLAIM", "preferred_username"),
            ("AUTH_LEEWAY_SECS", "5"),
        ]);
        assert_eq!(config.issuer.as_deref(), Some("https://issuer.example"));
        assert_eq!(config.audience.as_deref(), Some("todo"));
        assert_eq!(config.user_claim, "preferred_username");
        assert_eq!(config.leeway, Duration::from_secs(5));
    }

    #[test]
    fn contradictions_and_bad_values_are_refused() {
        let refused = |pairs: &[(&str, &str)]| read(pairs).unwrap_err();
        assert!(matches!(
            refused(&[("AUTH_JWKS_URL", "https://a.example/jwks"), ("AUTH_JWT_SECRET", SECRET)]),
            AuthConfigError::Conflict(_)
        ));
        assert!(matches!(refused(&[("AUTH_MODE", "none"), ("AUTH_JWT_SECRET", SECRET)]), AuthConfigError::Conflict(_)));
        assert!(matches!(refused(&[("AUTH_MODE", "jwt")]), AuthConfigError::Conflict(_)));
        assert!(matches!(refused(&[("AUTH_MODE", "basic")]), AuthConfigError::Invalid { key: "AUTH_MODE", .. }));
        assert!(matches!(refused(&[("AUTH_ISSUER", "x")]), AuthConfigError::Invalid { key: "AUTH_ISSUER", .. }));
        for url in ["ftp://a.example/jwks", "not a url", "/jwks", "https://user:pw@a.example/jwks"] {
            assert!(
                matches!(refused(&[("AUTH_JWKS_URL", url)]), AuthConfigError::Invalid { key: "AUTH_JWKS_URL", .. }),
                "{url}"
            );
        }
        assert!(matches!(
            refused(&[("AUTH_JWT_SECRET", "short")]),
            AuthConfigError::Invalid { key: "AUTH_JWT_SECRET", .. }
        ));
        for leeway in ["-1", "ten", "301"] {
            assert!(matches!(
                refused(&[("AUTH_JWT_SECRET", SECRET), ("AUTH_LEEWAY_SECS", leeway)]),
                AuthConfigError::Invalid { key: "AUTH_LEEWAY_SECS", .. }
            ));
        }
    }

    #[test]
    fn neither_debug_nor_errors_show_the_secret() {
        let config = read(&[("AUTH_JWT_SECRET", SECRET)]).unwrap();
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains(SECRET) && !shown.contains("s3cret"), "{shown}");
        let err = read(&[("AUTH_JWT_SECRET", "s3cret-but-short")]).unwrap_err();
        assert!(!err.to_string().contains("s3cret") && !format!("{err:?}").contains("s3cret"));
    }
}
