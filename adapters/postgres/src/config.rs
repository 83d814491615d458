//! The adapter's typed configuration. The app builds it (from `DATABASE_URL` or a config file);
//! the adapter never reads the environment.

use std::fmt;
use std::time::Duration;

/// How to reach PostgreSQL and how many connections to keep.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    /// A libpq-style URL, `postgres://user:password@host:port/dbname`, or a key-value
    /// connection string (`host=... user=...`). Holds the password: never logged (the `Debug`
    /// output hides it).
    pub url: String,
    /// Most pooled connections (the outbox listener uses one more of its own).
    pub pool_size: usize,
    /// How long opening one connection may take before the call fails as unavailable.
    pub connect_timeout: Duration,
    /// How long a call waits for a free pooled connection before it fails as unavailable.
    pub acquire_timeout: Duration,
    /// Name reported to the server (`application_name`, shown in `pg_stat_activity`).
    pub application_name: String,
}

impl PgConfig {
    /// A configuration for `url` with the defaults: 16 connections, 5 s to connect, 5 s to
    /// get a pooled connection.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            application_name: "todo".into(),
        }
    }

    /// This configuration with `pool_size` connections.
    pub fn with_pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// The URL with its password replaced by `***`, for logs.
    pub fn redacted_url(&self) -> String {
        redact(&self.url)
    }
}

impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConfig")
            .field("url", &self.redacted_url())
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("application_name", &self.application_name)
            .finish()
    }
}

/// `url` without its password: `scheme://user:***@host/...` or `... password=*** ...`.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if let Some((userinfo, host)) = authority.rsplit_once('@') {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            return format!("{scheme}://{user}{hidden}@{host}{tail}");
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .map(|kv| if kv.starts_with("password=") { "password=***" } else { kv })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_the_debug_output() {
        let cases = [
            ("postgres://todo:s3cret@127.0.0.1:55432/todo", "postgres://todo:***@127.0.0.1:55432/todo"),
            ("postgres://todo@h/db?sslmode=disable", "postgres://todo@h/db?sslmode=disable"),
            ("host=h user=todo password=s3cret dbname=todo", "host=h user=todo password=*** dbname=todo"),
        ];
        for (url, shown) in cases {
            let config = PgConfig::new(url);
            assert_eq!(config.redacted_url(), shown);
            assert!(!format!("{config:?}").contains("s3cret"));
        }
    }
}
