//! The wiring of every Todo app, so that each app's `main` reads like a wiring diagram: read
//! the [`Config`], build each adapter once, run the roles it names.
//!
//! # Layout
//! - [`Config`] (`config`): typed settings from the environment; no secret in its `Debug`.
//! - [`Service`] (`service`): the programs, each with its app id, port and roles.
//! - `adapters`: each adapter built once (PostgreSQL or memory; the sidecar or memory).
//! - `parts`: what each role adds (routes, consumers, jobs, cron, outbox).
//! - `assistant`: the chat assistant (its model from the `LLM_*` settings, its tools).
//! - [`Runtime`] (`app`): the use cases, the parts of the roles put together, the loops, and
//!   serving until shutdown; [`serve`] does it all for a service's `main`.
//! - [`Background`] (`background`): the app on a task of its own until stopped (tests, embedding).
//! - [`logging`]: escaped, one-line log output.
//! - [`ui`]: the web UI's development tokens, for this app and the frontend app.

mod adapters;
mod app;
mod assistant;
mod background;
mod config;
pub mod logging;
mod parts;
mod service;
pub mod ui;

use std::future::Future;

pub use app::{REMINDER_CRON, Runtime};
pub use background::Background;
pub use config::{Config, ConfigError};
pub use service::Service;
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

/// mimalloc rather than the system allocator, for every app: under load glibc's malloc spent 13%
/// of the app's CPU consolidating free lists for hyper's and the driver's buffers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What a service's `main` does: logging on, the settings of `service` from the environment,
/// listening on `BIND:PORT`, and running until Ctrl-C or SIGTERM.
///
/// # Errors
/// A setting that cannot be used, an address that cannot be bound, a store that refuses the app.
pub async fn serve(service: Service) -> Result<(), Error> {
    logging::init(logging::Format::from_setting(std::env::var("LOG_FORMAT").ok().as_deref())?);
    let config = Config::from_env(service)?;
    let listener = TcpListener::bind(config.listen).await?;
    run(config, listener, shutdown_signal()).await
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
