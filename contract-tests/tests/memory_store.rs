//! The store suites (task repository, ledgers, outbox) against the in-memory store.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use todo_adapter_memory::InMemoryStore;
use todo_contract_tests::store::Store;

async fn memory(_case: &'static str) -> Option<Store> {
    Some(Store::of(InMemoryStore::new()))
}

todo_contract_tests::store_contract_tests!(memory);
