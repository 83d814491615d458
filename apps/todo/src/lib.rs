//! The all-in-one Todo app: every use case, consumer and background loop in one process,
//! wired to the in-memory adapters. `main` only reads the config and calls [`run`].

pub mod config;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::net::TcpListener;
use todo_adapter_http::{HttpConfig, HttpServer, Services};
use todo_adapter_memory::{InMemoryEventBus, InMemoryScheduler, InMemoryStateStore, InMemoryStore};
use todo_ports::{SweepService, SystemClock};
use todo_tasks::{Ports, Todo};

pub use config::Config;

/// Runs the system on embedded (in-memory) adapters, serving the REST API on `listener`
/// until `shutdown` completes.
pub async fn run(config: Config, listener: TcpListener, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let store = InMemoryStore::new();
    let bus = InMemoryEventBus::new();
    let scheduler = InMemoryScheduler::new();
    let todo = Todo::new(Ports {
        tasks: store.clone(),
        outbox: store.clone(),
        audit: store.clone(),
        feed: store.clone(),
        bus: bus.clone(),
        state: InMemoryStateStore::new(),
        scheduler: scheduler.clone(),
        clock: Arc::new(SystemClock),
    });
    scheduler.set_handler(todo.reminder_jobs.clone());
    for subscription in todo.subscriptions() {
        bus.subscribe(subscription);
    }
    serve(config, todo, listener, shutdown).await
}

/// Serves `todo` over HTTP with its background loops (outbox relay, periodic sweep) until
/// `shutdown` completes.
pub async fn serve(
    config: Config,
    todo: Todo,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let stopping = Arc::new(AtomicBool::new(false));
    let relay = {
        let (relay, stopping) = (todo.relay.clone(), stopping.clone());
        tokio::spawn(async move { relay.run(move || stopping.load(Ordering::Relaxed)).await })
    };
    let sweeper = config.sweep_interval.map(|period| {
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
    tracing::info!(address = %listener.local_addr()?, "todo API listening");
    let server = HttpServer::new(services, HttpConfig { app_api_token: config.app_api_token.clone() });
    let served = server.serve(listener, shutdown).await;
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    stopping.store(true, Ordering::Relaxed);
    let _ = relay.await;
    tracing::info!("todo stopped");
    served
}
