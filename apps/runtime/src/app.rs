//! One app: the use cases over its adapters, the routes and consumers of the roles it runs,
//! and its loops (the outbox relay, the embedded sweep), served until shutdown.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use todo_adapter_dapr::{DEFAULT_PUBSUB, DaprApp};
use todo_adapter_rest::routes::{activity, conversations, tasks};
use todo_http_server::health::{self, Readiness};
use todo_ports::{Clock, SweepService, SystemClock};
use todo_tasks::{Role, Todo};
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::adapters::{Adapters, Messaging, Store};
use crate::{Config, Error};

/// The cron binding the sweep answers (`/dapr/cron/reminder-cron`).
pub const REMINDER_CRON: &str = "reminder-cron";

/// An app ready to run: its configuration and its clock.
pub struct Runtime {
    config: Config,
    clock: Arc<dyn Clock>,
}

impl Runtime {
    /// An app configured by `config`, on the system clock.
    pub fn new(config: Config) -> Self {
        Self { config, clock: Arc::new(SystemClock) }
    }

    /// The same app on another clock (tests that compare runs at chosen instants).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Builds the adapters once, wires the roles of the configuration, and serves `listener`
    /// until `shutdown` completes; then lets requests in flight finish, stops the loops and
    /// closes the store.
    ///
    /// # Errors
    /// A store that refuses the app, or a listener that fails.
    pub async fn run(self, listener: TcpListener, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let config = self.config;
        let adapters = Adapters::build(&config).await?;
        let todo = Todo::new(adapters.ports(self.clock));
        let router = routes(&config, &todo, &adapters);
        let (stop, stopped) = watch::channel(false);
        let loops = background(&config, &todo, &adapters, &stopped);
        tracing::info!(
            address = %listener.local_addr()?,
            roles = ?config.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
            store = match adapters.store { Store::Memory(_) => "memory", Store::Postgres(_) => "postgres" },
            messaging = match adapters.messaging { Messaging::Memory { .. } => "memory", Messaging::Dapr(_) => "dapr" },
            "todo listening"
        );
        let served = todo_http_server::serve(listener, router, config.server.clone(), shutdown).await;
        let _ = stop.send(true);
        for task in loops {
            let _ = task.await;
        }
        adapters.close();
        tracing::info!("todo stopped");
        Ok(served?)
    }
}

/// The routes of the roles `config` runs: probes always; the REST API of each role; the routes
/// the sidecar calls (subscriptions, jobs and the cron binding of the recurring-task role). In
/// memory the events are delivered in process, and only the cron route is Dapr's.
fn routes(config: &Config, todo: &Todo, adapters: &Adapters) -> Router {
    let mut router = health::routes(readiness(adapters));
    if config.runs(Role::Backend) {
        router =
            router.merge(tasks::routes(todo.tasks.clone())).merge(conversations::routes(todo.conversations.clone()));
    }
    if config.runs(Role::Audit) {
        router = router.merge(activity::audit(todo.activity.clone()));
    }
    if config.runs(Role::Notifications) {
        router = router.merge(activity::notifications(todo.activity.clone()));
    }
    let subscriptions = todo.subscriptions(&config.roles);
    let schedules = config.runs(Role::RecurringTasks);
    let mut dapr = DaprApp::new(DEFAULT_PUBSUB).with_app_token(config.app_api_token.clone());
    match &adapters.messaging {
        Messaging::Memory { bus, scheduler, .. } => {
            for subscription in subscriptions {
                bus.subscribe(subscription);
            }
            if schedules {
                scheduler.set_handler(todo.reminder_jobs.clone());
            }
        }
        Messaging::Dapr(sidecar) => {
            let sidecar = sidecar.client.config();
            dapr = DaprApp::new(sidecar.pubsub_name.clone())
                .with_app_token(config.app_api_token.clone())
                .with_topic_prefix(sidecar.topic_prefix.clone())
                .with_subscriptions(subscriptions);
            if schedules {
                dapr = dapr.with_jobs(todo.reminder_jobs.clone());
            }
        }
    }
    if schedules {
        dapr = dapr.with_cron(REMINDER_CRON, todo.sweep.clone());
    }
    router.merge(dapr.router())
}

/// The loops of an app, stopped when `stopped` turns true: the outbox relay, the embedded sweep
/// (recurring-task role, no sidecar cron), and a log line once the sidecar is ready.
fn background(
    config: &Config,
    todo: &Todo,
    adapters: &Adapters,
    stopped: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let mut loops = Vec::new();
    let relay = todo.relay.clone();
    let stop = until_stopped(stopped.clone());
    loops.push(tokio::spawn(async move { relay.run(stop).await }));
    if let Some(period) = config.sweep_interval.filter(|_| config.runs(Role::RecurringTasks)) {
        let (sweep, stop) = (todo.sweep.clone(), until_stopped(stopped.clone()));
        loops.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            let sweeping = async {
                loop {
                    ticks.tick().await;
                    if let Err(e) = sweep.sweep().await {
                        tracing::warn!(error = %e, "periodic sweep failed");
                    }
                }
            };
            tokio::select! {
                () = sweeping => {},
                () = stop => {},
            }
        }));
    }
    if let Messaging::Dapr(dapr) = &adapters.messaging {
        let (client, stop) = (dapr.client.clone(), until_stopped(stopped.clone()));
        loops.push(tokio::spawn(async move {
            tokio::select! {
                ready = client.wait_until_ready(std::time::Duration::from_secs(120)) => match ready {
                    Ok(()) => tracing::info!("dapr sidecar ready"),
                    Err(e) => tracing::warn!(error = %e, "dapr sidecar not ready; calls will fail over to retries"),
                },
                () = stop => {},
            }
        }));
    }
    loops
}

/// What `/readyz` checks: the database and the sidecar, when there are such.
fn readiness(adapters: &Adapters) -> Vec<Arc<dyn Readiness>> {
    let mut checks: Vec<Arc<dyn Readiness>> = Vec::new();
    if let Store::Postgres(store) = &adapters.store {
        checks.push(Arc::new(Database(store.clone())));
    }
    if let Messaging::Dapr(dapr) = &adapters.messaging {
        checks.push(Arc::new(Sidecar(dapr.client.clone())));
    }
    checks
}

struct Database(Arc<todo_adapter_postgres::PgStore>);

#[async_trait]
impl Readiness for Database {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

struct Sidecar(todo_adapter_dapr::SidecarClient);

#[async_trait]
impl Readiness for Sidecar {
    fn name(&self) -> &'static str {
        "sidecar"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.wait_until_ready(std::time::Duration::ZERO).await.map_err(|e| e.to_string())
    }
}
