//! The use cases end to end on the in-memory adapters: what a user of the system sees.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

mod support;

use std::sync::Arc;

use support::{System, eventually, settle, user};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use todo_ports::model::{
    ConversationKey, Event, Frequency, RecurrenceInput, Reminder, ReminderEvent, ReminderEventType, Role, SessionId,
    TaskId, TaskPatch, Topic, UserId,
};
use todo_ports::{
    ActivityService, AuditQuery, ConversationService, EventHandler, MessageInput, ServiceError, SweepService,
    TaskQuery, TaskService,
};

/// The first `limit` entries of `u`'s audit log.
fn audit_of(u: &UserId, limit: u32) -> AuditQuery {
    AuditQuery { limit, ..AuditQuery::new(u.clone()) }
}

fn titled(title: &str) -> TaskPatch {
    TaskPatch { title: Some(title.into()), ..TaskPatch::default() }
}

fn monthly_due(due: OffsetDateTime) -> TaskPatch {
    TaskPatch {
        due_date: Some(Some(due)),
        recurrence: Some(Some(RecurrenceInput { frequency: Frequency::Monthly, interval: None })),
        ..titled("pay rent")
    }
}

async fn open_tasks(system: &System, who: &str) -> Vec<todo_ports::model::Task> {
    let query = TaskQuery { completed: Some(false), ..TaskQuery::default() };
    system.todo.tasks.list(&user(who), query).await.unwrap().items
}

#[tokio::test(start_paused = true)]
async fn a_monthly_series_goes_jan_31_feb_29_mar_31() {
    let system = System::start();
    let u = user("alice");
    let jan = system.todo.tasks.create(&u, monthly_due(datetime!(2028-01-31 09:00 UTC))).await.unwrap();

    let mut due_dates = vec![jan.due_date.unwrap()];
    let mut current = jan;
    for _ in 0..2 {
        system.todo.tasks.complete(&u, current.id).await.unwrap();
        eventually("the next occurrence", async || open_tasks(&system, "alice").await.len() == 1).await;
        current = open_tasks(&system, "alice").await.remove(0);
        due_dates.push(current.due_date.unwrap());
    }
    assert_eq!(
        due_dates,
        [datetime!(2028-01-31 09:00 UTC), datetime!(2028-02-29 09:00 UTC), datetime!(2028-03-31 09:00 UTC)]
    );
    assert_eq!(current.series.unwrap().occurrence, 2);
    assert_eq!(current.title, "pay rent");
}

#[tokio::test(start_paused = true)]
async fn eight_concurrent_completions_make_exactly_one_next_instance() {
    let system = System::start();
    let u = user("bob");
    let task = system.todo.tasks.create(&u, monthly_due(datetime!(2030-01-15 09:00 UTC))).await.unwrap();

    let completions: Vec<_> = (0..8)
        .map(|_| {
            let tasks = system.todo.tasks.clone();
            let u = u.clone();
            tokio::spawn(async move { tasks.complete(&u, task.id).await })
        })
        .collect();
    for completion in completions {
        assert!(completion.await.unwrap().unwrap().completed);
    }
    eventually("the next occurrence", async || open_tasks(&system, "bob").await.len() == 1).await;
    settle().await;

    assert_eq!(open_tasks(&system, "bob").await.len(), 1);
    assert_eq!(system.published(Topic::TaskEvents, "task.completed").len(), 1);
    assert_eq!(system.published(Topic::TaskEvents, "task.created").len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_completion_event_delivered_twice_creates_one_instance() {
    let system = System::start();
    let u = user("carol");
    let task = system.todo.tasks.create(&u, monthly_due(datetime!(2030-01-15 09:00 UTC))).await.unwrap();
    system.todo.tasks.complete(&u, task.id).await.unwrap();
    eventually("the completion event", async || !system.published(Topic::TaskEvents, "task.completed").is_empty())
        .await;
    let completed = system.published(Topic::TaskEvents, "task.completed").remove(0);

    use todo_ports::EventHandler;
    for _ in 0..5 {
        system.todo.recurring.handle(&completed).await.unwrap();
    }
    settle().await;
    assert_eq!(open_tasks(&system, "carol").await.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn completing_a_completed_task_changes_nothing_and_emits_nothing() {
    let system = System::start();
    let u = user("dan");
    let task = system.todo.tasks.create(&u, titled("once")).await.unwrap();
    let first = system.todo.tasks.complete(&u, task.id).await.unwrap();
    let second = system.todo.tasks.complete(&u, task.id).await.unwrap();
    assert_eq!(first, second);
    settle().await;
    assert_eq!(system.published(Topic::TaskEvents, "task.completed").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn an_update_that_changes_nothing_emits_nothing() {
    let system = System::start();
    let u = user("erin");
    let task = system.todo.tasks.create(&u, titled("same")).await.unwrap();
    let again = system.todo.tasks.update(&u, task.id, titled("  same ")).await.unwrap();
    assert_eq!(again, task);
    let renamed = system.todo.tasks.update(&u, task.id, titled("other")).await.unwrap();
    assert_eq!((renamed.title.as_str(), renamed.revision), ("other", 1));
    settle().await;
    assert_eq!(system.published(Topic::TaskEvents, "task.updated").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn completing_through_an_update_emits_task_completed() {
    let system = System::start();
    let u = user("erin");
    let task = system.todo.tasks.create(&u, titled("t")).await.unwrap();
    let patch = TaskPatch { completed: Some(true), ..TaskPatch::default() };
    system.todo.tasks.update(&u, task.id, patch).await.unwrap();
    eventually("task.completed", async || system.published(Topic::TaskEvents, "task.completed").len() == 1).await;
    assert!(system.published(Topic::TaskEvents, "task.updated").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_deleted_task_is_gone_and_its_event_carries_the_whole_task() {
    let system = System::start();
    let u = user("fay");
    let patch = TaskPatch { description: Some(Some("details".into())), tags: Some(vec!["x".into()]), ..titled("bye") };
    let task = system.todo.tasks.create(&u, patch).await.unwrap();
    system.todo.tasks.delete(&u, task.id).await.unwrap();

    assert!(matches!(system.todo.tasks.get(&u, task.id).await, Err(ServiceError::NotFound("task"))));
    assert!(matches!(system.todo.tasks.delete(&u, task.id).await, Err(ServiceError::NotFound("task"))));
    eventually("task.deleted", async || !system.published(Topic::TaskEvents, "task.deleted").is_empty()).await;
    let Event::Task(deleted) = system.published(Topic::TaskEvents, "task.deleted").remove(0) else { unreachable!() };
    assert_eq!(deleted.data, task);
}

#[tokio::test(start_paused = true)]
async fn another_users_task_does_not_exist_for_you() {
    let system = System::start();
    let task = system.todo.tasks.create(&user("owner"), titled("mine")).await.unwrap();
    let stranger = user("stranger");
    assert!(matches!(system.todo.tasks.get(&stranger, task.id).await, Err(ServiceError::NotFound(_))));
    assert!(matches!(system.todo.tasks.complete(&stranger, task.id).await, Err(ServiceError::NotFound(_))));
    assert!(matches!(system.todo.tasks.update(&stranger, task.id, titled("x")).await, Err(ServiceError::NotFound(_))));
    assert!(matches!(system.todo.tasks.delete(&stranger, task.id).await, Err(ServiceError::NotFound(_))));
    assert_eq!(system.todo.tasks.list(&stranger, TaskQuery::default()).await.unwrap().total, 0);
    assert!(matches!(system.todo.tasks.get(&user("owner"), TaskId(999)).await, Err(ServiceError::NotFound(_))));
}

#[tokio::test(start_paused = true)]
async fn a_task_due_in_30_minutes_gets_exactly_one_reminder_over_two_sweeps() {
    let system = System::start();
    let u = user("gus");
    let due = OffsetDateTime::now_utc() + Duration::minutes(30);
    let open = TaskPatch { due_date: Some(Some(due)), ..titled("call") };
    let done = TaskPatch { due_date: Some(Some(due)), completed: Some(true), ..titled("called") };
    let open = system.todo.tasks.create(&u, open).await.unwrap();
    system.todo.tasks.create(&u, done).await.unwrap();

    system.todo.sweep.sweep().await.unwrap();
    system.todo.sweep.sweep().await.unwrap();
    eventually("the notification", async || system.todo.activity.notifications(&u, 10).await.unwrap().len() == 1).await;
    settle().await;

    let reminders = system.published(Topic::Reminders, "reminder.due");
    assert_eq!(reminders.len(), 1);
    let Event::Reminder(reminder) = &reminders[0] else { unreachable!() };
    assert_eq!((reminder.data.task_id, reminder.data.due_date), (open.id, open.due_date.unwrap()));
    assert_eq!(system.published(Topic::Reminders, "reminder.sent").len(), 1);
    assert_eq!(system.todo.activity.notifications(&u, 10).await.unwrap().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_reminder_given_up_on_is_published_as_reminder_failed_once_and_never_delivered() {
    let system = System::start();
    let u = user("ike");
    let due = OffsetDateTime::now_utc() + Duration::minutes(30);
    let reminder = Reminder {
        task_id: TaskId(7),
        user_id: u.clone(),
        task_title: "renew the passport".into(),
        due_date: due,
        reminder_time: due - Duration::minutes(60),
        notification_channels: vec![],
    };
    let dead = Event::Reminder(ReminderEvent::new(ReminderEventType::Due, reminder, OffsetDateTime::now_utc()));
    // As the `reminders` dead-letter topic would deliver it, twice.
    system.todo.undelivered.handle(&dead).await.unwrap();
    system.todo.undelivered.handle(&dead).await.unwrap();
    eventually("reminder.failed", async || !system.published(Topic::Reminders, "reminder.failed").is_empty()).await;
    settle().await;
    let failed = system.published(Topic::Reminders, "reminder.failed");
    assert_eq!(failed.len(), 1, "once");
    let Event::Reminder(failed) = &failed[0] else { unreachable!() };
    assert_eq!(failed.data.task_id, TaskId(7));
    // Delivered late (a redelivery of the live topic), it is not delivered after all.
    system.todo.notifier.handle(&dead).await.unwrap();
    settle().await;
    assert!(system.todo.activity.notifications(&u, 10).await.unwrap().is_empty());
    assert!(system.published(Topic::Reminders, "reminder.sent").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_reminder_scheduled_one_minute_before_the_due_date_fires_on_time_without_a_sweep() {
    let system = System::start();
    let u = user("hal");
    let patch = TaskPatch {
        due_date: Some(Some(OffsetDateTime::now_utc() + Duration::minutes(2))),
        reminder_offset_minutes: Some(1),
        ..titled("stand-up")
    };
    let task = system.todo.tasks.create(&u, patch).await.unwrap();
    eventually("the job, planned from task.created", async || system.scheduler.pending() == 1).await;

    tokio::time::sleep(std::time::Duration::from_secs(57)).await;
    assert!(system.published(Topic::Reminders, "reminder.due").is_empty(), "fired early");

    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    eventually("the reminder", async || system.published(Topic::Reminders, "reminder.due").len() == 1).await;
    let Event::Reminder(reminder) = system.published(Topic::Reminders, "reminder.due").remove(0) else {
        unreachable!()
    };
    assert_eq!(reminder.data.task_id, task.id);
}

#[tokio::test(start_paused = true)]
async fn completing_or_deleting_a_task_cancels_its_reminder() {
    let system = System::start();
    let u = user("ivy");
    let patch = TaskPatch { due_date: Some(Some(OffsetDateTime::now_utc() + Duration::hours(2))), ..titled("a") };
    let a = system.todo.tasks.create(&u, patch.clone()).await.unwrap();
    let b = system.todo.tasks.create(&u, patch).await.unwrap();
    eventually("two jobs", async || system.scheduler.pending() == 2).await;
    system.todo.tasks.complete(&u, a.id).await.unwrap();
    system.todo.tasks.delete(&u, b.id).await.unwrap();
    eventually("both jobs cancelled", async || system.scheduler.pending() == 0).await;
    tokio::time::sleep(std::time::Duration::from_secs(3 * 3600)).await;
    assert!(system.published(Topic::Reminders, "reminder.due").is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_sweep_continues_an_overdue_recurring_series_once() {
    let system = System::start();
    let u = user("jo");
    let yesterday = OffsetDateTime::now_utc() - Duration::hours(23);
    let patch = TaskPatch {
        due_date: Some(Some(yesterday)),
        recurrence: Some(Some(RecurrenceInput { frequency: Frequency::Daily, interval: None })),
        reminder_offset_minutes: Some(0),
        ..titled("water plants")
    };
    system.todo.tasks.create(&u, patch).await.unwrap();
    let first = system.todo.sweep.sweep().await.unwrap();
    let second = system.todo.sweep.sweep().await.unwrap();
    assert_eq!((first.instances, second.instances), (1, 0));
    let open = open_tasks(&system, "jo").await;
    assert_eq!(open.len(), 2);
    assert!(open.iter().any(|t| t.due_date.unwrap() > OffsetDateTime::now_utc()));
}

#[tokio::test(start_paused = true)]
async fn twenty_concurrent_appends_keep_all_twenty_messages() {
    let system = System::start();
    let key = ConversationKey { user_id: user("kim"), session_id: SessionId::parse("s1").unwrap() };
    let appends: Vec<_> = (0..20)
        .map(|i| {
            let conversations = system.todo.conversations.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let message = MessageInput::text(Role::User, format!("message {i}"));
                conversations.append(&key, message).await
            })
        })
        .collect();
    for append in appends {
        append.await.unwrap().unwrap();
    }
    let conversation = system.todo.conversations.get(&key).await.unwrap();
    let mut contents: Vec<String> = conversation.messages.iter().map(|m| m.content.clone()).collect();
    contents.sort();
    let mut expected: Vec<String> = (0..20).map(|i| format!("message {i}")).collect();
    expected.sort();
    assert_eq!(contents, expected);
}

#[tokio::test(start_paused = true)]
async fn the_audit_log_holds_every_task_event_once_newest_first() {
    let system = System::start();
    let u = user("lee");
    let task = system.todo.tasks.create(&u, titled("a")).await.unwrap();
    system.todo.tasks.update(&u, task.id, titled("b")).await.unwrap();
    system.todo.tasks.complete(&u, task.id).await.unwrap();
    system.todo.tasks.delete(&u, task.id).await.unwrap();
    eventually("four audited events", async || {
        system.todo.activity.audit(audit_of(&u, 50)).await.unwrap().items.len() == 4
    })
    .await;

    let audited = system.todo.activity.audit(audit_of(&u, 50)).await.unwrap().items;
    let types: Vec<&str> = audited.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["task.deleted", "task.completed", "task.updated", "task.created"]);

    use todo_ports::EventHandler;
    system.todo.audit.handle(&Event::Task(audited[0].clone())).await.unwrap();
    assert_eq!(system.todo.activity.audit(audit_of(&u, 50)).await.unwrap().items.len(), 4);
    assert!(system.todo.activity.audit(audit_of(&user("other"), 50)).await.unwrap().items.is_empty());
}

#[tokio::test(start_paused = true)]
async fn fifty_concurrent_updates_leave_updated_at_rising_and_the_newest_audit_entry_final() {
    let system = System::start();
    let u = user("nia");
    let task = system.todo.tasks.create(&u, titled("t0")).await.unwrap();
    let updates: Vec<_> = (1..=50)
        .map(|i| {
            let (tasks, u) = (system.todo.tasks.clone(), u.clone());
            tokio::spawn(async move { tasks.update(&u, task.id, titled(&format!("t{i}"))).await })
        })
        .collect();
    for update in updates {
        update.await.unwrap().unwrap();
    }
    let last = system.todo.tasks.get(&u, task.id).await.unwrap();
    assert_eq!(last.revision, 50);
    eventually("51 audited events", async || {
        system.todo.activity.audit(audit_of(&u, 100)).await.unwrap().items.len() == 51
    })
    .await;
    let audited = system.todo.activity.audit(audit_of(&u, 100)).await.unwrap().items;
    assert_eq!(audited[0].data, last, "the newest audit entry is the final state");
    let mut by_revision: Vec<_> = audited.iter().map(|e| (e.data.revision, e.data.updated_at)).collect();
    by_revision.sort();
    assert!(by_revision.windows(2).all(|w| w[0].1 <= w[1].1), "updated_at went backwards: {by_revision:?}");
}

#[tokio::test(start_paused = true)]
async fn a_series_at_the_end_of_the_calendar_ends_and_delivery_goes_on_for_everyone() {
    let system = System::start();
    let (u, other) = (user("omar"), user("pia"));
    for frequency in [Frequency::Weekly, Frequency::Monthly] {
        let patch = TaskPatch {
            due_date: Some(Some(datetime!(9999-12-30 09:00 UTC))),
            recurrence: Some(Some(RecurrenceInput { frequency, interval: None })),
            ..titled("last one")
        };
        let task = system.todo.tasks.create(&u, patch).await.unwrap();
        system.todo.tasks.complete(&u, task.id).await.unwrap();
    }
    settle().await;
    assert!(open_tasks(&system, "omar").await.is_empty(), "no instance after 9999-12-31");
    assert!(system.bus.dead_letters().is_empty(), "the completions were handled, not dead-lettered");
    let monthly = TaskPatch {
        due_date: Some(Some(datetime!(2030-01-31 09:00 UTC))),
        ..monthly_due(datetime!(2030-01-31 09:00 UTC))
    };
    let next = system.todo.tasks.create(&other, monthly).await.unwrap();
    system.todo.tasks.complete(&other, next.id).await.unwrap();
    eventually("the other user's next instance", async || open_tasks(&system, "pia").await.len() == 1).await;
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_with_the_field_named_and_changes_nothing() {
    let system = System::start();
    let u = user("max");
    let task = system.todo.tasks.create(&u, titled("keep")).await.unwrap();
    let bad = TaskPatch { priority_id: Some(Some(9)), ..TaskPatch::default() };
    match system.todo.tasks.update(&u, task.id, bad).await {
        Err(ServiceError::Invalid(e)) => assert_eq!(e.field, "priority_id"),
        other => panic!("expected a validation error, got {other:?}"),
    }
    assert_eq!(system.todo.tasks.get(&u, task.id).await.unwrap(), task);
    let key = ConversationKey { user_id: u.clone(), session_id: SessionId::parse("s").unwrap() };
    let empty = MessageInput::text(Role::User, "");
    assert!(matches!(system.todo.conversations.append(&key, empty).await, Err(ServiceError::Invalid(_))));
    assert!(matches!(system.todo.conversations.get(&key).await, Err(ServiceError::NotFound(_))));
    let _ = Arc::clone(&system.store);
}
