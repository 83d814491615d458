//! PostgreSQL going away and coming back, on a throwaway server this test starts (its own
//! data directory and port; the shared stack is never touched): every call fails with
//! `RepoError::Unavailable`, nothing panics, and the store recovers by itself, outbox
//! listener included, once the server is back.
//!
//! Needs root (to run the server as `postgres` through `runuser`) and PostgreSQL's binaries
//! (`$TODO_STACK_PG_BIN`, else /usr/lib/postgresql/15/bin); skipped loudly without them, and
//! failing instead under `TODO_REQUIRE_STACK=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use std::sync::Arc;
use std::time::Duration;

use todo_adapter_postgres::testing::ThrowawayServer;
use todo_adapter_postgres::{PgConfig, PgStore};
use todo_contract_tests::store::{RecordingBus, event, task, user};
use todo_ports::model::TaskEventType;
use todo_ports::{AuditLog, AuditQuery, Inserted, Outbox, OutboxWait, RepoError, TaskQuery, TaskRepository};

fn unavailable<T: std::fmt::Debug>(what: &str, r: Result<T, RepoError>) {
    assert!(matches!(r, Err(RepoError::Unavailable(_))), "{what} while the server is down: {r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_is_unavailable_while_postgres_is_down_and_recovers_by_itself() {
    let Some(bin) = todo_contract_tests::stack::or_skip(
        "postgres outage",
        ThrowawayServer::binaries(todo_contract_tests::stack::pg_bin_dir()),
    ) else {
        return;
    };
    let server = tokio::task::block_in_place(|| ThrowawayServer::init(bin).started());
    let config = PgConfig {
        connect_timeout: Duration::from_secs(2),
        acquire_timeout: Duration::from_secs(2),
        ..PgConfig::new(server.url()).with_pool_size(4)
    };
    let store = PgStore::connect(config).await.expect("connect");
    let u = user("outage");
    let before = task(&u, "before").with_id(store.next_id().await.expect("next id"));
    assert_eq!(store.insert(&event(TaskEventType::Created, &before), None).await.expect("insert"), Inserted::Created);

    tokio::task::block_in_place(|| server.stop());
    // Ids come from a block reserved before the outage.
    let during = task(&u, "during").with_id(store.next_id().await.expect("a reserved id"));
    unavailable("insert", store.insert(&event(TaskEventType::Created, &during), None).await);
    unavailable("get", store.get(&u, before.id).await);
    unavailable("list", TaskRepository::list(store.as_ref(), &u, &TaskQuery::default()).await);
    let renamed = todo_ports::model::Task { title: "renamed".into(), revision: 1, ..before.clone() };
    unavailable("update", store.update(&event(TaskEventType::Updated, &renamed), 0).await);
    unavailable("delete", store.delete(&event(TaskEventType::Deleted, &before), 0).await);
    unavailable("drain", store.drain(RecordingBus::new(), 10).await);
    unavailable("pending", store.pending().await);
    unavailable("audit", AuditLog::list(store.as_ref(), &AuditQuery::new(u.clone())).await);
    // Opening a store while the server is down is unavailable too, not a panic.
    unavailable("connect", PgStore::connect(PgConfig::new(server.url())).await.map(|_| ()));

    tokio::task::block_in_place(|| server.start());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let after = loop {
        let t = task(&u, "after").with_id(store.next_id().await.expect("a reserved id"));
        match store.insert(&event(TaskEventType::Created, &t), None).await {
            Ok(Inserted::Created) => break t,
            Ok(other) => panic!("{other:?}"),
            Err(RepoError::Unavailable(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not recover: {e}"),
        }
    };
    assert_eq!(store.get(&u, before.id).await.expect("get"), Some(before));
    assert_eq!(TaskRepository::list(store.as_ref(), &u, &TaskQuery::default()).await.expect("list").total, 2);

    // The listener reconnects too: a write wakes a waiting relay again (its back-off tops out
    // at 5 s, so allow a few rounds).
    let woke = async {
        for _ in 0..20 {
            // Use up the wake-ups left by earlier writes, so only this round's write counts.
            loop {
                let started = tokio::time::Instant::now();
                store.wait(OutboxWait::ForWork(Duration::from_millis(50))).await;
                if started.elapsed() >= Duration::from_millis(50) {
                    break;
                }
            }
            let waiting = {
                let outbox: Arc<dyn Outbox> = store.clone();
                tokio::spawn(async move {
                    let started = tokio::time::Instant::now();
                    outbox.wait(OutboxWait::ForWork(Duration::from_secs(3))).await;
                    started.elapsed()
                })
            };
            tokio::time::sleep(Duration::from_millis(50)).await;
            let ping = task(&u, "ping").with_id(store.next_id().await.expect("next id"));
            store.insert(&event(TaskEventType::Created, &ping), None).await.expect("insert");
            if waiting.await.expect("join") < Duration::from_secs(2) {
                return true;
            }
        }
        false
    };
    assert!(woke.await, "the outbox listener never came back");
    assert!(after.id.0 > 0);
}
