//! Each adapter an app needs, built once from its [`Config`]: the store (PostgreSQL or in
//! memory) and the messaging (the Dapr sidecar, or the in-memory bus, scheduler and state
//! store), then handed to the use cases as their ports.

use std::sync::Arc;
use std::time::Duration;

use todo_adapter_dapr::Dapr;
use todo_adapter_memory::{InMemoryEventBus, InMemoryScheduler, InMemoryStateStore, InMemoryStore};
use todo_adapter_postgres::{PgConfig, PgStore};
use todo_ports::{Clock, RepoError};
use todo_retry::Policy;
use todo_tasks::Ports;

use crate::{Config, Error};

/// Where tasks, their outbox and the ledgers live.
pub(crate) enum Store {
    /// In this process.
    Memory(Arc<InMemoryStore>),
    /// In PostgreSQL.
    Postgres(Arc<PgStore>),
}

/// How events travel, conversations are kept and reminder jobs fire.
pub(crate) enum Messaging {
    /// Within this process.
    Memory { bus: Arc<InMemoryEventBus>, scheduler: Arc<InMemoryScheduler>, state: Arc<InMemoryStateStore> },
    /// Through the Dapr sidecar.
    Dapr(Dapr),
}

/// The adapters of one app.
pub(crate) struct Adapters {
    pub(crate) store: Store,
    pub(crate) messaging: Messaging,
}

impl Adapters {
    /// Builds what `config` selects; connecting to PostgreSQL waits (as [`Policy::RECONNECT`]
    /// says) while the server is unreachable, so that an app and its database may start in any
    /// order.
    ///
    /// # Errors
    /// A database that refuses the app (bad URL, credentials, a failed migration).
    pub(crate) async fn build(config: &Config) -> Result<Self, Error> {
        let store = match &config.postgres {
            Some(pg) => Store::Postgres(connect_postgres(pg.clone()).await?),
            None => Store::Memory(InMemoryStore::new()),
        };
        let messaging = match &config.dapr {
            Some(dapr) => Messaging::Dapr(Dapr::new(dapr.clone())),
            None => Messaging::Memory {
                bus: InMemoryEventBus::new(),
                scheduler: InMemoryScheduler::new(),
                state: InMemoryStateStore::new(),
            },
        };
        Ok(Self { store, messaging })
    }

    /// The ports of the use cases over these adapters.
    pub(crate) fn ports(&self, clock: Arc<dyn Clock>) -> Ports {
        let (bus, state, scheduler): (
            Arc<dyn todo_ports::EventBus>,
            Arc<dyn todo_ports::StateStore>,
            Arc<dyn todo_ports::Scheduler>,
        ) = match &self.messaging {
            Messaging::Memory { bus, scheduler, state } => (bus.clone(), state.clone(), scheduler.clone()),
            Messaging::Dapr(dapr) => {
                (Arc::new(dapr.bus.clone()), Arc::new(dapr.state.clone()), Arc::new(dapr.scheduler.clone()))
            }
        };
        match &self.store {
            Store::Memory(store) => Ports::over_store(store.clone(), bus, state, scheduler, clock),
            Store::Postgres(store) => Ports::over_store(store.clone(), bus, state, scheduler, clock),
        }
    }

    /// Closes what holds connections, so that an embedding process keeps none after the app.
    pub(crate) fn close(&self) {
        if let Store::Postgres(store) = &self.store {
            store.close();
        }
    }
}

/// Connects to PostgreSQL, applying migrations, again while it is unreachable.
async fn connect_postgres(config: PgConfig) -> Result<Arc<PgStore>, Error> {
    let mut delays = Policy::RECONNECT.delays();
    loop {
        match PgStore::connect(config.clone()).await {
            Ok(store) => return Ok(store),
            Err(RepoError::Unavailable(e)) => {
                tracing::warn!(error = %e, url = %config.redacted_url(), "postgres unreachable; retrying");
                tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(5))).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
