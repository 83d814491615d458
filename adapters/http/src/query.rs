//! Query strings: percent-decoding and the task listing's parameters.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use todo_ports::model::Priority;
use todo_ports::{MAX_PAGE_SIZE, SortKey, SortOrder, TaskQuery};

use crate::ApiError;

/// Decoded `name=value` pairs of a query string (`+` is a space, `%XX` a byte).
pub fn pairs(query: Option<&str>) -> Result<Vec<(String, String)>, ApiError> {
    let Some(query) = query else { return Ok(Vec::new()) };
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

/// Percent-decodes one component.
pub fn decode(raw: &str) -> Result<String, ApiError> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(byte) = byte else {
                    return Err(ApiError::bad_parameter("query", "invalid percent-encoding"));
                };
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ApiError::bad_parameter("query", "not UTF-8 after decoding"))
}

/// An RFC 3339 instant.
pub fn instant(name: &str, raw: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(raw, &Rfc3339)
        .map_err(|_| ApiError::bad_parameter(name, "must be an RFC 3339 date-time such as 2026-01-31T09:00:00Z"))
}

/// A bounded integer.
pub fn integer(name: &str, raw: &str, min: i64, max: i64) -> Result<i64, ApiError> {
    match raw.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_parameter(name, format!("must be an integer from {min} to {max}"))),
    }
}

/// The listing's filters, sort and page.
pub fn task_query(query: Option<&str>) -> Result<TaskQuery, ApiError> {
    let mut q = TaskQuery::default();
    for (name, value) in pairs(query)? {
        match name.as_str() {
            "completed" => {
                q.completed = Some(match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(ApiError::bad_parameter("completed", "must be true or false")),
                })
            }
            "priority_id" => {
                let n = integer("priority_id", &value, 1, 4)?;
                q.priority_id = Some(Priority::parse(n).map_err(|e| ApiError::bad_parameter("priority_id", e.message))?);
            }
            "tag" => q.tag = Some(value),
            "due_before" => q.due_before = Some(instant("due_before", &value)?),
            "due_after" => q.due_after = Some(instant("due_after", &value)?),
            "q" => q.text = Some(value).filter(|v| !v.is_empty()),
            "sort" => {
                q.sort = match value.as_str() {
                    "due_date" => SortKey::DueDate,
                    "priority" | "priority_id" => SortKey::Priority,
                    "created_at" => SortKey::CreatedAt,
                    _ => return Err(ApiError::bad_parameter("sort", "must be due_date, priority or created_at")),
                }
            }
            "order" => {
                q.order = match value.as_str() {
                    "asc" => SortOrder::Asc,
                    "desc" => SortOrder::Desc,
                    _ => return Err(ApiError::bad_parameter("order", "must be asc or desc")),
                }
            }
            "limit" => q.limit = integer("limit", &value, 1, MAX_PAGE_SIZE.into())? as u32,
            "offset" => q.offset = integer("offset", &value, 0, u32::MAX.into())? as u32,
            other => return Err(ApiError::bad_parameter(other, "unknown query parameter")),
        }
    }
    Ok(q)
}

/// The `limit` parameter of the feeds (1 to 200, default 50); other parameters are refused.
pub fn feed_limit(query: Option<&str>) -> Result<u32, ApiError> {
    let mut limit = 50;
    for (name, value) in pairs(query)? {
        match name.as_str() {
            "limit" => limit = integer("limit", &value, 1, MAX_PAGE_SIZE.into())? as u32,
            other => return Err(ApiError::bad_parameter(other, "unknown query parameter")),
        }
    }
    Ok(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_plus() {
        assert_eq!(decode("a%20b+c%2B").unwrap(), "a b c+");
        assert!(decode("%zz").is_err());
        assert!(decode("%e2%28").is_err());
    }

    #[test]
    fn reads_every_listing_parameter() {
        let q = task_query(Some(
            "completed=false&priority_id=2&tag=home&due_before=2026-02-01T00:00:00Z&due_after=2026-01-01T00:00:00Z&q=milk&sort=due_date&order=desc&limit=10&offset=20",
        ))
        .unwrap();
        assert_eq!(q.completed, Some(false));
        assert_eq!(q.priority_id.map(|p| p.get()), Some(2));
        assert_eq!((q.tag.as_deref(), q.text.as_deref()), (Some("home"), Some("milk")));
        assert_eq!((q.sort, q.order, q.limit, q.offset), (SortKey::DueDate, SortOrder::Desc, 10, 20));
    }

    #[test]
    fn names_the_bad_parameter() {
        for (query, name) in [
            ("completed=yes", "completed"),
            ("priority_id=5", "priority_id"),
            ("due_before=tomorrow", "due_before"),
            ("limit=0", "limit"),
            ("limit=201", "limit"),
            ("sort=title", "sort"),
            ("colour=red", "colour"),
        ] {
            assert_eq!(task_query(Some(query)).unwrap_err().field.as_deref(), Some(name), "{query}");
        }
    }
}
