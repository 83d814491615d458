//! The one inbound HTTP server of every Todo app, on hyper 1.x with axum routers: whatever the
//! app serves (the REST API, the routes Dapr calls, probes) is an [`axum::Router`] handed to
//! [`serve`], which applies the same limits, timeouts, logs and JSON errors to all of it.
//!
//! # Layout
//! - [`serve`] (`serve`): the accept loop, the connection cap and the graceful drain.
//! - `conn`: a connection's socket with its header and idle deadlines, and JSON bodies on the
//!   errors hyper writes itself (400, 414, 431).
//! - `body`: request bodies within [`ServerConfig::max_body_bytes`] and
//!   [`ServerConfig::body_timeout`], drained before a 413.
//! - `middleware`: request ids and log lines, JSON bodies on every error, panics as 500s.
//! - [`ApiError`] (`error`) and [`JsonBody`], [`json`] (`json`): the error body and JSON in and
//!   out, for routes.
//! - [`health`]: `/healthz` and `/readyz`.

mod body;
mod config;
mod conn;
mod error;
pub mod health;
mod json;
mod middleware;
mod serve;

pub use body::BodyError;
pub use config::ServerConfig;
pub use error::ApiError;
pub use json::{JsonBody, json, parse};
pub use middleware::X_REQUEST_ID;
pub use serve::serve;
