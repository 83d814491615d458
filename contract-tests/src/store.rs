//! The harness of the store suites ([`crate::task_repository`], [`crate::ledgers`],
//! [`crate::outbox`], [`crate::plans`]): the five ports one store adapter implements, a recording [`EventBus`] to
//! drain the outbox through, sample data, and [`crate::store_contract_tests!`], which makes one
//! `#[tokio::test]` per case for an adapter.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_ports::model::{Event, Task, TaskEvent, TaskEventType, TaskPatch, Topic, UserId};
use todo_ports::{AuditLog, BusError, EventBus, Inserted, NotificationFeed, Outbox, PlannedJobs, TaskRepository};
use uuid::Uuid;

/// One fresh, empty store, seen through each port it implements.
#[derive(Clone)]
pub struct Store {
    /// The task repository.
    pub tasks: Arc<dyn TaskRepository>,
    /// Its outbox.
    pub outbox: Arc<dyn Outbox>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// The notification feeds.
    pub feed: Arc<dyn NotificationFeed>,
    /// The planned reminder jobs.
    pub plans: Arc<dyn PlannedJobs>,
    /// Whatever must live as long as the store (a throwaway database); dropped last.
    _keep: Arc<dyn Any + Send + Sync>,
}

impl Store {
    /// The ports of `store`, which implements all five.
    pub fn of<S>(store: Arc<S>) -> Self
    where
        S: TaskRepository + Outbox + AuditLog + NotificationFeed + PlannedJobs + 'static,
    {
        Self {
            tasks: store.clone(),
            outbox: store.clone(),
            audit: store.clone(),
            feed: store.clone(),
            plans: store,
            _keep: Arc::new(()),
        }
    }

    /// The same store, keeping `guard` alive until the last clone is dropped.
    pub fn keeping(mut self, guard: impl Any + Send + Sync) -> Self {
        self._keep = Arc::new(guard);
        self
    }

    /// Stores `task` under a fresh id with its `task.created` event and returns it as stored.
    ///
    /// # Panics
    /// When the store does not create it.
    pub async fn create(&self, task: Task) -> Task {
        let task = task.with_id(self.tasks.next_id().await.expect("next id"));
        match self.tasks.insert(&event(TaskEventType::Created, &task), None).await {
            Ok(Inserted::Created) => task,
            other => panic!("insert: expected Created, got {other:?}"),
        }
    }

    /// Drains the outbox through `bus` until it is empty (at most 100 rounds).
    ///
    /// # Panics
    /// When the store fails or a round publishes nothing while records wait.
    pub async fn drain_all(&self, bus: &Arc<RecordingBus>) {
        for _ in 0..100 {
            if self.outbox.pending().await.expect("pending") == 0 {
                return;
            }
            let report = self.outbox.drain(bus.clone(), 50).await.expect("drain");
            assert!(report.published > 0, "a drain published nothing: {report:?}");
        }
        panic!("the outbox did not empty in 100 drains");
    }
}

/// Now, truncated to microseconds (what every store keeps).
pub fn now() -> OffsetDateTime {
    todo_ports::model::truncate_to_micros(OffsetDateTime::now_utc())
}

/// A user id no other test uses.
pub fn user(case: &str) -> UserId {
    let short: String = case.chars().filter(|c| c.is_ascii_alphanumeric()).take(40).collect();
    let id = format!("u-{short}-{}", Uuid::new_v4().simple());
    UserId::parse(&id).unwrap_or_else(|e| panic!("bad test user id {id}: {e}"))
}

/// A new, valid task of `user` (not stored; id 0), created now.
pub fn task(user: &UserId, title: &str) -> Task {
    let patch = TaskPatch { title: Some(title.to_owned()), ..TaskPatch::default() };
    match Task::create(user.clone(), patch, now()) {
        Ok(task) => task,
        Err(e) => panic!("a test task titled {title:?}: {e}"),
    }
}

/// An event of `event_type` about `task`, now, with a fresh event id.
pub fn event(event_type: TaskEventType, task: &Task) -> TaskEvent {
    TaskEvent::new(event_type, task.clone(), now())
}

/// An event bus that records what it accepts, and can be told to fail.
#[derive(Default)]
pub struct RecordingBus {
    accepted: Mutex<Vec<(Topic, Event)>>,
    /// Every publish fails (`Unavailable`) while set.
    down: AtomicBool,
    /// Publishes of these event ids fail (`Unavailable`).
    refused: Mutex<Vec<Uuid>>,
    /// How long each publish takes, to widen races.
    latency: Mutex<Duration>,
    /// Publishes running right now, per (topic, event id): more than one is a double send.
    in_flight: Mutex<HashMap<(Topic, Uuid), usize>>,
    /// Times a record was being published twice at once.
    overlaps: AtomicUsize,
    /// Failed publish attempts.
    failures: AtomicUsize,
    /// Publishes wait while set ([`RecordingBus::hold`]).
    held: AtomicBool,
    /// Wakes held publishes.
    released: tokio::sync::Notify,
    /// Publishes begun so far.
    begun: AtomicUsize,
}

impl RecordingBus {
    /// A bus that accepts everything at once.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sets whether the bus is down (every publish fails).
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Makes publishes of `event_id` fail until [`RecordingBus::accept_all`].
    pub fn refuse(&self, event_id: Uuid) {
        lock(&self.refused).push(event_id);
    }

    /// Accepts every event again (refusals cleared, bus up).
    pub fn accept_all(&self) {
        lock(&self.refused).clear();
        self.set_down(false);
    }

    /// Makes each publish take `latency`.
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.latency) = latency;
    }

    /// Makes every publish wait, once begun, until [`RecordingBus::release`].
    pub fn hold(&self) {
        self.held.store(true, Ordering::SeqCst);
    }

    /// Lets held publishes (and later ones) go on.
    pub fn release(&self) {
        self.held.store(false, Ordering::SeqCst);
        self.released.notify_waiters();
    }

    /// Waits until some publish has begun (at most ten seconds).
    ///
    /// # Panics
    /// When none begins in time.
    pub async fn wait_for_a_publish(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.begun.load(Ordering::SeqCst) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no publish began within 10 s");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Everything accepted so far, in order of acceptance.
    pub fn accepted(&self) -> Vec<(Topic, Event)> {
        lock(&self.accepted).clone()
    }

    /// The accepted `(topic, event id)` pairs of `user`, in order.
    pub fn accepted_of(&self, user: &UserId) -> Vec<(Topic, Uuid)> {
        self.accepted().into_iter().filter(|(_, e)| e.user_id() == user).map(|(t, e)| (t, e.id())).collect()
    }

    /// Times one record was being published by two callers at once.
    pub fn overlaps(&self) -> usize {
        self.overlaps.load(Ordering::SeqCst)
    }

    /// Failed publish attempts so far.
    pub fn failures(&self) -> usize {
        self.failures.load(Ordering::SeqCst)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl EventBus for RecordingBus {
    async fn publish(&self, topic: Topic, event: &Event) -> Result<(), BusError> {
        let key = (topic, event.id());
        {
            let mut in_flight = lock(&self.in_flight);
            let n = in_flight.entry(key).or_default();
            *n += 1;
            if *n > 1 {
                self.overlaps.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.begun.fetch_add(1, Ordering::SeqCst);
        loop {
            // Registered before the check, so a release in between is not missed.
            let released = self.released.notified();
            if !self.held.load(Ordering::SeqCst) {
                break;
            }
            released.await;
        }
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let fails = self.down.load(Ordering::SeqCst) || lock(&self.refused).contains(&event.id());
        if let Some(n) = lock(&self.in_flight).get_mut(&key) {
            *n -= 1;
        }
        if fails {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(BusError::Unavailable("the recording bus is told to fail".into()));
        }
        lock(&self.accepted).push((topic, event.clone()));
        Ok(())
    }
}

/// Makes one `#[tokio::test]` per store case (task repository, ledgers, outbox, planned jobs)
/// for an adapter. `$factory` is an `async fn(&'static str) -> Option<Store>` given the case's
/// name, returning a fresh, empty store, or `None` (after saying why) to skip.
#[macro_export]
macro_rules! store_contract_tests {
    ($factory:path) => {
        $crate::store_contract_tests!(@cases $factory;
            task_repository::insert_stores_the_task_and_writes_its_event,
            task_repository::update_replaces_the_task_and_writes_the_event,
            task_repository::update_with_a_stale_revision_conflicts,
            task_repository::update_of_a_missing_task_is_not_found,
            task_repository::delete_removes_the_task_and_writes_task_deleted,
            task_repository::get_is_scoped_to_the_user,
            task_repository::list_is_scoped_to_the_user,
            task_repository::list_filters_by_completion,
            task_repository::list_filters_by_priority,
            task_repository::list_filters_by_exact_tag,
            task_repository::list_filters_by_due_window,
            task_repository::list_filters_by_text_ignoring_case,
            task_repository::list_folds_text_as_the_domain_says,
            task_repository::list_combines_filters,
            task_repository::list_sorts_by_creation_with_ties_by_id,
            task_repository::list_sorts_by_due_date_missing_last,
            task_repository::list_sorts_by_priority_missing_last,
            task_repository::list_pages_and_counts_the_total,
            task_repository::reminder_candidates_are_open_tasks_due_in_the_window,
            task_repository::overdue_recurring_skips_series_whose_next_occurrence_exists,
            task_repository::insert_with_a_seen_inbox_key_is_a_duplicate,
            task_repository::insert_of_an_existing_occurrence_is_a_duplicate_and_writes_nothing,
            task_repository::concurrent_inserts_of_one_occurrence_create_one_task,
            ledgers::a_reminder_is_recorded_once_per_task_and_due_date,
            ledgers::concurrent_reminders_are_recorded_once,
            ledgers::audit_appends_each_event_once,
            ledgers::concurrent_appends_keep_each_event_once,
            ledgers::audit_lists_a_users_events_newest_first,
            ledgers::audit_filters_by_task,
            ledgers::audit_filters_by_event_type,
            ledgers::audit_filters_by_time_since_inclusive_until_exclusive,
            ledgers::audit_combines_filters,
            ledgers::audit_pages_are_as_long_as_asked_within_bounds,
            ledgers::audit_page_walk_returns_every_entry_once_in_order,
            ledgers::audit_page_walk_while_appending_neither_skips_nor_repeats,
            ledgers::audit_empty_results_are_empty_last_pages,
            ledgers::audit_never_shows_another_users_entries,
            ledgers::a_notification_is_recorded_once_with_its_sent_event,
            ledgers::a_reminder_given_up_on_writes_reminder_failed_once,
            ledgers::notifications_list_newest_first_per_user,
            outbox::a_drain_with_nothing_waiting_reports_nothing,
            outbox::drain_publishes_oldest_first_up_to_the_limit,
            outbox::drain_keeps_each_users_order,
            outbox::each_record_goes_out_in_the_trace_it_was_written_in,
            outbox::a_failed_publish_holds_back_the_users_later_records,
            outbox::records_wait_out_a_bus_outage,
            outbox::concurrent_drains_never_publish_a_record_twice,
            outbox::a_busy_drain_holds_only_the_users_it_took,
            outbox::wait_for_work_returns_when_a_record_is_written,
            outbox::wait_for_work_waits_for_new_records,
            outbox::pause_waits_whatever_is_written,
            plans::nothing_is_planned_for_an_unknown_task,
            plans::a_planned_job_reads_back_and_is_replaced_or_cleared,
        );
    };
    (@cases $factory:path; $($module:ident :: $case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            if let Some(store) = $factory(stringify!($case)).await {
                $crate::$module::$case(store).await;
            }
        }
    )*};
}
