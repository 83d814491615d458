//! [`Outbox`] over the `outbox` table: the relay's side of the transactional outbox.
//!
//! # How a drain stays safe with several relays
//! A user's rows form a *lane*, published strictly in `id` order. A drain, in one transaction:
//! 1. finds the users at the head of the outbox (the users of its oldest rows, a few times
//!    more rows than it wants lanes, in the order of their oldest row) and, in the same
//!    statement, takes a transaction-scoped advisory lock per user lane
//!    (`pg_try_advisory_xact_lock` on a hash of the user id), skipping lanes another drain
//!    holds, until it has `limit` lanes, so two drains never work on one lane and a row is
//!    never handed to two drains at once;
//! 2. reads the oldest rows of the lanes it holds (a fresh snapshot, taken after the locks,
//!    so rows a previous holder deleted are gone);
//! 3. publishes the rows of each topic in one batch (the sidecar's bulk publish), each user's
//!    rows in id order, the topics' batches concurrently;
//! 4. deletes the rows the bus accepted, except that a user's row that failed keeps every later
//!    row of that user in that topic (a bulk publish may have taken some of them: they go out
//!    again, at least once, so the last copy a consumer gets of each is in order), and commits,
//!    which releases the lanes.
//!
//! If the process dies mid-drain, the transaction rolls back: nothing is deleted, the locks go,
//! and the rows are published again by the next drain (at least once; consumers deduplicate
//! on the event id). Hash collisions only merge two users' lanes.
//!
//! Order is the order of `id`, which follows commit order for all writes about one task (they
//! are serialised by the task's row lock). Two *concurrent* writes about different tasks of
//! one user have no order of their own to keep.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use todo_ports::model::{Event, ReminderEvent, TaskEvent, Topic, TraceParent};
use todo_ports::{DrainReport, EventBus, Outbox, OutboxWait, RepoError};
use tokio::task::JoinSet;
use tokio_postgres::types::Json;
use uuid::Uuid;

use crate::PgStore;
use crate::error::from_pg;

/// First key of the lane locks (two-key advisory locks: this, then the user's hash), so they
/// never meet other advisory locks of the application.
const LANE_LOCKS: i32 = 0x746f_646f; // "todo"

/// Locks up to `$3` user lanes whose head is among the oldest `$1` rows of the outbox, oldest
/// head first, skipping lanes another drain holds; returns their users. A user with a row in
/// that window has its oldest row there too. The window bounds the work: the drain reads `$1`
/// index entries whatever the backlog (a query for "the first heads, however far they are"
/// read the whole outbox whenever it held fewer users than it wanted, so a backlog made every
/// drain slower and the relay fell further behind). The heads are a materialised CTE so that
/// the planner cannot push the lock call below the sort (as it does into a subquery's
/// grouping): locks are taken in head order and the limit stops them, so no lane beyond
/// those returned is locked.
const LOCK_LANES: &str = "
WITH heads AS MATERIALIZED (
    SELECT user_id, min(id) AS head FROM (SELECT id, user_id FROM outbox ORDER BY id LIMIT $1) AS w
    GROUP BY user_id
    ORDER BY head
)
SELECT user_id FROM heads
WHERE pg_try_advisory_xact_lock($2, hashtext(user_id))
LIMIT $3";

/// Rows of the outbox's head looked at per lane wanted: lanes other drains hold are skipped,
/// so look further. Lanes whose head is beyond the window wait for a later drain (a drain
/// takes its rows in id order anyway).
const HEADS_PER_LANE: i64 = 4;

/// The oldest rows of the locked lanes.
const LANE_ROWS: &str = "
SELECT id, user_id, topic, kind, event_id, payload, traceparent FROM outbox
WHERE user_id = ANY($1)
ORDER BY id
LIMIT $2";

/// A row to publish.
struct Row {
    id: i64,
    user: String,
    /// `None` when the stored row cannot be read back (it then blocks its lane, logged).
    message: Option<(Topic, Event)>,
}

/// Which rows of one topic's batch the bus may not have taken: the ids of the events it says
/// failed, or all of them when the batch failed as a whole (or the bus panicked).
async fn publish_topic(bus: Arc<dyn EventBus>, topic: Topic, events: Vec<Event>) -> HashSet<Uuid> {
    match bus.publish_batch(topic, &events).await {
        Ok(()) => HashSet::new(),
        Err(e) => {
            tracing::warn!(error = %e, topic = topic.name(), failed = e.failed.len(), "outbox publish failed");
            e.failed.into_iter().collect()
        }
    }
}

/// Reads a stored outbox row back into the event it holds. The rows of one event (one per
/// topic, same payload) follow each other in their lane, so when `previous`, the lane's row
/// before, holds the same event it is reused instead of parsed again.
fn decode(row: &tokio_postgres::Row, previous: Option<&Row>) -> Result<Row, RepoError> {
    let id: i64 = row.try_get("id").map_err(from_pg)?;
    let topic: String = row.try_get("topic").map_err(from_pg)?;
    let kind: String = row.try_get("kind").map_err(from_pg)?;
    let event_id: Uuid = row.try_get("event_id").map_err(from_pg)?;
    let kind_of = |e: &Event| match e {
        Event::Task(_) => "task",
        Event::Reminder(_) => "reminder",
    };
    let seen =
        previous.and_then(|p| p.message.as_ref()).map(|(_, e)| e).filter(|e| e.id() == event_id && kind_of(e) == kind);
    // Straight from the column's bytes into the event: no intermediate `Value` tree.
    let event = match (seen, kind.as_str()) {
        (Some(e), _) => Some(e.clone()),
        (None, "task") => row.try_get::<_, Json<TaskEvent>>("payload").ok().map(|Json(e)| Event::Task(e)),
        (None, "reminder") => row.try_get::<_, Json<ReminderEvent>>("payload").ok().map(|Json(e)| Event::Reminder(e)),
        (None, _) => None,
    };
    // The trace it was written in goes with it (the rows of one event share it).
    let trace: Option<String> = row.try_get("traceparent").map_err(from_pg)?;
    let event = event.map(|e| e.with_trace(trace.as_deref().and_then(TraceParent::parse)));
    let user: String = row.try_get("user_id").map_err(from_pg)?;
    Ok(Row { id, user, message: Topic::from_name(&topic).zip(event) })
}

#[async_trait]
impl Outbox for PgStore {
    #[tracing::instrument(name = "postgres.outbox.drain", skip_all, fields(limit))]
    async fn drain(&self, bus: Arc<dyn EventBus>, limit: usize) -> Result<DrainReport, RepoError> {
        let mut report = DrainReport::default();
        if limit == 0 {
            return Ok(report);
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(from_pg)?;

        let lock = tx.prepare_cached(LOCK_LANES).await.map_err(from_pg)?;
        let locked: Vec<String> = tx
            .query(&lock, &[&limit.saturating_mul(HEADS_PER_LANE), &LANE_LOCKS, &limit])
            .await
            .map_err(from_pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if locked.is_empty() {
            return Ok(report);
        }
        let select = tx.prepare_cached(LANE_ROWS).await.map_err(from_pg)?;
        let rows = tx.query(&select, &[&locked, &limit]).await.map_err(from_pg)?;

        // Lanes in the order of their oldest row, each in id order.
        let mut lanes: Vec<Vec<Row>> = Vec::new();
        let mut lane_of: HashMap<String, usize> = HashMap::new();
        for row in &rows {
            let user: String = row.try_get("user_id").map_err(from_pg)?;
            let next = lanes.len();
            let lane = *lane_of.entry(user).or_insert(next);
            if lane == next {
                lanes.push(Vec::new());
            }
            let decoded = decode(row, lanes[lane].last())?;
            lanes[lane].push(decoded);
        }
        let mut rows: Vec<Row> = lanes.into_iter().flatten().collect();
        rows.sort_by_key(|r| r.id);

        // A row that cannot be read holds back its user's later rows, in every topic.
        let mut blocked: HashMap<&str, i64> = HashMap::new();
        for row in rows.iter().filter(|r| r.message.is_none()) {
            tracing::error!(outbox_id = row.id, "outbox row cannot be read; its user's lane is blocked");
            blocked.entry(row.user.as_str()).or_insert(row.id);
        }
        let mut by_topic: BTreeMap<Topic, Vec<&Row>> = BTreeMap::new();
        for row in &rows {
            if let Some((topic, _)) = &row.message
                && blocked.get(row.user.as_str()).is_none_or(|first| row.id < *first)
            {
                by_topic.entry(*topic).or_default().push(row);
            }
        }

        // Dropping the set (if this drain is cancelled) aborts the batches still publishing; the
        // transaction then rolls back and their rows stay.
        let mut publishing = JoinSet::new();
        let mut topic_of = HashMap::new();
        for (topic, batch) in &by_topic {
            let events: Vec<Event> = batch.iter().filter_map(|r| r.message.as_ref().map(|(_, e)| e.clone())).collect();
            topic_of.insert(publishing.spawn(publish_topic(bus.clone(), *topic, events)).id(), *topic);
        }
        let mut failed_by_topic: HashMap<Topic, Option<HashSet<Uuid>>> = HashMap::new();
        while let Some(outcome) = publishing.join_next_with_id().await {
            match outcome {
                Ok((id, failed)) => {
                    if let Some(topic) = topic_of.get(&id) {
                        failed_by_topic.insert(*topic, Some(failed));
                    }
                }
                Err(e) => {
                    // A panicking bus: what it took is unknown, so nothing of the batch is
                    // removed and all of it is tried again (at least once).
                    tracing::error!(error = %e, "publishing a batch panicked");
                    if let Some(topic) = topic_of.get(&e.id()) {
                        failed_by_topic.insert(*topic, None);
                    }
                }
            }
        }
        let mut accepted = Vec::new();
        for (topic, batch) in &by_topic {
            let failed = failed_by_topic.get(topic).and_then(Option::as_ref);
            let mut stalled: HashSet<&str> = HashSet::new();
            for row in batch {
                let event_failed = match (failed, &row.message) {
                    (Some(failed), Some((_, event))) => failed.contains(&event.id()),
                    _ => true,
                };
                if event_failed || stalled.contains(row.user.as_str()) {
                    stalled.insert(row.user.as_str());
                } else {
                    accepted.push(row.id);
                }
            }
        }
        report.published = accepted.len();
        report.failed = rows.len() - accepted.len();

        if !accepted.is_empty() {
            let delete = tx.prepare_cached("DELETE FROM outbox WHERE id = ANY($1)").await.map_err(from_pg)?;
            tx.execute(&delete, &[&accepted]).await.map_err(from_pg)?;
        }
        tx.commit().await.map_err(from_pg)?;
        Ok(report)
    }

    async fn wait(&self, how: OutboxWait) {
        match how {
            OutboxWait::ForWork(at_most) => self.wait_for_records(at_most).await,
            OutboxWait::Pause(duration) => tokio::time::sleep(duration).await,
        }
    }

    #[tracing::instrument(name = "postgres.outbox.pending", skip_all)]
    async fn pending(&self) -> Result<u64, RepoError> {
        let client = self.client().await?;
        let statement = client.prepare_cached("SELECT count(*) FROM outbox").await.map_err(from_pg)?;
        let count: i64 = client.query_one(&statement, &[]).await.map_err(from_pg)?.try_get(0).map_err(from_pg)?;
        Ok(u64::try_from(count).unwrap_or_default())
    }
}
