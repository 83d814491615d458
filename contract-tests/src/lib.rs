//! Contract suites: the behaviour every adapter of a port must show, written once as library
//! code that takes the port, and run from `tests/` against each adapter.
//!
//! Suites that need the real local stack (`infra/local/stack up`) read its env file through
//! [`stack`]; without it they are skipped with a loud message, unless `TODO_REQUIRE_STACK=1`
//! (set by the test command), in which case they fail.

// Test support: a failed expectation is the test failing, so panicking on it is right here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod dapr_harness;
pub mod event_bus;
pub mod ledgers;
pub mod outbox;
pub mod plans;
pub mod scheduler;
pub mod stack;
pub mod state_store;
pub mod store;
pub mod support;
pub mod task_repository;
