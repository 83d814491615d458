//! The route tables, one per part of the API, each over the driving port it serves: an app
//! merges those of the roles it runs.

pub mod activity;
pub mod chat;
pub mod conversations;
pub mod tasks;
