//! The app's settings, read from a lookup (the process environment in production, a map in
//! tests) in one place.

use std::net::SocketAddr;
use std::time::Duration;

/// Everything the app is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the REST API listens: `127.0.0.1:$PORT` (default 8000).
    pub listen: SocketAddr,
    /// How often the embedded sweep runs (`SWEEP_INTERVAL_SECS`, default 300 like the
    /// `reminder-cron` binding); 0 turns it off.
    pub sweep_interval: Option<Duration>,
    /// `APP_API_TOKEN`: Dapr must present it on Dapr-only routes.
    pub app_api_token: Option<String>,
}

/// A setting that cannot be used.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl std::error::Error for ConfigError {}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// Reads the settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let port = match lookup("PORT") {
            None => 8000,
            Some(raw) => raw.parse::<u16>().map_err(|_| ConfigError(format!("PORT={raw} is not a port number")))?,
        };
        let sweep_secs = match lookup("SWEEP_INTERVAL_SECS") {
            None => 300,
            Some(raw) => raw
                .parse::<u64>()
                .map_err(|_| ConfigError(format!("SWEEP_INTERVAL_SECS={raw} is not a whole number of seconds")))?,
        };
        Ok(Self {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            sweep_interval: (sweep_secs > 0).then(|| Duration::from_secs(sweep_secs)),
            app_api_token: lookup("APP_API_TOKEN").filter(|t| !t.is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_listen_on_loopback_port_8000_and_sweep_every_5_minutes() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(c.sweep_interval, Some(Duration::from_secs(300)));
        assert_eq!(c.app_api_token, None);
    }

    #[test]
    fn reads_and_checks_each_setting() {
        let c = config(&[("PORT", "9001"), ("SWEEP_INTERVAL_SECS", "0"), ("APP_API_TOKEN", "s3cret")]).unwrap();
        assert_eq!((c.listen.port(), c.sweep_interval, c.app_api_token.as_deref()), (9001, None, Some("s3cret")));
        assert!(config(&[("PORT", "eighty")]).is_err());
        assert!(config(&[("SWEEP_INTERVAL_SECS", "-1")]).is_err());
    }
}
