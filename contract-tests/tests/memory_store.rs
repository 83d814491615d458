//! The store suites (task repository, ledgers, outbox) against the in-memory store.

use todo_adapter_memory::InMemoryStore;
use todo_contract_tests::store::Store;

async fn memory(_case: &'static str) -> Option<Store> {
    Some(Store::of(InMemoryStore::new()).known_failure(
        "wait_for_work_waits_for_new_records",
        "InMemoryStore::wait(ForWork) returns at once whenever the outbox is not empty, instead of \
         waiting for a new record (adapters/memory/src/store.rs, `if lock(&self.inner).outbox.is_empty()`)",
    ))
}

todo_contract_tests::store_contract_tests!(memory);
