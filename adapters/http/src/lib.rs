//! The REST API of the Todo system on hyper 1.x: routes, JSON bodies, JSON errors
//! (`{"error":{"code","message"}}`), one log line per request, and graceful shutdown.
//!
//! It depends only on the driving ports (`TaskService`, ...), so it runs over the domain or
//! over mocks. Routes it does not own go to an optional fallback (e.g. Dapr's app routes).

mod error;
mod query;
mod routes;
mod server;
mod wire;

pub use error::ApiError;
pub use server::{Fallback, HttpConfig, HttpServer, Services, MAX_BODY_BYTES};
