//! What each role adds to an app: its user-facing routes, its consumers, the jobs and cron
//! binding it answers, and whether it publishes an outbox. The one table of the system's wiring.

use std::sync::Arc;

use axum::Router;
use todo_adapter_mcp::McpConfig;
use todo_adapter_rest::routes::{activity, chat, conversations, tasks};
use todo_adapter_tools::TaskTools;
use todo_adapter_websocket::SocketConfig;
use todo_ports::{ChatService, JobHandler, Subscription, SweepService};
use todo_tasks::{Role, Todo};
use tokio::sync::watch;

/// The share of one role in an app.
pub(crate) struct Part {
    /// Routes a user calls (behind the authentication guard).
    pub(crate) routes: Router,
    /// Its consumers.
    pub(crate) subscriptions: Vec<Subscription>,
    /// Its consumers of dead letters.
    pub(crate) dead_letters: Vec<Subscription>,
    /// Runs fired reminder jobs.
    pub(crate) jobs: Option<Arc<dyn JobHandler>>,
    /// Answers the `reminder-cron` binding (and, without a sidecar, runs periodically).
    pub(crate) sweep: Option<Arc<dyn SweepService>>,
    /// Writes events to an outbox, which the app's relay publishes.
    pub(crate) publishes: bool,
}

impl Part {
    /// The part of `role` over the use cases of `todo` and the chat assistant `chat`;
    /// `draining` turns true when the app begins to stop (open WebSockets then close with 1001).
    pub(crate) fn of(role: Role, todo: &Todo, chat: &Arc<dyn ChatService>, draining: &watch::Receiver<bool>) -> Self {
        let base = Self {
            routes: Router::new(),
            subscriptions: todo.subscriptions(&[role]),
            dead_letters: todo.dead_letter_subscriptions(&[role]),
            jobs: None,
            sweep: None,
            publishes: false,
        };
        match role {
            // Task commands write task events, from REST, the MCP tools and the chat assistant
            // alike; conversations live in the state store, the assistant's turns among them.
            Role::Backend => Self {
                routes: tasks::routes(todo.tasks.clone())
                    .merge(conversations::routes(todo.conversations.clone()))
                    .merge(chat::routes(chat.clone()))
                    .merge(todo_adapter_mcp::routes(
                        Arc::new(TaskTools::new(todo.tasks.clone())),
                        McpConfig::default(),
                    )),
                publishes: true,
                ..base
            },
            // Next instances (task events) and `reminder.due`, both through the outbox.
            Role::RecurringTasks => Self {
                jobs: Some(todo.reminder_jobs.clone()),
                sweep: Some(todo.sweep.clone()),
                publishes: true,
                ..base
            },
            // `reminder.sent` written with the feed entry, `reminder.failed` with the give-up.
            Role::Notifications => {
                Self { routes: activity::notifications(todo.activity.clone()), publishes: true, ..base }
            }
            Role::Audit => Self { routes: activity::audit(todo.activity.clone()), ..base },
            // Live only: the sockets of this replica; every replica gets every event.
            Role::Sync => Self {
                routes: todo_adapter_websocket::routes(todo.live.clone(), SocketConfig::default(), draining.clone()),
                ..base
            },
        }
    }
}

/// The all-in-one app's web UI, beside its roles: served when the app runs the backend role and
/// `Config::web` is set. Its API calls the app's own user routes (`user_routes`, guard included)
/// in process; its live feed relays the app's own `/ws` at `address` when it runs the sync role.
pub(crate) fn web_ui(
    config: &crate::Config,
    user_routes: Router,
    address: std::net::SocketAddr,
    draining: &watch::Receiver<bool>,
) -> Result<Option<Router>, crate::Error> {
    let Some(web) = config.web.clone().filter(|_| config.runs(Role::Backend)) else { return Ok(None) };
    let mut ui = todo_adapter_web::Web::new(web, Arc::new(todo_adapter_web::InProcess::new(user_routes)))
        .with_shutdown(draining.clone());
    if let Ok(tokens) = crate::ui::dev_tokens(&config.auth) {
        ui = ui.with_dev_tokens(tokens);
    }
    if config.runs(Role::Sync) {
        let host = if address.ip().is_unspecified() { std::net::Ipv4Addr::LOCALHOST.into() } else { address.ip() };
        let feed =
            todo_adapter_web::LiveFeed::new(&format!("http://{}", std::net::SocketAddr::new(host, address.port())))?;
        ui = ui.with_live_feed(feed);
    }
    if !ui.can_sign_in() {
        tracing::warn!("the web UI has no way to sign in: set AUTH_DEV_SIGNER=1 (loopback, AUTH_JWT_SECRET)");
    }
    Ok(Some(ui.router()))
}
