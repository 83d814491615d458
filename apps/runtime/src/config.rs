//! The settings of an app, read once from a lookup (the process environment in production, a
//! map in tests) into typed values. Which adapters run follows from them: PostgreSQL when
//! `DATABASE_URL` is set, the Dapr sidecar when `DAPR_HTTP_PORT` or `DAPR_HTTP_ENDPOINT` is,
//! in memory otherwise.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use todo_adapter_dapr::{DaprConfig, FANOUT_PUBSUB};
use todo_adapter_llm::LlmConfig;
use todo_adapter_postgres::PgConfig;
use todo_adapter_web::WebConfig;
use todo_auth::AuthConfig;
use todo_http_server::ServerConfig;
use todo_tasks::Role;

use crate::Service;

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The variable's value is not what it must be.
    #[error("{key}={value:?}: {why}")]
    Invalid {
        /// The variable.
        key: &'static str,
        /// Its value.
        value: String,
        /// What it must be.
        why: String,
    },
    /// The sidecar's settings are wrong.
    #[error(transparent)]
    Dapr(#[from] todo_adapter_dapr::ConfigError),
    /// The authentication settings are wrong, or missing where they are needed.
    #[error(transparent)]
    Auth(#[from] todo_auth::AuthConfigError),
    /// The web UI's settings are wrong.
    #[error(transparent)]
    Web(#[from] todo_adapter_web::WebConfigError),
    /// The chat assistant's model settings are wrong or incomplete.
    #[error(transparent)]
    Llm(#[from] todo_adapter_llm::LlmConfigError),
    /// `DATABASE_URL` (its `sslmode`) and `DATABASE_CA_FILE` cannot be used together or at all.
    /// Shows no password.
    #[error("DATABASE_URL/DATABASE_CA_FILE: {0}")]
    Postgres(#[from] todo_adapter_postgres::PgConfigError),
}

/// Everything an app is configured with. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct Config {
    /// The program this is.
    pub service: Service,
    /// Where the HTTP server listens: `$BIND:$PORT`, `BIND` 127.0.0.1 unless set (an address
    /// beyond loopback needs authentication on and `APP_API_TOKEN`), `PORT` the service's own.
    pub listen: SocketAddr,
    /// The roles this process runs: the service's; for the all-in-one app `ROLES`
    /// (`backend`, `recurring-tasks`, `notifications`, `audit`, `sync`, comma-separated), all by
    /// default.
    pub roles: Vec<Role>,
    /// `DATABASE_URL` (and `DATABASE_POOL_SIZE`): tasks, outbox and ledgers in PostgreSQL.
    /// The URL's `sslmode` (`disable`, `prefer` by default, `require`, `verify-ca`,
    /// `verify-full`) says whether TLS is used; the strict ones verify the server's certificate
    /// and host name against Mozilla's roots, or the CA certificates (PEM) of
    /// `DATABASE_CA_FILE`.
    pub postgres: Option<PgConfig>,
    /// The sidecar, when `DAPR_HTTP_PORT` or `DAPR_HTTP_ENDPOINT` is set (`DAPR_API_TOKEN`,
    /// `TOPIC_PREFIX`, `DAPR_PUBSUB_NAME`: `kafka-pubsub`, for the sync service
    /// `kafka-pubsub-fanout`): events, state and reminder jobs go through Dapr, which delivers events,
    /// jobs and the cron binding back.
    pub dapr: Option<DaprConfig>,
    /// `APP_API_TOKEN`: what the sidecar presents on the routes it calls.
    pub app_api_token: Option<SecretString>,
    /// Who may call the user-facing routes (`AUTH_JWKS_URL` or `AUTH_JWT_SECRET`, `AUTH_ISSUER`,
    /// `AUTH_AUDIENCE`, `AUTH_USER_CLAIM`, `AUTH_LEEWAY_SECS`; `AUTH_MODE=none` turns it off).
    /// Never [`AuthConfig::Unconfigured`] once read: the all-in-one app on loopback treats no
    /// setting as off, a service refuses to start without one.
    pub auth: AuthConfig,
    /// How often the embedded sweep runs (`SWEEP_INTERVAL_SECS`, default 300 like the
    /// `reminder-cron` binding; with Dapr the binding drives it and the default is off); 0 is
    /// off.
    pub sweep_interval: Option<Duration>,
    /// The HTTP server's limits: `HTTP_MAX_BODY_BYTES`, `HTTP_HEADER_TIMEOUT_SECS`,
    /// `HTTP_BODY_TIMEOUT_SECS`, `HTTP_IDLE_TIMEOUT_SECS`, `HTTP_MAX_CONNECTIONS`.
    pub server: ServerConfig,
    /// The all-in-one app's web UI at `/` (`SESSION_KEY`, `AUTH_DEV_SIGNER`, `PUBLIC_URL`,
    /// `SESSION_MAX_AGE_SECS`): on loopback always, the development sign-in on when the app runs
    /// open; beyond loopback only with a `SESSION_KEY`. `None` for the split's services.
    pub web: Option<WebConfig>,
    /// The chat assistant's model (`LLM_BASE_URL`, `LLM_API_KEY`, `LLM_MODEL`, all three or
    /// none; `LLM_TIMEOUT_SECS`); without it the chat route answers 503 `chat_unavailable`.
    pub llm: Option<LlmConfig>,
}

/// Reads settings from a lookup; empty values count as unset.
struct Settings<F: Fn(&str) -> Option<String>>(F);

impl<F: Fn(&str) -> Option<String>> Settings<F> {
    fn get(&self, key: &str) -> Option<String> {
        (self.0)(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn parsed<T: FromStr>(&self, key: &'static str, what: &str) -> Result<Option<T>, ConfigError> {
        self.get(key)
            .map(|value| value.parse().map_err(|_| ConfigError::Invalid { key, value, why: format!("must be {what}") }))
            .transpose()
    }

    fn seconds(&self, key: &'static str) -> Result<Option<Duration>, ConfigError> {
        Ok(self.parsed::<u64>(key, "a whole number of seconds")?.map(Duration::from_secs))
    }
}

impl Config {
    /// Reads the settings of `service` from the process environment.
    ///
    /// # Errors
    /// The first setting that cannot be used.
    pub fn from_env(service: Service) -> Result<Self, ConfigError> {
        Self::for_service(service, |key| std::env::var(key).ok())
    }

    /// Reads the settings of the all-in-one app through `lookup`.
    ///
    /// # Errors
    /// The first setting that cannot be used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::for_service(Service::AllInOne, lookup)
    }

    /// Reads the settings of `service` through `lookup`.
    ///
    /// # Errors
    /// The first setting that cannot be used, or a combination that would be unsafe: an address
    /// beyond loopback without `APP_API_TOKEN`.
    pub fn for_service(service: Service, lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let s = Settings(lookup);
        let port: u16 = s.parsed("PORT", "a port number")?.unwrap_or(service.default_port());
        let bind: IpAddr = s.parsed("BIND", "an IP address")?.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let dapr = if s.get("DAPR_HTTP_PORT").is_some() || s.get("DAPR_HTTP_ENDPOINT").is_some() {
            let mut config = DaprConfig::from_lookup(&s.0)?;
            // The sync service's replicas each need every event: its own component, with a
            // consumer group per replica, unless DAPR_PUBSUB_NAME names another.
            if let Some(name) = s.get("DAPR_PUBSUB_NAME") {
                config.pubsub_name = name;
            } else if service == Service::Sync {
                config.pubsub_name = FANOUT_PUBSUB.into();
            }
            Some(match s.get("TOPIC_PREFIX") {
                Some(prefix) => config.with_topic_prefix(prefix),
                None => config,
            })
        } else {
            None
        };
        let default_sweep = if dapr.is_some() { 0 } else { 300 };
        let sweep_secs: u64 = s.parsed("SWEEP_INTERVAL_SECS", "a whole number of seconds")?.unwrap_or(default_sweep);
        let postgres = match s.get("DATABASE_URL") {
            None => None,
            Some(url) => {
                let mut pg = PgConfig::new(url);
                if let Some(size) = s.parsed::<usize>("DATABASE_POOL_SIZE", "a whole number")? {
                    pg = pg.with_pool_size(size.max(1));
                }
                if let Some(path) = s.get("DATABASE_CA_FILE") {
                    pg = pg.with_ca_file(path);
                }
                pg.check()?;
                Some(pg)
            }
        };
        let roles = match (service, s.get("ROLES")) {
            (_, None) => service.roles(),
            (Service::AllInOne, Some(list)) => parse_roles(&list)?,
            (_, Some(list)) => {
                return Err(ConfigError::Invalid {
                    key: "ROLES",
                    value: list,
                    why: format!("{} runs its own role; ROLES is for the all-in-one app", service.app_id()),
                });
            }
        };
        let defaults = ServerConfig::default();
        let server = ServerConfig {
            max_body_bytes: s.parsed("HTTP_MAX_BODY_BYTES", "a number of bytes")?.unwrap_or(defaults.max_body_bytes),
            header_timeout: s.seconds("HTTP_HEADER_TIMEOUT_SECS")?.unwrap_or(defaults.header_timeout),
            body_timeout: s.seconds("HTTP_BODY_TIMEOUT_SECS")?.unwrap_or(defaults.body_timeout),
            idle_timeout: s.seconds("HTTP_IDLE_TIMEOUT_SECS")?.unwrap_or(defaults.idle_timeout),
            max_connections: s.parsed("HTTP_MAX_CONNECTIONS", "a whole number")?.unwrap_or(defaults.max_connections),
            ..defaults
        };
        let app_api_token = s.get("APP_API_TOKEN").map(SecretString::from);
        if !bind.is_loopback() && app_api_token.is_none() {
            return Err(ConfigError::Invalid {
                key: "BIND",
                value: bind.to_string(),
                why: "an address beyond loopback needs APP_API_TOKEN, so that only the sidecar reaches its routes"
                    .into(),
            });
        }
        let auth = match AuthConfig::from_lookup(&s.0)? {
            // `cargo run --release` needs no set-up: the all-in-one app on loopback runs open.
            AuthConfig::Unconfigured if service == Service::AllInOne && bind.is_loopback() => AuthConfig::Off,
            AuthConfig::Unconfigured => {
                return Err(ConfigError::Invalid {
                    key: "AUTH_JWKS_URL",
                    value: String::new(),
                    why: format!(
                        "{} needs AUTH_JWKS_URL or AUTH_JWT_SECRET (or AUTH_MODE=none, on loopback only)",
                        service.app_id()
                    ),
                });
            }
            AuthConfig::Off if !bind.is_loopback() => {
                return Err(ConfigError::Invalid {
                    key: "AUTH_MODE",
                    value: "none".into(),
                    why: format!("authentication cannot be off on {bind}, beyond loopback"),
                });
            }
            auth => auth,
        };
        let web = if service != Service::AllInOne || (!bind.is_loopback() && s.get("SESSION_KEY").is_none()) {
            None
        } else {
            Some(WebConfig::from_lookup(&s.0, bind, matches!(auth, AuthConfig::Off))?)
        };
        let llm = LlmConfig::from_lookup(&s.0)?;
        Ok(Self {
            service,
            listen: SocketAddr::new(bind, port),
            roles,
            postgres,
            dapr,
            app_api_token,
            auth,
            sweep_interval: (sweep_secs > 0).then(|| Duration::from_secs(sweep_secs)),
            server,
            web,
            llm,
        })
    }

    /// Whether this process runs `role`.
    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

fn parse_roles(list: &str) -> Result<Vec<Role>, ConfigError> {
    let mut roles = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let role = Role::from_name(name).ok_or_else(|| ConfigError::Invalid {
            key: "ROLES",
            value: list.to_owned(),
            why: format!("unknown role {name:?}; known: {}", Role::ALL.map(Role::name).join(", ")),
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    if roles.is_empty() {
        return Err(ConfigError::Invalid { key: "ROLES", value: list.to_owned(), why: "names no role".into() });
    }
    Ok(roles)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_embedded_on_loopback_port_8000_with_every_role() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8000");
        assert_eq!(c.sweep_interval, Some(Duration::from_secs(300)));
        assert!(c.app_api_token.is_none() && c.postgres.is_none() && c.dapr.is_none());
        assert_eq!(c.roles, Role::ALL);
        assert_eq!(c.server, ServerConfig::default());
        assert!(c.llm.is_none(), "no chat model unless one is set");
    }

    #[test]
    fn reads_and_checks_each_setting() {
        let c = config(&[
            ("PORT", "9001"),
            ("SWEEP_INTERVAL_SECS", "0"),
            ("HTTP_IDLE_TIMEOUT_SECS", "5"),
            ("HTTP_MAX_CONNECTIONS", "64"),
        ])
        .unwrap();
        assert_eq!((c.listen.port(), c.sweep_interval), (9001, None));
        assert_eq!((c.server.idle_timeout, c.server.max_connections), (Duration::from_secs(5), 64));
        for bad in [("PORT", "eighty"), ("SWEEP_INTERVAL_SECS", "-1"), ("HTTP_BODY_TIMEOUT_SECS", "soon")] {
            let e = config(&[bad]).unwrap_err();
            assert!(e.to_string().starts_with(bad.0), "{e}");
        }
        assert!(config(&[("DATABASE_URL", "postgres://x"), ("DATABASE_POOL_SIZE", "many")]).is_err());
    }

    const SECRET: (&str, &str) = ("AUTH_JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes");

    /// `service` with exactly `vars`.
    fn raw(service: Service, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Config::for_service(service, |k| map.get(k).cloned())
    }

    /// `service` with `vars` and, unless they set one, a JWT secret (services refuse to start
    /// without authentication).
    fn service(service: Service, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut vars = vars.to_vec();
        if !vars.iter().any(|(k, _)| k.starts_with("AUTH_")) {
            vars.push(SECRET);
        }
        raw(service, &vars)
    }

    #[test]
    fn authentication_is_on_wherever_it_must_be() {
        assert!(matches!(config(&[]).unwrap().auth, AuthConfig::Off), "cargo run --release needs no set-up");
        assert!(matches!(service(Service::Audit, &[]).unwrap().auth, AuthConfig::Jwt(_)));
        let e = raw(Service::Audit, &[]).unwrap_err();
        assert!(e.to_string().contains("needs AUTH_JWKS_URL or AUTH_JWT_SECRET"), "{e}");
        assert!(matches!(service(Service::Audit, &[("AUTH_MODE", "none")]).unwrap().auth, AuthConfig::Off));
        for (s, vars) in [
            (Service::AllInOne, vec![("BIND", "0.0.0.0"), ("APP_API_TOKEN", "t")]),
            (Service::Backend, vec![("BIND", "0.0.0.0"), ("APP_API_TOKEN", "t"), ("AUTH_MODE", "none")]),
        ] {
            let e = raw(s, &vars).map(|_| ()).unwrap_err();
            assert!(e.to_string().contains("AUTH"), "{s:?} beyond loopback without auth: {e}");
        }
        let c = config(&[("BIND", "0.0.0.0"), ("APP_API_TOKEN", "t"), SECRET]).unwrap();
        assert!(matches!(c.auth, AuthConfig::Jwt(_)));
        assert!(!format!("{c:?}").contains(SECRET.1), "no secret in Debug");
    }

    #[test]
    fn the_all_in_one_app_serves_the_ui_with_the_dev_sign_in_when_it_runs_open() {
        let ui = config(&[]).unwrap().web.unwrap();
        assert!(ui.dev_sign_in && !ui.secure_cookies, "cargo run --release: type a user id and go");
        assert!(!config(&[SECRET]).unwrap().web.unwrap().dev_sign_in, "with tokens checked, only when asked");
        assert!(config(&[SECRET, ("AUTH_DEV_SIGNER", "1")]).unwrap().web.unwrap().dev_sign_in);
        let beyond = [("BIND", "0.0.0.0"), ("APP_API_TOKEN", "t"), SECRET];
        assert!(config(&beyond).unwrap().web.is_none(), "no shared session key, no UI beyond loopback");
        let e = config(&[
            ("BIND", "0.0.0.0"),
            ("APP_API_TOKEN", "t"),
            SECRET,
            ("AUTH_DEV_SIGNER", "1"),
            ("SESSION_KEY", "k-of-at-least-thirty-two-bytes-long"),
        ]);
        assert!(e.unwrap_err().to_string().contains("AUTH_DEV_SIGNER"), "the dev signer is refused beyond loopback");
        assert!(service(Service::Backend, &[]).unwrap().web.is_none());
    }

    #[test]
    fn each_service_runs_its_own_role_on_its_own_port() {
        for (s, port, role) in [
            (Service::Backend, 8000, Role::Backend),
            (Service::RecurringTasks, 8001, Role::RecurringTasks),
            (Service::Notifications, 8002, Role::Notifications),
            (Service::Audit, 8003, Role::Audit),
            (Service::Sync, 8004, Role::Sync),
        ] {
            let c = service(s, &[]).unwrap();
            assert_eq!((c.listen.to_string(), c.roles.as_slice()), (format!("127.0.0.1:{port}"), [role].as_slice()));
        }
        let e = service(Service::Audit, &[("ROLES", "backend")]).unwrap_err();
        assert!(e.to_string().contains("ROLES is for the all-in-one app"), "{e}");
    }

    #[test]
    fn an_address_beyond_loopback_needs_the_app_token() {
        let c = service(Service::Backend, &[("BIND", "::1")]).unwrap();
        assert_eq!(c.listen.to_string(), "[::1]:8000");
        let e = service(Service::Backend, &[("BIND", "0.0.0.0")]).unwrap_err();
        assert!(e.to_string().contains("APP_API_TOKEN"), "{e}");
        let c = service(Service::Backend, &[("BIND", "0.0.0.0"), ("APP_API_TOKEN", "t")]).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:8000");
        assert!(service(Service::Backend, &[("BIND", "localhost")]).is_err(), "an address, not a name");
    }

    #[test]
    fn roles_name_the_services_a_process_runs() {
        let c = config(&[("ROLES", "audit, notifications,audit")]).unwrap();
        assert_eq!(c.roles, [Role::Audit, Role::Notifications]);
        assert!(c.runs(Role::Audit) && !c.runs(Role::Backend));
        assert!(config(&[("ROLES", "audit,billing")]).is_err());
        assert!(config(&[("ROLES", " , ")]).is_err());
    }

    #[test]
    fn a_database_url_selects_postgres_and_a_sidecar_port_selects_dapr() {
        let c =
            config(&[("DATABASE_URL", "postgres://todo:pw@127.0.0.1:5432/todo"), ("DATABASE_POOL_SIZE", "4")]).unwrap();
        assert_eq!(c.postgres.as_ref().map(|p| p.pool_size), Some(4));
        let c = config(&[("DAPR_HTTP_PORT", "3511"), ("TOPIC_PREFIX", "staging-")]).unwrap();
        assert_eq!(c.dapr.as_ref().map(|d| d.http_endpoint.as_str()), Some("http://127.0.0.1:3511"));
        assert_eq!(c.dapr.as_ref().map(|d| d.topic_prefix.as_str()), Some("staging-"));
        assert_eq!(c.sweep_interval, None, "the cron binding drives the sweep");
        assert!(config(&[("DAPR_HTTP_PORT", "x")]).is_err());
        let e = config(&[("DATABASE_URL", "postgres://todo:pg-s3cret@h/todo?port=x")]).unwrap_err();
        assert!(e.to_string().contains("todo:***@h") && !e.to_string().contains("pg-s3cret"), "{e}");
        let sync = service(Service::Sync, &[("DAPR_HTTP_PORT", "3511")]).unwrap();
        assert_eq!(sync.dapr.map(|d| d.pubsub_name), Some("kafka-pubsub-fanout".to_owned()));
        let c = config(&[("DAPR_HTTP_PORT", "3511"), ("DAPR_PUBSUB_NAME", "redpanda")]).unwrap();
        assert_eq!(c.dapr.map(|d| d.pubsub_name), Some("redpanda".to_owned()));
    }

    #[test]
    fn the_database_url_s_sslmode_and_ca_file_are_checked_at_start_up() {
        let url = |mode: &str| format!("postgres://todo:pw@db.example:5432/todo?sslmode={mode}");
        for mode in ["disable", "prefer", "require", "verify-ca", "verify-full"] {
            assert!(config(&[("DATABASE_URL", &url(mode))]).is_ok(), "{mode}");
        }
        let e = config(&[("DATABASE_URL", &url("allow"))]).unwrap_err();
        assert!(e.to_string().contains("DATABASE_URL") && e.to_string().contains("sslmode=\"allow\""), "{e}");
        let ca = std::env::temp_dir().join(format!("todo-runtime-ca-{}.pem", std::process::id()));
        std::fs::write(&ca, "no certificate here").unwrap();
        let ca_file = ca.display().to_string();
        let e = config(&[("DATABASE_URL", &url("require")), ("DATABASE_CA_FILE", &ca_file)]).unwrap_err();
        assert!(e.to_string().contains("DATABASE_CA_FILE") && e.to_string().contains("no PEM certificate"), "{e}");
        let e =
            config(&[("DATABASE_URL", "postgres://todo@db.example/todo"), ("DATABASE_CA_FILE", &ca_file)]).unwrap_err();
        assert!(e.to_string().contains("sslmode=prefer") && e.to_string().contains("sslmode=require"), "{e}");
        std::fs::remove_file(&ca).unwrap();
        let e = config(&[("DATABASE_URL", &url("require")), ("DATABASE_CA_FILE", &ca_file)]).unwrap_err();
        assert!(e.to_string().contains(&ca_file), "a missing file is named: {e}");
    }

    #[test]
    fn the_chat_model_needs_all_three_settings() {
        let c =
            config(&[("LLM_BASE_URL", "http://127.0.0.1:11434/v1"), ("LLM_API_KEY", "k"), ("LLM_MODEL", "llama3.1")])
                .unwrap();
        assert_eq!(c.llm.map(|l| l.model), Some("llama3.1".to_owned()));
        let e = config(&[("LLM_BASE_URL", "http://127.0.0.1:11434/v1")]).unwrap_err();
        assert!(e.to_string().contains("LLM_API_KEY, LLM_MODEL not set"), "{e}");
    }

    #[test]
    fn no_secret_reaches_the_debug_output() {
        let c = config(&[
            ("APP_API_TOKEN", "app-s3cret"),
            ("DAPR_HTTP_PORT", "3500"),
            ("DAPR_API_TOKEN", "dapr-s3cret"),
            ("DATABASE_URL", "postgres://todo:pg-s3cret@127.0.0.1/todo"),
            ("LLM_BASE_URL", "https://api.openai.com/v1"),
            ("LLM_API_KEY", "sk-llm-s3cret"),
            ("LLM_MODEL", "gpt-4o-mini"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("gpt-4o-mini"), "{shown}");
        for secret in ["app-s3cret", "dapr-s3cret", "pg-s3cret", "sk-llm-s3cret"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
    }
}
