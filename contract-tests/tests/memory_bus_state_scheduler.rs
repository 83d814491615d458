//! The bus, state and scheduler suites against the in-memory adapters.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use todo_adapter_memory::{InMemoryEventBus, InMemoryScheduler, InMemoryStateStore};
use todo_contract_tests::event_bus::BusHarness;
use todo_contract_tests::scheduler::SchedulerHarness;
use todo_contract_tests::state_store::StateHarness;
use todo_ports::model::{Event, Topic};
use todo_ports::{EventBus, JobHandler, Scheduler, StateStore, Subscription};

struct MemoryBus(Arc<InMemoryEventBus>);

#[async_trait]
impl BusHarness for MemoryBus {
    fn bus(&self) -> Arc<dyn EventBus> {
        self.0.clone()
    }
    fn subscribe(&mut self, subscription: Subscription) {
        self.0.subscribe(subscription);
    }
    async fn start(&mut self) {}
    async fn dead_letters(&self, topic: Topic) -> Vec<Event> {
        self.0.dead_letters().into_iter().filter(|(t, _)| *t == topic).map(|(_, e)| e).collect()
    }
    fn patience(&self) -> Duration {
        Duration::from_secs(3)
    }
    fn quiet_period(&self) -> Duration {
        Duration::from_millis(300)
    }
}

async fn memory_bus(_case: &'static str) -> Option<MemoryBus> {
    Some(MemoryBus(InMemoryEventBus::new()))
}

struct MemoryState(Arc<InMemoryStateStore>);

impl StateHarness for MemoryState {
    fn store(&self) -> Arc<dyn StateStore> {
        self.0.clone()
    }
}

async fn memory_state(_case: &'static str) -> Option<MemoryState> {
    Some(MemoryState(InMemoryStateStore::new()))
}

struct MemoryScheduler(Arc<InMemoryScheduler>);

#[async_trait]
impl SchedulerHarness for MemoryScheduler {
    fn scheduler(&self) -> Arc<dyn Scheduler> {
        self.0.clone()
    }
    async fn start(&mut self, handler: Arc<dyn JobHandler>) {
        self.0.set_handler(handler);
    }
    fn lateness(&self) -> Duration {
        Duration::from_millis(500)
    }
}

async fn memory_scheduler(_case: &'static str) -> Option<MemoryScheduler> {
    Some(MemoryScheduler(InMemoryScheduler::new()))
}

mod bus {
    todo_contract_tests::event_bus_contract_tests!(super::memory_bus);
}

mod state {
    todo_contract_tests::state_store_contract_tests!(super::memory_state);
}

mod scheduler {
    todo_contract_tests::scheduler_contract_tests!(super::memory_scheduler);
}
