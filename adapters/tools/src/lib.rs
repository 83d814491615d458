#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - [`TaskTools`]: the [`ToolBox`] over a [`TaskService`].
//! - `specs`: each tool's description and the JSON Schema of its arguments.
//! - `args`: arguments read with the REST adapter's own parsing.
//! - `errors`: use-case and parsing errors as [`ToolError`]s.

mod args;
mod errors;
mod specs;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use todo_adapter_rest::wire::task::{TaskPageView, TaskView};
use todo_ports::model::{Task, UserId};
use todo_ports::{TaskService, ToolBox, ToolError, ToolSpec};

use crate::args::Args;
use crate::errors::from_service;
use crate::specs::Tool;

/// `add_task`: creates a task.
pub const ADD_TASK: &str = "add_task";
/// `list_tasks`: the user's tasks, filtered, sorted and paged.
pub const LIST_TASKS: &str = "list_tasks";
/// `search_tasks`: the user's tasks containing a text.
pub const SEARCH_TASKS: &str = "search_tasks";
/// `get_task`: one task.
pub const GET_TASK: &str = "get_task";
/// `update_task`: a partial update.
pub const UPDATE_TASK: &str = "update_task";
/// `complete_task`: marks a task done.
pub const COMPLETE_TASK: &str = "complete_task";
/// `delete_task`: deletes a task.
pub const DELETE_TASK: &str = "delete_task";

/// The task tools over the task use cases: each call is the REST API's request of the same
/// meaning, made for the user the caller verified.
#[derive(Clone)]
pub struct TaskTools {
    tasks: Arc<dyn TaskService>,
}

impl TaskTools {
    /// The tools over `tasks`.
    pub fn new(tasks: Arc<dyn TaskService>) -> Self {
        Self { tasks }
    }
}

impl std::fmt::Debug for TaskTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskTools").finish_non_exhaustive()
    }
}

#[async_trait]
impl ToolBox for TaskTools {
    fn specs(&self) -> Vec<ToolSpec> {
        Tool::ALL.into_iter().map(|tool| tool.spec().clone()).collect()
    }

    async fn call(&self, user: &UserId, name: &str, arguments: Value) -> Result<Value, ToolError> {
        let tool = Tool::named(name).ok_or_else(|| ToolError::Unknown(name.to_owned()))?;
        let args = Args::of(tool, arguments)?;
        let tasks = self.tasks.as_ref();
        match tool {
            Tool::AddTask => task(tasks.create(user, args.patch()?).await),
            Tool::ListTasks | Tool::SearchTasks => {
                let query = args.query(tool == Tool::SearchTasks)?;
                let page = tasks.list(user, query.clone()).await.map_err(from_service)?;
                view(&TaskPageView::of(&page, &query))
            }
            Tool::GetTask => task(tasks.get(user, args.task_id()?).await),
            Tool::UpdateTask => {
                let (id, patch) = (args.task_id()?, args.patch()?);
                task(tasks.update(user, id, patch).await)
            }
            Tool::CompleteTask => task(tasks.complete(user, args.task_id()?).await),
            Tool::DeleteTask => {
                let id = args.task_id()?;
                tasks.delete(user, id).await.map_err(from_service)?;
                Ok(json!({ "task_id": id.0, "deleted": true }))
            }
        }
    }
}

/// A task as the REST API shows it.
fn task(result: Result<Task, todo_ports::ServiceError>) -> Result<Value, ToolError> {
    view(&TaskView::from(&result.map_err(from_service)?))
}

fn view(value: &impl serde::Serialize) -> Result<Value, ToolError> {
    serde_json::to_value(value).map_err(|e| ToolError::Internal(e.into()))
}
