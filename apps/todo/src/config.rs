//! The app's settings, read from a lookup (the process environment in production, a map in
//! tests) in one place. Which adapters run follows from them: PostgreSQL when `DATABASE_URL`
//! is set, the Dapr sidecar when `DAPR_HTTP_PORT` or `DAPR_HTTP_ENDPOINT` is, in-memory
//! otherwise.

use std::net::SocketAddr;
use std::time::Duration;

use todo_adapter_dapr::DaprConfig;
use todo_adapter_postgres::PgConfig;

/// Everything the app is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the REST API listens: `127.0.0.1:$PORT` (default 8000).
    pub listen: SocketAddr,
    /// How often the embedded sweep runs (`SWEEP_INTERVAL_SECS`, default 300 like the
    /// `reminder-cron` binding; with Dapr the binding drives it and the default is off);
    /// 0 turns it off.
    pub sweep_interval: Option<Duration>,
    /// `APP_API_TOKEN`: Dapr must present it on Dapr-only routes.
    pub app_api_token: Option<String>,
    /// `DATABASE_URL` (and `DATABASE_POOL_SIZE`): tasks, outbox and ledgers in PostgreSQL.
    pub postgres: Option<PgConfig>,
    /// `ROLES`: which consumers this process runs (`recurring-tasks`, `audit`,
    /// `notifications`; the sweep goes with `recurring-tasks`). All by default; `none` for the
    /// task backend alone (REST API and outbox relay); one role per process splits the system
    /// into the seeds' services, each with its own Dapr app id.
    pub roles: Vec<String>,
    /// The sidecar, when `DAPR_HTTP_PORT` or `DAPR_HTTP_ENDPOINT` is set: events, state and
    /// reminder jobs go through Dapr, and Dapr delivers events and jobs to this app.
    /// `TOPIC_PREFIX` puts a prefix before every topic name (environments sharing a broker).
    pub dapr: Option<DaprConfig>,
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

fn number<T: std::str::FromStr>(lookup: &impl Fn(&str) -> Option<String>, key: &str) -> Result<Option<T>, ConfigError> {
    match lookup(key).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(raw) => raw.trim().parse().map(Some).map_err(|_| ConfigError(format!("{key}={raw} is not a valid number"))),
    }
}

/// Every consumer role, in the order they are listed.
pub const ROLES: [&str; 3] = ["recurring-tasks", "audit", "notifications"];

/// `ROLES=none`: no consumer at all, the task backend of the microservice split.
pub const NO_ROLES: &str = "none";

impl Config {
    /// Whether this process runs the consumer or job called `role`.
    pub fn runs(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// Reads the settings through `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let port: u16 = number(&lookup, "PORT")?.unwrap_or(8000);
        let dapr_wanted = ["DAPR_HTTP_PORT", "DAPR_HTTP_ENDPOINT"].iter().any(|k| lookup(k).is_some_and(|v| !v.is_empty()));
        let dapr = if dapr_wanted {
            let config = DaprConfig::from_lookup(&lookup).map_err(|e| ConfigError(e.to_string()))?;
            Some(match lookup("TOPIC_PREFIX").filter(|p| !p.trim().is_empty()) {
                Some(prefix) => config.with_topic_prefix(prefix.trim()),
                None => config,
            })
        } else {
            None
        };
        let default_sweep = if dapr.is_some() { 0 } else { 300 };
        let sweep_secs: u64 = number(&lookup, "SWEEP_INTERVAL_SECS")?.unwrap_or(default_sweep);
        let postgres = match lookup("DATABASE_URL").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(url) => {
                let mut pg = PgConfig::new(url.trim());
                if let Some(size) = number::<usize>(&lookup, "DATABASE_POOL_SIZE")? {
                    pg = pg.with_pool_size(size.max(1));
                }
                Some(pg)
            }
        };
        let roles: Vec<String> = match lookup("ROLES").filter(|v| !v.trim().is_empty()) {
            None => ROLES.iter().map(|r| r.to_string()).collect(),
            Some(list) if list.trim() == NO_ROLES => Vec::new(),
            Some(list) => list.split(',').map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()).collect(),
        };
        if let Some(unknown) = roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
            return Err(ConfigError(format!(
                "ROLES: unknown role {unknown:?}; known: {} (or {NO_ROLES} alone)",
                ROLES.join(", ")
            )));
        }
        Ok(Self {
            roles,
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            sweep_interval: (sweep_secs > 0).then(|| Duration::from_secs(sweep_secs)),
            app_api_token: lookup("APP_API_TOKEN").filter(|t| !t.is_empty()),
            postgres,
            dapr,
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
    fn defaults_are_embedded_on_loopback_port_8000_sweeping_every_5_minutes() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(c.sweep_interval, Some(Duration::from_secs(300)));
        assert!(c.app_api_token.is_none() && c.postgres.is_none() && c.dapr.is_none());
        assert!(ROLES.iter().all(|r| c.runs(r)));
    }

    #[test]
    fn reads_and_checks_each_setting() {
        let c = config(&[("PORT", "9001"), ("SWEEP_INTERVAL_SECS", "0"), ("APP_API_TOKEN", "s3cret")]).unwrap();
        assert_eq!((c.listen.port(), c.sweep_interval, c.app_api_token.as_deref()), (9001, None, Some("s3cret")));
        assert!(config(&[("PORT", "eighty")]).is_err());
        assert!(config(&[("SWEEP_INTERVAL_SECS", "-1")]).is_err());
        assert!(config(&[("DATABASE_URL", "postgres://x"), ("DATABASE_POOL_SIZE", "many")]).is_err());
    }

    #[test]
    fn roles_pick_the_consumers_a_process_runs() {
        let c = config(&[("ROLES", "audit, notifications")]).unwrap();
        assert!(c.runs("audit") && c.runs("notifications") && !c.runs("recurring-tasks"));
        assert!(config(&[("ROLES", "audit,billing")]).is_err());
    }

    #[test]
    fn roles_none_is_the_task_backend_alone() {
        let c = config(&[("ROLES", " none ")]).unwrap();
        assert!(c.roles.is_empty() && ROLES.iter().all(|r| !c.runs(r)));
        assert!(config(&[("ROLES", "none,audit")]).is_err(), "none mixed with roles is refused");
    }

    #[test]
    fn a_database_url_selects_postgres_and_a_sidecar_port_selects_dapr() {
        let c = config(&[("DATABASE_URL", "postgres://todo:pw@127.0.0.1:5432/todo"), ("DATABASE_POOL_SIZE", "4")]).unwrap();
        assert_eq!(c.postgres.as_ref().map(|p| p.pool_size), Some(4));
        let c = config(&[("DAPR_HTTP_PORT", "3511"), ("TOPIC_PREFIX", "staging-")]).unwrap();
        assert_eq!(c.dapr.as_ref().map(|d| d.http_endpoint.as_str()), Some("http://127.0.0.1:3511"));
        assert_eq!(c.dapr.as_ref().map(|d| d.topic_prefix.as_str()), Some("staging-"));
        assert_eq!(c.sweep_interval, None, "the cron binding drives the sweep");
        assert!(config(&[("DAPR_HTTP_PORT", "x")]).is_err());
    }
}
