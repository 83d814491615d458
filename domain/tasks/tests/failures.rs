//! Injected failures and interactions, with mockall mocks of the ports.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use todo_adapter_memory::{InMemoryStateStore, InMemoryStore};
use todo_ports::model::{Event, TaskEvent, TaskEventType, TaskId, TaskPatch, Topic, UserId};
use todo_ports::{
    BatchPublishError, BusError, EventBus, EventHandler, HandlerError, MockEventBus, MockScheduler, MockTaskRepository,
    Outbox, RepoError, SchedulerError, ServiceError, SystemClock, TaskService,
};
use todo_tasks::{OutboxRelay, Ports, RelayStep, Todo};

fn user() -> UserId {
    UserId::parse("u1").unwrap()
}

fn titled(title: &str) -> TaskPatch {
    TaskPatch { title: Some(title.into()), ..TaskPatch::default() }
}

fn todo_with(
    tasks: Arc<dyn todo_ports::TaskRepository>,
    bus: Arc<dyn EventBus>,
    scheduler: MockScheduler,
) -> (Todo, Arc<InMemoryStore>) {
    let store = InMemoryStore::new();
    let todo = Todo::new(Ports {
        tasks,
        outbox: store.clone(),
        audit: store.clone(),
        feed: store.clone(),
        plans: store.clone(),
        bus,
        state: InMemoryStateStore::new(),
        scheduler: Arc::new(scheduler),
        clock: Arc::new(SystemClock),
    });
    (todo, store)
}

/// A scheduler that must not be called at all.
/// A scheduler that accepts every call and writes it to `calls` as `schedule <id> at <time>`
/// or `cancel <id>`.
fn logging_scheduler(calls: &Arc<Mutex<Vec<String>>>) -> MockScheduler {
    let mut scheduler = MockScheduler::new();
    let log = calls.clone();
    scheduler.expect_schedule().returning(move |job| {
        log.lock().unwrap().push(format!("schedule {} at {}", job.task_id, job.fire_at));
        Ok(())
    });
    let log = calls.clone();
    scheduler.expect_cancel().returning(move |id| {
        log.lock().unwrap().push(format!("cancel {id}"));
        Ok(())
    });
    scheduler
}

fn untouched_scheduler() -> MockScheduler {
    let mut scheduler = MockScheduler::new();
    scheduler.expect_schedule().times(0);
    scheduler.expect_cancel().times(0);
    scheduler
}

#[tokio::test]
async fn a_bus_that_is_down_never_fails_a_request_and_loses_nothing() {
    let store = InMemoryStore::new();
    let down = Arc::new(AtomicBool::new(true));
    let published = Arc::new(Mutex::new(Vec::<(Topic, Event)>::new()));
    let mut bus = MockEventBus::new();
    let (flag, sink) = (down.clone(), published.clone());
    bus.expect_publish_batch().returning(move |topic, events| {
        if flag.load(Ordering::Relaxed) {
            let failed = events.iter().map(Event::id).collect();
            Err(BatchPublishError { failed, source: BusError::Unavailable("broker down".into()) })
        } else {
            sink.lock().unwrap().extend(events.iter().map(|e| (topic, e.clone())));
            Ok(())
        }
    });
    let bus: Arc<dyn EventBus> = Arc::new(bus);
    let todo = Todo::new(Ports::over_store(
        store.clone(),
        bus.clone(),
        InMemoryStateStore::new(),
        Arc::new(untouched_scheduler()),
        Arc::new(SystemClock),
    ));

    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(todo.tasks.create(&user(), titled(&format!("t{i}"))).await.unwrap().id);
    }
    let relay = OutboxRelay::new(store.clone(), bus);
    assert_eq!(relay.step().await.unwrap(), RelayStep::Failed);
    assert_eq!(store.pending().await.unwrap(), 10, "five events on two topics wait in the outbox");

    down.store(false, Ordering::Relaxed);
    while let RelayStep::Published(_) = relay.step().await.unwrap() {}
    assert_eq!(store.pending().await.unwrap(), 0);
    let on_task_events: Vec<_> = published
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| *t == Topic::TaskEvents)
        .map(|(_, e)| match e {
            Event::Task(e) => e.data.id,
            Event::Reminder(_) => unreachable!(),
        })
        .collect();
    assert_eq!(on_task_events, ids, "published once each, in order");
}

#[tokio::test]
async fn a_store_that_is_down_gives_unavailable() {
    let mut repo = MockTaskRepository::new();
    repo.expect_next_id().returning(|| Err(RepoError::Unavailable("connection refused".into())));
    repo.expect_get().returning(|_, _| Err(RepoError::Unavailable("connection refused".into())));
    let (todo, _) = todo_with(Arc::new(repo), Arc::new(MockEventBus::new()), untouched_scheduler());
    assert!(matches!(todo.tasks.create(&user(), titled("t")).await, Err(ServiceError::Unavailable(_))));
    assert!(matches!(todo.tasks.get(&user(), TaskId(1)).await, Err(ServiceError::Unavailable(_))));
}

#[tokio::test]
async fn a_lost_race_is_retried_on_a_fresh_read_at_a_fresh_time_and_completes_once() {
    let task = todo_ports::model::Task::create(user(), titled("t"), time::OffsetDateTime::now_utc())
        .unwrap()
        .with_id(TaskId(7));
    let mut repo = MockTaskRepository::new();
    let stored = task.clone();
    repo.expect_get().times(2).returning(move |_, _| Ok(Some(stored.clone())));
    let mut seq = mockall::Sequence::new();
    let first_try = Arc::new(Mutex::new(None));
    let seen = first_try.clone();
    repo.expect_update().times(1).in_sequence(&mut seq).returning(move |event, _| {
        *seen.lock().unwrap() = Some(event.timestamp);
        Err(RepoError::Conflict)
    });
    let seen = first_try.clone();
    repo.expect_update()
        .times(1)
        .in_sequence(&mut seq)
        .withf(move |event: &TaskEvent, revision| {
            let first = seen.lock().unwrap().unwrap();
            event.data.completed
                && *revision == 0
                && event.data.revision == 1
                && event.event_type == TaskEventType::Completed
                && event.timestamp == event.data.updated_at
                && event.timestamp >= first
        })
        .returning(|_, _| Ok(()));
    let (todo, _) = todo_with(Arc::new(repo), Arc::new(MockEventBus::new()), untouched_scheduler());
    let done = todo.tasks.complete(&user(), task.id).await.unwrap();
    assert!(done.completed);
}

#[tokio::test]
async fn a_request_never_waits_on_the_scheduler() {
    let store = InMemoryStore::new();
    let (todo, _) = todo_with(store.clone(), Arc::new(MockEventBus::new()), untouched_scheduler());
    let due = time::OffsetDateTime::now_utc() + time::Duration::hours(3);
    let task = todo.tasks.create(&user(), TaskPatch { due_date: Some(Some(due)), ..titled("t") }).await.unwrap();
    todo.tasks
        .update(
            &user(),
            task.id,
            TaskPatch { due_date: Some(Some(due + time::Duration::hours(1))), ..TaskPatch::default() },
        )
        .await
        .unwrap();
    todo.tasks.complete(&user(), task.id).await.unwrap();
    todo.tasks.delete(&user(), task.id).await.unwrap();
}

/// The events the task commands wrote, oldest first, drained from the outbox of `store`.
async fn events_of(store: &Arc<InMemoryStore>) -> Vec<TaskEvent> {
    let mut bus = MockEventBus::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    bus.expect_publish_batch().returning(move |topic, events| {
        if topic == Topic::TaskEvents {
            sink.lock().unwrap().extend(events.iter().filter_map(|e| match e {
                Event::Task(e) => Some(e.clone()),
                Event::Reminder(_) => None,
            }));
        }
        Ok(())
    });
    store.drain(Arc::new(bus), 1000).await.unwrap();
    seen.lock().unwrap().clone()
}

#[tokio::test]
async fn reminder_jobs_are_planned_from_events_and_the_scheduler_is_called_only_for_a_change() {
    let store = InMemoryStore::new();
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let scheduler = logging_scheduler(&calls);
    let (todo, _) = todo_with(store.clone(), Arc::new(MockEventBus::new()), scheduler);
    let u = user();
    let due = time::macros::datetime!(2030-06-01 12:00 UTC);
    let plain = todo.tasks.create(&u, titled("no due date")).await.unwrap();
    let dated = todo.tasks.create(&u, TaskPatch { due_date: Some(Some(due)), ..titled("dated") }).await.unwrap();
    todo.tasks.update(&u, dated.id, titled("renamed")).await.unwrap();
    todo.tasks.update(&u, plain.id, titled("renamed too")).await.unwrap();
    todo.tasks
        .update(&u, dated.id, TaskPatch { due_date: Some(Some(due + time::Duration::days(1))), ..TaskPatch::default() })
        .await
        .unwrap();
    todo.tasks.complete(&u, dated.id).await.unwrap();
    todo.tasks.delete(&u, plain.id).await.unwrap();
    todo.tasks.delete(&u, dated.id).await.unwrap();

    let events = events_of(&store).await;
    assert_eq!(events.len(), 8);
    for event in &events {
        // Each event twice, as a redelivery would.
        for _ in 0..2 {
            todo.planner.handle(&Event::Task(event.clone())).await.unwrap();
        }
    }
    // The planner reads the task as it is now: by the time the events are handled, `dated` is
    // deleted, so its first events find nothing to schedule either.
    assert!(calls.lock().unwrap().is_empty(), "calls for tasks that are gone: {:?}", calls.lock().unwrap());

    // Handled as they come, the same history asks for exactly the changes.
    let store = InMemoryStore::new();
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let scheduler = logging_scheduler(&calls);
    let (todo, _) = todo_with(store.clone(), Arc::new(MockEventBus::new()), scheduler);
    let handle = async |todo: &Todo| {
        for event in events_of(&store).await {
            todo.planner.handle(&Event::Task(event.clone())).await.unwrap();
            todo.planner.handle(&Event::Task(event)).await.unwrap();
        }
    };
    let plain = todo.tasks.create(&u, titled("no due date")).await.unwrap();
    let dated = todo.tasks.create(&u, TaskPatch { due_date: Some(Some(due)), ..titled("dated") }).await.unwrap();
    handle(&todo).await;
    todo.tasks.update(&u, dated.id, titled("renamed")).await.unwrap();
    todo.tasks.update(&u, plain.id, titled("renamed too")).await.unwrap();
    handle(&todo).await;
    todo.tasks
        .update(&u, dated.id, TaskPatch { due_date: Some(Some(due + time::Duration::days(1))), ..TaskPatch::default() })
        .await
        .unwrap();
    handle(&todo).await;
    todo.tasks.complete(&u, dated.id).await.unwrap();
    handle(&todo).await;
    todo.tasks.delete(&u, plain.id).await.unwrap();
    todo.tasks.delete(&u, dated.id).await.unwrap();
    handle(&todo).await;
    let id = dated.id;
    assert_eq!(
        *calls.lock().unwrap(),
        [
            format!("schedule {id} at 2030-06-01 11:00:00.0 +00:00:00"),
            format!("schedule {id} at 2030-06-02 11:00:00.0 +00:00:00"),
            format!("cancel {id}"),
        ]
    );
}

#[tokio::test]
async fn a_scheduler_that_is_down_gets_the_event_again() {
    let store = InMemoryStore::new();
    let mut scheduler = MockScheduler::new();
    let mut seq = mockall::Sequence::new();
    scheduler
        .expect_schedule()
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_| Err(SchedulerError::Unavailable("no scheduler".into())));
    scheduler.expect_schedule().times(1).in_sequence(&mut seq).returning(|_| Ok(()));
    let (todo, _) = todo_with(store.clone(), Arc::new(MockEventBus::new()), scheduler);
    let due = time::OffsetDateTime::now_utc() + time::Duration::hours(3);
    todo.tasks.create(&user(), TaskPatch { due_date: Some(Some(due)), ..titled("t") }).await.unwrap();
    let created = Event::Task(events_of(&store).await.remove(0));
    assert!(matches!(todo.planner.handle(&created).await, Err(HandlerError::Transient(_))));
    todo.planner.handle(&created).await.unwrap();
    todo.planner.handle(&created).await.unwrap();
}

/// The relay over the in-memory outbox, on Tokio's paused clock: while the bus is down its
/// drains are spaced by the delays of `Policy::RELAY` (100 ms doubling to 5 s); once the bus is
/// back everything goes out at the next drain.
#[tokio::test(start_paused = true)]
async fn while_the_bus_is_down_the_relay_backs_off_on_the_clock() {
    let store = InMemoryStore::new();
    let attempts = Arc::new(Mutex::new(Vec::<tokio::time::Instant>::new()));
    let down = Arc::new(AtomicBool::new(true));
    let mut bus = MockEventBus::new();
    let (seen, flag) = (attempts.clone(), down.clone());
    bus.expect_publish_batch().returning(move |_, events| {
        if flag.load(Ordering::SeqCst) {
            seen.lock().unwrap().push(tokio::time::Instant::now());
            Err(BatchPublishError {
                failed: events.iter().map(Event::id).collect(),
                source: BusError::Unavailable("down".into()),
            })
        } else {
            Ok(())
        }
    });
    let todo = Todo::new(Ports::over_store(
        store.clone(),
        Arc::new(MockEventBus::new()),
        InMemoryStateStore::new(),
        Arc::new(untouched_scheduler()),
        Arc::new(SystemClock),
    ));
    todo.tasks.create(&user(), titled("waits")).await.unwrap();
    let relay = OutboxRelay::new(store.clone(), Arc::new(bus));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move { relay.run(async move { drop(stopped.await) }).await });
    let started = tokio::time::Instant::now();
    tokio::time::sleep(std::time::Duration::from_millis(12_500)).await;
    // Each failed drain tries the two topics' batches: take the first of each pair.
    let spacing: Vec<u128> = attempts.lock().unwrap().iter().step_by(2).map(|t| (*t - started).as_millis()).collect();
    assert_eq!(spacing, [0, 100, 300, 700, 1500, 3100, 6300, 11300], "drain times (ms) while the bus is down");
    down.store(false, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert_eq!(store.pending().await.unwrap(), 0, "published at the next drain after the bus came back");
    let _ = stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(1), running).await.expect("the relay stops").unwrap();
}
