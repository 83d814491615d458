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
