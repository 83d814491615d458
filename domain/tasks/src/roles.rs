//! The services of the system: every consumer belongs to one, and so does every route, loop and
//! job an app serves. An app runs a set of roles; one process may run them all.

use std::fmt;

/// One of the seeds' services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The task backend (the seeds' Chat API): the task and conversation routes and the
    /// outbox relay of task events.
    Backend,
    /// The recurring-task service: next instances on `task.completed`, reminder jobs planned
    /// from task events, the Jobs API callback and the `reminder-cron` sweep.
    RecurringTasks,
    /// The notification service: delivers `reminder.due` and serves the notification feed.
    Notifications,
    /// The audit service: keeps the audit log of task events and serves it.
    Audit,
    /// The WebSocket sync service: pushes each `task-updates` event to its user's open sockets.
    Sync,
}

impl Role {
    /// Every role, in the order they are listed.
    pub const ALL: [Role; 5] = [Role::Backend, Role::RecurringTasks, Role::Notifications, Role::Audit, Role::Sync];

    /// The role's name, as `ROLES` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Backend => "backend",
            Self::RecurringTasks => "recurring-tasks",
            Self::Notifications => "notifications",
            Self::Audit => "audit",
            Self::Sync => "sync",
        }
    }

    /// The role called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for role in Role::ALL {
            assert_eq!(Role::from_name(role.name()), Some(role));
        }
        assert_eq!(Role::from_name("billing"), None);
    }
}
