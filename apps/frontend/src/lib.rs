//! The web frontend (Dapr app id `frontend`, port 3000): the web UI of `todo-adapter-web`, its
//! sign-in and its same-origin API, every call of which goes to the backend, audit or
//! notification service through this app's own sidecar (`/v1.0/invoke/…`, under the sidecar's
//! Resiliency spec), and its live feed relayed from the sync service at `SYNC_URL`.
//!
//! # Layout
//! - [`FrontendConfig`]: the settings, read once.
//! - [`Sidecar`] (`sidecar`): the services through the sidecar, and which calls it may retry.
//! - [`oidc_flow`]: the OpenID Connect relying party (`todo-adapter-oidc`) behind the UI's
//!   `/auth/login` and `/auth/callback`.
//! - [`run`] and [`serve`]: the server until shutdown.

mod sidecar;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use todo_adapter_dapr::{DaprConfig, SidecarClient};
use todo_adapter_oidc::{Oidc, OidcConfig, OidcError};
use todo_adapter_web::{LiveFeed, OidcFlow, PendingLogin, SignInError, SignedIn, Web, WebConfig};
use todo_auth::AuthConfig;
use todo_http_server::ServerConfig;
use todo_http_server::health::{self, Readiness};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use sidecar::Sidecar;

/// Any start-up failure.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The Dapr app id of the frontend.
pub const APP_ID: &str = "frontend";
/// Its port unless `PORT` says otherwise.
pub const DEFAULT_PORT: u16 = 3000;
/// Where the sync service is unless `SYNC_URL` says otherwise (the split on one machine).
pub const DEFAULT_SYNC_URL: &str = "http://127.0.0.1:8004";
/// How long one call through the sidecar may take unless `INVOKE_TIMEOUT_SECS` says otherwise:
/// just above the Resiliency spec's 30 s per attempt, so that the sidecar's own timeout answer
/// comes back; giving up closes the connection, which ends the sidecar's retries too.
pub const DEFAULT_INVOKE_TIMEOUT: Duration = Duration::from_secs(35);

/// A setting that cannot be used. No message shows a secret.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable's value is not what it must be.
    #[error("{key}: {why}")]
    Invalid {
        /// The variable.
        key: &'static str,
        /// What it must be.
        why: String,
    },
    /// The sidecar's settings are wrong.
    #[error(transparent)]
    Dapr(#[from] todo_adapter_dapr::ConfigError),
    /// The `AUTH_*` settings are wrong.
    #[error(transparent)]
    Auth(#[from] todo_auth::AuthConfigError),
    /// The UI's settings are wrong.
    #[error(transparent)]
    Web(#[from] todo_adapter_web::WebConfigError),
    /// The `OIDC_*` settings are wrong, or some of them are missing.
    #[error(transparent)]
    Oidc(#[from] todo_adapter_oidc::OidcConfigError),
}

/// Everything the frontend is configured with. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub struct FrontendConfig {
    /// `BIND:PORT` (127.0.0.1:3000).
    pub listen: SocketAddr,
    /// The sidecar (`DAPR_HTTP_PORT` or `DAPR_HTTP_ENDPOINT`, `DAPR_API_TOKEN`), with the call
    /// deadline `INVOKE_TIMEOUT_SECS` (default 35).
    pub dapr: DaprConfig,
    /// The sync service's base URL (`SYNC_URL`, default `http://127.0.0.1:8004`), reached
    /// directly: Dapr's invocation does not carry WebSocket upgrades.
    pub sync_url: String,
    /// Sessions and sign-in (`SESSION_KEY`, `AUTH_DEV_SIGNER`, `PUBLIC_URL`, `SESSION_MAX_AGE_SECS`).
    pub web: WebConfig,
    /// How the services verify tokens (`AUTH_JWT_SECRET`, `AUTH_ISSUER`, …): what the
    /// development sign-in signs with.
    pub auth: AuthConfig,
    /// The OpenID Connect sign-in (`OIDC_ISSUER_URL`, `OIDC_CLIENT_ID`, `OIDC_CLIENT_SECRET`,
    /// `OIDC_REDIRECT_URL`, `OIDC_USER_CLAIM`), when they are set.
    pub oidc: Option<OidcConfig>,
    /// The HTTP server's limits (the defaults of `todo-http-server`).
    pub server: ServerConfig,
}

impl FrontendConfig {
    /// Reads the settings through `lookup` (the process environment: `|k| std::env::var(k).ok()`).
    ///
    /// # Errors
    /// The first setting that cannot be used, or a frontend nobody could sign in to: neither
    /// `OIDC_ISSUER_URL` nor `AUTH_DEV_SIGNER=1`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |key: &str| lookup(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let invalid = |key: &'static str, why: &str| ConfigError::Invalid { key, why: why.to_owned() };
        let port = match get("PORT") {
            Some(p) => p.parse().map_err(|_| invalid("PORT", "must be a port number"))?,
            None => DEFAULT_PORT,
        };
        let bind: IpAddr = match get("BIND") {
            Some(b) => b.parse().map_err(|_| invalid("BIND", "must be an IP address"))?,
            None => IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let timeout = match get("INVOKE_TIMEOUT_SECS") {
            Some(t) => match t.parse::<u64>() {
                Ok(secs) if (1..=600).contains(&secs) => Duration::from_secs(secs),
                _ => return Err(invalid("INVOKE_TIMEOUT_SECS", "must be a whole number of seconds from 1 to 600")),
            },
            None => DEFAULT_INVOKE_TIMEOUT,
        };
        let dapr = DaprConfig::from_lookup(&lookup)?.with_timeout(timeout);
        let sync_url = get("SYNC_URL").unwrap_or_else(|| DEFAULT_SYNC_URL.to_owned());
        LiveFeed::new(&sync_url).map_err(|why| invalid("SYNC_URL", &why))?;
        let web = WebConfig::from_lookup(&lookup, bind, false)?;
        let auth = AuthConfig::from_lookup(&lookup)?;
        if web.dev_sign_in {
            todo_runtime::ui::dev_tokens(&auth).map_err(|why| invalid("AUTH_DEV_SIGNER", &why))?;
        }
        let oidc = OidcConfig::from_lookup(&lookup)?;
        if oidc.is_none() && !web.dev_sign_in {
            return Err(invalid(
                "OIDC_ISSUER_URL",
                "the frontend needs a way to sign in: OIDC_ISSUER_URL (and OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, \
                 OIDC_REDIRECT_URL), or AUTH_DEV_SIGNER=1 on loopback",
            ));
        }
        Ok(Self {
            listen: SocketAddr::new(bind, port),
            dapr,
            sync_url,
            web,
            auth,
            oidc,
            server: ServerConfig::default(),
        })
    }
}

/// The OpenID Connect relying party for `config`, its provider discovered: the UI's
/// `/auth/login` sends the browser to the provider (authorization code, PKCE `S256`), and
/// `/auth/callback` exchanges the code for the ID token the services verify.
///
/// # Errors
/// The provider's discovery document cannot be had or is not what the protocol requires.
pub async fn oidc_flow(config: OidcConfig) -> Result<Arc<dyn OidcFlow>, Error> {
    let issuer = config.issuer.clone();
    let oidc = Oidc::discover(config).await.map_err(|e| format!("OIDC_ISSUER_URL={issuer}: {e}"))?;
    Ok(Arc::new(Provider(oidc)))
}

/// `todo-adapter-oidc`'s relying party as the UI's [`OidcFlow`].
struct Provider(Oidc);

/// What a sign-in error means to the UI: the provider unavailable or misconfigured (try later),
/// or this attempt refused (sign in again).
fn sign_in_error(e: OidcError) -> SignInError {
    match e {
        OidcError::Unavailable(_) | OidcError::Provider(_) | OidcError::Internal(_) => {
            SignInError::Unavailable(e.to_string())
        }
        OidcError::BadCallback(_)
        | OidcError::StateMismatch
        | OidcError::Denied { .. }
        | OidcError::InvalidIdToken(_) => SignInError::Refused(e.to_string()),
    }
}

#[async_trait]
impl OidcFlow for Provider {
    async fn begin(&self) -> Result<(String, PendingLogin), SignInError> {
        let (url, pending) = self.0.begin().map_err(sign_in_error)?;
        // `v1.<state>.<nonce>.<verifier>`, as `PendingLogin::encode` documents it.
        let encoded = pending.encode();
        let mut parts = encoded.split('.').skip(1).map(str::to_owned);
        let (Some(state), Some(nonce), Some(verifier)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SignInError::Unavailable("the pending sign-in could not be kept".into()));
        };
        Ok((url, PendingLogin { state, nonce, verifier }))
    }

    async fn finish(&self, pending: PendingLogin, code: &str, state: &str) -> Result<SignedIn, SignInError> {
        let encoded = format!("v1.{}.{}.{}", pending.state, pending.nonce, pending.verifier);
        let pending = todo_adapter_oidc::PendingLogin::decode(&encoded)
            .ok_or_else(|| SignInError::Refused("a damaged pending sign-in".into()))?;
        let signed_in = self.0.finish(&pending, code, state).await.map_err(sign_in_error)?;
        Ok(SignedIn { token: signed_in.id_token, user_id: signed_in.user_id, expires_at: signed_in.expires_at })
    }
}

/// Runs the frontend `config` describes on `listener` until `shutdown` completes; relayed live
/// feeds close with 1001 then, and requests in flight finish.
///
/// # Errors
/// The OpenID Connect provider cannot be discovered, or the listener fails.
pub async fn run(
    config: FrontendConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let client = SidecarClient::new(config.dapr.clone());
    let (drain, draining) = watch::channel(false);
    let mut web = Web::new(config.web.clone(), Arc::new(Sidecar::new(client.clone())))
        .with_live_feed(LiveFeed::new(&config.sync_url)?)
        .with_shutdown(draining);
    if config.web.dev_sign_in {
        web = web.with_dev_tokens(todo_runtime::ui::dev_tokens(&config.auth)?);
    }
    if let Some(oidc) = &config.oidc {
        web = web.with_oidc(oidc_flow(oidc.clone()).await?);
    }
    let checks: Vec<Arc<dyn Readiness>> = vec![Arc::new(SidecarReady(client.clone()))];
    let router = health::routes(checks).merge(web.router());
    tracing::info!(
        service = APP_ID,
        address = %listener.local_addr()?,
        sidecar = %config.dapr.http_endpoint,
        sync = %config.sync_url,
        dev_sign_in = config.web.dev_sign_in,
        oidc = config.oidc.is_some(),
        "listening"
    );
    let ready = tokio::spawn(async move {
        match client.wait_until_ready(Duration::from_secs(120)).await {
            Ok(()) => tracing::info!("dapr sidecar ready"),
            Err(e) => tracing::warn!(error = %e, "dapr sidecar not ready; calls answer 503 until it is"),
        }
    });
    let shutdown = async move {
        shutdown.await;
        let _ = drain.send(true);
    };
    let served = todo_http_server::serve(listener, router, config.server.clone(), shutdown).await;
    ready.abort();
    tracing::info!(service = APP_ID, "stopped");
    Ok(served?)
}

/// What `main` does: logging on, the settings from the environment, listening on `BIND:PORT`,
/// running until Ctrl-C or SIGTERM.
///
/// # Errors
/// A setting that cannot be used, an address that cannot be bound.
pub async fn serve() -> Result<(), Error> {
    use todo_runtime::logging;
    logging::init(logging::Format::from_setting(std::env::var("LOG_FORMAT").ok().as_deref())?);
    let config = FrontendConfig::from_lookup(|key| std::env::var(key).ok())?;
    let listener = TcpListener::bind(config.listen).await?;
    run(config, listener, todo_runtime::shutdown_signal()).await
}

/// `/readyz`: the sidecar's components are loaded.
struct SidecarReady(SidecarClient);

#[async_trait]
impl Readiness for SidecarReady {
    fn name(&self) -> &'static str {
        "sidecar"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.wait_until_ready(Duration::ZERO).await.map_err(|e| e.to_string())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const SECRET: (&str, &str) = ("AUTH_JWT_SECRET", "a-secret-of-at-least-thirty-two-bytes");
    const KEY: (&str, &str) = ("SESSION_KEY", "a-session-key-of-at-least-32-bytes!!");

    fn read(vars: &[(&str, &str)]) -> Result<FrontendConfig, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        FrontendConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_port_3000_on_loopback_with_the_sidecar_and_the_sync_service_of_the_split() {
        let c = read(&[("AUTH_DEV_SIGNER", "1"), SECRET, ("DAPR_HTTP_PORT", "3505")]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!((c.dapr.http_endpoint.as_str(), c.dapr.timeout), ("http://127.0.0.1:3505", DEFAULT_INVOKE_TIMEOUT));
        assert_eq!(c.sync_url, DEFAULT_SYNC_URL);
        assert!(c.web.dev_sign_in && !c.web.secure_cookies);
        let shown = format!("{c:?}");
        assert!(!shown.contains(SECRET.1), "no secret in Debug: {shown}");
    }

    #[test]
    fn a_frontend_nobody_can_sign_in_to_does_not_start() {
        let e = read(&[SECRET]).unwrap_err();
        assert!(e.to_string().contains("needs a way to sign in"), "{e}");
        let e = read(&[("AUTH_DEV_SIGNER", "1")]).unwrap_err();
        assert!(e.to_string().contains("AUTH_JWT_SECRET"), "the dev signer needs the services' secret: {e}");
        assert!(read(&[("AUTH_DEV_SIGNER", "1"), ("AUTH_MODE", "none")]).is_ok(), "services running open");
        let e = read(&[("AUTH_DEV_SIGNER", "1"), ("AUTH_JWKS_URL", "https://idp.example.com/jwks")]).unwrap_err();
        assert!(e.to_string().contains("OIDC_ISSUER_URL"), "{e}");
    }

    #[test]
    fn the_dev_signer_is_refused_beyond_loopback() {
        let e = read(&[("BIND", "0.0.0.0"), KEY, SECRET, ("AUTH_DEV_SIGNER", "1")]).unwrap_err();
        assert!(e.to_string().starts_with("AUTH_DEV_SIGNER") && e.to_string().contains("loopback"), "{e}");
        let e = read(&[("BIND", "0.0.0.0"), SECRET, ("AUTH_DEV_SIGNER", "0")]).unwrap_err();
        assert!(e.to_string().starts_with("SESSION_KEY"), "beyond loopback the replicas share a key: {e}");
    }

    #[test]
    fn oidc_needs_its_client_settings() {
        let oidc = [("OIDC_ISSUER_URL", "https://idp.example.com"), ("OIDC_CLIENT_ID", "todo")];
        let e = read(&oidc).unwrap_err();
        assert!(e.to_string().starts_with("OIDC_CLIENT_SECRET is not set"), "{e}");
        let mut all = oidc.to_vec();
        all.extend([("OIDC_REDIRECT_URL", "https://todo.example.com/auth/callback"), ("OIDC_CLIENT_SECRET", "s3cret")]);
        let c = read(&all).unwrap();
        assert_eq!(c.oidc.as_ref().map(|o| o.client_id.as_str()), Some("todo"));
        assert!(!format!("{c:?}").contains("s3cret"));
        for bad in [("SYNC_URL", "sync:8004"), ("INVOKE_TIMEOUT_SECS", "0"), ("PORT", "x")] {
            let mut vars = vec![("AUTH_DEV_SIGNER", "1"), SECRET];
            vars.push(bad);
            assert!(read(&vars).unwrap_err().to_string().starts_with(bad.0), "{bad:?}");
        }
    }
}
