//! The [`TaskRepository`](todo_ports::TaskRepository) contract: one function per rule, each
//! taking a fresh [`Store`]; [`crate::store_contract_tests!`] makes a test of each.

use time::Duration;
use todo_ports::model::{
    Event, Frequency, Priority, Recurrence, Series, Task, TaskEvent, TaskEventType, TaskId, Topic, UserId,
};
use todo_ports::{InboxKey, Inserted, RepoError, SortKey, SortOrder, TaskQuery};
use uuid::Uuid;

use crate::store::{RecordingBus, Store, event, now, task, user};

fn ids(tasks: &[Task]) -> Vec<TaskId> {
    tasks.iter().map(|t| t.id).collect()
}

async fn listed(s: &Store, user: &UserId, query: TaskQuery) -> Vec<TaskId> {
    ids(&s.tasks.list(user, &query).await.expect("list").items)
}

fn priority(p: i64) -> Priority {
    Priority::parse(p).expect("priority")
}

fn recurring(user: &UserId, title: &str, due: time::OffsetDateTime, series: Uuid, occurrence: u32) -> Task {
    Task {
        due_date: Some(due),
        recurrence: Some(Recurrence { frequency: Frequency::Daily, interval: 1 }),
        series: Some(Series { id: series, occurrence, anchor_day: due.day() }),
        ..task(user, title)
    }
}

/// The events of `event_id` the outbox held, drained through a recording bus, by topic (a
/// drain publishes each topic's records in a batch of its own, maybe at once).
async fn drained_events(s: &Store, event_id: Uuid) -> Vec<(Topic, Event)> {
    let bus = RecordingBus::new();
    s.drain_all(&bus).await;
    let mut events: Vec<(Topic, Event)> = bus.accepted().into_iter().filter(|(_, e)| e.id() == event_id).collect();
    events.sort_by_key(|(topic, _)| *topic);
    events
}

/// `next_id` hands out fresh positive ids; `insert` stores the event's task as given (it reads
/// back equal) and writes the event, whole, once for each of its type's topics.
pub async fn insert_stores_the_task_and_writes_its_event(s: Store) {
    let u = user("insert");
    let (a, b) = (s.tasks.next_id().await.expect("next id"), s.tasks.next_id().await.expect("next id"));
    assert!(a.0 > 0 && b.0 > 0 && a != b, "ids {a:?} {b:?}");
    let given = Task { tags: vec!["a".into(), "b".into()], ..task(&u, "first") }.with_id(a);
    let created = event(TaskEventType::Created, &given);
    assert_eq!(s.tasks.insert(&created, None).await.expect("insert"), Inserted::Created);
    assert_eq!(s.tasks.get(&u, a).await.expect("get"), Some(given));
    assert_eq!(s.outbox.pending().await.expect("pending"), 2, "one event, two topics");
    let expected: Event = created.clone().into();
    assert_eq!(
        drained_events(&s, created.event_id).await,
        vec![(Topic::TaskEvents, expected.clone()), (Topic::TaskUpdates, expected)]
    );
    assert_eq!(s.outbox.pending().await.expect("pending"), 0);
}

/// `update` with the current revision stores the event's task as given and writes the event.
pub async fn update_replaces_the_task_and_writes_the_event(s: Store) {
    let u = user("update");
    let stored = s.create(task(&u, "before")).await;
    let changed = Task {
        title: "after".into(),
        completed: true,
        priority_id: Some(priority(2)),
        due_date: Some(now() + Duration::days(3)),
        tags: vec!["x".into()],
        description: Some("more".into()),
        revision: 1,
        updated_at: now() + Duration::seconds(5),
        ..stored.clone()
    };
    let completed = event(TaskEventType::Completed, &changed);
    s.tasks.update(&completed, 0).await.expect("update");
    assert_eq!(s.tasks.get(&u, stored.id).await.expect("get"), Some(changed.clone()));
    let expected: Event = completed.clone().into();
    assert_eq!(
        drained_events(&s, completed.event_id).await,
        vec![(Topic::TaskEvents, expected.clone()), (Topic::TaskUpdates, expected)]
    );

    let third = Task { title: "third".into(), revision: 2, ..changed };
    s.tasks.update(&event(TaskEventType::Updated, &third), 1).await.expect("second update");
    assert_eq!(s.tasks.get(&u, stored.id).await.expect("get").map(|t| t.revision), Some(2));
}

/// `update` with a revision other than the stored one is a `Conflict` and writes nothing.
pub async fn update_with_a_stale_revision_conflicts(s: Store) {
    let u = user("stale");
    let stored = s.create(task(&u, "t")).await;
    let one = Task { title: "one".into(), revision: 1, ..stored.clone() };
    s.tasks.update(&event(TaskEventType::Updated, &one), 0).await.expect("first update");
    let pending = s.outbox.pending().await.expect("pending");
    let two = Task { title: "two".into(), revision: 1, ..stored.clone() };
    let second = s.tasks.update(&event(TaskEventType::Updated, &two), 0).await;
    assert!(matches!(second, Err(RepoError::Conflict)), "{second:?}");
    let ahead = s.tasks.update(&event(TaskEventType::Updated, &two), 5).await;
    assert!(matches!(ahead, Err(RepoError::Conflict)), "{ahead:?}");
    assert_eq!(s.tasks.get(&u, stored.id).await.expect("get").expect("task").title, "one");
    assert_eq!(s.outbox.pending().await.expect("pending"), pending, "a conflicting update wrote an event");
}

/// `update` of an unknown id, or of another user's task, is `NotFound` and writes nothing.
pub async fn update_of_a_missing_task_is_not_found(s: Store) {
    let (owner, other) = (user("owner"), user("other"));
    let stored = s.create(task(&owner, "mine")).await;
    let pending = s.outbox.pending().await.expect("pending");
    let missing = Task { id: TaskId(stored.id.0 + 1_000_000), revision: 1, ..stored.clone() };
    let r = s.tasks.update(&event(TaskEventType::Updated, &missing), 0).await;
    assert!(matches!(r, Err(RepoError::NotFound)), "{r:?}");
    let foreign = Task { user_id: other, title: "theirs".into(), revision: 1, ..stored.clone() };
    let r = s.tasks.update(&event(TaskEventType::Updated, &foreign), 0).await;
    assert!(matches!(r, Err(RepoError::NotFound)), "{r:?}");
    assert_eq!(s.tasks.get(&owner, stored.id).await.expect("get"), Some(stored));
    assert_eq!(s.outbox.pending().await.expect("pending"), pending);
}

/// `delete` removes the task and writes its `task.deleted`; a stale revision is a `Conflict`,
/// another user's task or a task already gone `NotFound`, and neither writes anything.
pub async fn delete_removes_the_task_and_writes_task_deleted(s: Store) {
    let (u, other) = (user("delete"), user("intruder"));
    let stored = s.create(task(&u, "doomed")).await;
    let kept = s.create(task(&u, "kept")).await;
    let bus = RecordingBus::new();
    s.drain_all(&bus).await;

    let foreign = Task { user_id: other, ..kept.clone() };
    assert!(matches!(s.tasks.delete(&event(TaskEventType::Deleted, &foreign), 0).await, Err(RepoError::NotFound)));
    let deleted = event(TaskEventType::Deleted, &stored);
    assert!(matches!(s.tasks.delete(&deleted, 3).await, Err(RepoError::Conflict)), "a stale revision deleted");
    s.tasks.delete(&deleted, 0).await.expect("delete");
    assert_eq!(s.tasks.get(&u, stored.id).await.expect("get"), None);
    assert!(matches!(s.tasks.delete(&event(TaskEventType::Deleted, &stored), 0).await, Err(RepoError::NotFound)));
    assert_eq!(s.tasks.get(&u, kept.id).await.expect("get"), Some(kept));
    assert_eq!(s.outbox.pending().await.expect("pending"), 2, "one task.deleted on two topics, nothing else");
    let expected: Event = deleted.clone().into();
    assert_eq!(
        drained_events(&s, deleted.event_id).await,
        vec![(Topic::TaskEvents, expected.clone()), (Topic::TaskUpdates, expected)]
    );
}

/// `get` finds a task only for its owner; an unknown id is `None`.
pub async fn get_is_scoped_to_the_user(s: Store) {
    let (u, other) = (user("get"), user("stranger"));
    let stored = s.create(task(&u, "t")).await;
    assert_eq!(s.tasks.get(&u, stored.id).await.expect("get"), Some(stored.clone()));
    assert_eq!(s.tasks.get(&other, stored.id).await.expect("get"), None);
    assert_eq!(s.tasks.get(&u, TaskId(stored.id.0 + 1_000_000)).await.expect("get"), None);
}

/// `list` shows only the user's tasks, and `total` counts only them.
pub async fn list_is_scoped_to_the_user(s: Store) {
    let (u, other) = (user("list"), user("neighbour"));
    let a = s.create(task(&u, "a")).await;
    s.create(task(&other, "b")).await;
    let page = s.tasks.list(&u, &TaskQuery::default()).await.expect("list");
    assert_eq!((page.items, page.total), (vec![a], 1));
    assert_eq!(s.tasks.list(&user("nobody"), &TaskQuery::default()).await.expect("list").total, 0);
}

/// `completed` keeps the tasks with that flag.
pub async fn list_filters_by_completion(s: Store) {
    let u = user("completion");
    let open = s.create(task(&u, "open")).await;
    let done = s.create(Task { completed: true, ..task(&u, "done") }).await;
    assert_eq!(listed(&s, &u, TaskQuery { completed: Some(false), ..TaskQuery::default() }).await, vec![open.id]);
    assert_eq!(listed(&s, &u, TaskQuery { completed: Some(true), ..TaskQuery::default() }).await, vec![done.id]);
    assert_eq!(listed(&s, &u, TaskQuery::default()).await.len(), 2);
}

/// `priority_id` keeps the tasks with exactly that priority (not those without one).
pub async fn list_filters_by_priority(s: Store) {
    let u = user("priority");
    let high = s.create(Task { priority_id: Some(priority(1)), ..task(&u, "high") }).await;
    s.create(Task { priority_id: Some(priority(3)), ..task(&u, "low") }).await;
    s.create(task(&u, "none")).await;
    let q = TaskQuery { priority_id: Some(priority(1)), ..TaskQuery::default() };
    assert_eq!(listed(&s, &u, q).await, vec![high.id]);
    let q = TaskQuery { priority_id: Some(priority(2)), ..TaskQuery::default() };
    assert_eq!(listed(&s, &u, q).await, Vec::<TaskId>::new());
}

/// `tag` keeps the tasks carrying that exact tag: no prefix, substring or case match.
pub async fn list_filters_by_exact_tag(s: Store) {
    let u = user("tag");
    let work = s.create(Task { tags: vec!["home".into(), "work".into()], ..task(&u, "a") }).await;
    s.create(Task { tags: vec!["workshop".into(), "Work".into()], ..task(&u, "b") }).await;
    s.create(task(&u, "untagged")).await;
    let q = |tag: &str| TaskQuery { tag: Some(tag.into()), ..TaskQuery::default() };
    assert_eq!(listed(&s, &u, q("work")).await, vec![work.id]);
    assert_eq!(listed(&s, &u, q("wor")).await, Vec::<TaskId>::new());
    assert_eq!(listed(&s, &u, q("home")).await, vec![work.id]);
}

/// `due_before` and `due_after` are strict bounds; tasks without a due date never match.
pub async fn list_filters_by_due_window(s: Store) {
    let u = user("due");
    let t0 = now();
    let mut by_day = Vec::new();
    for day in 1..=3 {
        by_day.push(s.create(Task { due_date: Some(t0 + Duration::days(day)), ..task(&u, "d") }).await.id);
    }
    s.create(task(&u, "undated")).await;
    let q = |before: Option<i64>, after: Option<i64>| TaskQuery {
        due_before: before.map(|d| t0 + Duration::days(d)),
        due_after: after.map(|d| t0 + Duration::days(d)),
        ..TaskQuery::default()
    };
    assert_eq!(listed(&s, &u, q(Some(2), None)).await, vec![by_day[0]], "before is strict");
    assert_eq!(listed(&s, &u, q(None, Some(2))).await, vec![by_day[2]], "after is strict");
    assert_eq!(listed(&s, &u, q(Some(4), Some(1))).await, vec![by_day[1], by_day[2]]);
    assert_eq!(listed(&s, &u, q(Some(100), Some(-100))).await, by_day, "undated tasks never match");
}

/// `text` matches title or description, ignoring case; `%`, `_` and `\` are plain characters.
pub async fn list_filters_by_text_ignoring_case(s: Store) {
    let u = user("text");
    let title = s.create(task(&u, "Buy MILK today")).await;
    let described = s.create(Task { description: Some("remember the milk".into()), ..task(&u, "errand") }).await;
    let percent = s.create(task(&u, "grow 10% faster_now \\o/")).await;
    let accents = s.create(task(&u, "Ärger mit Öfen")).await;
    s.create(Task { description: Some("nothing".into()), ..task(&u, "other") }).await;
    let q = |text: &str| TaskQuery { text: Some(text.into()), ..TaskQuery::default() };
    assert_eq!(listed(&s, &u, q("milk")).await, vec![title.id, described.id]);
    assert_eq!(listed(&s, &u, q("MiLk ToD")).await, vec![title.id]);
    assert_eq!(listed(&s, &u, q("10%")).await, vec![percent.id]);
    assert_eq!(listed(&s, &u, q("%")).await, vec![percent.id], "% is not a wildcard");
    assert_eq!(listed(&s, &u, q("g_ow")).await, Vec::<TaskId>::new(), "_ is not a wildcard");
    assert_eq!(listed(&s, &u, q("_now \\o")).await, vec![percent.id]);
    assert_eq!(listed(&s, &u, q("ärger mit öf")).await, vec![accents.id], "case folding beyond ASCII");
}

/// Filters narrow together.
pub async fn list_combines_filters(s: Store) {
    let u = user("combined");
    let due = now() + Duration::days(1);
    let hit =
        Task { priority_id: Some(priority(1)), tags: vec!["t".into()], due_date: Some(due), ..task(&u, "needle") };
    let hit = s.create(hit.clone()).await;
    s.create(Task { completed: true, ..hit.clone() }).await;
    s.create(Task { priority_id: Some(priority(2)), ..hit.clone() }).await;
    s.create(Task { tags: vec![], ..hit.clone() }).await;
    s.create(Task { due_date: None, ..hit.clone() }).await;
    s.create(Task { title: "hay".into(), ..hit.clone() }).await;
    let q = TaskQuery {
        completed: Some(false),
        priority_id: Some(priority(1)),
        tag: Some("t".into()),
        due_before: Some(due + Duration::HOUR),
        due_after: Some(due - Duration::HOUR),
        text: Some("NEED".into()),
        ..TaskQuery::default()
    };
    let page = s.tasks.list(&u, &q).await.expect("list");
    assert_eq!((ids(&page.items), page.total), (vec![hit.id], 1));
}

/// The default order is by creation time, ascending; ties go by id in the same direction.
pub async fn list_sorts_by_creation_with_ties_by_id(s: Store) {
    let u = user("created");
    let t0 = now() - Duration::hours(1);
    let at = |minutes: i64, title: &str| Task { created_at: t0 + Duration::minutes(minutes), ..task(&u, title) };
    let late = s.create(at(30, "late")).await.id;
    let tie_a = s.create(at(10, "tie a")).await.id;
    let tie_b = s.create(at(10, "tie b")).await.id;
    let early = s.create(at(0, "early")).await.id;
    assert_eq!(listed(&s, &u, TaskQuery::default()).await, vec![early, tie_a, tie_b, late]);
    let desc = TaskQuery { sort: SortKey::CreatedAt, order: SortOrder::Desc, ..TaskQuery::default() };
    assert_eq!(listed(&s, &u, desc).await, vec![late, tie_b, tie_a, early]);
}

/// By due date, tasks without one come last in both directions; ties by id.
pub async fn list_sorts_by_due_date_missing_last(s: Store) {
    let u = user("bydue");
    let t0 = now();
    let due =
        |days: Option<i64>, title: &str| Task { due_date: days.map(|d| t0 + Duration::days(d)), ..task(&u, title) };
    let none_a = s.create(due(None, "none a")).await.id;
    let two = s.create(due(Some(2), "two")).await.id;
    let one_a = s.create(due(Some(1), "one a")).await.id;
    let one_b = s.create(due(Some(1), "one b")).await.id;
    let none_b = s.create(due(None, "none b")).await.id;
    let q = |order| TaskQuery { sort: SortKey::DueDate, order, ..TaskQuery::default() };
    assert_eq!(listed(&s, &u, q(SortOrder::Asc)).await, vec![one_a, one_b, two, none_a, none_b]);
    assert_eq!(listed(&s, &u, q(SortOrder::Desc)).await, vec![two, one_b, one_a, none_b, none_a]);
}

/// By priority id (1 first), tasks without one come last in both directions; ties by id.
pub async fn list_sorts_by_priority_missing_last(s: Store) {
    let u = user("bypriority");
    let p = |n: Option<i64>, title: &str| Task { priority_id: n.map(priority), ..task(&u, title) };
    let none = s.create(p(None, "none")).await.id;
    let low = s.create(p(Some(4), "low")).await.id;
    let high_a = s.create(p(Some(1), "high a")).await.id;
    let high_b = s.create(p(Some(1), "high b")).await.id;
    let q = |order| TaskQuery { sort: SortKey::Priority, order, ..TaskQuery::default() };
    assert_eq!(listed(&s, &u, q(SortOrder::Asc)).await, vec![high_a, high_b, low, none]);
    assert_eq!(listed(&s, &u, q(SortOrder::Desc)).await, vec![low, high_b, high_a, none]);
}

/// `limit` and `offset` cut a page from the sorted matches; `total` counts every match, also
/// for a page past the end.
pub async fn list_pages_and_counts_the_total(s: Store) {
    let u = user("pages");
    let t0 = now() - Duration::hours(1);
    let mut all = Vec::new();
    for i in 0..7 {
        let t = Task { created_at: t0 + Duration::minutes(i), ..task(&u, &format!("t{i}")) };
        all.push(s.create(t).await.id);
    }
    s.create(Task { completed: true, ..task(&u, "filtered out") }).await;
    let page = |limit, offset| TaskQuery { completed: Some(false), limit, offset, ..TaskQuery::default() };
    for (limit, offset) in [(3, 0), (3, 3), (3, 6), (7, 0), (200, 2)] {
        let got = s.tasks.list(&u, &page(limit, offset)).await.expect("list");
        let want: Vec<TaskId> = all.iter().copied().skip(offset as usize).take(limit as usize).collect();
        assert_eq!((ids(&got.items), got.total), (want, 7), "limit {limit} offset {offset}");
    }
    let past = s.tasks.list(&u, &page(5, 50)).await.expect("list");
    assert_eq!((past.items.len(), past.total), (0, 7), "a page past the end still counts the total");
}

/// `reminder_candidates` returns open tasks of every user due within `[from, to]` (bounds
/// included), earliest due first (ties by id), at most `limit`.
pub async fn reminder_candidates_are_open_tasks_due_in_the_window(s: Store) {
    let from = now() + Duration::days(30);
    let to = from + Duration::hours(2);
    let (a, b) = (user("remind-a"), user("remind-b"));
    let due = |u: &UserId, at, title: &str| Task { due_date: Some(at), ..task(u, title) };
    let at_to = s.create(due(&a, to, "at to")).await;
    let at_from = s.create(due(&b, from, "at from")).await;
    let middle = s.create(due(&a, from + Duration::HOUR, "middle")).await;
    s.create(Task { completed: true, ..due(&a, from + Duration::HOUR, "done") }).await;
    s.create(due(&a, from - Duration::SECOND, "before")).await;
    s.create(due(&b, to + Duration::SECOND, "after")).await;
    s.create(task(&a, "undated")).await;
    let got = s.tasks.reminder_candidates(from, to, 10).await.expect("candidates");
    assert_eq!(got, vec![at_from.clone(), middle.clone(), at_to]);
    let got = s.tasks.reminder_candidates(from, to, 2).await.expect("candidates");
    assert_eq!(got, vec![at_from, middle]);
}

/// `overdue_recurring` returns open recurring tasks due at or before `now` whose next
/// occurrence is not stored, earliest due first, at most `limit`.
pub async fn overdue_recurring_skips_series_whose_next_occurrence_exists(s: Store) {
    let now = now() - Duration::days(30);
    let u = user("overdue");
    let (fresh, continued, done, future) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let due_first = s.create(recurring(&u, "fresh", now - Duration::days(2), fresh, 0)).await;
    let at_now = s.create(recurring(&u, "exactly now", now, Uuid::new_v4(), 3)).await;
    s.create(recurring(&u, "continued", now - Duration::days(3), continued, 4)).await;
    s.create(recurring(&u, "its next", now + Duration::days(1), continued, 5)).await;
    s.create(Task { completed: true, ..recurring(&u, "done", now - Duration::days(1), done, 0) }).await;
    s.create(recurring(&u, "future", now + Duration::SECOND, future, 0)).await;
    s.create(Task { due_date: Some(now - Duration::days(1)), ..task(&u, "plain overdue") }).await;
    let got = s.tasks.overdue_recurring(now, 10).await.expect("overdue");
    assert_eq!(got, vec![due_first.clone(), at_now]);
    assert_eq!(s.tasks.overdue_recurring(now, 1).await.expect("overdue"), vec![due_first]);
}

/// A `task.created` event of `t` with a fresh id from the store.
async fn created(s: &Store, t: Task) -> TaskEvent {
    let id = s.tasks.next_id().await.expect("next id");
    event(TaskEventType::Created, &t.with_id(id))
}

/// `insert` with an inbox key already recorded is `Duplicate` and writes neither a task nor
/// an event; the same event id under another consumer is a different key.
pub async fn insert_with_a_seen_inbox_key_is_a_duplicate(s: Store) {
    let u = user("inbox");
    let key = InboxKey { consumer: "recurring-tasks", event_id: Uuid::new_v4() };
    let first = s.tasks.insert(&created(&s, task(&u, "once")).await, Some(key)).await.expect("insert");
    assert_eq!(first, Inserted::Created);
    let pending = s.outbox.pending().await.expect("pending");
    let again = s.tasks.insert(&created(&s, task(&u, "twice")).await, Some(key)).await.expect("insert");
    assert_eq!(again, Inserted::Duplicate);
    assert_eq!(s.outbox.pending().await.expect("pending"), pending, "a duplicate wrote an event");
    assert_eq!(s.tasks.list(&u, &TaskQuery::default()).await.expect("list").total, 1);
    let other = InboxKey { consumer: "another-consumer", ..key };
    let third = s.tasks.insert(&created(&s, task(&u, "other consumer")).await, Some(other)).await;
    assert!(matches!(third, Ok(Inserted::Created)), "{third:?}");
}

/// `insert` of a task whose series already has its occurrence is `Duplicate` and writes
/// nothing: no task, no event, and not even its inbox key (which stays usable).
pub async fn insert_of_an_existing_occurrence_is_a_duplicate_and_writes_nothing(s: Store) {
    let u = user("occurrence");
    let series = Uuid::new_v4();
    let due = now() + Duration::days(1);
    s.create(recurring(&u, "occurrence 1", due, series, 1)).await;
    let pending = s.outbox.pending().await.expect("pending");
    let key = InboxKey { consumer: "recurring-tasks", event_id: Uuid::new_v4() };
    let dup = s.tasks.insert(&created(&s, recurring(&u, "again", due, series, 1)).await, Some(key)).await;
    assert_eq!(dup.expect("insert"), Inserted::Duplicate);
    let dup = s.tasks.insert(&created(&s, recurring(&u, "again", due, series, 1)).await, None).await;
    assert_eq!(dup.expect("insert"), Inserted::Duplicate);
    assert_eq!(s.outbox.pending().await.expect("pending"), pending, "a duplicate wrote an event");
    assert_eq!(s.tasks.list(&u, &TaskQuery::default()).await.expect("list").total, 1);
    let next = s.tasks.insert(&created(&s, recurring(&u, "occurrence 2", due, series, 2)).await, Some(key)).await;
    assert!(matches!(next, Ok(Inserted::Created)), "the duplicate recorded its inbox key: {next:?}");
}

/// Concurrent inserts of one series occurrence (replicas racing) create exactly one task.
pub async fn concurrent_inserts_of_one_occurrence_create_one_task(s: Store) {
    let u = user("race");
    let series = Uuid::new_v4();
    let due = now() + Duration::days(1);
    let mut racers = tokio::task::JoinSet::new();
    for i in 0..5 {
        let (tasks, e) = (s.tasks.clone(), created(&s, recurring(&u, &format!("racer {i}"), due, series, 1)).await);
        let key = InboxKey { consumer: "recurring-tasks", event_id: Uuid::new_v4() };
        racers.spawn(async move { tasks.insert(&e, Some(key)).await });
    }
    let mut created = 0;
    while let Some(r) = racers.join_next().await {
        if r.expect("join").expect("insert") == Inserted::Created {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(s.tasks.list(&u, &TaskQuery::default()).await.expect("list").total, 1);
    assert_eq!(s.outbox.pending().await.expect("pending"), 2);
}

/// Text search folds case as `fold_for_search` does, identically in every store: `İstanbul` is
/// found by `istanbul`, `ÉTÉ` by `été`.
pub async fn list_folds_text_as_the_domain_says(s: Store) {
    let u = user("fold");
    let city = s.create(task(&u, "Visit İstanbul")).await;
    let summer = s.create(Task { description: Some("ÉTÉ plans".into()), ..task(&u, "holiday") }).await;
    let q = |text: &str| TaskQuery { text: Some(text.into()), ..TaskQuery::default() };
    assert_eq!(listed(&s, &u, q("istanbul")).await, vec![city.id]);
    assert_eq!(listed(&s, &u, q("İSTANBUL")).await, vec![city.id]);
    assert_eq!(listed(&s, &u, q("été")).await, vec![summer.id]);
}
