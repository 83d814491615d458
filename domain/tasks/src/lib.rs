//! The Todo system's use cases, written against the ports only: task commands, the
//! consumers (recurrence, reminder jobs, audit, notifications), reminders, the sweep,
//! conversations, the chat assistant's turn and the outbox relay. No I/O of its own; adapters
//! are handed in as [`Ports`].
//!
//! [`Todo::new`] wires every use case to one set of ports; apps then hand the services to
//! inbound adapters and the [`Todo::consumers`] of the [`Role`]s they run to their event bus.
//! The chat assistant ([`Chat`]) needs two ports more (a model and the task tools), so apps that
//! serve it build it beside [`Todo`], over its [`Todo::conversations`].

mod activity;
mod chat;
mod commands;
mod consumers;
mod conversations;
mod live;
mod planner;
mod relay;
mod reminders;
mod roles;
mod sweep;

use std::sync::Arc;

pub use activity::Activity;
pub use chat::{Chat, ChatLimits, DEFAULT_HISTORY_CHARS, DEFAULT_HISTORY_MESSAGES, DEFAULT_MAX_ROUNDS};
pub use commands::TaskCommands;
pub use consumers::{AuditTrail, Consumes, Notifier, RecurringTasks, UndeliveredReminders};
pub use conversations::{Conversations, DEFAULT_CONVERSATION_TTL};
pub use live::{DEFAULT_LIVE_CAPACITY, Ended, LiveSubscription, LiveUpdates};
pub use planner::ReminderPlanner;
pub use relay::{BATCH, IDLE_WAIT, LINGER, OutboxRelay, RelayStep};
pub use reminders::ReminderJobs;
pub use roles::Role;
pub use sweep::Sweep;

use todo_ports::{
    AuditLog, Clock, EventBus, NotificationFeed, Outbox, PlannedJobs, Scheduler, StateStore, Subscription,
    TaskRepository,
};

/// Every driven port the use cases need.
#[derive(Clone)]
pub struct Ports {
    /// Where tasks live.
    pub tasks: Arc<dyn TaskRepository>,
    /// The events written with them.
    pub outbox: Arc<dyn Outbox>,
    /// The audit consumer's ledger.
    pub audit: Arc<dyn AuditLog>,
    /// The notification consumer's ledger.
    pub feed: Arc<dyn NotificationFeed>,
    /// The reminder jobs known to be scheduled.
    pub plans: Arc<dyn PlannedJobs>,
    /// Where the relay publishes.
    pub bus: Arc<dyn EventBus>,
    /// Conversation state.
    pub state: Arc<dyn StateStore>,
    /// Exact-time reminder jobs.
    pub scheduler: Arc<dyn Scheduler>,
    /// Time.
    pub clock: Arc<dyn Clock>,
}

impl Ports {
    /// Ports whose task repository, outbox and ledgers are one store, as they must be for a
    /// task write and its events to commit together.
    pub fn over_store<S>(
        store: Arc<S>,
        bus: Arc<dyn EventBus>,
        state: Arc<dyn StateStore>,
        scheduler: Arc<dyn Scheduler>,
        clock: Arc<dyn Clock>,
    ) -> Self
    where
        S: TaskRepository + Outbox + AuditLog + NotificationFeed + PlannedJobs + 'static,
    {
        Self {
            tasks: store.clone(),
            outbox: store.clone(),
            audit: store.clone(),
            feed: store.clone(),
            plans: store,
            bus,
            state,
            scheduler,
            clock,
        }
    }
}

/// A subscription and the role it belongs to.
#[derive(Debug, Clone)]
pub struct Consumer {
    /// The service the consumer belongs to.
    pub role: Role,
    /// What to subscribe.
    pub subscription: Subscription,
    /// Whether it reads the dead letters of its topic.
    pub dead_letters: bool,
}

impl Consumer {
    fn of<C: Consumes>(consumer: &Arc<C>) -> Self {
        let subscription = Subscription { topic: C::TOPIC, name: C::NAME, handler: consumer.clone() };
        Self { role: C::ROLE, subscription, dead_letters: C::DEAD_LETTERS }
    }
}

/// The use cases wired to one set of ports.
#[derive(Clone)]
pub struct Todo {
    /// Task commands and queries (the REST API's core).
    pub tasks: Arc<TaskCommands>,
    /// Conversation state.
    pub conversations: Arc<Conversations>,
    /// Audit log and notification feed reads.
    pub activity: Arc<Activity>,
    /// The periodic sweep.
    pub sweep: Arc<Sweep>,
    /// Runs fired reminder jobs (hand it to the scheduler as its job handler).
    pub reminder_jobs: Arc<ReminderJobs>,
    /// Plans reminder jobs from task events.
    pub planner: Arc<ReminderPlanner>,
    /// Creates next instances on `task.completed`.
    pub recurring: Arc<RecurringTasks>,
    /// Appends task events to the audit log.
    pub audit: Arc<AuditTrail>,
    /// Delivers `reminder.due` events.
    pub notifier: Arc<Notifier>,
    /// Gives up on the reminders that could not be delivered.
    pub undelivered: Arc<UndeliveredReminders>,
    /// Publishes the outbox.
    pub relay: Arc<OutboxRelay>,
    /// Fans `task-updates` out to the open live subscriptions (the WebSocket feed).
    pub live: Arc<LiveUpdates>,
}

impl Todo {
    /// Wires every use case to `ports`.
    pub fn new(ports: Ports) -> Self {
        let reminder_jobs = Arc::new(ReminderJobs::new(ports.tasks.clone(), ports.clock.clone()));
        Self {
            tasks: Arc::new(TaskCommands::new(ports.tasks.clone(), ports.clock.clone())),
            conversations: Arc::new(Conversations::new(
                ports.state.clone(),
                ports.clock.clone(),
                DEFAULT_CONVERSATION_TTL,
            )),
            activity: Arc::new(Activity::new(ports.audit.clone(), ports.feed.clone())),
            sweep: Arc::new(Sweep::new(ports.tasks.clone(), reminder_jobs.clone(), ports.clock.clone())),
            planner: Arc::new(ReminderPlanner::new(ports.tasks.clone(), ports.plans.clone(), ports.scheduler.clone())),
            recurring: Arc::new(RecurringTasks::new(ports.tasks.clone(), ports.clock.clone())),
            audit: Arc::new(AuditTrail::new(ports.audit.clone())),
            notifier: Arc::new(Notifier::new(ports.feed.clone(), ports.clock.clone())),
            undelivered: Arc::new(UndeliveredReminders::new(ports.feed.clone(), ports.clock.clone())),
            relay: Arc::new(OutboxRelay::new(ports.outbox.clone(), ports.bus.clone())),
            live: Arc::new(LiveUpdates::default()),
            reminder_jobs,
        }
    }

    /// Every consumer, each with its role; an app subscribes those of the roles it runs.
    pub fn consumers(&self) -> Vec<Consumer> {
        vec![
            Consumer::of(&self.recurring),
            Consumer::of(&self.planner),
            Consumer::of(&self.audit),
            Consumer::of(&self.notifier),
            Consumer::of(&self.undelivered),
            Consumer::of(&self.live),
        ]
    }

    /// The subscriptions of the consumers of `roles`.
    pub fn subscriptions(&self, roles: &[Role]) -> Vec<Subscription> {
        self.of_roles(roles, false)
    }

    /// The subscriptions of the consumers of `roles` that read their topic's dead letters.
    pub fn dead_letter_subscriptions(&self, roles: &[Role]) -> Vec<Subscription> {
        self.of_roles(roles, true)
    }

    fn of_roles(&self, roles: &[Role], dead_letters: bool) -> Vec<Subscription> {
        self.consumers()
            .into_iter()
            .filter(|c| roles.contains(&c.role) && c.dead_letters == dead_letters)
            .map(|c| c.subscription)
            .collect()
    }
}
