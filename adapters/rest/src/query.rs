//! Query strings: the task listing's filters, sort and page, the audit log's filters and page,
//! and the notification feed's `limit`. Decoding is `form_urlencoded`'s; every parameter is
//! checked here and a bad one answers 400 naming it; a repeated one counts as its last value.

use std::borrow::Cow;

use todo_http_server::ApiError;
use todo_ports::model::{Priority, TaskEventType, UserId, check_line, parse_instant};
use todo_ports::{AuditQuery, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, SortKey, SortOrder, TaskQuery};

use crate::path::canonical_task_id;
use crate::wire::feed::parse_cursor;

fn pairs(query: Option<&str>) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
}

/// A bounded integer.
fn integer(name: &str, raw: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    match raw.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_parameter(name, format!("must be an integer from {min} to {max}"))),
    }
}

/// Text to search or match: no control characters (NUL cannot be stored anywhere anyway).
fn text(name: &str, raw: Cow<'_, str>) -> Result<String, ApiError> {
    check_line(name, &raw).map_err(|e| ApiError::bad_parameter(name, e.message))?;
    Ok(raw.into_owned())
}

/// The listing's filters, sort and page, from the query string of `GET /api/{user_id}/tasks`.
///
/// # Errors
/// A 400 `invalid_parameter` naming the first parameter that is unknown or out of range.
pub fn task_query(query: Option<&str>) -> Result<TaskQuery, ApiError> {
    let mut q = TaskQuery::default();
    for (name, value) in pairs(query) {
        match name.as_ref() {
            "completed" => {
                q.completed = Some(match value.as_ref() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::bad_parameter("completed", "must be true or false")),
                });
            }
            "priority_id" => {
                let n = integer("priority_id", &value, 1, 4)?;
                q.priority_id =
                    Some(Priority::parse(n).map_err(|e| ApiError::bad_parameter("priority_id", e.message))?);
            }
            "tag" => q.tag = Some(text("tag", value)?),
            "due_before" => {
                q.due_before = Some(
                    parse_instant("due_before", &value)
                        .map_err(|e| ApiError::bad_parameter("due_before", e.message))?,
                );
            }
            "due_after" => {
                q.due_after = Some(
                    parse_instant("due_after", &value).map_err(|e| ApiError::bad_parameter("due_after", e.message))?,
                );
            }
            "q" => q.text = Some(text("q", value)?).filter(|v| !v.is_empty()),
            "sort" => {
                q.sort = match value.as_ref() {
                    "due_date" => SortKey::DueDate,
                    "priority" | "priority_id" => SortKey::Priority,
                    "created_at" => SortKey::CreatedAt,
                    _ => return Err(ApiError::bad_parameter("sort", "must be due_date, priority or created_at")),
                };
            }
            "order" => {
                q.order = match value.as_ref() {
                    "asc" => SortOrder::Asc,
                    "desc" => SortOrder::Desc,
                    _ => return Err(ApiError::bad_parameter("order", "must be asc or desc")),
                };
            }
            "limit" => q.limit = page_size(&value)?,
            "offset" => q.offset = u32::try_from(integer("offset", &value, 0, u32::MAX.into())?).unwrap_or(u32::MAX),
            other => return Err(unknown(other)),
        }
    }
    Ok(q)
}

fn page_size(raw: &str) -> Result<u32, ApiError> {
    Ok(u32::try_from(integer("limit", raw, 1, MAX_PAGE_SIZE.into())?).unwrap_or(DEFAULT_PAGE_SIZE))
}

fn unknown(name: &str) -> ApiError {
    // The name is echoed in JSON only (escaped there); it never reaches a log line.
    let shown: String = name.chars().take(64).collect();
    ApiError::bad_parameter(&shown, "unknown query parameter")
}

/// The audit log's filters and page: `task_id` (canonical decimal), `event_type` (a task event
/// type's dotted name), `since` (inclusive) and `until` (exclusive) as RFC 3339 instants,
/// `limit` (1 to 200, default 50) and `cursor` (a `next_cursor` the endpoint gave).
pub(crate) fn audit_query(user_id: UserId, query: Option<&str>) -> Result<AuditQuery, ApiError> {
    let mut q = AuditQuery::new(user_id);
    for (name, value) in pairs(query) {
        match name.as_ref() {
            "task_id" => {
                q.task_id = Some(canonical_task_id(&value).ok_or_else(|| {
                    ApiError::bad_parameter("task_id", "must be a task id, a positive integer such as 7")
                })?);
            }
            "event_type" => {
                q.event_type = Some(TASK_EVENT_TYPES.into_iter().find(|t| t.as_str() == value).ok_or_else(|| {
                    ApiError::bad_parameter(
                        "event_type",
                        "must be task.created, task.updated, task.completed or task.deleted",
                    )
                })?);
            }
            "since" => {
                q.since =
                    Some(parse_instant("since", &value).map_err(|e| ApiError::bad_parameter("since", e.message))?);
            }
            "until" => {
                q.until =
                    Some(parse_instant("until", &value).map_err(|e| ApiError::bad_parameter("until", e.message))?);
            }
            "limit" => q.limit = page_size(&value)?,
            "cursor" => {
                q.after =
                    Some(parse_cursor(&value).ok_or_else(|| {
                        ApiError::bad_parameter("cursor", "must be the next_cursor of an earlier page")
                    })?);
            }
            other => return Err(unknown(other)),
        }
    }
    Ok(q)
}

/// Every task event type, to read one by its name.
const TASK_EVENT_TYPES: [TaskEventType; 4] =
    [TaskEventType::Created, TaskEventType::Updated, TaskEventType::Completed, TaskEventType::Deleted];

/// The `limit` parameter of the notification feed (1 to 200, default 50); other parameters are
/// refused.
pub(crate) fn feed_limit(query: Option<&str>) -> Result<u32, ApiError> {
    let mut limit = DEFAULT_PAGE_SIZE;
    for (name, value) in pairs(query) {
        match name.as_ref() {
            "limit" => limit = page_size(&value)?,
            other => return Err(unknown(other)),
        }
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_listing_parameter() {
        let q = task_query(Some(
            "completed=false&priority_id=2&tag=home+office&due_before=2026-02-01T00:00:00Z&due_after=2026-01-01T00:00:00%2B01:00&q=milk&sort=due_date&order=desc&limit=10&offset=20",
        ))
        .unwrap();
        assert_eq!(q.completed, Some(false));
        assert_eq!(q.priority_id.map(|p| p.get()), Some(2));
        assert_eq!((q.tag.as_deref(), q.text.as_deref()), (Some("home office"), Some("milk")));
        assert_eq!((q.sort, q.order, q.limit, q.offset), (SortKey::DueDate, SortOrder::Desc, 10, 20));
    }

    fn audit(query: &str) -> Result<AuditQuery, ApiError> {
        audit_query(UserId::parse("ada").unwrap(), Some(query))
    }

    #[test]
    fn reads_every_audit_parameter() {
        let q = audit(
            "task_id=7&event_type=task.completed&since=2026-01-01T00:00:00%2B01:00&until=2026-02-01T00:00:00Z&limit=10&cursor=1000000.5",
        )
        .unwrap();
        let at = |s: &str| parse_instant("", s).unwrap();
        assert_eq!(q.user_id.as_str(), "ada");
        assert_eq!((q.task_id, q.event_type), (Some(todo_ports::model::TaskId(7)), Some(TaskEventType::Completed)));
        assert_eq!((q.since, q.until), (Some(at("2025-12-31T23:00:00Z")), Some(at("2026-02-01T00:00:00Z"))));
        assert_eq!(q.limit, 10);
        let after = q.after.unwrap();
        assert_eq!((after.occurred_at, after.seq), (at("1970-01-01T00:00:01Z"), 5));
        for t in ["task.created", "task.updated", "task.deleted"] {
            assert_eq!(audit(&format!("event_type={t}")).unwrap().event_type.map(TaskEventType::as_str), Some(t));
        }
    }

    #[test]
    fn an_audit_query_without_parameters_is_the_first_page_of_everything() {
        let q = audit_query(UserId::parse("ada").unwrap(), None).unwrap();
        assert_eq!(q, AuditQuery::new(UserId::parse("ada").unwrap()));
        assert_eq!(q.limit, DEFAULT_PAGE_SIZE);
        assert_eq!(audit("").unwrap(), q);
    }

    #[test]
    fn a_repeated_audit_parameter_counts_as_its_last_value() {
        assert_eq!(audit("task_id=1&task_id=2").unwrap().task_id, Some(todo_ports::model::TaskId(2)));
        assert_eq!(audit("limit=5&limit=6").unwrap().limit, 6);
    }

    #[test]
    fn names_the_bad_audit_parameter() {
        for (query, name) in [
            ("task_id=0", "task_id"),
            ("task_id=07", "task_id"),
            ("task_id=%2B7", "task_id"),
            ("task_id=-7", "task_id"),
            ("task_id=9223372036854775808", "task_id"),
            ("task_id=", "task_id"),
            ("event_type=created", "event_type"),
            ("event_type=reminder.due", "event_type"),
            ("event_type=TASK.CREATED", "event_type"),
            ("since=yesterday", "since"),
            ("since=9999-12-31T23:59:59-00:01", "since"),
            ("until=0000-01-01T00:00:00%2B00:01", "until"),
            ("until=2026-01-01", "until"),
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("cursor=", "cursor"),
            ("cursor=abc", "cursor"),
            ("cursor=01.2", "cursor"),
            ("offset=10", "offset"),
            ("task=1", "task"),
        ] {
            let e = audit(query).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), ("invalid_parameter", Some(name)), "{query}");
        }
    }

    #[test]
    fn names_the_bad_parameter() {
        for (query, name) in [
            ("completed=yes", "completed"),
            ("priority_id=5", "priority_id"),
            ("due_before=tomorrow", "due_before"),
            ("due_before=9999-12-31T23:59:59-00:01", "due_before"),
            ("due_after=0000-01-01T00:00:00%2B00:01", "due_after"),
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("sort=title", "sort"),
            ("q=%00", "q"),
            ("tag=a%00b", "tag"),
            ("q=two%0Alines", "q"),
            ("colour=red", "colour"),
        ] {
            assert_eq!(task_query(Some(query)).unwrap_err().field.as_deref(), Some(name), "{query}");
        }
    }
}
