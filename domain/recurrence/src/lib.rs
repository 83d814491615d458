//! Recurrence math: when the next occurrence of a recurring task is due, and what it looks like.
//! Pure functions of their arguments; the caller passes `now`.
//!
//! Daily adds `interval` days, weekly `7 * interval` days, monthly goes to the series' anchor
//! day `interval` months later, capped at the month's last day (Jan 31 -> Feb 29 -> Mar 31).
//! The time of day is kept, in UTC. A series whose next due date would leave the calendar
//! (after 9999-12-31) ends: the functions say `None` instead of panicking.

use time::{Duration, Month, OffsetDateTime, UtcOffset};
use todo_model::{Frequency, LATEST, Recurrence, Series, Task, TaskId};

/// The due date after `previous` for `rule`, returning to `anchor_day` in monthly series; `None`
/// when it would fall after [`LATEST`] (the series ends there).
pub fn next_due(rule: Recurrence, anchor_day: u8, previous: OffsetDateTime) -> Option<OffsetDateTime> {
    let interval = i64::from(rule.interval);
    let next = match rule.frequency {
        Frequency::Daily => previous.checked_add(Duration::days(interval)),
        Frequency::Weekly => previous.checked_add(Duration::weeks(interval)),
        Frequency::Monthly => add_months(previous, rule.interval, anchor_day),
    }?;
    let next = next.checked_to_offset(UtcOffset::UTC)?;
    (next <= LATEST).then_some(next)
}

/// `from` moved `months` months ahead, on `anchor_day` or the month's last day if shorter.
fn add_months(from: OffsetDateTime, months: u32, anchor_day: u8) -> Option<OffsetDateTime> {
    let from = from.checked_to_offset(UtcOffset::UTC)?;
    let index = i64::from(from.year()) * 12 + i64::from(u8::from(from.month())) - 1 + i64::from(months);
    let year = i32::try_from(index.div_euclid(12)).ok()?;
    let month = Month::try_from(u8::try_from(index.rem_euclid(12) + 1).ok()?).ok()?;
    let day = anchor_day.clamp(1, 31).min(time::util::days_in_month(month, year));
    time::Date::from_calendar_date(year, month, day).ok().map(|date| from.replace_date(date))
}

/// The next instance of a recurring `task`, not yet stored (id [`TaskId`]`(0)`), or `None` when
/// the task does not recur or its series has reached the end of the calendar. It keeps title,
/// description, priority, tags, rule and reminder offset, is open, and takes the next
/// occurrence number of the series.
pub fn next_instance(task: &Task, now: OffsetDateTime) -> Option<Task> {
    let rule = task.recurrence?;
    let due = task.due_date?;
    let series = task.series?;
    Some(Task {
        id: TaskId(0),
        completed: false,
        due_date: Some(next_due(rule, series.anchor_day, due)?),
        series: Some(Series { occurrence: series.occurrence.checked_add(1)?, ..series }),
        revision: 0,
        created_at: now,
        updated_at: now,
        ..task.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn monthly(interval: u32) -> Recurrence {
        Recurrence { frequency: Frequency::Monthly, interval }
    }

    #[test]
    fn a_series_started_on_january_31_keeps_returning_to_the_31st() {
        let rule = monthly(1);
        let jan = datetime!(2028-01-31 09:30 UTC);
        let feb = next_due(rule, 31, jan).unwrap();
        let mar = next_due(rule, 31, feb).unwrap();
        let apr = next_due(rule, 31, mar).unwrap();
        assert_eq!(feb, datetime!(2028-02-29 09:30 UTC));
        assert_eq!(mar, datetime!(2028-03-31 09:30 UTC));
        assert_eq!(apr, datetime!(2028-04-30 09:30 UTC));
    }

    #[test]
    fn february_of_a_common_year_caps_at_the_28th() {
        assert_eq!(next_due(monthly(1), 31, datetime!(2027-01-31 00:00 UTC)), Some(datetime!(2027-02-28 00:00 UTC)));
        assert_eq!(next_due(monthly(1), 29, datetime!(2100-01-29 00:00 UTC)), Some(datetime!(2100-02-28 00:00 UTC)));
        assert_eq!(next_due(monthly(1), 29, datetime!(2000-01-29 00:00 UTC)), Some(datetime!(2000-02-29 00:00 UTC)));
    }

    #[test]
    fn intervals_cross_year_ends() {
        assert_eq!(next_due(monthly(3), 30, datetime!(2026-11-30 08:00 UTC)), Some(datetime!(2027-02-28 08:00 UTC)));
        assert_eq!(next_due(monthly(12), 29, datetime!(2028-02-29 08:00 UTC)), Some(datetime!(2029-02-28 08:00 UTC)));
        let weekly = Recurrence { frequency: Frequency::Weekly, interval: 2 };
        assert_eq!(next_due(weekly, 1, datetime!(2026-12-25 07:00 UTC)), Some(datetime!(2027-01-08 07:00 UTC)));
        let daily = Recurrence { frequency: Frequency::Daily, interval: 1 };
        assert_eq!(next_due(daily, 1, datetime!(2028-02-28 23:59 UTC)), Some(datetime!(2028-02-29 23:59 UTC)));
    }

    #[test]
    fn a_non_utc_due_date_is_handled_in_utc() {
        let due = datetime!(2026-01-31 23:30 -02:00); // Feb 1, 01:30 UTC
        assert_eq!(next_due(monthly(1), 1, due), Some(datetime!(2026-03-01 01:30 UTC)));
    }

    fn any_instant() -> impl Strategy<Value = OffsetDateTime> {
        (0i64..4_000_000_000).prop_map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap())
    }

    proptest! {
        #[test]
        fn monthly_lands_on_the_anchor_or_the_last_day(start in any_instant(), interval in 1u32..=36, anchor in 1u8..=31) {
            let next = next_due(monthly(interval), anchor, start).unwrap();
            let months = (next.year() - start.year()) * 12 + i32::from(u8::from(next.month())) - i32::from(u8::from(start.month()));
            prop_assert_eq!(months, interval as i32);
            prop_assert_eq!(next.day(), anchor.min(time::util::days_in_month(next.month(), next.year())));
            prop_assert_eq!(next.time(), start.time());
        }

        #[test]
        fn a_monthly_series_never_drifts(start_day in 1u8..=31, steps in 1usize..60, year in 1990i32..2300) {
            let month_len = time::util::days_in_month(Month::January, year);
            let start = time::Date::from_calendar_date(year, Month::January, start_day.min(month_len)).unwrap()
                .with_hms(6, 0, 0).unwrap().assume_utc();
            let mut due = start;
            for _ in 0..steps {
                due = next_due(monthly(1), start_day, due).unwrap();
                prop_assert_eq!(due.day(), start_day.min(time::util::days_in_month(due.month(), due.year())));
            }
        }

        #[test]
        fn daily_and_weekly_add_exact_days(start in any_instant(), interval in 1u32..=365) {
            let daily = Recurrence { frequency: Frequency::Daily, interval };
            let weekly = Recurrence { frequency: Frequency::Weekly, interval };
            prop_assert_eq!(next_due(daily, 1, start).unwrap() - start, Duration::days(interval.into()));
            prop_assert_eq!(next_due(weekly, 1, start).unwrap() - start, Duration::days(7 * i64::from(interval)));
        }
    }

    #[test]
    fn a_series_at_the_end_of_the_calendar_ends_instead_of_panicking() {
        let end = datetime!(9999-12-30 09:00 UTC);
        for frequency in [Frequency::Daily, Frequency::Weekly, Frequency::Monthly] {
            let rule = Recurrence { frequency, interval: 365 };
            assert_eq!(next_due(rule, 30, end), None, "{frequency:?}");
        }
        assert_eq!(next_due(monthly(1), 31, datetime!(9999-12-31 23:59:59.999999 UTC)), None);
        assert_eq!(
            next_due(Recurrence { frequency: Frequency::Daily, interval: 1 }, 1, datetime!(9999-12-30 23:59 UTC)),
            Some(datetime!(9999-12-31 23:59 UTC))
        );
        let weekly = Recurrence { frequency: Frequency::Weekly, interval: 1 };
        assert_eq!(next_due(weekly, 30, end), None);
    }

    proptest! {
        #[test]
        fn next_due_never_panics_and_stays_in_the_calendar(
            secs in -62_135_596_800i64..=253_402_300_799, interval in 1u32..=365, anchor in 1u8..=31, f in 0u8..3,
        ) {
            let start = OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let frequency = [Frequency::Daily, Frequency::Weekly, Frequency::Monthly][usize::from(f)];
            if let Some(next) = next_due(Recurrence { frequency, interval }, anchor, start) {
                prop_assert!(next > start && next <= LATEST);
            }
        }
    }

    #[test]
    fn the_next_instance_copies_the_task_and_advances_the_series() {
        let user = todo_model::UserId::parse("u").unwrap();
        let now = datetime!(2028-01-31 10:00 UTC);
        let patch = todo_model::TaskPatch {
            title: Some("rent".into()),
            description: Some(Some("pay it".into())),
            priority_id: Some(Some(2)),
            tags: Some(vec!["home".into()]),
            due_date: Some(Some(datetime!(2028-01-31 09:00 UTC))),
            recurrence: Some(Some(todo_model::RecurrenceInput { frequency: Frequency::Monthly, interval: None })),
            reminder_offset_minutes: Some(15),
            ..Default::default()
        };
        let mut task = Task::create(user, patch, now).unwrap();
        task.id = TaskId(7);
        task.completed = true;
        let later = now + Duration::hours(1);
        let next = next_instance(&task, later).unwrap();
        assert_eq!(next.due_date, Some(datetime!(2028-02-29 09:00 UTC)));
        assert_eq!((next.id, next.completed, next.revision), (TaskId(0), false, 0));
        assert_eq!((next.created_at, next.updated_at), (later, later));
        assert_eq!(next.series.unwrap().occurrence, 1);
        assert_eq!(next.series.unwrap().id, task.series.unwrap().id);
        assert_eq!(
            (&next.title, &next.description, next.priority_id, &next.tags),
            (&task.title, &task.description, task.priority_id, &task.tags)
        );
        assert_eq!((next.recurrence, next.reminder_offset_minutes), (task.recurrence, 15));

        task.recurrence = None;
        assert_eq!(next_instance(&task, later), None);
    }
}
