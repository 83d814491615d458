//! Contract suites: the behaviour every adapter of a port must show, written once as library
//! code that takes the port, and run from `tests/` against each adapter.
//!
//! Suites that need the real local stack (`infra/local/stack up`) read its env file through
//! [`stack`]; without it they are skipped with a loud message, unless `TODO_REQUIRE_STACK=1`
//! (set by the test command), in which case they fail.

pub mod stack;
pub mod dapr_harness;
pub mod event_bus;
pub mod scheduler;
pub mod state_store;
pub mod support;
pub mod store;
pub mod task_repository;
pub mod ledgers;
pub mod outbox;
