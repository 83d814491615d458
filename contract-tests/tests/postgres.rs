//! The store suites (task repository, ledgers, outbox) against PostgreSQL from the local
//! stack (`infra/local/stack up`). Each case gets a database of its own, created for it and
//! dropped after it, so cases run in parallel and leave nothing behind. Skipped, loudly,
//! without the stack (failing instead under `TODO_REQUIRE_STACK=1`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use todo_adapter_postgres::PgStore;
use todo_adapter_postgres::testing::TempDatabase;
use todo_contract_tests::stack::stack;
use todo_contract_tests::store::Store;

async fn postgres(case: &'static str) -> Option<Store> {
    let stack = stack(&format!("postgres store contract ({case})"))?;
    let db = TempDatabase::create(stack.get("TODO_STACK_PG_URL")).await.expect("create a test database");
    let store = PgStore::connect(db.config()).await.expect("connect and migrate");
    Some(Store::of(store).keeping(db))
}

todo_contract_tests::store_contract_tests!(postgres);
