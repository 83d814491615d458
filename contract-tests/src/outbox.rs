//! The [`Outbox`](todo_ports::Outbox) contract: what drains publish, in which order, what
//! they keep after failures, and that concurrent drains never hand out a record twice. One
//! function per rule, each taking a fresh [`Store`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use todo_ports::model::{TaskEventType, Topic, TraceParent, UserId};
use todo_ports::{DrainReport, Inserted, OutboxWait};
use uuid::Uuid;

use crate::store::{RecordingBus, Store, event, task, user};

/// Stores a task of `user` and returns the id of its `task.created` event.
async fn write(s: &Store, user: &UserId, title: &str) -> Uuid {
    let id = s.tasks.next_id().await.expect("next id");
    let created = event(TaskEventType::Created, &task(user, title).with_id(id));
    let r = s.tasks.insert(&created, None).await.expect("insert");
    assert_eq!(r, Inserted::Created);
    created.event_id
}

/// Records grouped by topic, each topic's in order: a drain publishes each topic's records in
/// a batch of its own, so order is kept within a topic, not across topics.
fn by_topic(records: impl IntoIterator<Item = (Topic, Uuid)>) -> BTreeMap<Topic, Vec<Uuid>> {
    let mut map: BTreeMap<Topic, Vec<Uuid>> = BTreeMap::new();
    for (topic, id) in records {
        map.entry(topic).or_default().push(id);
    }
    map
}

/// The records a task event makes, in outbox order.
fn records_of(events: &[Uuid]) -> Vec<(Topic, Uuid)> {
    events.iter().flat_map(|&id| [(Topic::TaskEvents, id), (Topic::TaskUpdates, id)]).collect()
}

/// Writes `per_user` events for each of `users`, interleaving users; returns each user's
/// event ids in write order.
async fn interleaved(s: &Store, users: &[UserId], per_user: usize) -> HashMap<UserId, Vec<Uuid>> {
    let mut written: HashMap<UserId, Vec<Uuid>> = HashMap::new();
    for i in 0..per_user {
        for u in users {
            let id = write(s, u, &format!("event {i}")).await;
            written.entry(u.clone()).or_default().push(id);
        }
    }
    written
}

/// Every record accepted exactly once, each user's in write order.
fn assert_all_once_in_order(bus: &RecordingBus, written: &HashMap<UserId, Vec<Uuid>>) {
    let total: usize = written.values().map(|e| e.len() * 2).sum();
    assert_eq!(bus.accepted().len(), total, "records published more or fewer times than written");
    for (u, events) in written {
        assert_eq!(by_topic(bus.accepted_of(u)), by_topic(records_of(events)), "the order of {u}'s records");
    }
}

/// Draining an empty outbox publishes nothing and reports nothing.
pub async fn a_drain_with_nothing_waiting_reports_nothing(s: Store) {
    let bus = RecordingBus::new();
    assert_eq!(s.outbox.drain(bus.clone(), 10).await.expect("drain"), DrainReport::default());
    assert_eq!(s.outbox.pending().await.expect("pending"), 0);
    assert!(bus.accepted().is_empty());
}

/// A drain publishes the oldest records first, at most `limit`, and removes exactly those.
pub async fn drain_publishes_oldest_first_up_to_the_limit(s: Store) {
    let u = user("oldest");
    let events = vec![write(&s, &u, "a").await, write(&s, &u, "b").await, write(&s, &u, "c").await];
    assert_eq!(s.outbox.pending().await.expect("pending"), 6);
    let bus = RecordingBus::new();
    let report = s.outbox.drain(bus.clone(), 4).await.expect("drain");
    assert_eq!(report, DrainReport { published: 4, failed: 0 });
    assert_eq!(by_topic(bus.accepted_of(&u)), by_topic(records_of(&events)[..4].to_vec()));
    assert_eq!(s.outbox.pending().await.expect("pending"), 2);
    let report = s.outbox.drain(bus.clone(), 4).await.expect("drain");
    assert_eq!(report, DrainReport { published: 2, failed: 0 });
    assert_eq!(by_topic(bus.accepted_of(&u)), by_topic(records_of(&events)));
}

/// Each user's records are published in the order they were written.
pub async fn drain_keeps_each_users_order(s: Store) {
    let users = [user("order-a"), user("order-b"), user("order-c")];
    let written = interleaved(&s, &users, 5).await;
    let bus = RecordingBus::new();
    s.drain_all(&bus).await;
    assert_all_once_in_order(&bus, &written);
}

/// Each event goes out in the trace it was written in (that of the request or delivery that
/// wrote it), whatever trace the drain runs in; an event written outside any trace has none.
pub async fn each_record_goes_out_in_the_trace_it_was_written_in(s: Store) {
    let u = user("traced");
    let (first, second) = (TraceParent::root(), TraceParent::root());
    let a = todo_ports::trace::scope(Some(first.clone()), write(&s, &u, "a")).await;
    let b = todo_ports::trace::scope(Some(second.clone()), write(&s, &u, "b")).await;
    let c = write(&s, &u, "c").await;
    let bus = RecordingBus::new();
    todo_ports::trace::scope(Some(TraceParent::root()), s.drain_all(&bus)).await;
    let traces: Vec<(Uuid, Option<String>)> =
        bus.accepted().iter().map(|(_, e)| (e.id(), e.trace().map(|t| t.as_str().to_owned()))).collect();
    assert_eq!(traces.len(), 6, "{traces:?}");
    for (id, trace) in traces {
        let expected = [(a, Some(&first)), (b, Some(&second)), (c, None)]
            .into_iter()
            .find(|(e, _)| *e == id)
            .map(|(_, t)| t.map(|t| t.as_str().to_owned()));
        assert_eq!(Some(trace), expected, "the trace of event {id}");
    }
}

/// A record the bus did not take stays, with every later record of its user in its topic;
/// other users go on; once the bus takes them, everything has gone out, in each topic in order.
pub async fn a_failed_publish_holds_back_the_users_later_records(s: Store) {
    let (a, b) = (user("held-a"), user("held-b"));
    let a_events = vec![write(&s, &a, "a1").await, write(&s, &a, "a2").await, write(&s, &a, "a3").await];
    let b_events = vec![write(&s, &b, "b1").await, write(&s, &b, "b2").await];
    let bus = RecordingBus::new();
    bus.refuse(a_events[1]);
    let report = s.outbox.drain(bus.clone(), 100).await.expect("drain");
    assert_eq!(report.published, 6, "{report:?}");
    assert!(report.failed >= 1, "{report:?}");
    assert_eq!(by_topic(bus.accepted_of(&a)), by_topic(records_of(&a_events[..1])));
    assert_eq!(by_topic(bus.accepted_of(&b)), by_topic(records_of(&b_events)));
    assert_eq!(s.outbox.pending().await.expect("pending"), 4);

    let report = s.outbox.drain(bus.clone(), 100).await.expect("drain while still refused");
    assert_eq!(report.published, 0, "{report:?}");
    assert_eq!(s.outbox.pending().await.expect("pending"), 4);

    bus.accept_all();
    s.drain_all(&bus).await;
    let written = HashMap::from([(a, a_events), (b, b_events)]);
    assert_all_once_in_order(&bus, &written);
}

/// While the bus is down every drain fails and records pile up; once it is back they all go
/// out, once each, in each user's order.
pub async fn records_wait_out_a_bus_outage(s: Store) {
    let users = [user("outage-a"), user("outage-b"), user("outage-c")];
    let bus = RecordingBus::new();
    bus.set_down(true);
    let mut written: HashMap<UserId, Vec<Uuid>> = HashMap::new();
    for round in 0..4 {
        let more = interleaved(&s, &users, 1).await;
        for (u, ids) in more {
            written.entry(u).or_default().extend(ids);
        }
        let report = s.outbox.drain(bus.clone(), 50).await.expect("drain while down");
        assert_eq!(report.published, 0, "round {round}: {report:?}");
        assert!(report.failed > 0, "round {round}: {report:?}");
    }
    assert_eq!(s.outbox.pending().await.expect("pending"), 24);
    assert!(bus.failures() >= 4);
    bus.set_down(false);
    s.drain_all(&bus).await;
    assert_all_once_in_order(&bus, &written);
}

/// Drains running at the same time (replicas) never publish one record twice, and still keep
/// each user's order.
pub async fn concurrent_drains_never_publish_a_record_twice(s: Store) {
    let users = [user("race-a"), user("race-b"), user("race-c"), user("race-d")];
    let written = interleaved(&s, &users, 15).await;
    let bus = RecordingBus::new();
    bus.set_latency(Duration::from_millis(2));
    let mut drains = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (outbox, bus) = (s.outbox.clone(), bus.clone());
        drains.spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while outbox.pending().await.expect("pending") > 0 {
                assert!(tokio::time::Instant::now() < deadline, "the drains did not finish in time");
                let report = outbox.drain(bus.clone(), 10).await.expect("drain");
                assert_eq!(report.failed, 0);
                if report.published == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
    }
    while let Some(done) = drains.join_next().await {
        done.expect("drain task");
    }
    assert_eq!(bus.overlaps(), 0, "a record was being published by two drains at once");
    assert_all_once_in_order(&bus, &written);
}

/// A drain holds only the users it took: while one drain is stuck publishing the oldest
/// user's first record, another drain publishes the next user's, and the first user's records
/// go out in order once the stuck drain ends.
pub async fn a_busy_drain_holds_only_the_users_it_took(s: Store) {
    let (a, b) = (user("busy-a"), user("busy-b"));
    let a_event = write(&s, &a, "a").await;
    let b_event = write(&s, &b, "b").await;
    let stuck = RecordingBus::new();
    stuck.hold();
    let first = {
        let (outbox, stuck) = (s.outbox.clone(), stuck.clone());
        tokio::spawn(async move { outbox.drain(stuck, 1).await })
    };
    stuck.wait_for_a_publish().await;

    let bus = RecordingBus::new();
    let report = s.outbox.drain(bus.clone(), 1).await.expect("drain beside the stuck one");
    assert_eq!(report, DrainReport { published: 1, failed: 0 }, "the second drain found no free user");
    assert_eq!(by_topic(bus.accepted_of(&b)), by_topic(records_of(&[b_event])[..1].to_vec()));
    assert!(bus.accepted_of(&a).is_empty(), "a user was handed to two drains");

    stuck.release();
    let report = first.await.expect("stuck drain task").expect("stuck drain");
    assert_eq!(report, DrainReport { published: 1, failed: 0 });
    assert_eq!(by_topic(stuck.accepted_of(&a)), by_topic(records_of(&[a_event])[..1].to_vec()));
    s.drain_all(&bus).await;
    assert_eq!(by_topic(bus.accepted_of(&a)), by_topic(records_of(&[a_event])[1..].to_vec()));
    assert_eq!(by_topic(bus.accepted_of(&b)), by_topic(records_of(&[b_event])));
}

/// `wait(ForWork(d))` returns as soon as a record is written, well before `d`.
pub async fn wait_for_work_returns_when_a_record_is_written(s: Store) {
    let u = user("wake");
    let outbox = s.outbox.clone();
    let waiting = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        outbox.wait(OutboxWait::ForWork(Duration::from_secs(20))).await;
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    write(&s, &u, "wake up").await;
    // The guard only keeps a regression from hanging the run; the assertion is the test.
    let waited = tokio::time::timeout(Duration::from_secs(30), waiting).await.expect("the wait hung").expect("join");
    assert!(waited < Duration::from_secs(2), "woken {waited:?} after it began, 200 ms of it before the write");
}

/// `wait(ForWork(d))` waits for a *new* record: records already waiting (here held back by a
/// bus that is down) do not end it, or a relay whose pending lanes another drain holds would
/// spin. After writes stop, at most one wait may end early (a wake-up the last write left).
pub async fn wait_for_work_waits_for_new_records(s: Store) {
    let u = user("idle");
    write(&s, &u, "stuck").await;
    let bus = RecordingBus::new();
    bus.set_down(true);
    let report = s.outbox.drain(bus, 10).await.expect("drain");
    assert_eq!(report.published, 0);
    let patience = Duration::from_millis(300);
    let mut waited = Vec::new();
    for _ in 0..3 {
        let started = tokio::time::Instant::now();
        s.outbox.wait(OutboxWait::ForWork(patience)).await;
        waited.push(started.elapsed());
        if started.elapsed() >= patience {
            return;
        }
    }
    panic!("wait(ForWork) returned early every time though nothing was written: {waited:?}");
}

/// `wait(Pause(d))` waits `d` even when records are written meanwhile.
pub async fn pause_waits_whatever_is_written(s: Store) {
    let u = user("pause");
    let outbox = s.outbox.clone();
    let pausing = tokio::spawn(async move {
        let started = tokio::time::Instant::now();
        outbox.wait(OutboxWait::Pause(Duration::from_millis(500))).await;
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    write(&s, &u, "ignored").await;
    let paused = pausing.await.expect("join");
    assert!(paused >= Duration::from_millis(500), "paused only {paused:?}");
}
