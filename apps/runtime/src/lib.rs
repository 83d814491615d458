//! The wiring of every Todo app, so that each app's `main` reads like a wiring diagram: read
//! the [`Config`], build each adapter once, run the roles it names.
//!
//! # Layout
//! - [`Config`] (`config`): typed settings from the environment; no secret in its `Debug`.
//! - `adapters`: each adapter built once (PostgreSQL or memory; the sidecar or memory).
//! - [`Runtime`] (`app`): the use cases, the routes and consumers of the roles, the loops, and
//!   serving until shutdown.
//! - [`logging`]: escaped, one-line log output.

mod adapters;
mod app;
mod config;
pub mod logging;

use std::future::Future;

pub use app::{REMINDER_CRON, Runtime};
pub use config::{Config, ConfigError};
use tokio::net::TcpListener;

/// Any start-up failure.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Runs the app `config` describes on `listener` until `shutdown` completes.
///
/// # Errors
/// A store that refuses the app, or a listener that fails.
pub async fn run(config: Config, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    Runtime::new(config).run(listener, shutdown).await
}

/// Completes on Ctrl-C or SIGTERM (what Kubernetes sends a pod it stops).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
