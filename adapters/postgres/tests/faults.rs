//! Faults the outbox must survive, against PostgreSQL from the local stack (skipped loudly
//! without it, failing under `TODO_REQUIRE_STACK=1`); each test uses a throwaway database.
//!
//! * a process killed (SIGKILL) right after committing a task, before publishing: a fresh
//!   drain publishes the event;
//! * a process killed in the middle of a drain, holding its lanes: its transaction dies with
//!   it, the lanes are released, and a fresh drain publishes every record;
//! * the bus down for a while under the production relay (`OutboxRelay::run`): events pile up
//!   while it backs off, then all go out, once each and in each user's order, and new ones go
//!   out within milliseconds.
//!
//! The child processes are this test binary run again on an `#[ignore]`d test
//! (`child_process`), told what to do through environment variables.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use todo_adapter_postgres::testing::TempDatabase;
use todo_adapter_postgres::{PgConfig, PgStore};
use todo_contract_tests::stack::stack;
use todo_contract_tests::store::{RecordingBus, Store, event, task, user};
use todo_ports::model::{Event, TaskEventType, Topic, UserId};
use todo_ports::{BatchPublishError, BusError, EventBus, Inserted, Outbox, TaskRepository};
use todo_tasks::OutboxRelay;
use uuid::Uuid;

const CHILD_URL: &str = "TODO_PG_FAULT_CHILD_URL";
const CHILD_ROLE: &str = "TODO_PG_FAULT_CHILD_ROLE";
const CHILD_USER: &str = "TODO_PG_FAULT_CHILD_USER";

async fn database(test: &str) -> Option<TempDatabase> {
    let stack = stack(&format!("postgres faults ({test})"))?;
    Some(TempDatabase::create(stack.get("TODO_STACK_PG_URL")).await.expect("create a test database"))
}

async fn connect(db: &TempDatabase) -> Arc<PgStore> {
    PgStore::connect(db.config()).await.expect("connect")
}

/// Stores a task of `user`; returns its event id.
async fn write(tasks: &dyn TaskRepository, user: &UserId, title: &str) -> Uuid {
    let created = event(TaskEventType::Created, &task(user, title).with_id(tasks.next_id().await.expect("next id")));
    assert_eq!(tasks.insert(&created, None).await.expect("insert"), Inserted::Created);
    created.event_id
}

/// The records of task events, per topic in outbox order (a drain batches each topic apart).
fn records_of(events: &[Uuid]) -> Vec<(Topic, Uuid)> {
    let mut records: Vec<(Topic, Uuid)> =
        events.iter().flat_map(|&id| [(Topic::TaskEvents, id), (Topic::TaskUpdates, id)]).collect();
    records.sort_by_key(|(topic, _)| *topic);
    records
}

/// What `bus` accepted of `user`, per topic in order.
fn accepted_of(bus: &RecordingBus, user: &UserId) -> Vec<(Topic, Uuid)> {
    let mut records = bus.accepted_of(user);
    records.sort_by_key(|(topic, _)| *topic);
    records
}

/// A bus that takes a batch and then never answers: the drain hangs mid-way, its lanes held.
struct HangingBus {
    published: AtomicBool,
}

#[async_trait]
impl EventBus for HangingBus {
    async fn publish(&self, _topic: Topic, _event: &Event) -> Result<(), BusError> {
        std::future::pending().await
    }

    async fn publish_batch(&self, _topic: Topic, _events: &[Event]) -> Result<(), BatchPublishError> {
        if !self.published.swap(true, Ordering::SeqCst) {
            println!("CHILD HANGING");
        }
        std::future::pending().await
    }
}

/// What a child process does, by `$TODO_PG_FAULT_CHILD_ROLE`: `commit` stores one task, says
/// `CHILD COMMITTED <event id>` and waits to be killed; `drain` stores three tasks, says
/// `CHILD COMMITTED ...` for each, then drains through a bus that hangs on the second record.
#[tokio::test]
#[ignore = "a child process of the crash tests, not a test of its own"]
async fn child_process() {
    let url = std::env::var(CHILD_URL).expect("run by the crash tests only");
    let role = std::env::var(CHILD_ROLE).expect("role");
    let user = todo_ports::model::UserId::parse(&std::env::var(CHILD_USER).expect("user")).expect("user id");
    let store = PgStore::connect(PgConfig::new(url).with_pool_size(2)).await.expect("connect");
    let count = if role == "drain" { 3 } else { 1 };
    for i in 0..count {
        let id = write(store.as_ref(), &user, &format!("child {i}")).await;
        println!("CHILD COMMITTED {id}");
    }
    if role == "drain" {
        let bus = Arc::new(HangingBus { published: AtomicBool::new(false) });
        let _ = store.drain(bus, 100).await;
    }
    println!("CHILD WAITING");
    std::future::pending::<()>().await;
}

/// Runs `child_process` as `role`, waits for `until` on its output, kills it with SIGKILL;
/// returns the event ids it committed.
fn run_child_and_kill(db: &TempDatabase, role: &str, user: &UserId, until: &str) -> Vec<Uuid> {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["child_process", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env(CHILD_URL, db.url())
        .env(CHILD_ROLE, role)
        .env(CHILD_USER, user.as_str())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("stdout");
    let mut committed = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("child output");
        // libtest may print its "test child_process ... " on the same line.
        if let Some((_, id)) = line.split_once("CHILD COMMITTED ") {
            committed.push(id.trim().parse().expect("event id"));
        }
        if line.contains(until) {
            break;
        }
    }
    // std's kill is SIGKILL on Unix: no destructor, no rollback hook, no flush runs.
    child.kill().expect("kill the child");
    let status = child.wait().expect("reap the child");
    assert!(!status.success(), "the child ended by itself: {status}");
    committed
}

/// A task committed by a process killed before it published anything is published by the
/// next drain, from any process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_before_a_crash_is_published_after_it() {
    let Some(db) = database("crash after commit").await else { return };
    let u = user("crash-commit");
    let committed = tokio::task::block_in_place(|| run_child_and_kill(&db, "commit", &u, "CHILD WAITING"));
    assert_eq!(committed.len(), 1, "the child did not commit");

    let store = connect(&db).await;
    assert_eq!(store.pending().await.expect("pending"), 2, "the committed event is not in the outbox");
    let bus = RecordingBus::new();
    Store::of(store.clone()).drain_all(&bus).await;
    assert_eq!(accepted_of(&bus, &u), records_of(&committed));
}

/// A process killed while draining (its bus hung after taking one record) loses nothing: its
/// lane locks die with its connection and a fresh drain publishes every record, in order
/// (the one the dead drain got through goes out again: at least once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_killed_midway_loses_nothing() {
    let Some(db) = database("crash mid-drain").await else { return };
    let u = user("crash-drain");
    let committed = tokio::task::block_in_place(|| run_child_and_kill(&db, "drain", &u, "CHILD HANGING"));
    assert_eq!(committed.len(), 3);

    let store = connect(&db).await;
    assert_eq!(store.pending().await.expect("pending"), 6, "the dead drain removed records");
    let bus = RecordingBus::new();
    // The server notices the dead connection at once (the socket closed); allow it a moment.
    let mut published = 0;
    for _ in 0..50 {
        published += store.drain(bus.clone(), 100).await.expect("drain").published;
        if published == 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(accepted_of(&bus, &u), records_of(&committed));
    assert_eq!(store.pending().await.expect("pending"), 0);
}

/// With the bus down for a while under the app's relay, events pile up; once it is back they
/// all go out, once each and in each user's order, and a new event goes out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pile_up_while_the_bus_is_down_and_all_go_out_after() {
    let Some(db) = database("bus outage").await else { return };
    let store = connect(&db).await;
    let bus = RecordingBus::new();
    bus.set_down(true);
    let relay = OutboxRelay::new(store.clone(), bus.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relaying = tokio::spawn(async move {
        relay
            .run(async move {
                let _ = stopped.await;
            })
            .await;
    });

    let users = [user("outage-a"), user("outage-b"), user("outage-c")];
    let down_since = tokio::time::Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for u in users.clone() {
        let tasks: Arc<dyn TaskRepository> = store.clone();
        writers.spawn(async move {
            let mut ids = Vec::new();
            for i in 0..30 {
                ids.push(write(tasks.as_ref(), &u, &format!("while down {i}")).await);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (u, ids)
        });
    }
    let mut written = Vec::new();
    while let Some(done) = writers.join_next().await {
        written.push(done.expect("writer"));
    }
    assert_eq!(store.pending().await.expect("pending"), 180, "records were lost or published while down");
    assert!(bus.accepted().is_empty());
    assert!(bus.failures() > 0, "the relay never tried");

    let down_for = down_since.elapsed() + Duration::from_secs(1);
    bus.set_down(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.pending().await.expect("pending") > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the outbox did not drain after the bus came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bus.accepted().len(), 180);
    for (u, ids) in &written {
        let of_topic = |topic: Topic| {
            bus.accepted_of(u).into_iter().filter(|(t, _)| *t == topic).map(|(_, id)| id).collect::<Vec<_>>()
        };
        assert_eq!(of_topic(Topic::TaskEvents), *ids, "{u}'s order on task-events");
        assert_eq!(of_topic(Topic::TaskUpdates), *ids, "{u}'s order on task-updates");
    }
    // Each failed drain fails at most one publish per user and topic; the relay's back-off
    // (Policy::RELAY) allows only so many drains in the time the bus was down.
    let mut waited = Duration::ZERO;
    let allowed = 1 + todo_retry::Policy::RELAY
        .delays()
        .take_while(|d| {
            waited += *d;
            waited <= down_for
        })
        .count();
    let drains = bus.failures().div_ceil(users.len() * 2);
    assert!(
        drains <= allowed,
        "{drains} failed drains in {down_for:?}: the relay did not back off (at most {allowed})"
    );

    // Healthy again: the relay's back-off was reset, so a new event goes out at once, not after
    // the seconds-long pauses of the outage (that the wake-up itself beats the idle wait is
    // proven in wakeups.rs).
    tokio::time::sleep(Duration::from_millis(700)).await;
    let started = tokio::time::Instant::now();
    let late = write(store.as_ref(), &users[0], "after recovery").await;
    while !bus.accepted_of(&users[0]).contains(&(Topic::TaskUpdates, late)) {
        assert!(started.elapsed() < Duration::from_secs(5), "the new event was not published");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let latency = started.elapsed();
    eprintln!("commit-to-publish latency after recovery: {latency:?}");
    assert!(
        latency < Duration::from_secs(1),
        "published after {latency:?}: the relay still backs off after the outage"
    );

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), relaying).await.expect("the relay stops on shutdown").expect("join");
}
