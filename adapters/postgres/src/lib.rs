#![doc = include_str!("../README.md")]

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
