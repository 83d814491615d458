//! Request bodies: JSON objects read field by field into the domain's inputs, so that every
//! wrong type or unknown field is reported with the field's name.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use todo_ports::MessageInput;
use todo_ports::model::{Role, TaskPatch, ValidationError};

use crate::ApiError;

/// Fields a client may send back unchanged from a task it read; they are ignored.
const READ_ONLY_TASK_FIELDS: [&str; 6] = ["id", "user_id", "created_at", "updated_at", "series", "revision"];

/// The body as a JSON object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed_json("the body is empty"));
    }
    match serde_json::from_slice::<Value>(body).map_err(ApiError::malformed_json)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::invalid(ValidationError::new("body", "must be a JSON object"))),
    }
}

fn wrong_type(field: &str, expected: &str) -> ValidationError {
    ValidationError::new(field, format!("must be {expected}"))
}

fn string(field: &str, v: Value) -> Result<String, ValidationError> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(wrong_type(field, "a string")),
    }
}

fn nullable<T>(v: Value, read: impl FnOnce(Value) -> Result<T, ValidationError>) -> Result<Option<T>, ValidationError> {
    if v.is_null() { Ok(None) } else { read(v).map(Some) }
}

fn integer(field: &str, v: &Value) -> Result<i64, ValidationError> {
    v.as_i64().ok_or_else(|| wrong_type(field, "an integer"))
}

fn instant(field: &str, v: Value) -> Result<OffsetDateTime, ValidationError> {
    let raw = string(field, v)?;
    OffsetDateTime::parse(&raw, &Rfc3339)
        .map_err(|_| ValidationError::new(field, "must be an RFC 3339 date-time such as 2026-01-31T09:00:00Z"))
}

/// A task body (create or partial update) as a [`TaskPatch`].
pub fn task_patch(body: Map<String, Value>) -> Result<TaskPatch, ValidationError> {
    let mut patch = TaskPatch::default();
    for (field, value) in body {
        match field.as_str() {
            "title" => patch.title = Some(string("title", value)?),
            "description" => patch.description = Some(nullable(value, |v| string("description", v))?),
            "completed" => patch.completed = Some(value.as_bool().ok_or_else(|| wrong_type("completed", "true or false"))?),
            "priority_id" => patch.priority_id = Some(nullable(value, |v| integer("priority_id", &v))?),
            "due_date" => patch.due_date = Some(nullable(value, |v| instant("due_date", v))?),
            "tags" => {
                let Value::Array(items) = value else { return Err(wrong_type("tags", "an array of strings")) };
                let tags = items.into_iter().map(|t| string("tags", t)).collect::<Result<_, _>>()?;
                patch.tags = Some(tags);
            }
            "recurrence" => patch.recurrence = Some(nullable(value, recurrence)?),
            "reminder_offset_minutes" => {
                patch.reminder_offset_minutes = Some(integer("reminder_offset_minutes", &value)?)
            }
            ignored if READ_ONLY_TASK_FIELDS.contains(&ignored) => {}
            unknown => return Err(ValidationError::new(unknown, "is not a field of a task")),
        }
    }
    Ok(patch)
}

fn recurrence(value: Value) -> Result<(String, Option<i64>), ValidationError> {
    let Value::Object(rule) = value else {
        return Err(wrong_type("recurrence", "an object such as {\"frequency\": \"weekly\", \"interval\": 1}"));
    };
    let mut frequency = None;
    let mut interval = None;
    for (field, value) in rule {
        match field.as_str() {
            "frequency" => frequency = Some(string("recurrence.frequency", value)?),
            "interval" => interval = nullable(value, |v| integer("recurrence.interval", &v))?,
            other => return Err(ValidationError::new(format!("recurrence.{other}"), "is not a field of a recurrence")),
        }
    }
    let frequency = frequency.ok_or_else(|| ValidationError::new("recurrence.frequency", "is required"))?;
    Ok((frequency, interval))
}

/// A message body `{"role", "content", "timestamp"?}`.
pub fn message(body: Map<String, Value>) -> Result<MessageInput, ValidationError> {
    let mut role = None;
    let mut content = None;
    let mut timestamp = None;
    for (field, value) in body {
        match field.as_str() {
            "role" => role = Some(Role::parse(&string("role", value)?)?),
            "content" => content = Some(string("content", value)?),
            "timestamp" => timestamp = nullable(value, |v| instant("timestamp", v))?,
            unknown => return Err(ValidationError::new(unknown, "is not a field of a message")),
        }
    }
    Ok(MessageInput {
        role: role.ok_or_else(|| ValidationError::new("role", "is required"))?,
        content: content.ok_or_else(|| ValidationError::new("content", "is required"))?,
        timestamp,
    })
}

/// A conversation body `{"messages"?: [...], "context"?: {...}}`.
pub fn conversation(body: Map<String, Value>) -> Result<(Option<Vec<MessageInput>>, Option<Value>), ValidationError> {
    let mut messages = None;
    let mut context = None;
    for (field, value) in body {
        match field.as_str() {
            "messages" => {
                let Value::Array(items) = value else { return Err(wrong_type("messages", "an array")) };
                let list = items
                    .into_iter()
                    .map(|item| match item {
                        Value::Object(m) => message(m),
                        _ => Err(wrong_type("messages", "an array of objects")),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                messages = Some(list);
            }
            "context" if value.is_object() => context = Some(value),
            "context" => return Err(wrong_type("context", "a JSON object")),
            "user_id" | "session_id" | "created_at" | "updated_at" => {}
            unknown => return Err(ValidationError::new(unknown, "is not a field of a conversation")),
        }
    }
    Ok((messages, context))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(v: Value) -> Result<TaskPatch, ValidationError> {
        let Value::Object(map) = v else { unreachable!() };
        task_patch(map)
    }

    #[test]
    fn reads_a_full_task_body() {
        let p = patch(json!({
            "title": "t", "description": null, "completed": false, "priority_id": 2,
            "due_date": "2028-01-31T09:00:00Z", "tags": ["a"], "reminder_offset_minutes": 30,
            "recurrence": {"frequency": "monthly", "interval": 2}, "id": 5, "created_at": "x"
        }))
        .unwrap();
        assert_eq!(p.title.as_deref(), Some("t"));
        assert_eq!(p.description, Some(None));
        assert_eq!(p.priority_id, Some(Some(2)));
        assert_eq!(p.recurrence, Some(Some(("monthly".into(), Some(2)))));
        assert_eq!(p.reminder_offset_minutes, Some(30));
    }

    #[test]
    fn names_the_field_of_a_wrong_type() {
        for (body, field) in [
            (json!({"title": 5}), "title"),
            (json!({"completed": "yes"}), "completed"),
            (json!({"priority_id": "high"}), "priority_id"),
            (json!({"priority_id": 1.5}), "priority_id"),
            (json!({"due_date": "next week"}), "due_date"),
            (json!({"tags": "a,b"}), "tags"),
            (json!({"tags": [1]}), "tags"),
            (json!({"recurrence": "daily"}), "recurrence"),
            (json!({"recurrence": {"interval": 1}}), "recurrence.frequency"),
            (json!({"recurrence": {"frequency": "daily", "every": 1}}), "recurrence.every"),
            (json!({"colour": "red"}), "colour"),
        ] {
            assert_eq!(patch(body.clone()).unwrap_err().field, field, "{body}");
        }
    }

    #[test]
    fn refuses_bodies_that_are_not_objects() {
        assert_eq!(object(b"").unwrap_err().code, "malformed_json");
        assert_eq!(object(b"{").unwrap_err().code, "malformed_json");
        assert_eq!(object(b"[1]").unwrap_err().code, "validation_failed");
    }
}
