//! The settings of the web UI, read from a lookup (the process environment in production, a map
//! in tests): the session key, whether cookies are `Secure`, the public origin, how long a
//! session lasts, and whether the development sign-in is on.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use secrecy::SecretString;

use crate::session::SessionKey;

/// The shortest `SESSION_KEY` accepted, bytes.
pub const MIN_SESSION_KEY_BYTES: usize = 32;

/// How long a session lasts unless `SESSION_MAX_AGE_SECS` says otherwise: a working day.
pub const DEFAULT_SESSION_MAX_AGE: Duration = Duration::from_secs(8 * 3600);

/// A setting that cannot be used. No message shows a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {why}")]
pub struct WebConfigError {
    /// The variable.
    pub key: &'static str,
    /// What it must be.
    pub why: String,
}

/// How the UI's sessions and sign-in behave. `Debug` shows no key.
#[derive(Clone)]
pub struct WebConfig {
    /// Seals the session cookies (`SESSION_KEY`; made at random on loopback when unset).
    pub session_key: SessionKey,
    /// Cookies carry `Secure` and the `__Host-` prefix: any address beyond loopback, or a
    /// `PUBLIC_URL` on `https`.
    pub secure_cookies: bool,
    /// `PUBLIC_URL`'s origin (`https://todo.example.com`): the only `Origin` state-changing
    /// requests may come from. Unset, the request's own `Host` is the expected origin.
    pub public_origin: Option<String>,
    /// `SESSION_MAX_AGE_SECS`: the longest a session lasts (default 8 h); a session also ends
    /// when its token expires.
    pub session_max_age: Duration,
    /// `AUTH_DEV_SIGNER=1`: the development sign-in (a typed user id), refused beyond loopback.
    pub dev_sign_in: bool,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("session_key", &"[redacted]")
            .field("secure_cookies", &self.secure_cookies)
            .field("public_origin", &self.public_origin)
            .field("session_max_age", &self.session_max_age)
            .field("dev_sign_in", &self.dev_sign_in)
            .finish()
    }
}

impl WebConfig {
    /// Reads the settings through `lookup` for a server bound to `bind`; `dev_by_default` is
    /// whether the development sign-in is on when `AUTH_DEV_SIGNER` is unset (the all-in-one app
    /// running open on loopback).
    ///
    /// - `SESSION_KEY`: at least [`MIN_SESSION_KEY_BYTES`] bytes; unset, a random key on loopback
    ///   (sessions end with the process, one replica) and an error beyond it;
    /// - `AUTH_DEV_SIGNER`: `1`/`true` or `0`/`false`; on with a `bind` beyond loopback is an error;
    /// - `PUBLIC_URL`: `http(s)://host[:port]`, no path;
    /// - `SESSION_MAX_AGE_SECS`: 60 to 30 days.
    ///
    /// # Errors
    /// The first setting that cannot be used.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        bind: IpAddr,
        dev_by_default: bool,
    ) -> Result<Self, WebConfigError> {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let loopback = bind.is_loopback();
        let session_key = match get("SESSION_KEY") {
            Some(key) if key.len() >= MIN_SESSION_KEY_BYTES => SessionKey::derive(&SecretString::from(key)),
            Some(_) => {
                return Err(WebConfigError {
                    key: "SESSION_KEY",
                    why: format!("must be at least {MIN_SESSION_KEY_BYTES} bytes"),
                });
            }
            None if loopback => SessionKey::random(),
            None => {
                return Err(WebConfigError {
                    key: "SESSION_KEY",
                    why: format!(
                        "required on {bind}, beyond loopback: every replica must open the others' session cookies"
                    ),
                });
            }
        };
        let dev_sign_in = match get("AUTH_DEV_SIGNER").as_deref() {
            None => dev_by_default,
            Some("1" | "true") => true,
            Some("0" | "false") => false,
            Some(_) => return Err(WebConfigError { key: "AUTH_DEV_SIGNER", why: "must be 1 or 0".into() }),
        };
        if dev_sign_in && !loopback {
            return Err(WebConfigError {
                key: "AUTH_DEV_SIGNER",
                why: format!("the development sign-in is for loopback only, refused on {bind}"),
            });
        }
        let public_origin = get("PUBLIC_URL").map(|url| origin_of(&url)).transpose()?;
        let session_max_age = match get("SESSION_MAX_AGE_SECS") {
            None => DEFAULT_SESSION_MAX_AGE,
            Some(v) => match v.parse::<u64>() {
                Ok(secs) if (60..=30 * 24 * 3600).contains(&secs) => Duration::from_secs(secs),
                _ => {
                    return Err(WebConfigError {
                        key: "SESSION_MAX_AGE_SECS",
                        why: "must be a whole number of seconds from 60 to 2592000".into(),
                    });
                }
            },
        };
        let secure_cookies = !loopback || public_origin.as_deref().is_some_and(|o| o.starts_with("https://"));
        Ok(Self { session_key, secure_cookies, public_origin, session_max_age, dev_sign_in })
    }

    /// Loopback defaults: a random key, plain cookies, 8 h sessions, development sign-in as told.
    pub fn loopback(dev_sign_in: bool) -> Self {
        Self {
            session_key: SessionKey::random(),
            secure_cookies: false,
            public_origin: None,
            session_max_age: DEFAULT_SESSION_MAX_AGE,
            dev_sign_in,
        }
    }
}

/// The origin of `url`: its scheme and authority, lowercased, without a trailing slash.
fn origin_of(url: &str) -> Result<String, WebConfigError> {
    let bad = |why: &str| WebConfigError { key: "PUBLIC_URL", why: why.to_owned() };
    let uri: http::Uri = url.parse().map_err(|_| bad("must be a URL such as https://todo.example.com"))?;
    let scheme = uri.scheme_str().ok_or_else(|| bad("must start with http:// or https://"))?;
    if scheme != "http" && scheme != "https" {
        return Err(bad("must start with http:// or https://"));
    }
    let authority = uri.authority().ok_or_else(|| bad("must name a host"))?;
    if !uri.path().trim_end_matches('/').is_empty() || uri.query().is_some() {
        return Err(bad("must be an origin only: no path or query"));
    }
    Ok(format!("{scheme}://{}", authority.as_str().to_ascii_lowercase()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;
    use std::net::Ipv4Addr;

    use super::*;

    fn read(vars: &[(&str, &str)], bind: &str, dev_by_default: bool) -> Result<WebConfig, WebConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        WebConfig::from_lookup(|k| map.get(k).cloned(), bind.parse().unwrap(), dev_by_default)
    }

    const KEY: (&str, &str) = ("SESSION_KEY", "a-session-key-of-at-least-32-bytes!!");

    #[test]
    fn loopback_needs_no_setting() {
        let c = read(&[], "127.0.0.1", true).unwrap();
        assert!(c.dev_sign_in && !c.secure_cookies && c.public_origin.is_none());
        assert_eq!(c.session_max_age, DEFAULT_SESSION_MAX_AGE);
        assert!(!read(&[], "::1", false).unwrap().dev_sign_in);
        assert!(!read(&[("AUTH_DEV_SIGNER", "0")], "127.0.0.1", true).unwrap().dev_sign_in);
        assert!(read(&[("AUTH_DEV_SIGNER", "1")], "127.0.0.1", false).unwrap().dev_sign_in);
    }

    #[test]
    fn the_dev_signer_is_refused_beyond_loopback() {
        for bind in ["0.0.0.0", "10.1.2.3", "::"] {
            let e = read(&[KEY, ("AUTH_DEV_SIGNER", "1")], bind, false).unwrap_err();
            assert_eq!(e.key, "AUTH_DEV_SIGNER", "{bind}");
            assert!(e.why.contains("loopback only"), "{e}");
        }
        // the all-in-one's implicit dev sign-in cannot slip through beyond loopback either
        assert_eq!(read(&[KEY], "0.0.0.0", true).unwrap_err().key, "AUTH_DEV_SIGNER");
        let c = read(&[KEY], "0.0.0.0", false).unwrap();
        assert!(!c.dev_sign_in && c.secure_cookies, "beyond loopback cookies are Secure");
        assert_eq!(read(&[KEY, ("AUTH_DEV_SIGNER", "yes")], "127.0.0.1", false).unwrap_err().key, "AUTH_DEV_SIGNER");
    }

    #[test]
    fn beyond_loopback_a_shared_session_key_is_required() {
        let e = read(&[], &Ipv4Addr::UNSPECIFIED.to_string(), false).unwrap_err();
        assert_eq!(e.key, "SESSION_KEY");
        let e = read(&[("SESSION_KEY", "short")], "127.0.0.1", false).unwrap_err();
        assert!(e.why.contains("32 bytes"), "{e}");
        assert!(!format!("{:?}", read(&[KEY], "127.0.0.1", false).unwrap()).contains(KEY.1), "no key in Debug");
    }

    #[test]
    fn the_public_url_is_an_origin() {
        let c = read(&[("PUBLIC_URL", "https://Todo.Example.com/")], "127.0.0.1", false).unwrap();
        assert_eq!(c.public_origin.as_deref(), Some("https://todo.example.com"));
        assert!(c.secure_cookies, "an https origin gets Secure cookies even behind a loopback proxy");
        for bad in ["todo.example.com", "ftp://x", "https://x/app", "https://x/?a=1"] {
            assert_eq!(read(&[("PUBLIC_URL", bad)], "127.0.0.1", false).unwrap_err().key, "PUBLIC_URL", "{bad}");
        }
        assert!(read(&[("SESSION_MAX_AGE_SECS", "5")], "127.0.0.1", false).is_err());
    }
}
