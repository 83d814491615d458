//! The outbound side: one pooled HTTP client of the sidecar's API, and the ports over it (event
//! bus, state store, scheduler) plus service invocation. Wire types live beside their calls.

mod bus;
mod client;
mod invoke;
mod scheduler;
mod state;

pub use bus::DaprEventBus;
pub use client::{Answer, DAPR_API_TOKEN_HEADER, ErrorKind, SidecarClient, SidecarError, TRACEPARENT, TRACESTATE};
pub use invoke::{DaprInvoker, FORWARDED_HEADERS, InvokeResponse, X_REQUEST_ID};
pub use scheduler::{DaprScheduler, FailurePolicy, JobData};
pub use state::DaprStateStore;
