//! The programs of the system: each app crate runs one [`Service`], which names its Dapr app id,
//! its default port and the [`Role`]s it runs; the all-in-one app runs every role.

use todo_tasks::Role;

/// One deployable program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `apps/todo`: the whole system in one process (`ROLES` may narrow it).
    AllInOne,
    /// `apps/backend`: the task REST API, conversation state and the outbox relay (the seeds'
    /// Chat API service).
    Backend,
    /// `apps/recurring-tasks`: next instances on `task.completed` (the one service besides the
    /// backend that writes the tasks table), reminder jobs, the Jobs callback and the
    /// `reminder-cron` sweep, publishing `reminder.due` through its outbox.
    RecurringTasks,
    /// `apps/notifications`: delivers `reminder.due`, keeps the feed in a database of its own,
    /// publishes `reminder.sent`.
    Notifications,
    /// `apps/audit`: the append-only audit log of task events, in a database of its own.
    Audit,
    /// `apps/sync`: pushes `task-updates` to each user's WebSocket connections.
    Sync,
}

impl Service {
    /// Its Dapr app id (and the name its log lines carry).
    pub fn app_id(self) -> &'static str {
        match self {
            Self::AllInOne => "todo",
            Self::Backend => "backend",
            Self::RecurringTasks => "recurring-task-service",
            Self::Notifications => "notification-service",
            Self::Audit => "audit-service",
            Self::Sync => "websocket-sync-service",
        }
    }

    /// The port it listens on unless `PORT` says otherwise: distinct, so that the split runs
    /// on one machine.
    pub fn default_port(self) -> u16 {
        match self {
            Self::AllInOne | Self::Backend => 8000,
            Self::RecurringTasks => 8001,
            Self::Notifications => 8002,
            Self::Audit => 8003,
            Self::Sync => 8004,
        }
    }

    /// The roles it runs (the all-in-one app: every role unless `ROLES` narrows them).
    pub fn roles(self) -> Vec<Role> {
        match self {
            Self::AllInOne => Role::ALL.to_vec(),
            Self::Backend => vec![Role::Backend],
            Self::RecurringTasks => vec![Role::RecurringTasks],
            Self::Notifications => vec![Role::Notifications],
            Self::Audit => vec![Role::Audit],
            Self::Sync => vec![Role::Sync],
        }
    }
}
