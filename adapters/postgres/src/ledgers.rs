//! [`AuditLog`] and [`NotificationFeed`]: each event recorded once, keyed by its id.

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_ports::model::{ReminderEvent, TaskEvent, Topic, UserId};
use todo_ports::{AuditLog, Notification, NotificationFeed, RepoError};
use tokio_postgres::types::Json;

use crate::PgStore;
use crate::error::from_pg;

/// Appends an event to the audit log unless it is there: `$1` event id, `$2` user, `$3` type,
/// `$4` when, `$5` the event.
pub const APPEND_AUDIT: &str = "
INSERT INTO audit_log (event_id, user_id, event_type, occurred_at, event) VALUES ($1, $2, $3, $4, $5::jsonb)
ON CONFLICT (event_id) DO NOTHING";

const LIST_AUDIT: &str = "SELECT event FROM audit_log WHERE user_id = $1 ORDER BY occurred_at DESC, seq DESC LIMIT $2";

/// Records the delivery and, only if it is new, writes the `reminder.sent` event to the outbox,
/// in one statement.
const RECORD_NOTIFICATION: &str = "
WITH n AS (
    INSERT INTO notifications (event_id, user_id, task_id, delivered_at, event) VALUES ($1, $2, $3, $4, $5::jsonb)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
), o AS (
    INSERT INTO outbox (user_id, topic, kind, event_id, payload)
    SELECT $6, $9, 'reminder', $7, $8::jsonb FROM n
)
SELECT count(*) FROM n";

const LIST_NOTIFICATIONS: &str =
    "SELECT event, delivered_at FROM notifications WHERE user_id = $1 ORDER BY seq DESC LIMIT $2";

#[async_trait]
impl AuditLog for PgStore {
    #[tracing::instrument(name = "postgres.audit.append", skip_all, fields(event_id = %event.event_id))]
    async fn append(&self, event: &TaskEvent) -> Result<bool, RepoError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(APPEND_AUDIT).await.map_err(from_pg)?;
        let written = client
            .execute(
                &statement,
                &[
                    &event.event_id,
                    &event.data.user_id.as_str(),
                    &event.event_type.as_str(),
                    &event.timestamp,
                    &Json(event),
                ],
            )
            .await
            .map_err(from_pg)?;
        Ok(written > 0)
    }

    #[tracing::instrument(name = "postgres.audit.list", skip_all, fields(user_id = %user_id))]
    async fn list(&self, user_id: &UserId, limit: u32) -> Result<Vec<TaskEvent>, RepoError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(LIST_AUDIT).await.map_err(from_pg)?;
        let rows = client.query(&statement, &[&user_id.as_str(), &i64::from(limit)]).await.map_err(from_pg)?;
        rows.iter().map(|row| row.try_get::<_, Json<TaskEvent>>(0).map(|j| j.0).map_err(from_pg)).collect()
    }
}

#[async_trait]
impl NotificationFeed for PgStore {
    #[tracing::instrument(name = "postgres.notifications.record", skip_all, fields(event_id = %due.event_id))]
    async fn record(
        &self,
        due: &ReminderEvent,
        sent: &ReminderEvent,
        delivered_at: OffsetDateTime,
    ) -> Result<bool, RepoError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(RECORD_NOTIFICATION).await.map_err(from_pg)?;
        let recorded: i64 = client
            .query_one(
                &statement,
                &[
                    &due.event_id,
                    &due.data.user_id.as_str(),
                    &due.data.task_id.0,
                    &delivered_at,
                    &Json(due),
                    &sent.data.user_id.as_str(),
                    &sent.event_id,
                    &Json(sent),
                    &Topic::Reminders.name(),
                ],
            )
            .await
            .map_err(from_pg)?
            .try_get(0)
            .map_err(from_pg)?;
        if recorded > 0 {
            self.outbox_written();
        }
        Ok(recorded > 0)
    }

    #[tracing::instrument(name = "postgres.notifications.list", skip_all, fields(user_id = %user_id))]
    async fn list(&self, user_id: &UserId, limit: u32) -> Result<Vec<Notification>, RepoError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(LIST_NOTIFICATIONS).await.map_err(from_pg)?;
        let rows = client.query(&statement, &[&user_id.as_str(), &i64::from(limit)]).await.map_err(from_pg)?;
        rows.iter()
            .map(|row| {
                Ok(Notification {
                    event: row.try_get::<_, Json<ReminderEvent>>(0).map_err(from_pg)?.0,
                    delivered_at: row.try_get(1).map_err(from_pg)?,
                })
            })
            .collect()
    }
}
