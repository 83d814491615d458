//! Tasks on the wire: the create/update body and the task as the API shows it.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use todo_ports::model::{Frequency, RecurrenceInput, Task, TaskPatch};
use todo_ports::{TaskPage, TaskQuery};

use super::time::{nullable, nullable_instant, present};

/// A create or partial-update body: absent fields are left alone, `null` clears the nullable
/// ones, anything else unknown is refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    #[serde(default, deserialize_with = "present")]
    title: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    completed: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    priority_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nullable_instant")]
    due_date: Option<Option<OffsetDateTime>>,
    #[serde(default, deserialize_with = "present")]
    tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    recurrence: Option<Option<RecurrenceBody>>,
    #[serde(default, deserialize_with = "present")]
    reminder_offset_minutes: Option<i64>,
    // What a client may send back unchanged from a task it read; ignored.
    #[serde(default, rename = "id")]
    _id: Option<IgnoredAny>,
    #[serde(default, rename = "user_id")]
    _user_id: Option<IgnoredAny>,
    #[serde(default, rename = "created_at")]
    _created_at: Option<IgnoredAny>,
    #[serde(default, rename = "updated_at")]
    _updated_at: Option<IgnoredAny>,
}

/// `{"frequency": "weekly", "interval": 2}`; the interval defaults to 1.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecurrenceBody {
    frequency: Frequency,
    #[serde(default)]
    interval: Option<i64>,
}

impl From<TaskBody> for TaskPatch {
    fn from(b: TaskBody) -> Self {
        TaskPatch {
            title: b.title,
            description: b.description,
            completed: b.completed,
            priority_id: b.priority_id,
            due_date: b.due_date,
            tags: b.tags,
            recurrence: b
                .recurrence
                .map(|r| r.map(|r| RecurrenceInput { frequency: r.frequency, interval: r.interval })),
            reminder_offset_minutes: b.reminder_offset_minutes,
        }
    }
}

/// A task as the API shows it: its fields, not the system's bookkeeping (series, revision).
#[derive(Debug, Serialize)]
pub struct TaskView<'a> {
    id: i64,
    user_id: &'a str,
    title: &'a str,
    description: Option<&'a str>,
    completed: bool,
    priority_id: Option<u8>,
    #[serde(with = "time::serde::rfc3339::option")]
    due_date: Option<OffsetDateTime>,
    tags: &'a [String],
    recurrence: Option<RecurrenceView>,
    reminder_offset_minutes: u32,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: OffsetDateTime,
}

#[derive(Debug, Serialize)]
struct RecurrenceView {
    frequency: Frequency,
    interval: u32,
}

impl<'a> From<&'a Task> for TaskView<'a> {
    fn from(t: &'a Task) -> Self {
        Self {
            id: t.id.0,
            user_id: t.user_id.as_str(),
            title: &t.title,
            description: t.description.as_deref(),
            completed: t.completed,
            priority_id: t.priority_id.map(|p| p.get()),
            due_date: t.due_date,
            tags: &t.tags,
            recurrence: t.recurrence.map(|r| RecurrenceView { frequency: r.frequency, interval: r.interval }),
            reminder_offset_minutes: t.reminder_offset_minutes,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Serialize)]
pub struct TaskPageView<'a> {
    /// The tasks of the page.
    pub items: Vec<TaskView<'a>>,
    /// How many match in all.
    pub total: u64,
    /// The page size asked for.
    pub limit: u32,
    /// Tasks skipped.
    pub offset: u32,
}

impl<'a> TaskPageView<'a> {
    /// The page `query` asked for, as the listing shows it.
    pub fn of(page: &'a TaskPage, query: &TaskQuery) -> Self {
        Self {
            items: page.items.iter().map(TaskView::from).collect(),
            total: page.total,
            limit: query.limit,
            offset: query.offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use todo_http_server::parse;

    use super::*;

    fn patch(body: &str) -> Result<TaskPatch, (u16, Option<String>)> {
        parse::<TaskBody>(body.as_bytes()).map(TaskPatch::from).map_err(|e| (e.status.as_u16(), e.field))
    }

    #[test]
    fn reads_a_full_task_body() {
        let p = patch(
            r#"{"title": "t", "description": null, "completed": false, "priority_id": 2,
                "due_date": "2028-01-31T09:00:00Z", "tags": ["a"], "reminder_offset_minutes": 30,
                "recurrence": {"frequency": "monthly", "interval": 2}, "id": 5, "created_at": "x"}"#,
        )
        .unwrap();
        assert_eq!(p.title.as_deref(), Some("t"));
        assert_eq!((p.description, p.priority_id, p.reminder_offset_minutes), (Some(None), Some(Some(2)), Some(30)));
        assert_eq!(p.recurrence, Some(Some(RecurrenceInput { frequency: Frequency::Monthly, interval: Some(2) })));
        assert_eq!(patch(r#"{"recurrence": null}"#).unwrap().recurrence, Some(None));
        assert_eq!(patch("{}").unwrap(), TaskPatch::default());
    }

    #[test]
    fn names_the_field_of_a_wrong_value() {
        for (body, field) in [
            (r#"{"title": 5}"#, "title"),
            (r#"{"title": null}"#, "title"),
            (r#"{"completed": "yes"}"#, "completed"),
            (r#"{"priority_id": "high"}"#, "priority_id"),
            (r#"{"priority_id": 1.5}"#, "priority_id"),
            (r#"{"due_date": "next week"}"#, "due_date"),
            (r#"{"due_date": "9999-12-31T23:59:59-00:01"}"#, "due_date"),
            (r#"{"due_date": "0000-01-01T00:00:00+00:01"}"#, "due_date"),
            (r#"{"tags": "a,b"}"#, "tags"),
            (r#"{"tags": [1]}"#, "tags"),
            (r#"{"recurrence": "daily"}"#, "recurrence"),
            (r#"{"recurrence": {"interval": 1}}"#, "recurrence.frequency"),
            (r#"{"recurrence": {"frequency": "yearly"}}"#, "recurrence.frequency"),
            (r#"{"recurrence": {"frequency": "daily", "every": 1}}"#, "recurrence.every"),
            (r#"{"colour": "red"}"#, "colour"),
            ("[1, 2]", "body"),
        ] {
            assert_eq!(patch(body), Err((422, Some(field.to_owned()))), "{body}");
        }
    }

    #[test]
    fn the_view_shows_the_documented_fields_only() {
        let task = Task::create(
            todo_ports::model::UserId::parse("u").unwrap(),
            TaskPatch { title: Some("t".into()), ..TaskPatch::default() },
            time::macros::datetime!(2026-01-01 00:00 UTC),
        )
        .unwrap();
        let v = serde_json::to_value(TaskView::from(&task)).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "id",
                "user_id",
                "title",
                "description",
                "completed",
                "priority_id",
                "due_date",
                "tags",
                "recurrence",
                "reminder_offset_minutes",
                "created_at",
                "updated_at"
            ]
        );
        assert_eq!(v["created_at"], "2026-01-01T00:00:00Z");
    }
}
