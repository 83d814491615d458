//! The adapter's typed configuration. The app builds it (from `DATABASE_URL` or a config file);
//! the adapter never reads the environment.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls::{self, SslMode};

/// A configuration the store cannot connect with.
#[derive(Debug, thiserror::Error)]
pub enum PgConfigError {
    /// The URL does not parse (shown with its password hidden).
    #[error("invalid PostgreSQL URL {url}: {reason}")]
    Url {
        /// The URL, password replaced by `***`.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's `sslmode` is not one this adapter supports.
    #[error("sslmode={value:?} is not supported: use disable, prefer, require, verify-ca or verify-full")]
    SslMode {
        /// The value in the URL.
        value: String,
    },
    /// A CA file is given but the URL's `sslmode` does not verify the server with it.
    #[error(
        "the CA file {} is only used to verify the server, which sslmode={mode} does not do: \
         put sslmode=require (or verify-full) in the URL",
        path.display()
    )]
    CaFileUnused {
        /// The CA file.
        path: PathBuf,
        /// The URL's mode (`prefer` when it names none).
        mode: &'static str,
    },
    /// The CA file cannot be read or holds no usable certificate.
    #[error("cannot use the CA file {}: {reason}", path.display())]
    CaFile {
        /// The CA file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the TLS set-up.
    #[error("cannot set up TLS: {0}")]
    Tls(#[source] rustls::Error),
}

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
    /// PEM file of the CA (or CAs) whose certificates a server may present, instead of
    /// Mozilla's roots: for a server with a private CA. Needs `sslmode=require` (or
    /// `verify-full`) in the URL.
    pub ca_file: Option<PathBuf>,
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
            ca_file: None,
        }
    }

    /// This configuration trusting the CA certificates of the PEM file at `path` (instead of
    /// Mozilla's roots).
    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Checks what [`PgStore::connect`](crate::PgStore::connect) will need before it
    /// connects: the URL parses, its `sslmode` is supported and fits the CA file, and the CA
    /// file holds certificates. Returns the mode, for apps to refuse bad settings at start-up.
    ///
    /// # Errors
    /// The first thing that cannot be used.
    pub fn check(&self) -> Result<SslMode, PgConfigError> {
        self.prepare().map(|(pg, _)| tls::mode_of(&pg))
    }

    /// The tokio-postgres configuration (timeouts and application name set) and the TLS
    /// connector its mode needs.
    pub(crate) fn prepare(&self) -> Result<(tokio_postgres::Config, MakeRustlsConnect), PgConfigError> {
        let url = tls::normalise_ssl_mode(&self.url)?;
        let mut pg: tokio_postgres::Config = url.parse().map_err(|e: tokio_postgres::Error| PgConfigError::Url {
            url: self.redacted_url(),
            reason: e.to_string(),
        })?;
        pg.connect_timeout(self.connect_timeout);
        pg.application_name(&self.application_name);
        let connector = tls::connector(tls::mode_of(&pg), self.ca_file.as_deref())?;
        Ok((pg, connector))
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
            .field("ca_file", &self.ca_file)
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

    #[test]
    fn sslmode_is_read_from_either_form_of_url_and_the_strict_modes_mean_require() {
        let cases = [
            ("postgres://u:p@h/db", SslMode::Prefer),
            ("postgres://u:p@h/db?sslmode=disable", SslMode::Disable),
            ("postgres://u:p@h/db?application_name=a&sslmode=prefer", SslMode::Prefer),
            ("postgres://u:p@h/db?sslmode=require&channel_binding=require", SslMode::Require),
            ("postgres://u:p@h/db?sslmode=verify-ca", SslMode::Require),
            ("postgresql://u:p@ep-x.eu-central-1.aws.neon.tech/neondb?sslmode=verify-full", SslMode::Require),
            ("host=h user=u sslmode=verify-full dbname=db", SslMode::Require),
            ("host=h user=u sslmode='disable'", SslMode::Disable),
        ];
        for (url, mode) in cases {
            assert_eq!(PgConfig::new(url).check().map_err(|e| e.to_string()), Ok(mode), "{url}");
        }
    }

    #[test]
    fn unsupported_sslmodes_and_bad_urls_are_refused_without_the_password() {
        for url in ["postgres://u:s3cret@h/db?sslmode=allow", "host=h password=s3cret sslmode=verify"] {
            let e = PgConfig::new(url).check().unwrap_err();
            assert!(matches!(e, PgConfigError::SslMode { .. }), "{url}: {e}");
            assert!(e.to_string().contains("use disable, prefer, require, verify-ca or verify-full"), "{e}");
        }
        let e = PgConfig::new("postgres://u:s3cret@h/db?port=x").check().unwrap_err();
        assert!(matches!(e, PgConfigError::Url { .. }) && !e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn a_ca_file_must_be_readable_pem_and_used_by_a_verifying_mode() {
        let path = std::env::temp_dir().join(format!("todo-pg-config-ca-{}.pem", std::process::id()));
        let require = || PgConfig::new("postgres://h/db?sslmode=require").with_ca_file(&path);
        assert!(matches!(require().check(), Err(PgConfigError::CaFile { .. })), "a missing file");
        std::fs::write(&path, "not a certificate").unwrap();
        let e = require().check().unwrap_err();
        assert!(
            e.to_string().contains("no PEM certificate") && e.to_string().contains(&path.display().to_string()),
            "{e}"
        );
        for url in ["postgres://h/db", "postgres://h/db?sslmode=disable"] {
            let e = PgConfig::new(url).with_ca_file(&path).check().unwrap_err();
            assert!(matches!(e, PgConfigError::CaFileUnused { .. }), "{url}: {e}");
        }
        std::fs::remove_file(&path).unwrap();
    }
}
