//! The task entity, its value objects and the rules every write must satisfy.
//!
//! A [`TaskPatch`] carries what a client asked to change; [`Task::create`] and [`Task::apply`]
//! turn it into a valid task or a [`ValidationError`] naming the offending field.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{TaskId, UserId, ValidationError, check_instant, check_line, check_multiline, fold_for_search};

/// Longest title, in characters, after trimming.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// Most tags on one task.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 50;
/// Reminder lead time when the client gives none.
pub const DEFAULT_REMINDER_OFFSET_MINUTES: u32 = 60;
/// Longest reminder lead time: one week.
pub const MAX_REMINDER_OFFSET_MINUTES: u32 = 7 * 24 * 60;
/// Largest recurrence interval.
pub const MAX_INTERVAL: u32 = 365;

/// A to-do item owned by one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Assigned by the repository.
    pub id: TaskId,
    /// Owner; only this user sees the task.
    pub user_id: UserId,
    /// Trimmed, 1 to 200 characters.
    pub title: String,
    /// Up to 4000 characters.
    pub description: Option<String>,
    /// Whether the task is done.
    pub completed: bool,
    /// 1 (highest) to 4, or none.
    pub priority_id: Option<Priority>,
    /// When the task is due (UTC).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub due_date: Option<OffsetDateTime>,
    /// Free labels, at most 20 of up to 50 characters, without duplicates.
    #[serde(default)]
    pub tags: Vec<String>,
    /// How the task repeats, if it does.
    #[serde(default)]
    pub recurrence: Option<Recurrence>,
    /// How long before the due date the reminder goes out.
    #[serde(default = "default_offset")]
    pub reminder_offset_minutes: u32,
    /// The series this task belongs to, when it recurs.
    #[serde(default)]
    pub series: Option<Series>,
    /// Bumped by every write; the repository's optimistic-concurrency token.
    #[serde(default)]
    pub revision: u32,
    /// When the task was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the task last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

fn default_offset() -> u32 {
    DEFAULT_REMINDER_OFFSET_MINUTES
}

/// A task's priority: 1 (highest) to 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Priority(u8);

impl Priority {
    /// Parses a priority id, refusing anything outside 1..=4.
    pub fn parse(raw: i64) -> Result<Self, ValidationError> {
        match raw {
            1..=4 => Ok(Self(raw as u8)),
            _ => Err(ValidationError::new("priority_id", "must be an integer from 1 to 4 or null")),
        }
    }

    /// The priority as a number.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<i64> for Priority {
    type Error = ValidationError;
    fn try_from(raw: i64) -> Result<Self, Self::Error> {
        Self::parse(raw)
    }
}

impl From<Priority> for i64 {
    fn from(p: Priority) -> i64 {
        p.0.into()
    }
}

/// How often a recurring task comes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    /// Every `interval` days.
    Daily,
    /// Every `7 * interval` days.
    Weekly,
    /// The same day every `interval` months, capped at month end.
    Monthly,
}

impl Frequency {
    /// Parses `daily`, `weekly` or `monthly`.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw {
            "daily" => Ok(Self::Daily),
            "weekly" => Ok(Self::Weekly),
            "monthly" => Ok(Self::Monthly),
            _ => Err(ValidationError::new("recurrence.frequency", "must be one of \"daily\", \"weekly\", \"monthly\"")),
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }
}

/// A recurrence rule: `{"frequency": "monthly", "interval": 1}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Recurrence {
    /// Unit of repetition.
    pub frequency: Frequency,
    /// Units between occurrences, 1 to 365.
    pub interval: u32,
}

impl Recurrence {
    /// A rule from what a client asked for; `interval` defaults to 1.
    ///
    /// # Errors
    /// A [`ValidationError`] about `recurrence.interval` outside 1 to 365.
    pub fn new(input: RecurrenceInput) -> Result<Self, ValidationError> {
        let interval = match input.interval {
            None => 1,
            Some(n) => u32::try_from(n).ok().filter(|n| (1..=MAX_INTERVAL).contains(n)).ok_or_else(|| {
                ValidationError::new("recurrence.interval", format!("must be an integer from 1 to {MAX_INTERVAL}"))
            })?,
        };
        Ok(Self { frequency: input.frequency, interval })
    }
}

/// A recurrence rule as a client asks for it: the interval is checked by [`Recurrence::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecurrenceInput {
    /// Unit of repetition.
    pub frequency: Frequency,
    /// Units between occurrences; 1 when absent.
    pub interval: Option<i64>,
}

/// Where a recurring task stands in its series. Set by the domain, never by clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Series {
    /// Shared by every occurrence of the series.
    pub id: Uuid,
    /// 0 for the task the user created, then 1, 2, ...; unique within the series.
    pub occurrence: u32,
    /// Day of month the series was started on: monthly occurrences return to it whenever the
    /// month is long enough (Jan 31 -> Feb 29 -> Mar 31).
    pub anchor_day: u8,
}

/// The changes a client asks for. `None` leaves a field alone; for nullable fields
/// `Some(None)` clears it. Values are raw: [`Task::create`] and [`Task::apply`] check them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPatch {
    /// New title.
    pub title: Option<String>,
    /// New description, or `Some(None)` to clear it.
    pub description: Option<Option<String>>,
    /// New completion flag.
    pub completed: Option<bool>,
    /// New priority id, or `Some(None)` to clear it.
    pub priority_id: Option<Option<i64>>,
    /// New due date, or `Some(None)` to clear it.
    pub due_date: Option<Option<OffsetDateTime>>,
    /// New tag list (replaces the old one).
    pub tags: Option<Vec<String>>,
    /// New rule, or `Some(None)` to stop recurring.
    pub recurrence: Option<Option<RecurrenceInput>>,
    /// New reminder lead time in minutes.
    pub reminder_offset_minutes: Option<i64>,
}

impl Task {
    /// A new task for `user_id` from a create request, not yet stored: its id is [`TaskId`]`(0)`
    /// until it gets one from the repository ([`Task::with_id`]). `title` is required.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first field that breaks a rule.
    pub fn create(user_id: UserId, patch: TaskPatch, now: OffsetDateTime) -> Result<Self, ValidationError> {
        if patch.title.is_none() {
            return Err(ValidationError::new("title", "is required"));
        }
        let blank = Task {
            id: TaskId(0),
            user_id,
            title: String::new(),
            description: None,
            completed: false,
            priority_id: None,
            due_date: None,
            tags: Vec::new(),
            recurrence: None,
            reminder_offset_minutes: DEFAULT_REMINDER_OFFSET_MINUTES,
            series: None,
            revision: 0,
            created_at: now,
            updated_at: now,
        };
        let mut task = blank.apply(patch, now)?;
        task.revision = 0;
        Ok(task)
    }

    /// This task with the id the repository gave it.
    pub fn with_id(self, id: TaskId) -> Self {
        Self { id, ..self }
    }

    /// This task with `patch` applied, `updated_at` set to `now` (never earlier than it was, so
    /// a clock that steps back cannot make a later revision look older) and the revision
    /// bumped. Keeps the series bookkeeping right: a task that starts recurring opens a
    /// series, one that stops leaves it, and a moved due date re-anchors it.
    ///
    /// # Errors
    /// A [`ValidationError`] naming the first field that breaks a rule; `self` is unchanged.
    pub fn apply(&self, patch: TaskPatch, now: OffsetDateTime) -> Result<Self, ValidationError> {
        let mut next = self.clone();
        if let Some(title) = patch.title {
            next.title = check_title(&title)?;
        }
        if let Some(description) = patch.description {
            next.description = description.map(check_description).transpose()?;
        }
        if let Some(completed) = patch.completed {
            next.completed = completed;
        }
        if let Some(priority) = patch.priority_id {
            next.priority_id = priority.map(Priority::parse).transpose()?;
        }
        if let Some(due) = patch.due_date {
            next.due_date = due.map(|d| check_instant("due_date", d)).transpose()?;
        }
        if let Some(tags) = patch.tags {
            next.tags = check_tags(tags)?;
        }
        if let Some(rule) = patch.recurrence {
            next.recurrence = rule.map(Recurrence::new).transpose()?;
        }
        if let Some(offset) = patch.reminder_offset_minutes {
            next.reminder_offset_minutes = check_offset(offset)?;
        }
        if next.recurrence.is_some() && next.due_date.is_none() {
            return Err(ValidationError::new("due_date", "is required when recurrence is set"));
        }
        next.series = match (next.recurrence, next.due_date) {
            (Some(_), Some(due)) => Some(match self.series {
                Some(series) if self.due_date == next.due_date => series,
                Some(series) => Series { anchor_day: due.day(), ..series },
                None => Series { id: Uuid::new_v4(), occurrence: 0, anchor_day: due.day() },
            }),
            _ => None,
        };
        next.updated_at = now.max(self.updated_at);
        next.revision = self.revision.wrapping_add(1);
        Ok(next)
    }

    /// When the reminder for this task is due, if it has a due date whose reminder time is
    /// still in the calendar (a due date in the first hour of year 1 may have none).
    pub fn reminder_time(&self) -> Option<OffsetDateTime> {
        let due = self.due_date?;
        due.checked_sub(time::Duration::minutes(i64::from(self.reminder_offset_minutes)))
            .filter(|t| *t >= crate::EARLIEST)
    }

    /// Whether `needle` (already folded with [`fold_for_search`]) occurs in the task's
    /// [`Task::search_text`].
    pub fn matches_text(&self, needle: &str) -> bool {
        self.search_text().contains(needle)
    }

    /// The text search looks in: the folded title and description, a newline apart (queries
    /// cannot hold a newline, so no match spans both).
    pub fn search_text(&self) -> String {
        let mut text = fold_for_search(&self.title);
        if let Some(description) = &self.description {
            text.push('\n');
            text.push_str(&fold_for_search(description));
        }
        text
    }
}

fn check_title(raw: &str) -> Result<String, ValidationError> {
    let title = raw.trim();
    check_line("title", title)?;
    let chars = title.chars().count();
    if chars == 0 {
        return Err(ValidationError::new("title", "must not be blank"));
    }
    if chars > MAX_TITLE_CHARS {
        return Err(ValidationError::new("title", format!("must be at most {MAX_TITLE_CHARS} characters")));
    }
    Ok(title.to_owned())
}

fn check_description(raw: String) -> Result<String, ValidationError> {
    check_multiline("description", &raw)?;
    if raw.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ValidationError::new("description", format!("must be at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(raw)
}

fn check_tags(raw: Vec<String>) -> Result<Vec<String>, ValidationError> {
    if raw.len() > MAX_TAGS {
        return Err(ValidationError::new("tags", format!("must hold at most {MAX_TAGS} tags")));
    }
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for tag in raw {
        let tag = tag.trim();
        check_line("tags", tag)?;
        let chars = tag.chars().count();
        if chars == 0 || chars > MAX_TAG_CHARS {
            return Err(ValidationError::new("tags", format!("each tag must be 1 to {MAX_TAG_CHARS} characters")));
        }
        if !tags.iter().any(|t| t == tag) {
            tags.push(tag.to_owned());
        }
    }
    Ok(tags)
}

fn check_offset(raw: i64) -> Result<u32, ValidationError> {
    if (0..=i64::from(MAX_REMINDER_OFFSET_MINUTES)).contains(&raw) {
        Ok(raw as u32)
    } else {
        Err(ValidationError::new(
            "reminder_offset_minutes",
            format!("must be an integer from 0 to {MAX_REMINDER_OFFSET_MINUTES}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-01-10 08:00 UTC);

    fn user() -> UserId {
        UserId::parse("u1").unwrap()
    }

    fn titled(title: &str) -> TaskPatch {
        TaskPatch { title: Some(title.into()), ..TaskPatch::default() }
    }

    fn every(frequency: Frequency, interval: Option<i64>) -> RecurrenceInput {
        RecurrenceInput { frequency, interval }
    }

    fn field_of(patch: TaskPatch) -> String {
        Task::create(user(), patch, NOW).unwrap_err().field
    }

    #[test]
    fn a_new_task_has_defaults_and_a_trimmed_title() {
        let task = Task::create(user(), titled("  Buy milk "), NOW).unwrap();
        assert_eq!(task.title, "Buy milk");
        assert!(!task.completed);
        assert_eq!(task.reminder_offset_minutes, 60);
        assert_eq!((task.created_at, task.updated_at), (NOW, NOW));
        assert_eq!(task.series, None);
    }

    #[test]
    fn each_rule_names_its_field() {
        let cases: Vec<(TaskPatch, &str)> = vec![
            (TaskPatch::default(), "title"),
            (titled("   "), "title"),
            (titled(&"x".repeat(201)), "title"),
            (TaskPatch { description: Some(Some("d".repeat(4001))), ..titled("t") }, "description"),
            (TaskPatch { priority_id: Some(Some(5)), ..titled("t") }, "priority_id"),
            (TaskPatch { priority_id: Some(Some(0)), ..titled("t") }, "priority_id"),
            (TaskPatch { tags: Some(vec!["a".into(); 21]), ..titled("t") }, "tags"),
            (TaskPatch { tags: Some(vec!["x".repeat(51)]), ..titled("t") }, "tags"),
            (TaskPatch { tags: Some(vec![" ".into()]), ..titled("t") }, "tags"),
            (TaskPatch { recurrence: Some(Some(every(Frequency::Daily, None))), ..titled("t") }, "due_date"),
            (TaskPatch { title: Some("a\u{0}b".into()), ..TaskPatch::default() }, "title"),
            (TaskPatch { title: Some("two\nlines".into()), ..TaskPatch::default() }, "title"),
            (TaskPatch { description: Some(Some("bell\u{7}".into())), ..titled("t") }, "description"),
            (TaskPatch { tags: Some(vec!["a\u{0}".into()]), ..titled("t") }, "tags"),
            (
                TaskPatch { due_date: Some(Some(time::macros::datetime!(9999-12-31 23:59:59 -00:01))), ..titled("t") },
                "due_date",
            ),
            (
                TaskPatch { due_date: Some(Some(time::macros::datetime!(0000-01-01 00:00:00 +00:01))), ..titled("t") },
                "due_date",
            ),
            (
                TaskPatch {
                    recurrence: Some(Some(every(Frequency::Daily, Some(0)))),
                    due_date: Some(Some(NOW)),
                    ..titled("t")
                },
                "recurrence.interval",
            ),
            (TaskPatch { reminder_offset_minutes: Some(-1), ..titled("t") }, "reminder_offset_minutes"),
        ];
        for (patch, field) in cases {
            assert_eq!(field_of(patch.clone()), field, "{patch:?}");
        }
    }

    #[test]
    fn limits_are_inclusive() {
        let patch = TaskPatch {
            description: Some(Some("d".repeat(4000))),
            tags: Some((0..20).map(|i| format!("{i:0>50}")).collect()),
            priority_id: Some(Some(4)),
            reminder_offset_minutes: Some(10080),
            ..titled(&"é".repeat(200))
        };
        let task = Task::create(user(), patch, NOW).unwrap();
        assert_eq!(task.tags.len(), 20);
    }

    #[test]
    fn duplicate_tags_are_kept_once() {
        let patch = TaskPatch { tags: Some(vec!["a".into(), " a".into(), "b".into()]), ..titled("t") };
        assert_eq!(Task::create(user(), patch, NOW).unwrap().tags, ["a", "b"]);
    }

    #[test]
    fn a_recurring_task_opens_a_series_anchored_on_its_due_day() {
        let patch = TaskPatch {
            recurrence: Some(Some(every(Frequency::Monthly, None))),
            due_date: Some(Some(datetime!(2028-01-31 09:00 UTC))),
            ..titled("rent")
        };
        let task = Task::create(user(), patch, NOW).unwrap();
        let series = task.series.unwrap();
        assert_eq!((series.occurrence, series.anchor_day), (0, 31));
        assert_eq!(task.recurrence.unwrap().interval, 1);

        let moved = task
            .apply(TaskPatch { due_date: Some(Some(datetime!(2028-02-15 09:00 UTC))), ..Default::default() }, NOW)
            .unwrap();
        assert_eq!(moved.series.unwrap().id, series.id);
        assert_eq!(moved.series.unwrap().anchor_day, 15);

        let stopped = moved.apply(TaskPatch { recurrence: Some(None), ..Default::default() }, NOW).unwrap();
        assert_eq!(stopped.series, None);
    }

    #[test]
    fn a_failed_patch_leaves_the_task_alone_and_a_good_one_bumps_the_revision() {
        let task = Task::create(user(), titled("t"), NOW).unwrap();
        assert!(task.apply(titled(""), NOW).is_err());
        let later = NOW + time::Duration::hours(1);
        let renamed = task.apply(titled("u"), later).unwrap();
        assert_eq!((renamed.revision, renamed.updated_at, renamed.created_at), (1, later, NOW));
    }

    #[test]
    fn frequencies_are_read_by_name() {
        assert_eq!(Frequency::parse("weekly"), Ok(Frequency::Weekly));
        assert_eq!(Frequency::parse("yearly").unwrap_err().field, "recurrence.frequency");
    }

    #[test]
    fn descriptions_keep_newlines_and_tabs() {
        let patch = TaskPatch { description: Some(Some("1.\tmilk\n2.\teggs".into())), ..titled("t") };
        assert!(Task::create(user(), patch, NOW).is_ok());
    }

    #[test]
    fn updated_at_never_goes_back_with_the_clock() {
        let task = Task::create(user(), titled("t"), NOW).unwrap();
        let earlier = NOW - time::Duration::minutes(5);
        assert_eq!(task.apply(titled("u"), earlier).unwrap().updated_at, NOW);
    }

    #[test]
    fn a_reminder_before_year_one_is_no_reminder() {
        let patch = TaskPatch {
            due_date: Some(Some(time::macros::datetime!(0001-01-01 00:30 UTC))),
            reminder_offset_minutes: Some(60),
            ..titled("t")
        };
        assert_eq!(Task::create(user(), patch, NOW).unwrap().reminder_time(), None);
    }

    #[test]
    fn the_reminder_is_due_offset_minutes_before_the_due_date() {
        let patch = TaskPatch {
            due_date: Some(Some(datetime!(2026-01-10 12:00 UTC))),
            reminder_offset_minutes: Some(30),
            ..titled("t")
        };
        let task = Task::create(user(), patch, NOW).unwrap();
        assert_eq!(task.reminder_time(), Some(datetime!(2026-01-10 11:30 UTC)));
    }
}
