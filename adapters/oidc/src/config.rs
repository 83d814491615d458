//! The `OIDC_*` settings, read once from a lookup (the process environment in production, a map
//! in tests) into an [`OidcConfig`]; `Debug` never shows the client secret.

use std::time::Duration;

use http::Uri;
use secrecy::SecretString;
use todo_http_client::is_loopback;

/// The claim naming the user unless `OIDC_USER_CLAIM` says otherwise.
pub const DEFAULT_USER_CLAIM: &str = "email";

/// A setting that cannot be used. No message shows the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcConfigError {
    /// A variable's value is not what it must be.
    #[error("{key}: {why}")]
    Invalid {
        /// The variable.
        key: &'static str,
        /// What it must be.
        why: String,
    },
    /// Some of the required settings are set, this one is not.
    #[error(
        "{0} is not set (OIDC sign-in needs OIDC_ISSUER_URL, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_REDIRECT_URL)"
    )]
    Missing(&'static str),
}

/// The relying party's settings: which provider, which client, where the provider sends the
/// browser back. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// `OIDC_ISSUER_URL`: the provider's issuer identifier, exactly as its ID tokens carry it in
    /// `iss` (e.g. `http://127.0.0.1:55556/dex`); discovery reads
    /// `<issuer>/.well-known/openid-configuration`. `https`, or `http` on a loopback host.
    pub issuer: String,
    /// `OIDC_CLIENT_ID`: this client at the provider; the ID token's audience.
    pub client_id: String,
    /// `OIDC_CLIENT_SECRET`: the client's secret, sent to the token endpoint only.
    pub client_secret: SecretString,
    /// `OIDC_REDIRECT_URL`: the callback registered at the provider (`https`, or `http` on a
    /// loopback host), sent as `redirect_uri` in both the authorization request and the code
    /// exchange.
    pub redirect_url: String,
    /// `OIDC_USER_CLAIM` (default [`DEFAULT_USER_CLAIM`]): the ID token claim naming the user; it
    /// must be a valid user id and equal to the services' `AUTH_USER_CLAIM`. With `email`, the
    /// token must also say `email_verified: true`.
    pub user_claim: String,
    /// How long one request to the provider may take, connect to last byte (default 10 s).
    pub timeout: Duration,
}

/// Reads settings from a lookup; empty (or blank) values count as unset.
struct Settings<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    fn get(&self, key: &str) -> Option<String> {
        (self.0)(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }
}

const REQUIRED: [&str; 4] = ["OIDC_ISSUER_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_REDIRECT_URL"];

impl OidcConfig {
    /// A configuration with the default user claim and timeout.
    ///
    /// # Errors
    /// [`OidcConfigError::Invalid`] when the issuer or the redirect URL is not an `https` URL (or
    /// `http` on a loopback host) with a host and no credentials, or the client id is empty.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: SecretString,
        redirect_url: impl Into<String>,
    ) -> Result<Self, OidcConfigError> {
        let (issuer, client_id, redirect_url) = (issuer.into(), client_id.into(), redirect_url.into());
        check_url("OIDC_ISSUER_URL", &issuer)?;
        if issuer.contains(['?', '#']) {
            return Err(OidcConfigError::Invalid {
                key: "OIDC_ISSUER_URL",
                why: "must have no query or fragment".to_owned(),
            });
        }
        check_url("OIDC_REDIRECT_URL", &redirect_url)?;
        if client_id.trim().is_empty() {
            return Err(OidcConfigError::Missing("OIDC_CLIENT_ID"));
        }
        Ok(Self {
            issuer,
            client_id,
            client_secret,
            redirect_url,
            user_claim: DEFAULT_USER_CLAIM.to_owned(),
            timeout: Duration::from_secs(10),
        })
    }

    /// The same, naming the user by `claim`.
    #[must_use]
    pub fn with_user_claim(mut self, claim: impl Into<String>) -> Self {
        self.user_claim = claim.into();
        self
    }

    /// Reads the settings of the process environment.
    ///
    /// # Errors
    /// See [`OidcConfig::from_lookup`].
    pub fn from_env() -> Result<Option<Self>, OidcConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads `OIDC_ISSUER_URL`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`, `OIDC_REDIRECT_URL` and
    /// the optional `OIDC_USER_CLAIM` through `lookup`. `None` when none of the four is set
    /// (sign-in is off).
    ///
    /// # Errors
    /// [`OidcConfigError::Missing`] when some of the four are set and not all,
    /// [`OidcConfigError::Invalid`] for a value that cannot be used (see [`OidcConfig::new`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, OidcConfigError> {
        let s = Settings(lookup);
        let values = REQUIRED.map(|key| s.get(key));
        if values.iter().all(Option::is_none) {
            return match s.get("OIDC_USER_CLAIM") {
                Some(_) => Err(OidcConfigError::Missing("OIDC_ISSUER_URL")),
                None => Ok(None),
            };
        }
        let [issuer, client_id, secret, redirect] = values;
        let required = |value: Option<String>, key| value.ok_or(OidcConfigError::Missing(key));
        let config = Self::new(
            required(issuer, "OIDC_ISSUER_URL")?,
            required(client_id, "OIDC_CLIENT_ID")?,
            SecretString::from(required(secret, "OIDC_CLIENT_SECRET")?),
            required(redirect, "OIDC_REDIRECT_URL")?,
        )?;
        Ok(Some(match s.get("OIDC_USER_CLAIM") {
            Some(claim) => config.with_user_claim(claim),
            None => config,
        }))
    }

    /// The discovery document's URL: the issuer with `/.well-known/openid-configuration`
    /// appended (OpenID Connect Discovery 1.0, section 4).
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'))
    }
}

/// `https://…`, or `http://…` on a loopback host; a host, no credentials.
pub(crate) fn check_url(key: &'static str, raw: &str) -> Result<Uri, OidcConfigError> {
    let invalid = |why: &str| OidcConfigError::Invalid { key, why: why.to_owned() };
    let uri: Uri = raw.parse().map_err(|_| invalid("is not a URL"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("must be an absolute URL with a host"));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(invalid("must not carry credentials"));
    }
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(&uri) => Ok(uri),
        Some("http") => Err(invalid("must be https:// (plain http only on a loopback host)")),
        _ => Err(invalid("must be an https:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use secrecy::ExposeSecret;

    use super::*;

    const SECRET: &str = "the-client-s3cret";

    fn read(pairs: &[(&str, &str)]) -> Result<Option<OidcConfig>, OidcConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        OidcConfig::from_lookup(|key| map.get(key).cloned())
    }

    fn all() -> Vec<(&'static str, &'static str)> {
        vec![
            ("OIDC_ISSUER_URL", "http://127.0.0.1:55556/dex"),
            ("OIDC_CLIENT_ID", "todo-web"),
            ("OIDC_CLIENT_SECRET", SECRET),
            ("OIDC_REDIRECT_URL", "http://127.0.0.1:8080/auth/callback"),
        ]
    }

    #[test]
    fn nothing_set_is_off_and_blank_values_count_as_unset() {
        assert!(read(&[]).unwrap().is_none());
        assert!(read(&[("OIDC_ISSUER_URL", " "), ("OIDC_CLIENT_ID", "")]).unwrap().is_none());
    }

    #[test]
    fn the_four_settings_are_read_with_the_email_claim_by_default() {
        let config = read(&all()).unwrap().unwrap();
        assert_eq!(config.issuer, "http://127.0.0.1:55556/dex");
        assert_eq!(config.client_id, "todo-web");
        assert_eq!(config.client_secret.expose_secret(), SECRET);
        assert_eq!(config.redirect_url, "http://127.0.0.1:8080/auth/callback");
        assert_eq!(config.user_claim, "email");
        assert_eq!(config.discovery_url(), "http://127.0.0.1:55556/dex/.well-known/openid-configuration");
        let mut pairs = all();
        pairs.push(("OIDC_USER_CLAIM", "preferred_username"));
        pairs[0].1 = "https://accounts.example/";
        let config = read(&pairs).unwrap().unwrap();
        assert_eq!(config.user_claim, "preferred_username");
        assert_eq!(config.discovery_url(), "https://accounts.example/.well-known/openid-configuration");
    }

    #[test]
    fn a_partial_configuration_names_what_is_missing() {
        for (i, key) in REQUIRED.iter().enumerate() {
            let mut pairs = all();
            pairs.remove(i);
            assert_eq!(read(&pairs).unwrap_err(), OidcConfigError::Missing(key));
        }
        assert_eq!(read(&[("OIDC_USER_CLAIM", "sub")]).unwrap_err(), OidcConfigError::Missing("OIDC_ISSUER_URL"));
    }

    #[test]
    fn urls_must_be_https_or_loopback_http() {
        for (key, bad) in [
            ("OIDC_ISSUER_URL", "http://accounts.example/dex"),
            ("OIDC_ISSUER_URL", "ftp://127.0.0.1/dex"),
            ("OIDC_ISSUER_URL", "/dex"),
            ("OIDC_ISSUER_URL", "https://user:pw@accounts.example"),
            ("OIDC_ISSUER_URL", "https://accounts.example/?tenant=1"),
            ("OIDC_REDIRECT_URL", "http://todo.example/auth/callback"),
            ("OIDC_REDIRECT_URL", "not a url"),
        ] {
            let mut pairs = all();
            pairs.retain(|(k, _)| *k != key);
            pairs.push((key, bad));
            assert!(matches!(read(&pairs), Err(OidcConfigError::Invalid { key: k, .. }) if k == key), "{key}={bad}");
        }
        for good in ["http://localhost:5556/dex", "http://[::1]:5556/dex", "https://accounts.example"] {
            let mut pairs = all();
            pairs[0].1 = good;
            assert!(read(&pairs).unwrap().is_some(), "{good}");
        }
    }

    #[test]
    fn neither_debug_nor_errors_show_the_secret() {
        let config = read(&all()).unwrap().unwrap();
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains(SECRET) && !shown.contains("s3cret"), "{shown}");
        let mut pairs = all();
        pairs[0].1 = "nope";
        let err = read(&pairs).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("s3cret"));
    }
}
