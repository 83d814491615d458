//! The PostgreSQL adapter: tasks, their transactional outbox and the consumers' ledgers in
//! one database, over tokio-postgres and a deadpool connection pool.
//!
//! ```no_run
//! # async fn wire() -> Result<(), todo_ports::RepoError> {
//! use std::sync::Arc;
//! use todo_adapter_postgres::{PgConfig, PgStore};
//! use todo_ports::{AuditLog, NotificationFeed, Outbox, TaskRepository};
//!
//! let store = PgStore::connect(PgConfig::new("postgres://todo:todo@127.0.0.1:55432/todo")).await?;
//! let tasks: Arc<dyn TaskRepository> = store.clone();
//! let outbox: Arc<dyn Outbox> = store.clone();
//! let audit: Arc<dyn AuditLog> = store.clone();
//! let feed: Arc<dyn NotificationFeed> = store;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`PgConfig`] (`config`): the typed configuration; the adapter reads no environment.
//! - [`PgStore`] (`store`): the pool, migrations at start-up, and the connection that
//!   carries outbox wake-ups between processes (`LISTEN`/`NOTIFY`), which ends
//!   [`Outbox::wait`](todo_ports::Outbox::wait) early.
//! - `tasks`, `outbox`, `ledgers`, `plans`: one port implementation each; `rows` maps tasks to
//!   rows.
//! - `error`: the only place vendor errors become [`RepoError`](todo_ports::RepoError)s.
//! - [`migrate`]: the versioned SQL files of `migrations/` and how they are applied.
//! - `testing` (feature `testing`): throwaway databases and servers for tests, and the
//!   statements benchmarks hand to pgbench; not part of the production API.
//!
//! # Guarantees
//! Every task write commits together with one outbox row per topic of its event; reminder and
//! `reminder.sent` events likewise with their ledger rows. Duplicates (an inbox key seen
//! before, an existing series occurrence, a reminder or notification recorded before) are
//! outcomes, not errors, and write nothing. While PostgreSQL is down every call returns
//! `RepoError::Unavailable`; the pool reconnects by itself once it is back.

mod config;
mod error;
mod ledgers;
pub mod migrate;
mod outbox;
mod plans;
mod rows;
mod store;
mod tasks;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;

pub use config::{PgConfig, PgConfigError};
pub use store::PgStore;
pub use tls::SslMode;
