//! [`AuditLog`] and [`NotificationFeed`]: each event recorded once, keyed by its id.

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_ports::model::{ReminderEvent, TaskEvent, TaskEventType, Topic, UserId};
use todo_ports::{AuditLog, AuditPage, AuditPosition, AuditQuery, Notification, NotificationFeed, RepoError};
use tokio_postgres::types::{Json, ToSql};

use crate::PgStore;
use crate::error::{from_pg, internal};

/// Appends an event to the audit log unless it is there: `$1` event id, `$2` user, `$3` type,
/// `$4` when, `$5` the event.
pub const APPEND_AUDIT: &str = "
INSERT INTO audit_log (event_id, user_id, event_type, occurred_at, event) VALUES ($1, $2, $3, $4, $5::jsonb)
ON CONFLICT (event_id) DO NOTHING";

/// A page of the audit log: what [`AuditQuery`] asks, as SQL and its parameters. `$1` is the
/// user, the filters that are set follow in a fixed order, then the start position (two
/// placeholders) if any, then the page size plus one, which tells whether more follow. Only
/// placeholders carry values; each shape is one cached statement (at most 32 of them), and
/// each is served by an index led by `(user_id, ...)` in the page's order (migration 0005).
struct AuditListing {
    sql: String,
    user: String,
    task_id: Option<i64>,
    event_type: Option<&'static str>,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    /// `(occurred_at, seq)`; a sequence number beyond `bigint` is after every stored one.
    after: Option<(OffsetDateTime, i64)>,
    /// One more than the page size.
    fetch: i64,
}

impl AuditListing {
    fn new(query: &AuditQuery) -> Self {
        let mut sql = String::from("SELECT event, occurred_at, seq FROM audit_log WHERE user_id = $1");
        let mut n = 1;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if query.task_id.is_some() {
            sql.push_str(&format!(" AND task_id = {}", next()));
        }
        if query.event_type.is_some() {
            sql.push_str(&format!(" AND event_type = {}", next()));
        }
        if query.since.is_some() {
            sql.push_str(&format!(" AND occurred_at >= {}", next()));
        }
        if query.until.is_some() {
            sql.push_str(&format!(" AND occurred_at < {}", next()));
        }
        if query.after.is_some() {
            let (at, seq) = (next(), next());
            sql.push_str(&format!(" AND (occurred_at, seq) < ({at}, {seq})"));
        }
        sql.push_str(&format!(" ORDER BY occurred_at DESC, seq DESC LIMIT {}", next()));
        Self {
            sql,
            user: query.user_id.as_str().to_owned(),
            task_id: query.task_id.map(|id| id.0),
            event_type: query.event_type.map(TaskEventType::as_str),
            since: query.since,
            until: query.until,
            after: query.after.map(|p| (p.occurred_at, i64::try_from(p.seq).unwrap_or(i64::MAX))),
            fetch: i64::from(query.page_size()) + 1,
        }
    }

    /// The values, in the placeholders' order.
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.user];
        if let Some(id) = &self.task_id {
            params.push(id);
        }
        if let Some(t) = &self.event_type {
            params.push(t);
        }
        if let Some(since) = &self.since {
            params.push(since);
        }
        if let Some(until) = &self.until {
            params.push(until);
        }
        if let Some((at, seq)) = &self.after {
            params.push(at);
            params.push(seq);
        }
        params.push(&self.fetch);
        params
    }
}

/// Records the delivery and, only if it is new (neither delivered nor given up on before), writes
/// the `reminder.sent` event to the outbox
/// (in the delivery's trace, `$10`), in one statement.
const RECORD_NOTIFICATION: &str = "
WITH n AS (
    INSERT INTO notifications (event_id, user_id, task_id, delivered_at, event)
    SELECT $1, $2, $3, $4, $5::jsonb
    WHERE NOT EXISTS (SELECT 1 FROM notification_failures WHERE event_id = $1)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
), o AS (
    INSERT INTO outbox (user_id, topic, kind, event_id, payload, traceparent)
    SELECT $6, $9, 'reminder', $7, $8::jsonb, $10 FROM n
)
SELECT count(*) FROM n";

/// Records that a reminder was given up on, unless it was delivered or given up on before, and
/// only then writes its `reminder.failed` event to the outbox (topic `$9`, in the caller's trace,
/// `$8`).
const RECORD_FAILURE: &str = "
WITH f AS (
    INSERT INTO notification_failures (event_id, user_id, task_id, failed_at, event)
    SELECT $1, $2, $3, $4, $5::jsonb
    WHERE NOT EXISTS (SELECT 1 FROM notifications WHERE event_id = $1)
    ON CONFLICT (event_id) DO NOTHING
    RETURNING 1
), o AS (
    INSERT INTO outbox (user_id, topic, kind, event_id, payload, traceparent)
    SELECT $2, $9, 'reminder', $6, $7::jsonb, $8 FROM f
)
SELECT count(*) FROM f";

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

    #[tracing::instrument(name = "postgres.audit.list", skip_all, fields(user_id = %query.user_id))]
    async fn list(&self, query: &AuditQuery) -> Result<AuditPage, RepoError> {
        let listing = AuditListing::new(query);
        let client = self.client().await?;
        let statement = client.prepare_cached(&listing.sql).await.map_err(from_pg)?;
        let rows = client.query(&statement, &listing.params()).await.map_err(from_pg)?;
        let size = query.page_size() as usize;
        let mut items = Vec::with_capacity(size.min(rows.len()));
        let mut last = None;
        for row in rows.iter().take(size) {
            items.push(row.try_get::<_, Json<TaskEvent>>(0).map_err(from_pg)?.0);
            let seq: i64 = row.try_get(2).map_err(from_pg)?;
            let seq = u64::try_from(seq).map_err(|_| internal(format!("audit entry with sequence number {seq}")))?;
            last = Some(AuditPosition { occurred_at: row.try_get(1).map_err(from_pg)?, seq });
        }
        Ok(AuditPage { items, next: if rows.len() > size { last } else { None } })
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
                    &crate::tasks::trace(),
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

    #[tracing::instrument(name = "postgres.feed.record_failure", skip_all, fields(event_id = %due.event_id))]
    async fn record_failure(&self, due: &ReminderEvent, failed: &ReminderEvent) -> Result<bool, RepoError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(RECORD_FAILURE).await.map_err(from_pg)?;
        let recorded: i64 = client
            .query_one(
                &statement,
                &[
                    &due.event_id,
                    &due.data.user_id.as_str(),
                    &due.data.task_id.0,
                    &failed.timestamp,
                    &Json(due),
                    &failed.event_id,
                    &Json(failed),
                    &crate::tasks::trace(),
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
