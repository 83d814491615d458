//! Faults the outbox must survive, against PostgreSQL from the local stack (skipped loudly
//! without it, failing under `TODO_REQUIRE_STACK=1`); each test uses a throwaway database.
//!
//! * a process killed (SIGKILL) right after committing a task, before publishing: a fresh
//!   drain publishes the event;
//! * a process killed in the middle of a drain, holding its lanes: its transaction dies with
//!   it, the lanes are released, and a fresh drain publishes every record;
//! * the bus down for a while under a running relay: events pile up, then all go out, once
//!   each and in each user's order, and new ones go out within milliseconds.
//!
//! The child processes are this test binary run again on an `#[ignore]`d test
//! (`child_process`), told what to do through environment variables.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use todo_adapter_postgres::testing::TempDatabase;
use todo_adapter_postgres::{PgConfig, PgStore};
use todo_contract_tests::stack::stack;
use todo_contract_tests::store::{stamp, task, user, RecordingBus, Store};
use todo_ports::model::{Event, TaskEventType, Topic, UserId};
use todo_ports::{BatchPublishError, BusError, EventBus, Inserted, Outbox, OutboxWait, TaskRepository};
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
    let st = stamp(TaskEventType::Created);
    let r = tasks.insert(task(user, title), st, None).await.expect("insert");
    assert!(matches!(r, Inserted::Created(_)), "{r:?}");
    st.event_id
}

/// The records of task events, in outbox order.
fn records_of(events: &[Uuid]) -> Vec<(Topic, Uuid)> {
    events.iter().flat_map(|&id| [(Topic::TaskEvents, id), (Topic::TaskUpdates, id)]).collect()
}

/// A bus that accepts the first publish and then never answers: the drain hangs mid-way.
struct HangingBus {
    published: AtomicBool,
}

#[async_trait]
impl EventBus for HangingBus {
    async fn publish(&self, _topic: Topic, _event: &Event) -> Result<(), BusError> {
        if self.published.swap(true, Ordering::SeqCst) {
            println!("CHILD HANGING");
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    async fn publish_batch(&self, _topic: Topic, _events: &[Event]) -> Result<(), BatchPublishError> {
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
    assert_eq!(bus.accepted_of(&u), records_of(&committed));
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
    assert_eq!(bus.accepted_of(&u), records_of(&committed));
    assert_eq!(store.pending().await.expect("pending"), 0);
}

/// A relay loop as the app runs one: drain while there is work, wait for work when idle (up to
/// 5 s, so that a quick publish can only come from the notification), back off after failures.
async fn relay(outbox: Arc<dyn Outbox>, bus: Arc<RecordingBus>, stop: Arc<AtomicBool>) {
    let mut backoff = Duration::from_millis(50);
    while !stop.load(Ordering::SeqCst) {
        match outbox.drain(bus.clone(), 64).await {
            Ok(r) if r.published > 0 => backoff = Duration::from_millis(50),
            Ok(r) if r.failed == 0 => outbox.wait(OutboxWait::ForWork(Duration::from_secs(5))).await,
            _ => {
                outbox.wait(OutboxWait::Pause(backoff)).await;
                backoff = (backoff * 2).min(Duration::from_millis(800));
            }
        }
    }
}

/// With the bus down for a while under a running relay, events pile up; once it is back they
/// all go out, once each and in each user's order, and a new event goes out at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_pile_up_while_the_bus_is_down_and_all_go_out_after() {
    let Some(db) = database("bus outage").await else { return };
    let store = connect(&db).await;
    let bus = RecordingBus::new();
    bus.set_down(true);
    let stop = Arc::new(AtomicBool::new(false));
    let relaying = tokio::spawn(relay(store.clone(), bus.clone(), stop.clone()));

    let users = [user("outage-a"), user("outage-b"), user("outage-c")];
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

    bus.set_down(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while store.pending().await.expect("pending") > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the outbox did not drain after the bus came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(bus.accepted().len(), 180);
    for (u, ids) in &written {
        assert_eq!(bus.accepted_of(u), records_of(ids), "{u}'s order");
    }

    // Idle again: a new event is published on the outbox notification, not a polling period.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let started = tokio::time::Instant::now();
    let late = write(store.as_ref(), &users[0], "after recovery").await;
    while !bus.accepted_of(&users[0]).contains(&(Topic::TaskUpdates, late)) {
        assert!(started.elapsed() < Duration::from_secs(5), "the new event was not published");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let latency = started.elapsed();
    eprintln!("commit-to-publish latency after recovery: {latency:?}");
    assert!(latency < Duration::from_secs(1), "published after {latency:?}: the relay was not woken");

    stop.store(true, Ordering::SeqCst);
    relaying.abort();
}
