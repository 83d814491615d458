//! [`TaskRepository`] over the `tasks` table. Each write and the outbox rows of its event
//! commit together, in one statement (or one transaction with an inbox key). The event comes
//! whole from the domain; SQL only stores it.

use std::sync::LazyLock;

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_ports::model::{ReminderEvent, Task, TaskEvent, TaskId, Topic, UserId, fold_for_search};
use todo_ports::{InboxKey, Inserted, RepoError, SortKey, SortOrder, TaskPage, TaskQuery, TaskRepository};
use tokio_postgres::types::{Json, ToSql};

use crate::PgStore;
use crate::error::{from_pg, is_unique_violation};
use crate::rows::{TASK_COLUMNS, TaskColumns, task_from_row};

/// Ids reserved from the sequence at a time (one round trip per this many creations).
const ID_BLOCK: i64 = 32;

/// Reserves ids from the `tasks` sequence.
const RESERVE_IDS: &str = "SELECT nextval(pg_get_serial_sequence('tasks', 'id')) FROM generate_series(1, $1::bigint)";

/// Inserts a task and the outbox rows of its event; returns the id, or no row when the series
/// already has this occurrence. Parameters: `$1`-`$18` the task's columns (`$1` its id, `$2` its
/// user), `$19` the event id, `$20` the event, `$21` its topics, `$22` the trace it is written
/// in (or NULL).
pub const INSERT_TASK: &str = "
WITH t AS (
    INSERT INTO tasks (id, user_id, title, description, completed, priority_id, due_date, tags,
                       recurrence_frequency, recurrence_interval, reminder_offset_minutes,
                       series_id, series_occurrence, series_anchor_day, revision, created_at, updated_at,
                       search_text)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
    ON CONFLICT (series_id, series_occurrence) DO NOTHING
    RETURNING id
), o AS (
    INSERT INTO outbox (user_id, topic, kind, event_id, payload, traceparent)
    SELECT $2, x.topic, 'task', $19, $20::jsonb, $22
    FROM t, unnest($21::text[]) WITH ORDINALITY AS x(topic, n)
    ORDER BY x.n
)
SELECT id FROM t";

/// Reads one task of one user: `$1` its id, `$2` the user.
pub static GET_TASK: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = $1 AND user_id = $2"));

/// Records an inbox key unless it is there.
const INSERT_INBOX: &str =
    "INSERT INTO consumer_inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT (consumer, event_id) DO NOTHING";

/// Replaces a task still at revision `$18` and writes the outbox rows of its event; returns one
/// row per task replaced (0 or 1). `$1`-`$17` the task's columns, `$19`-`$22` as in
/// [`INSERT_TASK`].
const UPDATE_TASK: &str = "
WITH t AS (
    UPDATE tasks SET title = $3, description = $4, completed = $5, priority_id = $6, due_date = $7, tags = $8,
                     recurrence_frequency = $9, recurrence_interval = $10, reminder_offset_minutes = $11,
                     series_id = $12, series_occurrence = $13, series_anchor_day = $14,
                     revision = $15, updated_at = $16, search_text = $17
    WHERE id = $1 AND user_id = $2 AND revision = $18
    RETURNING id
), o AS (
    INSERT INTO outbox (user_id, topic, kind, event_id, payload, traceparent)
    SELECT $2, x.topic, 'task', $19, $20::jsonb, $22
    FROM t, unnest($21::text[]) WITH ORDINALITY AS x(topic, n)
    ORDER BY x.n
)
SELECT count(*) FROM t";

/// Deletes a task still at revision `$3` and writes the outbox rows of its event (`$4` its id,
/// `$5` the event, `$6` its topics, `$7` its trace).
const DELETE_TASK: &str = "
WITH t AS (
    DELETE FROM tasks WHERE id = $1 AND user_id = $2 AND revision = $3
    RETURNING id
), o AS (
    INSERT INTO outbox (user_id, topic, kind, event_id, payload, traceparent)
    SELECT $2, x.topic, 'task', $4, $5::jsonb, $7
    FROM t, unnest($6::text[]) WITH ORDINALITY AS x(topic, n)
    ORDER BY x.n
)
SELECT count(*) FROM t";

const REVISION_OF: &str = "SELECT revision FROM tasks WHERE id = $1 AND user_id = $2";

/// Records a reminder once per `(task_id, due_date)` and, only then, writes its event to the
/// outbox (topic `$6`, trace `$7`).
const RECORD_REMINDER: &str = "
WITH l AS (
    INSERT INTO reminder_ledger (task_id, due_date, event_id) VALUES ($1, $2, $3)
    ON CONFLICT (task_id, due_date) DO NOTHING
    RETURNING 1
)
INSERT INTO outbox (user_id, topic, kind, event_id, payload, traceparent)
SELECT $4, $6, 'reminder', $3, $5::jsonb, $7 FROM l";

/// The trace the caller works in, as the outbox stores it.
pub(crate) fn trace() -> Option<String> {
    todo_ports::trace::current().map(|t| t.as_str().to_owned())
}

/// The topics' broker names, as the outbox stores them.
pub(crate) fn topic_names(topics: &[Topic]) -> Vec<&'static str> {
    topics.iter().map(|t| t.name()).collect()
}

/// When the stored revision differed: was the task there at all?
async fn conflict_or_missing(store: &PgStore, id: i64, user: &str) -> RepoError {
    let exists = async {
        let client = store.client().await?;
        let statement = client.prepare_cached(REVISION_OF).await.map_err(from_pg)?;
        Ok::<_, RepoError>(client.query_opt(&statement, &[&id, &user]).await.map_err(from_pg)?.is_some())
    };
    match exists.await {
        Ok(true) => RepoError::Conflict,
        Ok(false) => RepoError::NotFound,
        Err(e) => e,
    }
}

#[async_trait]
impl TaskRepository for PgStore {
    #[tracing::instrument(name = "postgres.tasks.next_id", skip_all)]
    async fn next_id(&self) -> Result<TaskId, RepoError> {
        if let Some(id) = self.reserved_ids().pop_front() {
            return Ok(TaskId(id));
        }
        let client = self.client().await?;
        let statement = client.prepare_cached(RESERVE_IDS).await.map_err(from_pg)?;
        let rows = client.query(&statement, &[&ID_BLOCK]).await.map_err(from_pg)?;
        let mut ids = rows.iter().map(|r| r.try_get::<_, i64>(0)).collect::<Result<Vec<_>, _>>().map_err(from_pg)?;
        ids.sort_unstable();
        let mut reserved = self.reserved_ids();
        reserved.extend(ids);
        reserved.pop_front().map(TaskId).ok_or_else(|| crate::error::internal("the id sequence gave nothing"))
    }

    #[tracing::instrument(name = "postgres.tasks.insert", skip_all, fields(task_id = %event.data.id))]
    async fn insert(&self, event: &TaskEvent, inbox: Option<InboxKey>) -> Result<Inserted, RepoError> {
        let task = &event.data;
        let cols = TaskColumns::of(task)?;
        let (id, user, search) = (task.id.0, task.user_id.as_str(), task.search_text());
        let topics = topic_names(&event.event_type.topics());
        let revision = i64::from(task.revision);
        // Serialised by the driver straight into the parameter buffer.
        let payload = Json(event);
        let trace = trace();
        let params: [&(dyn ToSql + Sync); 22] = [
            &id,
            &user,
            &task.title,
            &task.description,
            &task.completed,
            &cols.priority_id,
            &task.due_date,
            &task.tags,
            &cols.frequency,
            &cols.interval,
            &cols.reminder_offset_minutes,
            &cols.series_id,
            &cols.series_occurrence,
            &cols.series_anchor_day,
            &revision,
            &task.created_at,
            &task.updated_at,
            &search,
            &event.event_id,
            &payload,
            &topics,
            &trace,
        ];
        let mut client = self.client().await?;
        let row = match inbox {
            None => {
                let statement = client.prepare_cached(INSERT_TASK).await.map_err(from_pg)?;
                client.query_opt(&statement, &params).await.map_err(from_pg)?
            }
            Some(key) => {
                let tx = client.transaction().await.map_err(from_pg)?;
                let recorded = tx.prepare_cached(INSERT_INBOX).await.map_err(from_pg)?;
                if tx.execute(&recorded, &[&key.consumer, &key.event_id]).await.map_err(from_pg)? == 0 {
                    return Ok(Inserted::Duplicate);
                }
                let statement = tx.prepare_cached(INSERT_TASK).await.map_err(from_pg)?;
                let row = tx.query_opt(&statement, &params).await.map_err(from_pg)?;
                if row.is_some() {
                    tx.commit().await.map_err(from_pg)?;
                }
                row
            }
        };
        if row.is_none() {
            return Ok(Inserted::Duplicate);
        }
        self.outbox_written();
        Ok(Inserted::Created)
    }

    #[tracing::instrument(name = "postgres.tasks.update", skip_all, fields(task_id = %event.data.id))]
    async fn update(&self, event: &TaskEvent, expected_revision: u32) -> Result<(), RepoError> {
        let task = &event.data;
        let cols = TaskColumns::of(task)?;
        let (id, user, search) = (task.id.0, task.user_id.as_str(), task.search_text());
        let (revision, expected) = (i64::from(task.revision), i64::from(expected_revision));
        let topics = topic_names(&event.event_type.topics());
        let payload = Json(event);
        let trace = trace();
        let params: [&(dyn ToSql + Sync); 22] = [
            &id,
            &user,
            &task.title,
            &task.description,
            &task.completed,
            &cols.priority_id,
            &task.due_date,
            &task.tags,
            &cols.frequency,
            &cols.interval,
            &cols.reminder_offset_minutes,
            &cols.series_id,
            &cols.series_occurrence,
            &cols.series_anchor_day,
            &revision,
            &task.updated_at,
            &search,
            &expected,
            &event.event_id,
            &payload,
            &topics,
            &trace,
        ];
        let client = self.client().await?;
        let statement = client.prepare_cached(UPDATE_TASK).await.map_err(from_pg)?;
        let updated: i64 = client
            .query_one(&statement, &params)
            .await
            .map_err(|e| {
                // Moving the task onto an occurrence its series already has.
                if is_unique_violation(&e, Some("tasks_series_occurrence_key")) {
                    RepoError::Conflict
                } else {
                    from_pg(e)
                }
            })?
            .try_get(0)
            .map_err(from_pg)?;
        drop(client);
        if updated == 0 {
            return Err(conflict_or_missing(self, id, user).await);
        }
        self.outbox_written();
        Ok(())
    }

    #[tracing::instrument(name = "postgres.tasks.delete", skip_all, fields(task_id = %event.data.id))]
    async fn delete(&self, event: &TaskEvent, expected_revision: u32) -> Result<(), RepoError> {
        let (id, user) = (event.data.id.0, event.data.user_id.as_str());
        let expected = i64::from(expected_revision);
        let topics = topic_names(&event.event_type.topics());
        let client = self.client().await?;
        let statement = client.prepare_cached(DELETE_TASK).await.map_err(from_pg)?;
        let deleted: i64 = client
            .query_one(&statement, &[&id, &user, &expected, &event.event_id, &Json(event), &topics, &trace()])
            .await
            .map_err(from_pg)?
            .try_get(0)
            .map_err(from_pg)?;
        drop(client);
        if deleted == 0 {
            return Err(conflict_or_missing(self, id, user).await);
        }
        self.outbox_written();
        Ok(())
    }

    #[tracing::instrument(name = "postgres.tasks.get", skip_all, fields(user_id = %user_id, task_id = %id))]
    async fn get(&self, user_id: &UserId, id: TaskId) -> Result<Option<Task>, RepoError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(&GET_TASK).await.map_err(from_pg)?;
        let row = client.query_opt(&statement, &[&id.0, &user_id.as_str()]).await.map_err(from_pg)?;
        row.as_ref().map(task_from_row).transpose()
    }

    #[tracing::instrument(name = "postgres.tasks.list", skip_all, fields(user_id = %user_id))]
    async fn list(&self, user_id: &UserId, query: &TaskQuery) -> Result<TaskPage, RepoError> {
        let listing = Listing::new(user_id, query);
        let client = self.client().await?;
        let statement = client.prepare_cached(&listing.page_sql()).await.map_err(from_pg)?;
        let rows = client.query(&statement, &listing.page_params()).await.map_err(from_pg)?;
        let total = match rows.first() {
            Some(row) => row.try_get::<_, i64>("total").map_err(from_pg)?,
            // An empty page says nothing about the total when it starts past the end (or is
            // zero long).
            None if query.offset > 0 || query.limit == 0 => {
                let statement = client.prepare_cached(&listing.count_sql()).await.map_err(from_pg)?;
                client
                    .query_one(&statement, &listing.filter_params())
                    .await
                    .map_err(from_pg)?
                    .try_get(0)
                    .map_err(from_pg)?
            }
            None => 0,
        };
        let items = rows.iter().map(task_from_row).collect::<Result<_, _>>()?;
        Ok(TaskPage { items, total: u64::try_from(total).unwrap_or_default() })
    }

    #[tracing::instrument(name = "postgres.tasks.reminder_candidates", skip_all)]
    async fn reminder_candidates(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks
                 WHERE NOT completed AND due_date IS NOT NULL AND due_date >= $1 AND due_date <= $2
                 ORDER BY due_date, id LIMIT $3"
            ))
            .await
            .map_err(from_pg)?;
        let rows = client.query(&statement, &[&from, &to, &i64::from(limit)]).await.map_err(from_pg)?;
        rows.iter().map(task_from_row).collect()
    }

    #[tracing::instrument(name = "postgres.tasks.overdue_recurring", skip_all)]
    async fn overdue_recurring(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Task>, RepoError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks t
                 WHERE NOT t.completed AND t.recurrence_frequency IS NOT NULL AND t.due_date <= $1
                   AND t.series_id IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM tasks n
                                   WHERE n.series_id = t.series_id AND n.series_occurrence = t.series_occurrence + 1)
                 ORDER BY t.due_date, t.id LIMIT $2"
            ))
            .await
            .map_err(from_pg)?;
        let rows = client.query(&statement, &[&now, &i64::from(limit)]).await.map_err(from_pg)?;
        rows.iter().map(task_from_row).collect()
    }

    #[tracing::instrument(name = "postgres.tasks.record_reminder", skip_all, fields(task_id = %event.data.task_id))]
    async fn record_reminder(&self, event: &ReminderEvent) -> Result<bool, RepoError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(RECORD_REMINDER).await.map_err(from_pg)?;
        let topic = Topic::Reminders.name();
        let written = client
            .execute(
                &statement,
                &[
                    &event.data.task_id.0,
                    &event.data.due_date,
                    &event.event_id,
                    &event.data.user_id.as_str(),
                    &Json(event),
                    &topic,
                    &trace(),
                ],
            )
            .await
            .map_err(from_pg)?;
        if written > 0 {
            self.outbox_written();
        }
        Ok(written > 0)
    }
}

/// A listing's SQL and parameters: `$1` is the user, the filters that are set follow in a
/// fixed order, then the page's limit and offset. Only placeholders carry values.
struct Listing<'a> {
    user: &'a str,
    query: &'a TaskQuery,
    /// `%text%`, folded as the stored `search_text` is, with `\`, `%` and `_` escaped, for LIKE.
    pattern: Option<String>,
    priority: Option<i16>,
    /// Page size and start.
    limit: i64,
    offset: i64,
    where_sql: String,
    /// How many placeholders the filters use.
    filters: usize,
}

impl<'a> Listing<'a> {
    fn new(user_id: &'a UserId, query: &'a TaskQuery) -> Self {
        let pattern = query.text.as_deref().map(|text| {
            let folded = fold_for_search(text);
            let escaped = folded.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        });
        let mut where_sql = String::from("user_id = $1");
        let mut n = 1;
        let mut add = |clause: &str, set: bool| {
            if set {
                n += 1;
                where_sql.push_str(" AND ");
                where_sql.push_str(&clause.replace('?', &format!("${n}")));
            }
        };
        add("completed = ?", query.completed.is_some());
        add("priority_id = ?", query.priority_id.is_some());
        add("tags @> ARRAY[?::text]", query.tag.is_some());
        add("due_date < ?", query.due_before.is_some());
        add("due_date > ?", query.due_after.is_some());
        add("search_text LIKE ?", pattern.is_some());
        let priority = query.priority_id.map(|p| i16::from(p.get()));
        Self {
            user: user_id.as_str(),
            query,
            pattern,
            priority,
            limit: i64::from(query.limit),
            offset: i64::from(query.offset),
            where_sql,
            filters: n,
        }
    }

    /// The filter values, in the placeholders' order.
    fn filter_params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.user];
        if let Some(c) = &self.query.completed {
            params.push(c);
        }
        if let Some(p) = &self.priority {
            params.push(p);
        }
        if let Some(t) = &self.query.tag {
            params.push(t);
        }
        if let Some(b) = &self.query.due_before {
            params.push(b);
        }
        if let Some(a) = &self.query.due_after {
            params.push(a);
        }
        if let Some(p) = &self.pattern {
            params.push(p);
        }
        params
    }

    fn page_params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params = self.filter_params();
        params.push(&self.limit);
        params.push(&self.offset);
        params
    }

    fn page_sql(&self) -> String {
        let dir = match self.query.order {
            SortOrder::Asc => "ASC",
            SortOrder::Desc => "DESC",
        };
        let key = match self.query.sort {
            SortKey::DueDate => format!("due_date {dir} NULLS LAST"),
            SortKey::Priority => format!("priority_id {dir} NULLS LAST"),
            SortKey::CreatedAt => format!("created_at {dir}"),
        };
        format!(
            "SELECT {TASK_COLUMNS}, count(*) OVER () AS total FROM tasks WHERE {} ORDER BY {key}, id {dir} \
             LIMIT ${} OFFSET ${}",
            self.where_sql,
            self.filters + 1,
            self.filters + 2
        )
    }

    fn count_sql(&self) -> String {
        format!("SELECT count(*) FROM tasks WHERE {}", self.where_sql)
    }
}
