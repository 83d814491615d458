#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - [`Web`]: the UI's parts put together, and its [`Web::router`].
//! - [`WebConfig`] (`config`): `SESSION_KEY`, `AUTH_DEV_SIGNER`, `PUBLIC_URL`, `SESSION_MAX_AGE_SECS`.
//! - [`session`]: sealed session cookies and their attributes.
//! - [`signin`]: the development sign-in's [`DevTokens`] and the OpenID Connect hook [`OidcFlow`].
//! - [`upstream`]: the services behind the UI ([`Upstream`]) and [`InProcess`], the all-in-one app's.
//! - `routes`: the pages, the session, sign-in and the API relayed for the browser (table there).
//! - [`live`]: the live feed relayed from the sync service.
//! - `assets`: the embedded page, script, stylesheet and icon.

mod assets;
mod config;
pub mod live;
mod routes;
pub mod session;
pub mod signin;
pub mod upstream;

use std::sync::Arc;

use axum::Router;
use tokio::sync::watch;

pub use assets::embedded_bytes;
pub use config::{DEFAULT_SESSION_MAX_AGE, MIN_SESSION_KEY_BYTES, WebConfig, WebConfigError};
pub use live::LiveFeed;
pub use routes::X_CSRF_TOKEN;
pub use session::{Cookies, Session, SessionKey};
pub use signin::{DevTokens, Issued, OidcFlow, PendingLogin, SignInError, SignedIn, Untokened};
pub use upstream::{Call, InProcess, Reply, Service, Upstream, UpstreamError};

/// The web UI: its settings, the services it relays to, how users sign in and where the live
/// feed comes from.
pub struct Web {
    config: WebConfig,
    cookies: Cookies,
    upstream: Arc<dyn Upstream>,
    dev: Option<Arc<dyn DevTokens>>,
    oidc: Option<Arc<dyn OidcFlow>>,
    live: Option<LiveFeed>,
    shutdown: Option<watch::Receiver<bool>>,
}

impl Web {
    /// The UI configured by `config`, relaying its calls through `upstream`; no sign-in method
    /// and no live feed yet.
    pub fn new(config: WebConfig, upstream: Arc<dyn Upstream>) -> Self {
        let cookies = Cookies::new(config.session_key.clone(), config.secure_cookies);
        Self { config, cookies, upstream, dev: None, oidc: None, live: None, shutdown: None }
    }

    /// The development sign-in with `tokens`, when the configuration allows it
    /// ([`WebConfig::dev_sign_in`]); otherwise nothing changes.
    #[must_use]
    pub fn with_dev_tokens(mut self, tokens: Arc<dyn DevTokens>) -> Self {
        if self.config.dev_sign_in {
            self.dev = Some(tokens);
        }
        self
    }

    /// The OpenID Connect sign-in through `flow`.
    #[must_use]
    pub fn with_oidc(mut self, flow: Arc<dyn OidcFlow>) -> Self {
        self.oidc = Some(flow);
        self
    }

    /// The live feed relayed from `feed`.
    #[must_use]
    pub fn with_live_feed(mut self, feed: LiveFeed) -> Self {
        self.live = Some(feed);
        self
    }

    /// Relayed sockets close with 1001 when `shutdown` turns true.
    #[must_use]
    pub fn with_shutdown(mut self, shutdown: watch::Receiver<bool>) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Whether any way to sign in is configured.
    pub fn can_sign_in(&self) -> bool {
        self.dev.is_some() || self.oidc.is_some()
    }

    /// The UI's routes (see the `routes` module for the table).
    pub fn router(self) -> Router {
        routes::router(Arc::new(self))
    }
}
