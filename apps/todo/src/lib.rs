//! The Todo app: every use case, consumer and background loop in one process. `main` only
//! reads the [`Config`] and calls [`run`].
//!
//! On embedded defaults it is the whole system in memory. With `DATABASE_URL` its tasks,
//! outbox and ledgers are in PostgreSQL; with a Dapr sidecar (`DAPR_HTTP_PORT`) its events,
//! conversation state and reminder jobs go through Dapr, which delivers events, jobs and the
//! cron binding back to it: with both, it is the backend of the microservice deployment.
//! `ROLES` picks the consumers a process runs, so that the same binary, under separate Dapr app
//! ids, is the recurring-task, audit and notification services of the seeds.

pub mod config;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use todo_adapter_dapr::{Dapr, DaprApp};
use todo_adapter_http::{Fallback, HttpConfig, HttpServer, Services};
use todo_adapter_memory::{InMemoryEventBus, InMemoryScheduler, InMemoryStateStore, InMemoryStore};
use todo_adapter_postgres::{PgConfig, PgStore};
use todo_ports::{RepoError, SweepService, SystemClock};
use todo_tasks::{Ports, Todo};

pub use config::Config;

/// Any start-up failure.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Runs the system with the adapters `config` selects, serving the REST API (and, with Dapr,
/// the routes Dapr calls) on `listener` until `shutdown` completes.
pub async fn run(config: Config, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    let (bus, state, scheduler, clock) =
        (InMemoryEventBus::new(), InMemoryStateStore::new(), InMemoryScheduler::new(), Arc::new(SystemClock));
    let postgres = match &config.postgres {
        Some(pg) => Some(connect_postgres(pg.clone()).await?),
        None => None,
    };
    let mut ports = match &postgres {
        Some(store) => Ports::over_store(store.clone(), bus, state, scheduler, clock),
        None => Ports::over_store(InMemoryStore::new(), bus, state, scheduler, clock),
    };
    let (dapr, memory_bus, memory_scheduler) = match &config.dapr {
        Some(dapr_config) => {
            let dapr = Dapr::new(dapr_config.clone());
            ports.bus = Arc::new(dapr.bus.clone());
            ports.state = Arc::new(dapr.state.clone());
            ports.scheduler = Arc::new(dapr.scheduler.clone());
            (Some(dapr), None, None)
        }
        None => {
            let (bus, scheduler) = (InMemoryEventBus::new(), InMemoryScheduler::new());
            ports.bus = bus.clone();
            ports.scheduler = scheduler.clone();
            (None, Some(bus), Some(scheduler))
        }
    };
    let todo = Todo::new(ports);
    let subscriptions: Vec<_> = todo.subscriptions().into_iter().filter(|s| config.runs(s.name)).collect();
    tracing::info!(roles = ?config.roles, "consumers");
    let mut fallback = None;
    if let (Some(bus), Some(scheduler)) = (memory_bus, memory_scheduler) {
        scheduler.set_handler(todo.reminder_jobs.clone());
        for subscription in subscriptions.clone() {
            bus.subscribe(subscription);
        }
    }
    if let Some(dapr) = dapr {
        let app = Arc::new(
            DaprApp::new(
                subscriptions,
                Some(todo.reminder_jobs.clone()),
                config.app_api_token.clone(),
                dapr.client.config().pubsub_name.clone(),
            )
            .with_topic_prefix(dapr.client.config().topic_prefix.clone()),
        );
        let routes: Fallback = Arc::new(move |req| {
            let app = app.clone();
            Box::pin(async move { app.handle(req).await })
        });
        fallback = Some(routes);
        let client = dapr.client.clone();
        tokio::spawn(async move {
            match client.wait_until_ready(Duration::from_secs(120)).await {
                Ok(()) => tracing::info!("dapr sidecar ready"),
                Err(e) => tracing::warn!(error = %e, "dapr sidecar not ready; calls will be retried"),
            }
        });
    }
    let served = serve(config, todo, listener, fallback, shutdown).await;
    // Timers and background tasks may still hold the store: close it so that an embedding
    // process keeps no connection after `run` returns.
    if let Some(store) = postgres {
        store.close();
    }
    Ok(served?)
}

/// Connects to PostgreSQL (applying migrations), retrying while it is unreachable so that the
/// app and its database may start in any order.
async fn connect_postgres(config: PgConfig) -> Result<Arc<PgStore>, Error> {
    let mut backoff = Duration::from_millis(200);
    loop {
        match PgStore::connect(config.clone()).await {
            Ok(store) => return Ok(store),
            Err(RepoError::Unavailable(e)) => {
                tracing::warn!(error = %e, url = %config.redacted_url(), "postgres unreachable; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Serves `todo` over HTTP with its background loops (outbox relay, periodic sweep) until
/// `shutdown` completes. `fallback` answers paths the REST API does not own.
pub async fn serve(
    config: Config,
    todo: Todo,
    listener: TcpListener,
    fallback: Option<Fallback>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let stopping = Arc::new(AtomicBool::new(false));
    let relay = {
        let (relay, stopping) = (todo.relay.clone(), stopping.clone());
        tokio::spawn(async move { relay.run(move || stopping.load(Ordering::Relaxed)).await })
    };
    let sweeper = config.sweep_interval.filter(|_| config.runs("recurring-tasks")).map(|period| {
        let sweep = todo.sweep.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                ticks.tick().await;
                if let Err(e) = sweep.sweep().await {
                    tracing::warn!(error = %e, "periodic sweep failed");
                }
            }
        })
    });
    let services = Services {
        tasks: todo.tasks.clone(),
        conversations: todo.conversations.clone(),
        activity: todo.activity.clone(),
        sweep: todo.sweep.clone(),
    };
    tracing::info!(
        address = %listener.local_addr()?,
        store = if config.postgres.is_some() { "postgres" } else { "memory" },
        messaging = if config.dapr.is_some() { "dapr" } else { "memory" },
        "todo API listening"
    );
    let mut server = HttpServer::new(services, HttpConfig { app_api_token: config.app_api_token.clone() });
    if let Some(fallback) = fallback {
        server = server.with_fallback(fallback);
    }
    let served = server.serve(listener, shutdown).await;
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    stopping.store(true, Ordering::Relaxed);
    let _ = relay.await;
    tracing::info!("todo stopped");
    served
}
