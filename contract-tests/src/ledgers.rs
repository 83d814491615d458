//! The ledger contracts: [`TaskRepository::record_reminder`](todo_ports::TaskRepository),
//! [`AuditLog`](todo_ports::AuditLog) and [`NotificationFeed`](todo_ports::NotificationFeed)
//! each record an event once. One function per rule, each taking a fresh [`Store`].

use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use todo_ports::model::{
    Channel, Event, Reminder, ReminderEvent, ReminderEventType, TaskEvent, TaskEventType, TaskId, Topic, UserId,
};
use todo_ports::{AuditPage, AuditPosition, AuditQuery, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
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
    assert_eq!(s.audit.list(&AuditQuery::new(u)).await.expect("list").items, vec![event]);
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
    assert_eq!(
        s.audit.list(&AuditQuery { limit: 100, ..AuditQuery::new(u) }).await.expect("list").items.len(),
        events.len()
    );
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
    let page = |limit| AuditQuery { limit, ..AuditQuery::new(u.clone()) };
    let all = s.audit.list(&page(10)).await.expect("list");
    assert_eq!(ids(&all.items), ids(&[newest.clone(), tie.clone(), middle, oldest]));
    assert_eq!(all.next, None, "nothing follows the whole log");
    assert_eq!(s.audit.list(&page(2)).await.expect("list").items, vec![newest.clone(), tie]);
    // A start at the newest timestamp with the largest sequence number there can be is after
    // every entry at that timestamp.
    let after_all = AuditPosition { occurred_at: newest.timestamp, seq: u64::MAX };
    let from_top = s.audit.list(&AuditQuery { after: Some(after_all), ..page(1) }).await.expect("list");
    assert_eq!(from_top.items, vec![newest]);
}

fn ids(events: &[TaskEvent]) -> Vec<Uuid> {
    events.iter().map(|e| e.event_id).collect()
}

/// An instant to build audit entries at (any fixed instant would do).
const T0: OffsetDateTime = datetime!(2026-03-01 12:00 UTC);

/// An event of `event_type` about task `task_id` of `user`, at `at`.
fn entry(user: &UserId, task_id: i64, event_type: TaskEventType, at: OffsetDateTime) -> TaskEvent {
    let mut data = task(user, &format!("task {task_id}"));
    data.id = TaskId(task_id);
    TaskEvent::new(event_type, data, at)
}

/// Appends `events` in order, each new.
async fn append_all(s: &Store, events: &[TaskEvent]) {
    for e in events {
        assert!(s.audit.append(e).await.expect("append"), "{} was new", e.event_id);
    }
}

/// `events` (appended in this order) as the log lists them: newest first, ties latest
/// appended first.
fn newest_first(events: &[TaskEvent]) -> Vec<TaskEvent> {
    let mut sorted: Vec<TaskEvent> = events.iter().rev().cloned().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
    sorted
}

/// Everything `query` matches in one page (the query's own page size is ignored).
async fn matching(s: &Store, query: AuditQuery) -> Vec<TaskEvent> {
    let page = s.audit.list(&AuditQuery { limit: MAX_PAGE_SIZE, ..query }).await.expect("list");
    assert_eq!(page.next, None, "the test expects fewer than a full page");
    page.items
}

/// Walks every page of `query` from its start, calling `between` after each page; returns the
/// pages.
async fn walk(s: &Store, query: &AuditQuery, mut between: impl AsyncFnMut(usize)) -> Vec<Vec<TaskEvent>> {
    let mut pages = Vec::new();
    let mut after = query.after;
    loop {
        let page = s.audit.list(&AuditQuery { after, ..query.clone() }).await.expect("list");
        assert!(page.items.len() <= query.page_size() as usize, "a page longer than its size");
        pages.push(page.items);
        between(pages.len()).await;
        match page.next {
            Some(next) => after = Some(next),
            None => return pages,
        }
        assert!(pages.len() < 1000, "the walk does not end");
    }
}

/// Events of `user` about tasks 1 to 3, of every type, at a few instants (with ties), plus the
/// same shapes for another user, who must never show up.
async fn a_log(s: &Store, user: &UserId) -> Vec<TaskEvent> {
    use TaskEventType::{Completed, Created, Deleted, Updated};
    let other = crate::store::user("audit-intruder");
    let minute = Duration::minutes(1);
    let events = vec![
        entry(user, 1, Created, T0),
        entry(user, 2, Created, T0),
        entry(user, 1, Updated, T0 + minute),
        entry(user, 3, Created, T0 + minute),
        entry(user, 2, Completed, T0 + 2 * minute),
        entry(user, 1, Updated, T0 + 3 * minute),
        entry(user, 3, Deleted, T0 + 3 * minute),
        entry(user, 1, Completed, T0 + 4 * minute),
    ];
    append_all(s, &events).await;
    let theirs: Vec<TaskEvent> = events.iter().map(|e| entry(&other, e.data.id.0, e.event_type, e.timestamp)).collect();
    append_all(s, &theirs).await;
    events
}

/// `task_id` keeps the events about that task only.
pub async fn audit_filters_by_task(s: Store) {
    let u = user("audit-task");
    let log = a_log(&s, &u).await;
    for task in [1, 2, 3] {
        let expected: Vec<TaskEvent> = newest_first(&log).into_iter().filter(|e| e.data.id == TaskId(task)).collect();
        let got = matching(&s, AuditQuery { task_id: Some(TaskId(task)), ..AuditQuery::new(u.clone()) }).await;
        assert_eq!(ids(&got), ids(&expected), "task {task}");
    }
    assert!(matching(&s, AuditQuery { task_id: Some(TaskId(4)), ..AuditQuery::new(u) }).await.is_empty());
}

/// `event_type` keeps the events of that type only.
pub async fn audit_filters_by_event_type(s: Store) {
    use TaskEventType::{Completed, Created, Deleted, Updated};
    let u = user("audit-type");
    let log = a_log(&s, &u).await;
    for event_type in [Created, Updated, Completed, Deleted] {
        let expected: Vec<TaskEvent> = newest_first(&log).into_iter().filter(|e| e.event_type == event_type).collect();
        let got = matching(&s, AuditQuery { event_type: Some(event_type), ..AuditQuery::new(u.clone()) }).await;
        assert_eq!(ids(&got), ids(&expected), "{}", event_type.as_str());
        assert!(!got.is_empty());
    }
}

/// `since` is inclusive and `until` exclusive, to the microsecond; `since` at or after `until`
/// matches nothing.
pub async fn audit_filters_by_time_since_inclusive_until_exclusive(s: Store) {
    let u = user("audit-time");
    let (t1, us) = (T0 + Duration::hours(1), Duration::microseconds(1));
    let instants = [T0 - us, T0, T0 + us, t1 - us, t1, t1 + us];
    let log: Vec<TaskEvent> = instants.iter().map(|&at| entry(&u, 1, TaskEventType::Updated, at)).collect();
    append_all(&s, &log).await;
    let at = |events: Vec<TaskEvent>| events.iter().map(|e| e.timestamp).collect::<Vec<_>>();
    let q = || AuditQuery::new(u.clone());

    assert_eq!(at(matching(&s, AuditQuery { since: Some(T0), until: Some(t1), ..q() }).await), [t1 - us, T0 + us, T0]);
    assert_eq!(at(matching(&s, AuditQuery { since: Some(T0), ..q() }).await), [t1 + us, t1, t1 - us, T0 + us, T0]);
    assert_eq!(at(matching(&s, AuditQuery { until: Some(T0), ..q() }).await), [T0 - us]);
    assert_eq!(at(matching(&s, AuditQuery { since: Some(t1), until: Some(t1 + us), ..q() }).await), [t1]);
    // Adjacent windows split the log without overlap.
    let (early, late) = (
        matching(&s, AuditQuery { until: Some(t1), ..q() }).await,
        matching(&s, AuditQuery { since: Some(t1), ..q() }).await,
    );
    assert_eq!([ids(&late), ids(&early)].concat(), ids(&newest_first(&log)));
    assert!(matching(&s, AuditQuery { since: Some(t1), until: Some(t1), ..q() }).await.is_empty());
    assert!(matching(&s, AuditQuery { since: Some(t1), until: Some(T0), ..q() }).await.is_empty());
}

/// Filters combine: each one narrows what the others keep.
pub async fn audit_combines_filters(s: Store) {
    let u = user("audit-combined");
    let log = a_log(&s, &u).await;
    let minute = Duration::minutes(1);
    let query = AuditQuery {
        task_id: Some(TaskId(1)),
        event_type: Some(TaskEventType::Updated),
        since: Some(T0 + minute),
        until: Some(T0 + 3 * minute),
        ..AuditQuery::new(u.clone())
    };
    let got = matching(&s, query.clone()).await;
    assert_eq!(ids(&got), ids(&[log[2].clone()]), "task 1's update at T0+1m only");
    let wider = matching(&s, AuditQuery { until: None, ..query.clone() }).await;
    assert_eq!(ids(&wider), ids(&[log[5].clone(), log[2].clone()]));
    let other_type = matching(&s, AuditQuery { event_type: Some(TaskEventType::Created), ..query }).await;
    assert!(other_type.is_empty(), "task 1 was created before `since`");
}

/// A page holds `limit` entries: 50 by default, never more than 200, at least one.
pub async fn audit_pages_are_as_long_as_asked_within_bounds(s: Store) {
    let u = user("audit-size");
    let log: Vec<TaskEvent> =
        (0..205).map(|i| entry(&u, 1, TaskEventType::Updated, T0 + Duration::seconds(i))).collect();
    append_all(&s, &log).await;
    let len = async |limit: Option<u32>| {
        let q = AuditQuery::new(u.clone());
        let q = match limit {
            Some(limit) => AuditQuery { limit, ..q },
            None => q,
        };
        let page = s.audit.list(&q).await.expect("list");
        assert!(page.next.is_some(), "more entries follow a page of {:?}", limit);
        page.items.len()
    };
    assert_eq!(len(None).await, DEFAULT_PAGE_SIZE as usize);
    assert_eq!(len(Some(7)).await, 7);
    assert_eq!(len(Some(MAX_PAGE_SIZE)).await, MAX_PAGE_SIZE as usize);
    assert_eq!(len(Some(MAX_PAGE_SIZE + 1)).await, MAX_PAGE_SIZE as usize);
    assert_eq!(len(Some(u32::MAX)).await, MAX_PAGE_SIZE as usize);
    assert_eq!(len(Some(0)).await, 1);
}

/// Walking every page from the first gives every matching entry exactly once, in the log's
/// order, across timestamp ties at page edges, with filters or without; the last page says
/// nothing follows even when it is full.
pub async fn audit_page_walk_returns_every_entry_once_in_order(s: Store) {
    let u = user("audit-walk");
    // 24 entries on 8 instants, three each (ties at every page edge of size 3 or 4), over two
    // tasks and two types.
    let log: Vec<TaskEvent> = (0..24)
        .map(|i| {
            let event_type = if i % 2 == 0 { TaskEventType::Updated } else { TaskEventType::Completed };
            entry(&u, 1 + i % 3, event_type, T0 + Duration::seconds(i / 3))
        })
        .collect();
    append_all(&s, &log).await;
    for query in [
        AuditQuery { limit: 3, ..AuditQuery::new(u.clone()) },
        AuditQuery { limit: 4, ..AuditQuery::new(u.clone()) },
        AuditQuery { limit: 5, ..AuditQuery::new(u.clone()) },
        AuditQuery { limit: 2, task_id: Some(TaskId(2)), ..AuditQuery::new(u.clone()) },
        AuditQuery { limit: 3, event_type: Some(TaskEventType::Completed), ..AuditQuery::new(u.clone()) },
    ] {
        let expected: Vec<TaskEvent> = newest_first(&log)
            .into_iter()
            .filter(|e| query.task_id.is_none_or(|t| e.data.id == t))
            .filter(|e| query.event_type.is_none_or(|t| e.event_type == t))
            .collect();
        let pages = walk(&s, &query, async |_| {}).await;
        let size = query.page_size() as usize;
        assert_eq!(pages.len(), expected.len().div_ceil(size), "pages of {size}: {query:?}");
        assert!(pages.iter().all(|p| !p.is_empty()), "an empty page in a walk of {query:?}");
        assert_eq!(ids(&pages.concat()), ids(&expected), "{query:?}");
    }
}

/// A walk while entries are appended neither skips nor repeats: every entry there when it
/// began comes once, in order; entries newer than its first page wait for the next walk, and a
/// late entry older than every page read so far still comes, in its place.
pub async fn audit_page_walk_while_appending_neither_skips_nor_repeats(s: Store) {
    let u = user("audit-live");
    let before: Vec<TaskEvent> =
        (0..20).map(|i| entry(&u, 1 + i % 4, TaskEventType::Updated, T0 + Duration::seconds(i / 2))).collect();
    append_all(&s, &before).await;
    let late = entry(&u, 9, TaskEventType::Created, T0 - Duration::hours(1));
    let mut newer = Vec::new();
    let query = AuditQuery { limit: 3, ..AuditQuery::new(u.clone()) };
    let pages = walk(&s, &query, async |n| {
        // After each page: a new entry, newest of all, and a tie with the newest, appended
        // later; after the second page, a late delivery of an old event.
        for at in [T0 + Duration::hours(1) + Duration::seconds(n as i64), T0 + Duration::seconds(9)] {
            let e = entry(&u, 5, TaskEventType::Updated, at);
            assert!(s.audit.append(&e).await.expect("append"));
            newer.push(e);
        }
        if n == 2 {
            assert!(s.audit.append(&late).await.expect("append"));
        }
    })
    .await;
    let walked = ids(&pages.concat());
    let mut expected = ids(&newest_first(&before));
    expected.push(late.event_id);
    assert_eq!(walked, expected, "every entry once, in order, none of those appended above the walk");
    assert!(newer.iter().all(|e| !walked.contains(&e.event_id)));
    // The next walk sees them all.
    let everything = walk(&s, &AuditQuery { limit: 50, ..query }, async |_| {}).await.concat();
    assert_eq!(everything.len(), before.len() + newer.len() + 1);
}

/// A query that matches nothing gives an empty last page: an unknown user, a filter nobody's
/// entry passes, a start past the oldest entry.
pub async fn audit_empty_results_are_empty_last_pages(s: Store) {
    let u = user("audit-empty");
    let empty = AuditPage { items: Vec::new(), next: None };
    assert_eq!(s.audit.list(&AuditQuery::new(u.clone())).await.expect("list"), empty, "no log yet");
    a_log(&s, &u).await;
    for query in [
        AuditQuery { task_id: Some(TaskId(99)), ..AuditQuery::new(u.clone()) },
        AuditQuery { since: Some(T0 + Duration::days(1)), ..AuditQuery::new(u.clone()) },
        AuditQuery { until: Some(T0), ..AuditQuery::new(u.clone()) },
        AuditQuery { after: Some(AuditPosition { occurred_at: T0, seq: 0 }), ..AuditQuery::new(u.clone()) },
        AuditQuery { task_id: Some(TaskId(2)), event_type: Some(TaskEventType::Deleted), ..AuditQuery::new(u.clone()) },
    ] {
        assert_eq!(s.audit.list(&query).await.expect("list"), empty, "{query:?}");
    }
}

/// Another user's entries never appear, whatever the filters or the start, even a start taken
/// from a page of theirs.
pub async fn audit_never_shows_another_users_entries(s: Store) {
    let (u, other) = (user("audit-mine"), user("audit-theirs"));
    let mine = a_log(&s, &u).await;
    let theirs = a_log(&s, &other).await;
    let their_page = s.audit.list(&AuditQuery { limit: 2, ..AuditQuery::new(other.clone()) }).await.expect("list");
    assert_eq!(ids(&their_page.items), ids(&newest_first(&theirs)[..2]));
    for query in [
        AuditQuery::new(u.clone()),
        AuditQuery { task_id: Some(TaskId(1)), ..AuditQuery::new(u.clone()) },
        AuditQuery { event_type: Some(TaskEventType::Created), ..AuditQuery::new(u.clone()) },
        AuditQuery { since: Some(T0), until: Some(T0 + Duration::hours(1)), ..AuditQuery::new(u.clone()) },
        AuditQuery { after: their_page.next, ..AuditQuery::new(u.clone()) },
    ] {
        let got = walk(&s, &AuditQuery { limit: 3, ..query.clone() }, async |_| {}).await.concat();
        assert!(!got.is_empty(), "{query:?}");
        assert!(got.iter().all(|e| e.data.user_id == u && mine.iter().any(|m| m.event_id == e.event_id)), "{query:?}");
    }
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

/// A reminder given up on is recorded once, writes its `reminder.failed` event, and is no part
/// of the feed; one delivered before is not given up on afterwards.
pub async fn a_reminder_given_up_on_writes_reminder_failed_once(s: Store) {
    let u = user("failed");
    let due = reminder(&u, 4, now() + Duration::hours(1), ReminderEventType::Due);
    let failed = ReminderEvent::new(ReminderEventType::Failed, due.data.clone(), now());
    assert!(s.feed.record_failure(&due, &failed).await.expect("record failure"));
    let again = ReminderEvent::new(ReminderEventType::Failed, due.data.clone(), now());
    assert!(!s.feed.record_failure(&due, &again).await.expect("record failure again"));
    let sent = ReminderEvent::new(ReminderEventType::Sent, due.data.clone(), now());
    assert!(!s.feed.record(&due, &sent, now()).await.expect("a late delivery"), "given up on: not delivered after");
    assert!(s.feed.list(&u, 10).await.expect("list").is_empty(), "the feed holds deliveries only");

    let delivered = reminder(&u, 5, now() + Duration::hours(1), ReminderEventType::Due);
    let sent = ReminderEvent::new(ReminderEventType::Sent, delivered.data.clone(), now());
    assert!(s.feed.record(&delivered, &sent, now()).await.expect("record"));
    let late = ReminderEvent::new(ReminderEventType::Failed, delivered.data.clone(), now());
    assert!(!s.feed.record_failure(&delivered, &late).await.expect("record failure"), "delivered: not failed");

    let bus = RecordingBus::new();
    s.drain_all(&bus).await;
    assert_eq!(
        bus.accepted(),
        vec![(Topic::Reminders, Event::Reminder(failed)), (Topic::Reminders, Event::Reminder(sent))]
    );
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
