//! The REST API of the Todo system: axum routes over the driving ports (`TaskService`, ...),
//! so they run over the domain or over mocks, and the JSON wire types of its requests and
//! responses. Errors are the server's JSON error body (`todo-http-server`).
//!
//! # Layout
//! - [`routes`]: the route tables (`tasks`, `conversations`, `activity`, `chat`), one per driving
//!   port.
//! - [`wire`]: request bodies and response views; the domain types never meet JSON here.
//! - [`path`], [`query`]: strict parsing of path segments and query strings; the task tools
//!   (`todo-adapter-tools`) parse a task id and a listing's filters with them too.
//! - `error`: use-case errors as statuses, in one place.
//! - `testing` (feature `testing`): a response read whole, its JSON or its server-sent events.

mod error;
pub mod path;
pub mod query;
pub mod routes;
#[cfg(feature = "testing")]
pub mod testing;
pub mod wire;
