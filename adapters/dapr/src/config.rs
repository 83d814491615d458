//! Typed configuration of the sidecar client, parsed from a lookup the app supplies.
//!
//! The adapter never reads the process environment: the app passes
//! `|key| std::env::var(key).ok()`, tests pass a map.

use std::time::Duration;

use secrecy::SecretString;

/// `http://host:port` of the sidecar's HTTP API. Wins over [`ENV_HTTP_PORT`].
pub const ENV_HTTP_ENDPOINT: &str = "DAPR_HTTP_ENDPOINT";
/// Port of the sidecar's HTTP API on 127.0.0.1 (used when [`ENV_HTTP_ENDPOINT`] is unset).
pub const ENV_HTTP_PORT: &str = "DAPR_HTTP_PORT";
/// Token the sidecar requires in the `dapr-api-token` header of every API call.
pub const ENV_API_TOKEN: &str = "DAPR_API_TOKEN";

/// Sidecar address when neither variable is set.
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://127.0.0.1:3500";
/// Per-call deadline when none is configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The pub/sub component of the project.
pub const DEFAULT_PUBSUB: &str = "kafka-pubsub";
/// The pub/sub component of an app whose every replica must get every event (a consumer group
/// per replica; see the README, "Every replica gets every event").
pub const FANOUT_PUBSUB: &str = "kafka-pubsub-fanout";
/// The state store component of the project.
pub const DEFAULT_STATE_STORE: &str = "statestore";

/// Why a configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable has a value the client cannot use.
    #[error("{key}: {message}")]
    Invalid {
        /// The variable.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Where the sidecar is and how to call it.
#[derive(Debug, Clone)]
pub struct DaprConfig {
    /// Base URL of the sidecar's HTTP API, without a trailing slash (`http://127.0.0.1:3500`).
    pub http_endpoint: String,
    /// Sent as `dapr-api-token` when set; never shown by `Debug`.
    pub api_token: Option<SecretString>,
    /// Deadline of one call to the sidecar (connect + answer).
    pub timeout: Duration,
    /// Pub/sub component name.
    pub pubsub_name: String,
    /// State store component name.
    pub state_store: String,
    /// Prefix put before every topic name (`""` in production; tests use a per-run prefix so
    /// runs do not see each other's messages).
    pub topic_prefix: String,
}

impl Default for DaprConfig {
    fn default() -> Self {
        Self {
            http_endpoint: DEFAULT_HTTP_ENDPOINT.into(),
            api_token: None,
            timeout: DEFAULT_TIMEOUT,
            pubsub_name: DEFAULT_PUBSUB.into(),
            state_store: DEFAULT_STATE_STORE.into(),
            topic_prefix: String::new(),
        }
    }
}

impl DaprConfig {
    /// Builds the configuration from `lookup` (usually `|k| std::env::var(k).ok()`).
    ///
    /// Resolution order for the endpoint: `DAPR_HTTP_ENDPOINT`, else
    /// `http://127.0.0.1:$DAPR_HTTP_PORT`, else [`DEFAULT_HTTP_ENDPOINT`]. `DAPR_API_TOKEN`
    /// (empty = none) becomes [`DaprConfig::api_token`]. Empty values count as unset.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a port that is not a number in 1..=65535 or an endpoint
    /// that is not `http://`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let http_endpoint = match (get(ENV_HTTP_ENDPOINT), get(ENV_HTTP_PORT)) {
            (Some(endpoint), _) => {
                if !endpoint.starts_with("http://") {
                    return Err(ConfigError::Invalid {
                        key: ENV_HTTP_ENDPOINT,
                        message: format!("{endpoint:?} is not an http:// URL"),
                    });
                }
                endpoint.trim_end_matches('/').to_owned()
            }
            (None, Some(port)) => match port.parse::<u16>() {
                Ok(p) if p > 0 => format!("http://127.0.0.1:{p}"),
                _ => {
                    return Err(ConfigError::Invalid {
                        key: ENV_HTTP_PORT,
                        message: format!("{port:?} is not a port"),
                    });
                }
            },
            (None, None) => DEFAULT_HTTP_ENDPOINT.into(),
        };
        Ok(Self { http_endpoint, api_token: get(ENV_API_TOKEN).map(SecretString::from), ..Self::default() })
    }

    /// The same configuration with another per-call deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same configuration with a topic prefix.
    pub fn with_topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<DaprConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        DaprConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_to_the_local_sidecar() {
        let c = config(&[]).unwrap();
        assert_eq!(c.http_endpoint, "http://127.0.0.1:3500");
        assert!(c.api_token.is_none());
        assert_eq!(c.pubsub_name, "kafka-pubsub");
        assert_eq!(c.state_store, "statestore");
    }

    #[test]
    fn the_endpoint_wins_over_the_port() {
        let c = config(&[("DAPR_HTTP_PORT", "3601"), ("DAPR_HTTP_ENDPOINT", "http://127.0.0.1:3700/")]).unwrap();
        assert_eq!(c.http_endpoint, "http://127.0.0.1:3700");
        let c = config(&[("DAPR_HTTP_PORT", "3601")]).unwrap();
        assert_eq!(c.http_endpoint, "http://127.0.0.1:3601");
    }

    #[test]
    fn bad_values_name_their_variable() {
        assert!(matches!(config(&[("DAPR_HTTP_PORT", "x")]), Err(ConfigError::Invalid { key: "DAPR_HTTP_PORT", .. })));
        assert!(matches!(config(&[("DAPR_HTTP_PORT", "0")]), Err(ConfigError::Invalid { key: "DAPR_HTTP_PORT", .. })));
        assert!(matches!(
            config(&[("DAPR_HTTP_ENDPOINT", "https://x")]),
            Err(ConfigError::Invalid { key: "DAPR_HTTP_ENDPOINT", .. })
        ));
    }

    #[test]
    fn the_token_is_kept_but_not_shown() {
        let c = config(&[("DAPR_API_TOKEN", "s3cret")]).unwrap();
        assert_eq!(c.api_token.as_ref().map(secrecy::ExposeSecret::expose_secret), Some("s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert!(config(&[("DAPR_API_TOKEN", "")]).unwrap().api_token.is_none());
    }
}
