//! The whole system on in-memory adapters, with consumers subscribed and the relay running,
//! plus helpers to wait for asynchronous effects.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use todo_adapter_memory::{InMemoryEventBus, InMemoryScheduler, InMemoryStateStore, InMemoryStore};
use todo_ports::model::{Event, Topic, UserId};
use todo_ports::{Clock, SystemClock};
use todo_tasks::{Ports, Todo};

pub struct System {
    pub todo: Todo,
    pub store: Arc<InMemoryStore>,
    pub bus: Arc<InMemoryEventBus>,
    pub scheduler: Arc<InMemoryScheduler>,
    stop: Arc<AtomicBool>,
}

impl System {
    pub fn start() -> Self {
        Self::with_clock(Arc::new(SystemClock))
    }

    pub fn with_clock(clock: Arc<dyn Clock>) -> Self {
        let store = InMemoryStore::new();
        let bus = InMemoryEventBus::recording();
        let scheduler = InMemoryScheduler::new();
        let todo = Todo::new(Ports::over_store(
            store.clone(),
            bus.clone(),
            InMemoryStateStore::new(),
            scheduler.clone(),
            clock,
        ));
        scheduler.set_handler(todo.reminder_jobs.clone());
        for subscription in todo.subscriptions() {
            bus.subscribe(subscription);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let relay = todo.relay.clone();
        let flag = stop.clone();
        tokio::spawn(async move { relay.run(move || flag.load(Ordering::Relaxed)).await });
        Self { todo, store, bus, scheduler, stop }
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
        self.stop.store(true, Ordering::Relaxed);
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

/// Lets queued deliveries run (for asserting that something did *not* happen).
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}
