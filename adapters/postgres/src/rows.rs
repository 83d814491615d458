//! Tasks to and from table rows. Every column of `tasks` is read and written here only.

use time::OffsetDateTime;
use todo_ports::RepoError;
use todo_ports::model::{Frequency, Priority, Recurrence, Series, Task, TaskId, UserId};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::error::{from_pg, internal};

/// The columns of a task, in the order [`task_from_row`] reads them by name.
pub(crate) const TASK_COLUMNS: &str = "id, user_id, title, description, completed, priority_id, due_date, tags, \
     recurrence_frequency, recurrence_interval, reminder_offset_minutes, \
     series_id, series_occurrence, series_anchor_day, revision, created_at, updated_at";

/// A task's values in their column types (the ones the domain types do not map to directly).
pub(crate) struct TaskColumns {
    pub priority_id: Option<i16>,
    pub frequency: Option<&'static str>,
    pub interval: Option<i32>,
    pub reminder_offset_minutes: i32,
    pub series_id: Option<Uuid>,
    pub series_occurrence: Option<i64>,
    pub series_anchor_day: Option<i16>,
}

impl TaskColumns {
    /// The column values of `task`.
    pub(crate) fn of(task: &Task) -> Result<Self, RepoError> {
        let fits = |what: &str| internal(format!("{what} of task {} does not fit its column", task.id));
        Ok(Self {
            priority_id: task.priority_id.map(|p| i16::from(p.get())),
            frequency: task.recurrence.map(|r| r.frequency.as_str()),
            interval: task.recurrence.map(|r| i32::try_from(r.interval)).transpose().map_err(|_| fits("interval"))?,
            reminder_offset_minutes: i32::try_from(task.reminder_offset_minutes)
                .map_err(|_| fits("reminder_offset_minutes"))?,
            series_id: task.series.map(|s| s.id),
            series_occurrence: task.series.map(|s| i64::from(s.occurrence)),
            series_anchor_day: task.series.map(|s| i16::from(s.anchor_day)),
        })
    }
}

/// The task stored in `row` (selected with [`TASK_COLUMNS`]).
pub(crate) fn task_from_row(row: &Row) -> Result<Task, RepoError> {
    let id: i64 = row.try_get("id").map_err(from_pg)?;
    let bad = |what: &str| internal(format!("task {id} has an invalid {what}"));
    let user_id: String = row.try_get("user_id").map_err(from_pg)?;
    let priority: Option<i16> = row.try_get("priority_id").map_err(from_pg)?;
    let frequency: Option<String> = row.try_get("recurrence_frequency").map_err(from_pg)?;
    let interval: Option<i32> = row.try_get("recurrence_interval").map_err(from_pg)?;
    let offset: i32 = row.try_get("reminder_offset_minutes").map_err(from_pg)?;
    let series_id: Option<Uuid> = row.try_get("series_id").map_err(from_pg)?;
    let occurrence: Option<i64> = row.try_get("series_occurrence").map_err(from_pg)?;
    let anchor_day: Option<i16> = row.try_get("series_anchor_day").map_err(from_pg)?;
    let revision: i64 = row.try_get("revision").map_err(from_pg)?;

    let recurrence = match (frequency, interval) {
        (Some(f), Some(i)) => Some(Recurrence {
            frequency: Frequency::parse(&f).map_err(|_| bad("recurrence frequency"))?,
            interval: u32::try_from(i).map_err(|_| bad("recurrence interval"))?,
        }),
        (None, None) => None,
        _ => return Err(bad("recurrence")),
    };
    let series = match (series_id, occurrence, anchor_day) {
        (Some(id), Some(occurrence), Some(anchor_day)) => Some(Series {
            id,
            occurrence: u32::try_from(occurrence).map_err(|_| bad("series occurrence"))?,
            anchor_day: u8::try_from(anchor_day).map_err(|_| bad("series anchor day"))?,
        }),
        (None, None, None) => None,
        _ => return Err(bad("series")),
    };
    Ok(Task {
        id: TaskId(id),
        user_id: UserId::parse(&user_id).map_err(|_| bad("user id"))?,
        title: row.try_get("title").map_err(from_pg)?,
        description: row.try_get("description").map_err(from_pg)?,
        completed: row.try_get("completed").map_err(from_pg)?,
        priority_id: priority.map(|p| Priority::parse(p.into())).transpose().map_err(|_| bad("priority"))?,
        due_date: row.try_get::<_, Option<OffsetDateTime>>("due_date").map_err(from_pg)?,
        tags: row.try_get("tags").map_err(from_pg)?,
        recurrence,
        reminder_offset_minutes: u32::try_from(offset).map_err(|_| bad("reminder offset"))?,
        series,
        revision: u32::try_from(revision).map_err(|_| bad("revision"))?,
        created_at: row.try_get("created_at").map_err(from_pg)?,
        updated_at: row.try_get("updated_at").map_err(from_pg)?,
    })
}
