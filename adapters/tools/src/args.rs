//! A call's arguments read as the REST API reads the same input: a task body through the REST
//! adapter's wire type, a listing's filters through its query-string parser, a task id as its
//! path segment. So a tool refuses what REST refuses, with the same field and message.

use serde_json::{Map, Value};
use todo_adapter_rest::path::canonical_task_id;
use todo_adapter_rest::query::task_query;
use todo_adapter_rest::wire::task::TaskBody;
use todo_ports::model::{TaskId, TaskPatch};
use todo_ports::{TaskQuery, ToolError};

use crate::errors::{from_api, invalid};
use crate::specs::Tool;

/// The argument naming a task.
const TASK_ID: &str = "task_id";

/// The arguments of one call: a JSON object holding only arguments its tool takes.
pub(crate) struct Args(Map<String, Value>);

impl Args {
    /// Reads `arguments` (an object, or `null` for none) for `tool`.
    ///
    /// # Errors
    /// [`ToolError::Invalid`] for anything but an object, and for an argument `tool` does not
    /// take (named as the REST API names an unknown field).
    pub(crate) fn of(tool: Tool, arguments: Value) -> Result<Self, ToolError> {
        let map = match arguments {
            Value::Null => Map::new(),
            Value::Object(map) => map,
            _ => return Err(ToolError::Invalid { field: None, message: "the arguments must be a JSON object".into() }),
        };
        if let Some(unknown) = map.keys().find(|key| !tool.arguments().any(|name| name == key.as_str())) {
            return Err(unknown_argument(tool, unknown));
        }
        Ok(Self(map))
    }

    /// `task_id`: a positive integer (or, as in a REST path, its canonical decimal text).
    pub(crate) fn task_id(&self) -> Result<TaskId, ToolError> {
        let id = match self.0.get(TASK_ID) {
            None | Some(Value::Null) => return Err(invalid(TASK_ID, "is required")),
            Some(Value::Number(n)) => n.as_i64().filter(|n| *n > 0).map(TaskId),
            Some(Value::String(s)) => canonical_task_id(s),
            Some(_) => None,
        };
        id.ok_or_else(|| invalid(TASK_ID, "must be a task id, a positive integer such as 7"))
    }

    /// The task fields (every argument but `task_id`), read as the REST API reads a task body.
    pub(crate) fn patch(&self) -> Result<TaskPatch, ToolError> {
        let body: Map<String, Value> =
            self.0.iter().filter(|(k, _)| *k != TASK_ID).map(|(k, v)| (k.clone(), v.clone())).collect();
        let bytes = serde_json::to_vec(&Value::Object(body)).map_err(|e| ToolError::Internal(e.into()))?;
        todo_http_server::parse::<TaskBody>(&bytes).map(TaskPatch::from).map_err(from_api)
    }

    /// The listing's filters, sort and page, read as the REST API reads its query string (an
    /// argument set to `null` counts as absent). For a search, `q` must say what to find.
    pub(crate) fn query(&self, search: bool) -> Result<TaskQuery, ToolError> {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.0 {
            let text = match value {
                Value::Null => continue,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                Value::Array(_) | Value::Object(_) => return Err(invalid(name, "must be a single value")),
            };
            query.append_pair(name, &text);
        }
        let query = task_query(Some(&query.finish())).map_err(from_api)?;
        if search && query.text.is_none() {
            return Err(invalid("q", "is required: the text to find"));
        }
        Ok(query)
    }
}

/// An argument `tool` does not take, refused as serde refuses an unknown field of a REST body.
fn unknown_argument(tool: Tool, name: &str) -> ToolError {
    let shown: String = name.chars().take(64).collect();
    let expected: Vec<String> = tool.arguments().map(|a| format!("`{a}`")).collect();
    let hint = match name {
        "user_id" => "; a tool acts for the signed-in user and takes no user id",
        "id" if tool.arguments().any(|a| a == TASK_ID) => "; the task's id is `task_id`",
        _ => "",
    };
    let message = if expected.is_empty() {
        format!("unknown field `{shown}`, there are no fields{hint}")
    } else {
        format!("unknown field `{shown}`, expected one of {}{hint}", expected.join(", "))
    };
    ToolError::Invalid { field: Some(shown), message }
}
