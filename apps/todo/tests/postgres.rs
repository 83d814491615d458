//! The use cases on PostgreSQL, as replicas see them: concurrent sweeps, redelivered events,
//! and the database going away under the running app. Needs the local stack
//! (`infra/local/stack up`); skipped loudly without it, failing under `TODO_REQUIRE_STACK=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_adapter_memory::{InMemoryEventBus, InMemoryStateStore};
use todo_adapter_postgres::testing::{TempDatabase, ThrowawayServer};
use todo_adapter_postgres::{PgConfig, PgStore};
use todo_contract_tests::store::RecordingBus;
use todo_ports::model::{Event, Frequency, RecurrenceInput, Task, TaskId, TaskPatch, Topic, UserId};
use todo_ports::{
    EventHandler, Outbox, ReminderJob, Scheduler, SchedulerError, SweepService, SystemClock, TaskQuery, TaskService,
};
use todo_tasks::{Ports, Todo};

/// A scheduler that accepts every job and never fires: these tests are about the sweep.
struct NoJobs;

#[async_trait]
impl Scheduler for NoJobs {
    async fn schedule(&self, _: &ReminderJob) -> Result<(), SchedulerError> {
        Ok(())
    }
    async fn cancel(&self, _: TaskId) -> Result<(), SchedulerError> {
        Ok(())
    }
}

/// One replica of the backend: its own pool to the shared database.
async fn replica(config: PgConfig) -> (Todo, Arc<PgStore>) {
    let store = PgStore::connect(config).await.expect("connect");
    let todo = Todo::new(Ports::over_store(
        store.clone(),
        InMemoryEventBus::new(),
        InMemoryStateStore::new(),
        Arc::new(NoJobs),
        Arc::new(SystemClock),
    ));
    (todo, store)
}

async fn database(suite: &str) -> Option<TempDatabase> {
    let stack = todo_contract_tests::stack::stack(suite)?;
    Some(TempDatabase::create(stack.get("TODO_STACK_PG_ADMIN_URL")).await.expect("temp database"))
}

fn user(i: usize) -> UserId {
    UserId::parse(&format!("user{i}")).unwrap()
}

async fn drain(store: &Arc<PgStore>) -> Vec<(Topic, Event)> {
    let bus = RecordingBus::new();
    while store.drain(bus.clone(), 500).await.expect("drain").published > 0 {}
    bus.accepted()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_concurrent_sweeps_make_no_duplicate_instance_and_no_duplicate_reminder() {
    let Some(db) = database("three concurrent sweeps").await else { return };
    let replicas = [replica(db.config()).await, replica(db.config()).await, replica(db.config()).await];
    let (seeder, store) = &replicas[0];
    let now = OffsetDateTime::now_utc();
    for i in 0..20 {
        let overdue_daily = TaskPatch {
            title: Some(format!("water plants {i}")),
            due_date: Some(Some(now - time::Duration::hours(23))),
            recurrence: Some(Some(RecurrenceInput { frequency: Frequency::Daily, interval: None })),
            reminder_offset_minutes: Some(0),
            ..TaskPatch::default()
        };
        let due_soon = TaskPatch {
            title: Some(format!("call {i}")),
            due_date: Some(Some(now + time::Duration::minutes(30))),
            ..TaskPatch::default()
        };
        seeder.tasks.create(&user(i), overdue_daily).await.unwrap();
        seeder.tasks.create(&user(i), due_soon).await.unwrap();
    }
    drain(store).await;

    let mut instances = 0;
    let mut reminders = 0;
    for _round in 0..3 {
        let (a, b, c) =
            tokio::join!(replicas[0].0.sweep.sweep(), replicas[1].0.sweep.sweep(), replicas[2].0.sweep.sweep());
        for report in [a, b, c] {
            let report = report.expect("sweep");
            instances += report.instances;
            reminders += report.reminders;
        }
    }
    assert_eq!((instances, reminders), (20, 20), "each overdue series continued once, each reminder raised once");

    let published = drain(store).await;
    let count =
        |kind: &str| published.iter().filter(|(t, e)| *t != Topic::TaskUpdates && e.event_type() == kind).count();
    assert_eq!((count("task.created"), count("reminder.due")), (20, 20));
    let mut open = 0;
    for i in 0..20 {
        let query = TaskQuery { completed: Some(false), ..TaskQuery::default() };
        open += seeder.tasks.list(&user(i), query).await.unwrap().total;
    }
    assert_eq!(open, 60, "40 seeded + 20 next instances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_event_delivered_five_times_has_one_effect() {
    let Some(db) = database("five deliveries").await else { return };
    let (todo, store) = replica(db.config()).await;
    let u = user(1);
    let patch = TaskPatch {
        title: Some("report".into()),
        due_date: Some(Some(OffsetDateTime::now_utc() + time::Duration::minutes(30))),
        recurrence: Some(Some(RecurrenceInput { frequency: Frequency::Weekly, interval: None })),
        ..TaskPatch::default()
    };
    let task = todo.tasks.create(&u, patch).await.unwrap();
    todo.sweep.sweep().await.unwrap();
    todo.tasks.complete(&u, task.id).await.unwrap();
    let published = drain(&store).await;
    let first = |kind: &str| {
        published
            .iter()
            .find(|(t, e)| *t != Topic::TaskUpdates && e.event_type() == kind)
            .map(|(_, e)| e.clone())
            .unwrap()
    };
    let (completed, due) = (first("task.completed"), first("reminder.due"));

    let handlers: [(&Arc<dyn EventHandler>, &Event); 3] = [
        (&(todo.recurring.clone() as Arc<dyn EventHandler>), &completed),
        (&(todo.audit.clone() as Arc<dyn EventHandler>), &completed),
        (&(todo.notifier.clone() as Arc<dyn EventHandler>), &due),
    ];
    for (handler, event) in handlers {
        let deliveries: Vec<_> = (0..5)
            .map(|_| {
                let (handler, event) = (handler.clone(), event.clone());
                tokio::spawn(async move { handler.handle(&event).await })
            })
            .collect();
        for delivery in deliveries {
            delivery.await.unwrap().expect("handled");
        }
    }

    let open: Vec<Task> =
        todo.tasks.list(&u, TaskQuery { completed: Some(false), ..TaskQuery::default() }).await.unwrap().items;
    assert_eq!(open.len(), 1, "one next instance");
    assert_eq!(open[0].series.unwrap().occurrence, 1);
    let audited = todo_ports::ActivityService::audit(
        todo.activity.as_ref(),
        todo_ports::AuditQuery { limit: 50, ..todo_ports::AuditQuery::new(u.clone()) },
    )
    .await
    .unwrap()
    .items;
    assert_eq!(audited.iter().filter(|e| e.event_id == completed.id()).count(), 1, "audited once");
    let notified = todo_ports::ActivityService::notifications(todo.activity.as_ref(), &u, 50).await.unwrap();
    assert_eq!(notified.len(), 1, "notified once");
    let after = drain(&store).await;
    let sent = after.iter().filter(|(_, e)| e.event_type() == "reminder.sent").count();
    let created = after.iter().filter(|(t, e)| *t == Topic::TaskEvents && e.event_type() == "task.created").count();
    assert_eq!((sent, created), (1, 1), "one reminder.sent, one task.created for the next instance");
}

mod http {
    //! The app over HTTP while its database goes away and comes back.

    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper::{Method, Request, StatusCode};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use serde_json::Value;

    async fn call(addr: std::net::SocketAddr, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let req = Request::builder()
            .method(method)
            .uri(format!("http://{addr}{path}"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let response = client.request(req).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// Connections the app has to `db` (its pool and its listening connection).
    async fn app_connections(monitor: &tokio_postgres::Client) -> i64 {
        let row = monitor
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'todo'",
                &[],
            )
            .await
            .unwrap();
        row.get(0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn once_run_returns_the_app_holds_no_connection_to_its_database() {
        let Some(db) = database("app shutdown on postgres").await else { return };
        let url = db.url().to_owned();
        let config = todo_runtime::Config::from_lookup(|k| match k {
            "DATABASE_URL" => Some(url.clone()),
            "SWEEP_INTERVAL_SECS" => Some("0".into()),
            _ => None,
        })
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = todo_runtime::Background::spawn(todo_runtime::Runtime::new(config), listener).unwrap();
        // A due date makes the planner schedule a reminder job, whose timer holds the store
        // after `run` returns.
        let due = (OffsetDateTime::now_utc() + Duration::from_secs(7200))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let body = format!(r#"{{"title":"remind me","due_date":"{due}"}}"#);
        let mut created = (StatusCode::SERVICE_UNAVAILABLE, Value::Null);
        for _ in 0..100 {
            created = call(addr, Method::POST, "/api/u/tasks", &body).await;
            if created.0 == StatusCode::CREATED {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(created.0, StatusCode::CREATED, "{:?}", created.1);

        let (monitor, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        assert!(app_connections(&monitor).await > 0, "the running app is connected");
        app.stop().await.unwrap();
        let mut left = app_connections(&monitor).await;
        for _ in 0..50 {
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            left = app_connections(&monitor).await;
        }
        assert_eq!(left, 0, "connections left after run returned");
        // The listening connection reconnects within 100 ms when it is merely dropped.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(app_connections(&monitor).await, 0, "a connection came back after run returned");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_down_gives_503_json_and_the_app_recovers_by_itself() {
        let Some(bin) = todo_contract_tests::stack::or_skip(
            "postgres outage through HTTP",
            ThrowawayServer::binaries(todo_contract_tests::stack::pg_bin_dir()),
        ) else {
            return;
        };
        let server = tokio::task::block_in_place(|| ThrowawayServer::init(bin).started());
        let url = server.url();
        let mut config = todo_runtime::Config::from_lookup(|k| match k {
            "DATABASE_URL" => Some(url.clone()),
            "DATABASE_POOL_SIZE" => Some("4".into()),
            _ => None,
        })
        .unwrap();
        config.sweep_interval = None;
        if let Some(pg) = config.postgres.as_mut() {
            pg.connect_timeout = Duration::from_secs(1);
            pg.acquire_timeout = Duration::from_secs(1);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = todo_runtime::Background::spawn(todo_runtime::Runtime::new(config), listener).unwrap();
        let mut created = (StatusCode::SERVICE_UNAVAILABLE, Value::Null);
        for _ in 0..100 {
            created = call(addr, Method::POST, "/api/u/tasks", r#"{"title":"before"}"#).await;
            if created.0 == StatusCode::CREATED {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(created.0, StatusCode::CREATED, "{:?}", created.1);

        tokio::task::block_in_place(|| server.stop());
        for (method, path, body) in [
            (Method::POST, "/api/u/tasks", r#"{"title":"during"}"#),
            (Method::GET, "/api/u/tasks", ""),
            (Method::GET, "/api/u/tasks/1", ""),
            (Method::PATCH, "/api/u/tasks/1/complete", ""),
            (Method::GET, "/api/u/audit", ""),
        ] {
            let (status, body) = call(addr, method.clone(), path, body).await;
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {path}: {body}");
            assert_eq!(body["error"]["code"], "unavailable", "{body}");
        }

        tokio::task::block_in_place(|| server.start());
        let mut after = (StatusCode::SERVICE_UNAVAILABLE, Value::Null);
        for _ in 0..300 {
            after = call(addr, Method::POST, "/api/u/tasks", r#"{"title":"after"}"#).await;
            if after.0 == StatusCode::CREATED {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(after.0, StatusCode::CREATED, "recovered by itself: {:?}", after.1);
        let (_, list) = call(addr, Method::GET, "/api/u/tasks", "").await;
        assert_eq!(list["total"], 2, "the write refused during the outage left nothing behind: {list}");

        app.stop().await.unwrap();
    }
}
