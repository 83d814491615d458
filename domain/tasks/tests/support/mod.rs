//! The whole system on in-memory adapters, with every role's consumers subscribed and the relay
//! running, plus helpers to wait for asynchronous effects. Tests run on Tokio's paused clock, so
//! waiting for something (or for nothing to happen) takes no wall time.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use todo_adapter_memory::{InMemoryEventBus, InMemoryScheduler, InMemoryStateStore, InMemoryStore};
use todo_ports::model::{Event, Topic, UserId};
use todo_ports::{Clock, Scheduler, SystemClock};
use todo_tasks::{Ports, Role, Todo};
use tokio::sync::Notify;

pub struct System {
    pub todo: Todo,
    pub store: Arc<InMemoryStore>,
    pub bus: Arc<InMemoryEventBus>,
    pub scheduler: Arc<InMemoryScheduler>,
    stop: Arc<Notify>,
}

impl System {
    pub fn start() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::with(clock, None)
    }

    /// The system with `scheduler` instead of the in-memory one (which is then idle).
    pub fn with(clock: Arc<dyn Clock>, scheduler: Option<Arc<dyn Scheduler>>) -> Self {
        let store = InMemoryStore::new();
        let bus = InMemoryEventBus::recording();
        let memory_scheduler = InMemoryScheduler::new();
        let todo = Todo::new(Ports::over_store(
            store.clone(),
            bus.clone(),
            InMemoryStateStore::new(),
            scheduler.unwrap_or_else(|| memory_scheduler.clone()),
            clock,
        ));
        memory_scheduler.set_handler(todo.reminder_jobs.clone());
        for subscription in todo.subscriptions(&Role::ALL) {
            bus.subscribe(subscription);
        }
        for subscription in todo.dead_letter_subscriptions(&Role::ALL) {
            bus.subscribe_dead_letters(subscription);
        }
        let stop = Arc::new(Notify::new());
        let (relay, stopped) = (todo.relay.clone(), stop.clone());
        tokio::spawn(async move { relay.run(async move { stopped.notified().await }).await });
        Self { todo, store, bus, scheduler: memory_scheduler, stop }
    }

    /// Events published so far on `topic` whose type is `event_type`.
    pub fn published(&self, topic: Topic, event_type: &str) -> Vec<Event> {
        self.bus
            .published()
            .into_iter()
            .filter(|(t, e)| *t == topic && e.event_type() == event_type)
            .map(|(_, e)| e)
            .collect()
    }
}

impl Drop for System {
    fn drop(&mut self) {
        self.stop.notify_one();
    }
}

pub fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

/// Waits until `condition` holds (checking every 10 ms of Tokio time, for at most 10 s).
pub async fn eventually(what: &str, condition: impl AsyncFn() -> bool) {
    for _ in 0..1000 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Lets queued deliveries, redeliveries and relay waits run out (for asserting that something
/// did *not* happen): ten seconds of the paused clock, no wall time.
pub async fn settle() {
    tokio::time::sleep(Duration::from_secs(10)).await;
}
