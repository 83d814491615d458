//! Reads of what the consumers recorded: the audit log and the notification feed.

use std::sync::Arc;

use async_trait::async_trait;
use todo_ports::model::UserId;
use todo_ports::{ActivityService, AuditLog, AuditPage, AuditQuery, Notification, NotificationFeed, ServiceError};

/// Implements [`ActivityService`].
pub struct Activity {
    audit: Arc<dyn AuditLog>,
    feed: Arc<dyn NotificationFeed>,
}

impl Activity {
    /// Reads over these ledgers.
    pub fn new(audit: Arc<dyn AuditLog>, feed: Arc<dyn NotificationFeed>) -> Self {
        Self { audit, feed }
    }
}

#[async_trait]
impl ActivityService for Activity {
    async fn audit(&self, query: AuditQuery) -> Result<AuditPage, ServiceError> {
        Ok(self.audit.list(&query).await?)
    }

    async fn notifications(&self, user_id: &UserId, limit: u32) -> Result<Vec<Notification>, ServiceError> {
        Ok(self.feed.list(user_id, limit).await?)
    }
}
