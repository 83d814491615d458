//! Reminder selection: which tasks are due a `reminder.due` at a given instant.
//! Pure functions; "at most one reminder per task and due date" is kept by the caller's ledger.
//!
//! A task is due a reminder when it is open, has a due date, its reminder time (due date minus
//! its offset) has come, and its due date has not passed by more than the grace period.

use time::{Duration, OffsetDateTime};
use todo_model::{Channel, EARLIEST, LATEST, MAX_REMINDER_OFFSET_MINUTES, Reminder, Task};

/// How long after its due date a task may still get its reminder, so that a sweep missed while
/// the service was down is made up for, but a long-forgotten task is not nagged about.
pub const DEFAULT_GRACE: Duration = Duration::hours(1);

/// Where reminders go when nothing else is configured (this phase only logs them).
pub const DEFAULT_CHANNELS: [Channel; 1] = [Channel::Email];

/// Whether `task` is due a reminder at `now`.
pub fn is_due(task: &Task, now: OffsetDateTime, grace: Duration) -> bool {
    match (task.completed, task.due_date, task.reminder_time()) {
        // A due date so close to the end of the calendar that its grace period leaves it is
        // still within grace.
        (false, Some(due), Some(remind_at)) => remind_at <= now && due.checked_add(grace).is_none_or(|end| now <= end),
        _ => false,
    }
}

/// The reminder for `task`, whether or not it is due now; `None` without a due date.
pub fn reminder_for(task: &Task) -> Option<Reminder> {
    Some(Reminder {
        task_id: task.id,
        user_id: task.user_id.clone(),
        task_title: task.title.clone(),
        due_date: task.due_date?,
        reminder_time: task.reminder_time()?,
        notification_channels: DEFAULT_CHANNELS.to_vec(),
    })
}

/// The reminders due at `now` among `tasks`.
pub fn select_due<'a>(
    tasks: impl IntoIterator<Item = &'a Task>,
    now: OffsetDateTime,
    grace: Duration,
) -> Vec<Reminder> {
    tasks.into_iter().filter(|t| is_due(t, now, grace)).filter_map(reminder_for).collect()
}

/// The due-date window a store must return candidates from so that [`select_due`] misses
/// nothing: from `now - grace` to `now` plus the longest reminder offset, within the calendar.
pub fn candidate_window(now: OffsetDateTime, grace: Duration) -> (OffsetDateTime, OffsetDateTime) {
    let from = now.checked_sub(grace).map_or(EARLIEST, |t| t.max(EARLIEST));
    let to = now.checked_add(Duration::minutes(MAX_REMINDER_OFFSET_MINUTES.into())).map_or(LATEST, |t| t.min(LATEST));
    (from, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use todo_model::{TaskId, TaskPatch, UserId};

    const NOW: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

    fn task(due_in_minutes: Option<i64>, offset: i64, completed: bool) -> Task {
        let patch = TaskPatch {
            title: Some("t".into()),
            due_date: Some(due_in_minutes.map(|m| NOW + Duration::minutes(m))),
            reminder_offset_minutes: Some(offset),
            completed: Some(completed),
            ..TaskPatch::default()
        };
        let mut t = Task::create(UserId::parse("u").unwrap(), patch, NOW).unwrap();
        t.id = TaskId(1);
        t
    }

    #[test]
    fn selection_follows_the_rule() {
        let grace = DEFAULT_GRACE;
        let cases = [
            (task(Some(30), 60, false), true, "due in 30 min, reminder 60 min before"),
            (task(Some(90), 60, false), false, "reminder time still ahead"),
            (task(Some(60), 60, false), true, "reminder time exactly now"),
            (task(Some(30), 60, true), false, "completed"),
            (task(None, 60, false), false, "no due date"),
            (task(Some(-30), 60, false), true, "overdue within grace"),
            (task(Some(-61), 60, false), false, "overdue beyond grace"),
            (task(Some(0), 0, false), true, "offset zero, due now"),
        ];
        for (t, expected, why) in cases {
            assert_eq!(is_due(&t, NOW, grace), expected, "{why}");
        }
    }

    #[test]
    fn a_selected_reminder_describes_the_task() {
        let t = task(Some(30), 60, false);
        let reminders = select_due([&t, &task(Some(30), 60, true)], NOW, DEFAULT_GRACE);
        assert_eq!(reminders.len(), 1);
        let r = &reminders[0];
        assert_eq!((r.task_id, r.task_title.as_str()), (TaskId(1), "t"));
        assert_eq!(r.due_date, NOW + Duration::minutes(30));
        assert_eq!(r.reminder_time, NOW - Duration::minutes(30));
    }

    #[test]
    fn the_ends_of_the_calendar_are_no_panic() {
        let end = time::macros::datetime!(9999-12-31 23:30 UTC);
        let mut t = task(Some(0), 60, false);
        t.due_date = Some(end);
        assert!(is_due(&t, end, DEFAULT_GRACE));
        let (from, to) = candidate_window(end, DEFAULT_GRACE);
        assert!(from < end && to == LATEST);
        let (from, _) = candidate_window(EARLIEST, DEFAULT_GRACE);
        assert_eq!(from, EARLIEST);
    }

    #[test]
    fn the_candidate_window_covers_every_selectable_due_date() {
        let (from, to) = candidate_window(NOW, DEFAULT_GRACE);
        for (minutes, offset) in [(-60, 0), (10080, 10080), (30, 60)] {
            let t = task(Some(minutes), offset, false);
            assert!(is_due(&t, NOW, DEFAULT_GRACE));
            let due = t.due_date.unwrap();
            assert!(from <= due && due <= to, "{minutes}");
        }
    }
}
