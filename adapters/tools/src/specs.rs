//! The catalogue: each tool's name, what it is for (as a model reads it) and the JSON Schema of
//! its arguments. The schemas are also the list of the arguments a call may carry (see `args`).

use std::sync::LazyLock;

use serde_json::{Map, Value, json};
use todo_ports::model::{
    DEFAULT_REMINDER_OFFSET_MINUTES, MAX_DESCRIPTION_CHARS, MAX_REMINDER_OFFSET_MINUTES, MAX_TAG_CHARS, MAX_TAGS,
    MAX_TITLE_CHARS,
};
use todo_ports::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, ToolSpec};

/// The longest recurrence interval the domain accepts (`recurrence.interval`).
const MAX_INTERVAL: u32 = 365;

/// One tool of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tool {
    AddTask,
    ListTasks,
    SearchTasks,
    GetTask,
    UpdateTask,
    CompleteTask,
    DeleteTask,
}

impl Tool {
    /// Every tool, in the order they are offered (their declaration order, which indexes the specs).
    pub(crate) const ALL: [Tool; 7] = [
        Tool::AddTask,
        Tool::ListTasks,
        Tool::SearchTasks,
        Tool::GetTask,
        Tool::UpdateTask,
        Tool::CompleteTask,
        Tool::DeleteTask,
    ];

    /// The tool called `name`.
    pub(crate) fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|tool| tool.name() == name)
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Tool::AddTask => crate::ADD_TASK,
            Tool::ListTasks => crate::LIST_TASKS,
            Tool::SearchTasks => crate::SEARCH_TASKS,
            Tool::GetTask => crate::GET_TASK,
            Tool::UpdateTask => crate::UPDATE_TASK,
            Tool::CompleteTask => crate::COMPLETE_TASK,
            Tool::DeleteTask => crate::DELETE_TASK,
        }
    }

    /// Its spec, built once.
    pub(crate) fn spec(self) -> &'static ToolSpec {
        static SPECS: LazyLock<Vec<ToolSpec>> = LazyLock::new(|| Tool::ALL.into_iter().map(Tool::build).collect());
        &SPECS[self as usize]
    }

    /// The names of the arguments it takes.
    pub(crate) fn arguments(self) -> impl Iterator<Item = &'static str> {
        self.spec().input_schema["properties"].as_object().into_iter().flat_map(|p| p.keys().map(String::as_str))
    }

    fn build(self) -> ToolSpec {
        let (description, properties, required): (&str, Map<String, Value>, &[&str]) = match self {
            Tool::AddTask => (
                "Creates a task for the signed-in user and returns it as stored, with the `id` the other \
                 tools take as `task_id`. Use it when the user asks to add, create, plan or remember something \
                 to do. Only `title` is required. Write `due_date` as an RFC 3339 date-time with an offset \
                 (work out relative dates such as \"tomorrow at 9\" in the user's time zone first). A \
                 recurring task needs a `due_date`; completing it creates the next one.",
                task_fields(false),
                &["title"],
            ),
            Tool::ListTasks => (
                "Lists the signed-in user's tasks, filtered, sorted and a page at a time; returns \
                 {\"items\": [tasks], \"total\", \"limit\", \"offset\"}. Use it to say what the user has to do, \
                 what is due before a date, what is done or open, or to find a task's `id` before updating, \
                 completing or deleting it. With no arguments: every task, oldest first, 50 a page; when \
                 `total` is more than `offset` plus the items returned, ask for the next page with `offset`.",
                listing(false),
                &[],
            ),
            Tool::SearchTasks => (
                "Finds the signed-in user's tasks whose title or description contains the text `q`, whatever \
                 its case (`istanbul` finds \"İstanbul\", `été` finds \"ÉTÉ\"); returns a page as list_tasks does, and takes its \
                 filters, sort and page too. Use it when the user names a task by its words rather than by \
                 its id.",
                listing(true),
                &["q"],
            ),
            Tool::GetTask => (
                "Returns one of the signed-in user's tasks by its `task_id`. Use it to read a task's details \
                 (description, due date, recurrence, reminder) before answering about it or changing it.",
                task_id_only(),
                &["task_id"],
            ),
            Tool::UpdateTask => (
                "Changes some fields of one of the signed-in user's tasks and returns the task as stored. Only \
                 the fields given change; `null` clears `description`, `priority_id`, `due_date` or \
                 `recurrence`; `tags` replaces the whole list. `completed: true` completes the task (as \
                 complete_task does), `completed: false` reopens it. Use it to rename, reschedule, \
                 reprioritise, retag or describe a task.",
                {
                    let mut fields = task_id_only();
                    fields.extend(task_fields(true));
                    fields
                },
                &["task_id"],
            ),
            Tool::CompleteTask => (
                "Marks one of the signed-in user's tasks done and returns it. Completing a recurring task \
                 creates its next instance, a new task with its own id due on the next date (list_tasks finds \
                 it). Completing a task that is already done changes nothing.",
                task_id_only(),
                &["task_id"],
            ),
            Tool::DeleteTask => (
                "Deletes one of the signed-in user's tasks for good and returns {\"task_id\", \"deleted\": true}. \
                 Only when the user asks to remove a task: a task that was done is completed (complete_task), \
                 not deleted. Ask the user first when it is not clear which task is meant.",
                task_id_only(),
                &["task_id"],
            ),
        };
        ToolSpec {
            name: self.name().to_owned(),
            description: description.to_owned(),
            input_schema: json!({
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            }),
        }
    }
}

/// `{"task_id": ...}`.
fn task_id_only() -> Map<String, Value> {
    object(json!({
        "task_id": {
            "type": "integer",
            "minimum": 1,
            "description": "The task's `id`, as add_task, list_tasks or search_tasks returned it. Ids are the \
                            user's own: an id that is not one of the user's tasks is not found."
        }
    }))
}

/// The fields of a task a client writes; `update` for a partial update, where `null` clears.
fn task_fields(update: bool) -> Map<String, Value> {
    let nullable = |kind: &str| if update { json!([kind, "null"]) } else { json!(kind) };
    let cleared = |text: &str| if update { format!("{text}; null clears it.") } else { format!("{text}.") };
    let mut fields = object(json!({
        "title": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TITLE_CHARS,
            "description": format!("What is to be done: one line of 1 to {MAX_TITLE_CHARS} characters."),
        },
        "description": {
            "type": nullable("string"),
            "maxLength": MAX_DESCRIPTION_CHARS,
            "description": cleared(&format!("Details, up to {MAX_DESCRIPTION_CHARS} characters (new lines allowed)")),
        },
        "priority_id": {
            "type": nullable("integer"),
            "minimum": 1,
            "maximum": 4,
            "description": cleared("Its priority, from 1 (highest) to 4 (lowest)"),
        },
        "due_date": {
            "type": nullable("string"),
            "format": "date-time",
            "description": cleared(
                "When it is due: an RFC 3339 date-time with an offset, such as 2028-01-31T09:00:00Z or \
                 2028-01-31T10:00:00+01:00, from year 1 to 9999"
            ),
        },
        "tags": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_TAG_CHARS},
            "maxItems": MAX_TAGS,
            "description": format!(
                "Labels such as [\"home\", \"errands\"]: at most {MAX_TAGS}, each 1 to {MAX_TAG_CHARS} characters{}.",
                if update { "; replaces the task's tags" } else { "" }
            ),
        },
        "recurrence": {
            "type": nullable("object"),
            "properties": {
                "frequency": {"type": "string", "enum": ["daily", "weekly", "monthly"]},
                "interval": {"type": "integer", "minimum": 1, "maximum": MAX_INTERVAL, "default": 1},
            },
            "required": ["frequency"],
            "additionalProperties": false,
            "description": cleared(
                "Makes it repeat every `interval` (default 1) days, weeks or months after its due date, \
                 which it needs; a monthly task due on the 31st falls on the last day of shorter months"
            ),
        },
        "reminder_offset_minutes": {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_REMINDER_OFFSET_MINUTES,
            "default": DEFAULT_REMINDER_OFFSET_MINUTES,
            "description": format!(
                "How long before the due date the user is reminded, in minutes: 0 to {MAX_REMINDER_OFFSET_MINUTES} \
                 (a week), {DEFAULT_REMINDER_OFFSET_MINUTES} by default."
            ),
        },
    }));
    if update {
        fields.insert(
            "completed".into(),
            json!({
                "type": "boolean",
                "description": "true completes the task (as complete_task does), false reopens it.",
            }),
        );
    }
    fields
}

/// The filters, sort and page of a listing (`GET /api/{user_id}/tasks`'s query parameters); for
/// a `search`, the text `q` is what it is for.
fn listing(search: bool) -> Map<String, Value> {
    let q = if search {
        json!({
            "type": "string",
            "minLength": 1,
            "description": "The text to find in the titles and descriptions, whatever its case.",
        })
    } else {
        json!({
            "type": "string",
            "description": "Only tasks whose title or description contains this text, whatever its case.",
        })
    };
    object(json!({
        "q": q,
        "completed": {
            "type": "boolean",
            "description": "true: only tasks done; false: only open ones; absent: both.",
        },
        "priority_id": {
            "type": "integer",
            "minimum": 1,
            "maximum": 4,
            "description": "Only tasks of this priority, from 1 (highest) to 4 (lowest).",
        },
        "tag": {
            "type": "string",
            "description": "Only tasks carrying this tag (the exact tag).",
        },
        "due_before": {
            "type": "string",
            "format": "date-time",
            "description": "Only tasks due strictly before this RFC 3339 date-time.",
        },
        "due_after": {
            "type": "string",
            "format": "date-time",
            "description": "Only tasks due strictly after this RFC 3339 date-time.",
        },
        "sort": {
            "type": "string",
            "enum": ["due_date", "priority", "created_at"],
            "default": "created_at",
            "description": "The order: by due date (tasks without one last), by priority (1 first, none last) \
                            or by creation (the default).",
        },
        "order": {
            "type": "string",
            "enum": ["asc", "desc"],
            "default": "asc",
            "description": "asc (the default) or desc.",
        },
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_PAGE_SIZE,
            "default": DEFAULT_PAGE_SIZE,
            "description": format!("Tasks per page, 1 to {MAX_PAGE_SIZE} ({DEFAULT_PAGE_SIZE} by default)."),
        },
        "offset": {
            "type": "integer",
            "minimum": 0,
            "default": 0,
            "description": "How many matching tasks to skip: the next page starts at offset + limit.",
        },
    }))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
