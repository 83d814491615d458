//! In-memory adapters of every driven port: the embedded default of the all-in-one app and
//! the fakes of use-case tests. Each passes the same contract suite as its real counterpart.
//!
//! They keep the real adapters' semantics that callers rely on: atomic task-plus-outbox
//! writes, optimistic concurrency, TTLs, asynchronous at-least-once delivery with
//! redelivery and dead letters, and one-shot jobs that fire on time.

mod bus;
mod clock;
mod scheduler;
mod state;
mod store;

pub use bus::InMemoryEventBus;
pub use clock::ManualClock;
pub use scheduler::InMemoryScheduler;
pub use state::InMemoryStateStore;
pub use store::InMemoryStore;

/// Locks a mutex, carrying on with the data if a panicking thread poisoned it (every critical
/// section here leaves the data consistent before anything can panic).
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
