//! Relays wake when records are committed, in this process and in others, against PostgreSQL
//! from the local stack (skipped loudly without it). A second `PgStore` on the same database
//! stands in for another replica: it has its own pool and its own listening connection.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use std::sync::Arc;
use std::time::Duration;

use todo_adapter_postgres::PgStore;
use todo_adapter_postgres::testing::TempDatabase;
use todo_contract_tests::stack::stack;
use todo_contract_tests::store::{event, task, user};
use todo_ports::model::TaskEventType;
use todo_ports::{Outbox, OutboxWait, TaskRepository};

/// How long `waiter` waited for work while `writer` stored a task 100 ms into the wait.
async fn wake_latency(waiter: &Arc<PgStore>, writer: &Arc<PgStore>) -> Duration {
    // Use up the wake-ups left by earlier writes: wait until a wait runs its full time.
    loop {
        let started = tokio::time::Instant::now();
        waiter.wait(OutboxWait::ForWork(Duration::from_millis(50))).await;
        if started.elapsed() >= Duration::from_millis(50) {
            break;
        }
    }
    let outbox: Arc<dyn Outbox> = waiter.clone();
    let waiting = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        outbox.wait(OutboxWait::ForWork(Duration::from_secs(10))).await;
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let u = user("wake");
    let t = task(&u, "wake").with_id(writer.next_id().await.expect("next id"));
    writer.insert(&event(TaskEventType::Created, &t), None).await.expect("insert");
    let waited = waiting.await.expect("join");
    assert!(waited >= Duration::from_millis(100), "woke before the write, after {waited:?}");
    waited - Duration::from_millis(100)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_wakes_the_relays_of_this_and_other_processes() {
    let Some(stack) = stack("postgres wake-ups") else { return };
    let db = TempDatabase::create(stack.get("TODO_STACK_PG_URL")).await.expect("create a test database");
    let here = PgStore::connect(db.config()).await.expect("connect");
    let elsewhere = PgStore::connect(db.config()).await.expect("connect the second replica");

    let local = wake_latency(&here, &here).await;
    let remote = wake_latency(&elsewhere, &here).await;
    let back = wake_latency(&here, &elsewhere).await;
    eprintln!("wake-up after commit: same process {local:?}, other process {remote:?} and {back:?}");
    for latency in [local, remote, back] {
        assert!(latency < Duration::from_secs(3), "woke only after {latency:?} of a 10 s wait: no wake-up arrived");
    }
}
