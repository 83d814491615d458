//! Injected failures and interactions, with mockall mocks of the ports.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use todo_adapter_memory::{InMemoryStateStore, InMemoryStore};
use todo_ports::model::{Event, TaskEventType, TaskPatch, Topic, UserId};
use todo_ports::{
    BusError, EventBus, MockEventBus, MockScheduler, MockTaskRepository, Outbox, RepoError, SchedulerError,
    ServiceError, SystemClock, TaskService,
};
use todo_tasks::{OutboxRelay, Ports, RelayStep, Todo};

fn user() -> UserId {
    UserId::parse("u1").unwrap()
}

fn titled(title: &str) -> TaskPatch {
    TaskPatch { title: Some(title.into()), ..TaskPatch::default() }
}

fn todo_with(tasks: Arc<dyn todo_ports::TaskRepository>, bus: Arc<dyn EventBus>, scheduler: MockScheduler) -> (Todo, Arc<InMemoryStore>) {
    let store = InMemoryStore::new();
    let todo = Todo::new(Ports {
        tasks,
        outbox: store.clone(),
        audit: store.clone(),
        feed: store.clone(),
        bus,
        state: InMemoryStateStore::new(),
        scheduler: Arc::new(scheduler),
        clock: Arc::new(SystemClock),
    });
    (todo, store)
}

fn quiet_scheduler() -> MockScheduler {
    let mut scheduler = MockScheduler::new();
    scheduler.expect_schedule().returning(|_| Ok(()));
    scheduler.expect_cancel().returning(|_| Ok(()));
    scheduler
}

#[tokio::test]
async fn a_bus_that_is_down_never_fails_a_request_and_loses_nothing() {
    let store = InMemoryStore::new();
    let down = Arc::new(AtomicBool::new(true));
    let published = Arc::new(std::sync::Mutex::new(Vec::<(Topic, Event)>::new()));
    let mut bus = MockEventBus::new();
    let (flag, sink) = (down.clone(), published.clone());
    bus.expect_publish().returning(move |topic, event| {
        if flag.load(Ordering::Relaxed) {
            Err(BusError::Unavailable("broker down".into()))
        } else {
            sink.lock().unwrap().push((topic, event.clone()));
            Ok(())
        }
    });
    let bus: Arc<dyn EventBus> = Arc::new(bus);
    let todo = Todo::new(Ports::over_store(
        store.clone(),
        bus.clone(),
        InMemoryStateStore::new(),
        Arc::new(quiet_scheduler()),
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
    repo.expect_insert().returning(|_, _, _| Err(RepoError::Unavailable("connection refused".into())));
    repo.expect_get().returning(|_, _| Err(RepoError::Unavailable("connection refused".into())));
    let (todo, _) = todo_with(Arc::new(repo), Arc::new(MockEventBus::new()), quiet_scheduler());
    assert!(matches!(todo.tasks.create(&user(), titled("t")).await, Err(ServiceError::Unavailable(_))));
    assert!(matches!(todo.tasks.get(&user(), todo_ports::model::TaskId(1)).await, Err(ServiceError::Unavailable(_))));
}

#[tokio::test]
async fn a_lost_race_is_retried_on_a_fresh_read_and_completes_once() {
    let mut task = todo_ports::model::Task::create(user(), titled("t"), time::OffsetDateTime::now_utc()).unwrap();
    task.id = todo_ports::model::TaskId(7);
    let mut repo = MockTaskRepository::new();
    let stored = task.clone();
    repo.expect_get().times(2).returning(move |_, _| Ok(Some(stored.clone())));
    let mut seq = mockall::Sequence::new();
    repo.expect_update().times(1).in_sequence(&mut seq).returning(|_, _, _| Err(RepoError::Conflict));
    repo.expect_update()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|task, revision, stamp| {
            task.completed && *revision == 0 && stamp.is_some_and(|s| s.event_type == TaskEventType::Completed)
        })
        .returning(|task, _, _| Ok(task));
    let (todo, _) = todo_with(Arc::new(repo), Arc::new(MockEventBus::new()), quiet_scheduler());
    let done = todo.tasks.complete(&user(), task.id).await.unwrap();
    assert!(done.completed);
}

#[tokio::test]
async fn a_scheduler_that_is_down_does_not_fail_the_request() {
    let mut scheduler = MockScheduler::new();
    scheduler.expect_schedule().times(1).returning(|_| Err(SchedulerError::Unavailable("no scheduler".into())));
    let store = InMemoryStore::new();
    let (todo, _) = todo_with(store.clone(), Arc::new(MockEventBus::new()), scheduler);
    let due = time::OffsetDateTime::now_utc() + time::Duration::hours(3);
    let patch = TaskPatch { due_date: Some(Some(due)), ..titled("t") };
    assert!(todo.tasks.create(&user(), patch).await.is_ok());
}
