//! One app: the use cases over its adapters, the parts of the roles it runs put together
//! (routes, consumers, jobs, cron, loops), served until shutdown.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use todo_adapter_dapr::{DEFAULT_PUBSUB, DaprApp, Listed};
use todo_auth::{Guard, WhenUnconfigured, guard};
use todo_http_server::health::{self, Readiness};
use todo_ports::{Clock, SystemClock, ToolBox};
use todo_tasks::Todo;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::adapters::{Adapters, Messaging, Store};
use crate::parts::Part;
use crate::{Config, Error};

/// The cron binding the sweep answers (`/dapr/cron/reminder-cron`).
pub const REMINDER_CRON: &str = "reminder-cron";

/// Makes the chat assistant's tools over the app's use cases.
type ToolsOf = Arc<dyn Fn(&Todo) -> Arc<dyn ToolBox> + Send + Sync>;

/// An app ready to run: its configuration, its clock and the chat assistant's tools.
pub struct Runtime {
    config: Config,
    clock: Arc<dyn Clock>,
    tools: ToolsOf,
}

impl Runtime {
    /// An app configured by `config`, on the system clock, the assistant offering the task
    /// tools.
    pub fn new(config: Config) -> Self {
        Self { config, clock: Arc::new(SystemClock), tools: Arc::new(crate::assistant::task_tools) }
    }

    /// The same app on another clock (tests that compare runs at chosen instants).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same app, its chat assistant offering the tools `tools` makes over the app's use
    /// cases (tests that watch what the tools are asked).
    pub fn with_tools(mut self, tools: impl Fn(&Todo) -> Arc<dyn ToolBox> + Send + Sync + 'static) -> Self {
        self.tools = Arc::new(tools);
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
        let auth = Guard::from_config(&config.auth, WhenUnconfigured::Refuse)?;
        let adapters = Adapters::build(&config).await?;
        let todo = Todo::new(adapters.ports(self.clock.clone()));
        let chat = crate::assistant::chat(&config, &todo, (self.tools)(&todo), self.clock)?;
        let (drain, draining) = watch::channel(false);
        let parts: Vec<Part> = config.roles.iter().map(|role| Part::of(*role, &todo, &chat, &draining)).collect();
        let (stop, stopped) = watch::channel(false);
        let (sidecar_routes, listed) = sidecar_routes(&config, &adapters, &parts);
        // Every route a user calls is tied to the caller the guard verified.
        let user_routes = parts.iter().fold(Router::new(), |routes, part| routes.merge(part.routes.clone()));
        let user_routes = guard(user_routes, auth.clone());
        let ui = crate::parts::web_ui(&config, user_routes.clone(), listener.local_addr()?, &draining)?;
        let mut router = health::routes(readiness(&adapters, listed)).merge(user_routes).merge(sidecar_routes);
        if let Some(ui) = ui {
            router = router.merge(ui);
        }
        let loops = background(&config, &todo, &adapters, &parts, &stopped);
        tracing::info!(
            service = config.service.app_id(),
            address = %listener.local_addr()?,
            roles = ?config.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
            store = match adapters.store { Store::Memory(_) => "memory", Store::Postgres(_) => "postgres" },
            messaging = match adapters.messaging { Messaging::Memory { .. } => "memory", Messaging::Dapr(_) => "dapr" },
            auth = if auth.is_off() { "off" } else { "jwt" },
            ui = config.web.is_some() && config.runs(todo_tasks::Role::Backend),
            chat_model = config.llm.as_ref().map_or("none", |llm| llm.model.as_str()),
            "listening"
        );
        let shutdown = async move {
            shutdown.await;
            let _ = drain.send(true);
        };
        let served = todo_http_server::serve(listener, router, config.server.clone(), shutdown).await;
        let _ = stop.send(true);
        for task in loops {
            let _ = task.await;
        }
        adapters.close();
        tracing::info!(service = config.service.app_id(), "stopped");
        Ok(served?)
    }
}

/// The routes the sidecar calls: the subscriptions of the parts, their jobs and the cron
/// binding, behind the app API token. In memory the events and jobs are delivered in process,
/// and only the cron route is Dapr's (a tick can be sent by hand). Also says whether the
/// sidecar has read the subscriptions (`None` when there is nothing for it to read).
fn sidecar_routes(config: &Config, adapters: &Adapters, parts: &[Part]) -> (Router, Option<Listed>) {
    let subscriptions: Vec<_> = parts.iter().flat_map(|p| p.subscriptions.iter().cloned()).collect();
    let dead_letters: Vec<_> = parts.iter().flat_map(|p| p.dead_letters.iter().cloned()).collect();
    let jobs = parts.iter().find_map(|p| p.jobs.clone());
    let sweep = parts.iter().find_map(|p| p.sweep.clone());
    let (mut dapr, listed) = match &adapters.messaging {
        Messaging::Memory { bus, scheduler, .. } => {
            for subscription in subscriptions {
                bus.subscribe(subscription);
            }
            for subscription in dead_letters {
                bus.subscribe_dead_letters(subscription);
            }
            if let Some(jobs) = jobs {
                scheduler.set_handler(jobs);
            }
            (DaprApp::new(DEFAULT_PUBSUB), None)
        }
        Messaging::Dapr(sidecar) => {
            let sidecar = sidecar.client.config();
            let listens = !subscriptions.is_empty() || !dead_letters.is_empty();
            let mut dapr = DaprApp::new(sidecar.pubsub_name.clone())
                .with_topic_prefix(sidecar.topic_prefix.clone())
                .with_subscriptions(subscriptions)
                .with_dead_letter_subscriptions(dead_letters);
            if let Some(jobs) = jobs {
                dapr = dapr.with_jobs(jobs);
            }
            let listed = listens.then(|| dapr.listed());
            (dapr, listed)
        }
    };
    if let Some(sweep) = sweep {
        dapr = dapr.with_cron(REMINDER_CRON, sweep);
    }
    (dapr.with_app_token(config.app_api_token.clone()).router(), listed)
}

/// The loops of an app, stopped when `stopped` turns true: the outbox relay (when a part
/// publishes), the embedded sweep (a part with a sweep and no sidecar cron), and a log line
/// once the sidecar is ready.
fn background(
    config: &Config,
    todo: &Todo,
    adapters: &Adapters,
    parts: &[Part],
    stopped: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let mut loops = Vec::new();
    if parts.iter().any(|p| p.publishes) {
        let relay = todo.relay.clone();
        let stop = until_stopped(stopped.clone());
        loops.push(tokio::spawn(async move { relay.run(stop).await }));
    }
    let sweep = parts.iter().find_map(|p| p.sweep.clone());
    if let Some((period, sweep)) = config.sweep_interval.zip(sweep) {
        let stop = until_stopped(stopped.clone());
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

/// What `/readyz` checks: the database and the sidecar, when there are such, and whether the
/// sidecar has read the subscriptions.
fn readiness(adapters: &Adapters, listed: Option<Listed>) -> Vec<Arc<dyn Readiness>> {
    let mut checks: Vec<Arc<dyn Readiness>> = Vec::new();
    if let Store::Postgres(store) = &adapters.store {
        checks.push(Arc::new(Database(store.clone())));
    }
    if let Messaging::Dapr(dapr) = &adapters.messaging {
        checks.push(Arc::new(Sidecar(dapr.client.clone())));
    }
    if let Some(listed) = listed {
        checks.push(Arc::new(Subscriptions(listed)));
    }
    checks
}

struct Subscriptions(Listed);

#[async_trait]
impl Readiness for Subscriptions {
    fn name(&self) -> &'static str {
        "subscriptions"
    }

    async fn check(&self) -> Result<(), String> {
        if self.0.is_read() { Ok(()) } else { Err("the sidecar has not read them yet".into()) }
    }
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
