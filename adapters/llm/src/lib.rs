#![doc = include_str!("../README.md")]

mod client;
mod config;
mod sse;
#[cfg(feature = "testing")]
pub mod testing;
mod wire;

use async_trait::async_trait;
pub use client::OpenAiChat;
pub use config::{HINT, LlmConfig, LlmConfigError};
use todo_ports::{ChatModel, ChatRequest, Completion, ModelError};

/// The model of an app that has none configured: every request is
/// [`ModelError::Unconfigured`], saying what to set ([`HINT`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unconfigured;

#[async_trait]
impl ChatModel for Unconfigured {
    async fn complete(&self, _request: ChatRequest) -> Result<Completion, ModelError> {
        Err(ModelError::Unconfigured(HINT.to_owned()))
    }
}
