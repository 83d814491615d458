#![doc = include_str!("../README.md")]

mod app;
mod config;
mod sidecar;

pub use app::{CloudEvent, DaprApp, Delivery, EVENTS_PREFIX, Listed};
pub use config::{
    ConfigError, DEFAULT_HTTP_ENDPOINT, DEFAULT_PUBSUB, DEFAULT_STATE_STORE, DEFAULT_TIMEOUT, DaprConfig,
    ENV_API_TOKEN, ENV_HTTP_ENDPOINT, ENV_HTTP_PORT, FANOUT_PUBSUB,
};
pub use sidecar::{
    Answer, DAPR_API_TOKEN_HEADER, DaprEventBus, DaprInvoker, DaprScheduler, DaprStateStore, ErrorKind,
    FORWARDED_HEADERS, FailurePolicy, InvokeResponse, JobData, SidecarClient, SidecarError, TRACEPARENT, TRACESTATE,
    X_REQUEST_ID,
};

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
