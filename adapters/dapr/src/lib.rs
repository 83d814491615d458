#![doc = include_str!("../README.md")]

mod app;
mod bus;
mod client;
mod config;
mod invoke;
mod scheduler;
mod state;

pub use app::{CRON_PREFIX, DaprApp, EVENTS_PREFIX, Envelope, JOB_PREFIX, decode_cloud_event, serve};
pub use bus::DaprEventBus;
pub use client::{
    Answer, DAPR_API_TOKEN_HEADER, ErrorKind, SidecarClient, SidecarError, TRACEPARENT, TRACESTATE, classify,
    current_traceparent, with_traceparent,
};
pub use config::{
    ConfigError, DEFAULT_HTTP_ENDPOINT, DEFAULT_PUBSUB, DEFAULT_STATE_STORE, DEFAULT_TIMEOUT, DaprConfig,
    ENV_API_TOKEN, ENV_APP_API_TOKEN, ENV_HTTP_ENDPOINT, ENV_HTTP_PORT, Secret,
};
pub use invoke::{DaprInvoker, FORWARDED_HEADERS, InvokeResponse, X_REQUEST_ID};
pub use scheduler::{DaprScheduler, FailurePolicy, JobData};
pub use state::DaprStateStore;

/// Everything of this crate built over one sidecar client.
#[derive(Debug, Clone)]
pub struct Dapr {
    /// The client.
    pub client: SidecarClient,
    /// The event bus.
    pub bus: DaprEventBus,
    /// The conversation state store.
    pub state: DaprStateStore,
    /// The reminder job scheduler.
    pub scheduler: DaprScheduler,
    /// Service invocation.
    pub invoker: DaprInvoker,
}

impl Dapr {
    /// Builds the client and every adapter over it. Must be called within a Tokio runtime.
    pub fn new(config: DaprConfig) -> Self {
        let client = SidecarClient::new(config);
        Self {
            bus: DaprEventBus::new(client.clone()),
            state: DaprStateStore::new(client.clone()),
            scheduler: DaprScheduler::new(client.clone()),
            invoker: DaprInvoker::new(client.clone()),
            client,
        }
    }
}
