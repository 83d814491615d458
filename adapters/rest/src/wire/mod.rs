//! The JSON the REST API reads and writes, as serde types of this adapter: request bodies turn
//! into the domain's inputs (a wrong type or an unknown field is reported with its path), and
//! responses are views of domain values with exactly the fields the API documents.

pub mod chat;
pub mod conversation;
pub mod feed;
pub mod task;
mod time;

pub use self::time::instant;
