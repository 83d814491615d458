//! The ledger contracts: [`TaskRepository::record_reminder`](todo_ports::TaskRepository),
//! [`AuditLog`](todo_ports::AuditLog) and [`NotificationFeed`](todo_ports::NotificationFeed)
//! each record an event once. One function per rule, each taking a fresh [`Store`].

use time::Duration;
use todo_ports::model::{
    Channel, Event, Reminder, ReminderEvent, ReminderEventType, TaskEvent, TaskEventType, TaskId, Topic, UserId,
};
use uuid::Uuid;

use crate::store::{RecordingBus, Store, now, task, user};

fn reminder(user: &UserId, task_id: i64, due: time::OffsetDateTime, event_type: ReminderEventType) -> ReminderEvent {
    let data = Reminder {
        task_id: TaskId(task_id),
        user_id: user.clone(),
        task_title: "call back".into(),
        due_date: due,
        reminder_time: due - Duration::HOUR,
        notification_channels: vec![Channel::Email, Channel::Push],
    };
    ReminderEvent::new(event_type, data, now())
}

fn task_event(user: &UserId, title: &str, at: time::OffsetDateTime) -> TaskEvent {
    let mut data = task(user, title);
    data.id = TaskId(7);
    TaskEvent::new(TaskEventType::Updated, data, at)
}

/// `record_reminder` writes the event to the outbox (topic `reminders`) and returns `true`
/// once per `(task, due date)`; any other event for that pair returns `false` and writes
/// nothing; another due date of the task is another reminder.
pub async fn a_reminder_is_recorded_once_per_task_and_due_date(s: Store) {
    let u = user("reminder");
    let due = now() + Duration::days(1);
    let first = reminder(&u, 5, due, ReminderEventType::Due);
    assert!(s.tasks.record_reminder(&first).await.expect("record"));
    assert!(!s.tasks.record_reminder(&first).await.expect("record again"));
    assert!(!s.tasks.record_reminder(&reminder(&u, 5, due, ReminderEventType::Due)).await.expect("other id"));
    let moved = reminder(&u, 5, due + Duration::days(1), ReminderEventType::Due);
    assert!(s.tasks.record_reminder(&moved).await.expect("new due date"));
    assert!(s.tasks.record_reminder(&reminder(&u, 6, due, ReminderEventType::Due)).await.expect("other task"));

    let bus = RecordingBus::new();
    s.drain_all(&bus).await;
    let got = bus.accepted();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0], (Topic::Reminders, Event::Reminder(first)));
    assert_eq!(got[1], (Topic::Reminders, Event::Reminder(moved)));
}

/// Replicas racing to record one reminder record it once.
pub async fn concurrent_reminders_are_recorded_once(s: Store) {
    let u = user("reminder-race");
    let due = now() + Duration::days(1);
    let mut racers = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (tasks, event) = (s.tasks.clone(), reminder(&u, 9, due, ReminderEventType::Due));
        racers.spawn(async move { tasks.record_reminder(&event).await });
    }
    let mut recorded = 0;
    while let Some(r) = racers.join_next().await {
        recorded += usize::from(r.expect("join").expect("record"));
    }
    assert_eq!(recorded, 1);
    assert_eq!(s.outbox.pending().await.expect("pending"), 1);
}

/// `append` keeps each event id once: `true` the first time, `false` after.
pub async fn audit_appends_each_event_once(s: Store) {
    let u = user("audit-once");
    let event = task_event(&u, "t", now());
    assert!(s.audit.append(&event).await.expect("append"));
    assert!(!s.audit.append(&event).await.expect("append again"));
    let renamed = TaskEvent { data: task(&u, "other content, same id"), ..event.clone() };
    assert!(!s.audit.append(&renamed).await.expect("same id"));
    assert_eq!(s.audit.list(&u, 10).await.expect("list"), vec![event]);
}

/// Appends racing each other (a redelivery while the first delivery is still being written)
/// keep each event once, and exactly one caller per event is told it was new.
pub async fn concurrent_appends_keep_each_event_once(s: Store) {
    let u = user("audit-race");
    let events: Vec<TaskEvent> = (0..20).map(|i| task_event(&u, &format!("t{i}"), now())).collect();
    let mut appends = tokio::task::JoinSet::new();
    for _ in 0..3 {
        for event in events.clone() {
            let audit = s.audit.clone();
            appends.spawn(async move { (event.event_id, audit.append(&event).await.expect("append")) });
        }
    }
    let mut told_new: std::collections::HashMap<Uuid, usize> = std::collections::HashMap::new();
    while let Some(done) = appends.join_next().await {
        let (id, new) = done.expect("append task");
        *told_new.entry(id).or_default() += usize::from(new);
    }
    assert!(events.iter().all(|e| told_new[&e.event_id] == 1), "callers told new per event: {told_new:?}");
    assert_eq!(s.audit.list(&u, 100).await.expect("list").len(), events.len());
}

/// `list` gives one user's events, newest first by timestamp, then latest appended first,
/// at most `limit`.
pub async fn audit_lists_a_users_events_newest_first(s: Store) {
    let (u, other) = (user("audit-list"), user("audit-other"));
    let t0 = now();
    let middle = task_event(&u, "middle", t0);
    let newest = task_event(&u, "newest", t0 + Duration::minutes(5));
    let oldest = task_event(&u, "oldest", t0 - Duration::minutes(5));
    let tie = task_event(&u, "same time as middle, appended later", t0);
    for e in [&middle, &newest, &oldest, &tie, &task_event(&other, "not theirs", t0)] {
        assert!(s.audit.append(e).await.expect("append"));
    }
    let ids = |events: Vec<TaskEvent>| events.into_iter().map(|e| e.event_id).collect::<Vec<Uuid>>();
    assert_eq!(ids(s.audit.list(&u, 10).await.expect("list")), ids(vec![newest.clone(), tie.clone(), middle, oldest]));
    assert_eq!(s.audit.list(&u, 2).await.expect("list"), vec![newest, tie]);
}

/// `record` keeps the delivery of a `reminder.due` once and, in the same step, writes its
/// `reminder.sent` event to the outbox; recording it again returns `false` and writes nothing.
pub async fn a_notification_is_recorded_once_with_its_sent_event(s: Store) {
    let u = user("notify");
    let due = reminder(&u, 3, now() + Duration::hours(1), ReminderEventType::Due);
    let sent = ReminderEvent::new(ReminderEventType::Sent, due.data.clone(), now());
    let delivered_at = now();
    assert!(s.feed.record(&due, &sent, delivered_at).await.expect("record"));
    let resent = ReminderEvent::new(ReminderEventType::Sent, due.data.clone(), now());
    assert!(!s.feed.record(&due, &resent, delivered_at + Duration::MINUTE).await.expect("record again"));

    let listed = s.feed.list(&u, 10).await.expect("list");
    assert_eq!(listed, vec![todo_ports::Notification { event: due, delivered_at }]);
    let bus = RecordingBus::new();
    s.drain_all(&bus).await;
    assert_eq!(bus.accepted(), vec![(Topic::Reminders, Event::Reminder(sent))]);
}

/// `list` gives one user's notifications, latest recorded first, at most `limit`.
pub async fn notifications_list_newest_first_per_user(s: Store) {
    let (u, other) = (user("feed"), user("feed-other"));
    let t0 = now();
    let mut recorded = Vec::new();
    for (i, who) in [&u, &other, &u, &u].into_iter().enumerate() {
        let due = reminder(who, 10 + i as i64, t0 + Duration::hours(1), ReminderEventType::Due);
        let sent = ReminderEvent::new(ReminderEventType::Sent, due.data.clone(), t0);
        assert!(s.feed.record(&due, &sent, t0 + Duration::seconds(i as i64)).await.expect("record"));
        recorded.push(due);
    }
    let ids = |picks: &[usize]| picks.iter().map(|&i| recorded[i].event_id).collect::<Vec<_>>();
    let listed = |notes: Vec<todo_ports::Notification>| notes.into_iter().map(|n| n.event.event_id).collect::<Vec<_>>();
    assert_eq!(listed(s.feed.list(&u, 10).await.expect("list")), ids(&[3, 2, 0]));
    assert_eq!(listed(s.feed.list(&u, 2).await.expect("list")), ids(&[3, 2]));
    assert_eq!(listed(s.feed.list(&other, 10).await.expect("list")), ids(&[1]));
}
