//! The chat assistant of the backend role: the [`Chat`] use case over the app's conversations,
//! asking the model the `LLM_*` settings name (or none: every turn is then refused with what
//! to set), running the task tools as the signed-in user.

use std::sync::Arc;

use todo_adapter_llm::{OpenAiChat, Unconfigured};
use todo_ports::{ChatModel, ChatService, Clock, ToolBox};
use todo_tasks::{Chat, Todo};

use crate::{Config, Error};

/// The chat assistant over `todo`'s conversations, running `tools`.
pub(crate) fn chat(
    config: &Config,
    todo: &Todo,
    tools: Arc<dyn ToolBox>,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn ChatService>, Error> {
    let model: Arc<dyn ChatModel> = match &config.llm {
        Some(llm) => Arc::new(OpenAiChat::new(llm)?),
        None => Arc::new(Unconfigured),
    };
    Ok(Arc::new(Chat::new(todo.conversations.clone(), model, tools, clock)))
}

/// The tools the assistant offers its model, over the use cases of `todo`: the task tools of
/// `todo-adapter-tools`, the same catalogue as `/mcp`, once that crate is part of the
/// workspace (`Arc::new(todo_adapter_tools::TaskTools::new(todo.tasks.clone()))`). Until then
/// the assistant has no tool, and says so when asked to act on tasks.
pub(crate) fn task_tools(todo: &Todo) -> Arc<dyn ToolBox> {
    Arc::new(todo_adapter_tools::TaskTools::new(todo.tasks.clone()))
}
