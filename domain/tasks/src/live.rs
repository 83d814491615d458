//! The live feed of task changes: a hub of open subscriptions, each of one user, and the
//! consumer of `task-updates` that hands every task event to its user's subscriptions.
//!
//! It keeps nothing: an event for a user with no open subscription is gone, and a client that
//! (re)connects refetches what it shows, then follows the feed. It never waits for a
//! subscriber: each one has a bounded queue, and one whose queue is full when an event comes is
//! ended ([`Ended::TooSlow`]) instead of slowing the others or the bus.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use async_trait::async_trait;
use todo_ports::model::{Event, Topic, UserId};
use todo_ports::{EventHandler, HandlerError};
use tokio::sync::{Notify, mpsc};

use crate::{Consumes, Role};

/// Events a subscription holds for its reader before it is ended as too slow.
pub const DEFAULT_LIVE_CAPACITY: usize = 256;

/// Why a [`LiveSubscription`] gives no more events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ended {
    /// Its queue was full when an event came: the reader fell behind and has missed events.
    #[error("the subscriber fell behind and missed events")]
    TooSlow,
    /// The hub is gone (the service is stopping).
    #[error("the live feed is closed")]
    Closed,
}

/// Open subscriptions per user, and the `task-updates` consumer that feeds them.
pub struct LiveUpdates {
    hub: Arc<Hub>,
}

struct Hub {
    capacity: usize,
    next_id: AtomicU64,
    users: Mutex<HashMap<UserId, Vec<Entry>>>,
}

/// The hub's side of one subscription.
struct Entry {
    id: u64,
    events: mpsc::Sender<Arc<Event>>,
    end: Arc<EndSignal>,
}

/// Shared by the hub and a subscription: set once, when the hub ends the subscription.
#[derive(Default)]
struct EndSignal {
    too_slow: AtomicBool,
    notify: Notify,
}

impl EndSignal {
    fn reason(&self) -> Ended {
        if self.too_slow.load(Ordering::SeqCst) { Ended::TooSlow } else { Ended::Closed }
    }
}

impl Hub {
    fn users(&self) -> MutexGuard<'_, HashMap<UserId, Vec<Entry>>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let users = self.users.get_mut().unwrap_or_else(PoisonError::into_inner);
        for entry in users.values().flatten() {
            entry.end.notify.notify_one();
        }
    }
}

impl Default for LiveUpdates {
    fn default() -> Self {
        Self::new(DEFAULT_LIVE_CAPACITY)
    }
}

impl LiveUpdates {
    /// A hub whose subscriptions each hold up to `capacity` events (at least one).
    pub fn new(capacity: usize) -> Self {
        let hub = Hub { capacity: capacity.max(1), next_id: AtomicU64::new(0), users: Mutex::default() };
        Self { hub: Arc::new(hub) }
    }

    /// Events each subscription holds before it is ended as too slow.
    pub fn capacity(&self) -> usize {
        self.hub.capacity
    }

    /// A subscription to `user`'s task events from now on; dropping it unsubscribes.
    pub fn subscribe(&self, user: &UserId) -> LiveSubscription {
        let (tx, rx) = mpsc::channel(self.hub.capacity);
        let end = Arc::new(EndSignal::default());
        let id = self.hub.next_id.fetch_add(1, Ordering::Relaxed);
        let entry = Entry { id, events: tx, end: end.clone() };
        self.hub.users().entry(user.clone()).or_default().push(entry);
        LiveSubscription { id, user: user.clone(), events: rx, end, hub: Arc::downgrade(&self.hub) }
    }

    /// Open subscriptions, of every user.
    pub fn subscriptions(&self) -> usize {
        self.hub.users().values().map(Vec::len).sum()
    }

    /// Open subscriptions of `user`.
    pub fn subscriptions_of(&self, user: &UserId) -> usize {
        self.hub.users().get(user).map_or(0, Vec::len)
    }

    /// Hands `event` to every open subscription of its user, without waiting: a subscription
    /// whose queue is full is ended as [`Ended::TooSlow`]. Returns how many took it.
    pub fn publish(&self, event: &Event) -> usize {
        let mut users = self.hub.users();
        let Some(entries) = users.get_mut(event.user_id()) else { return 0 };
        let event = Arc::new(event.clone());
        entries.retain(|entry| match entry.events.try_send(event.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                entry.end.too_slow.store(true, Ordering::SeqCst);
                entry.end.notify.notify_one();
                tracing::info!(user_id = %event.user_id(), subscription = entry.id, "live subscriber too slow; ended");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        let took = entries.len();
        if entries.is_empty() {
            users.remove(event.user_id());
        }
        took
    }
}

impl Consumes for LiveUpdates {
    const NAME: &'static str = "sync";
    const TOPIC: Topic = Topic::TaskUpdates;
    const ROLE: Role = Role::Sync;
}

#[async_trait]
impl EventHandler for LiveUpdates {
    /// Fans a task event out to its user's open subscriptions. Always `Ok`: an event nobody is
    /// listening to is not an event to deliver again.
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        if let Event::Task(_) = event {
            let took = self.publish(event);
            tracing::debug!(event_id = %event.id(), subscribers = took, "live event fanned out");
        }
        Ok(())
    }
}

/// One user's task events from the moment of [`LiveUpdates::subscribe`], in the order the hub
/// got them, until the hub ends it. Dropping it unsubscribes.
pub struct LiveSubscription {
    id: u64,
    user: UserId,
    events: mpsc::Receiver<Arc<Event>>,
    end: Arc<EndSignal>,
    hub: Weak<Hub>,
}

impl std::fmt::Debug for LiveSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSubscription").field("id", &self.id).field("user", &self.user).finish_non_exhaustive()
    }
}

impl LiveSubscription {
    /// The user whose events these are.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The next event, waiting for one.
    ///
    /// # Errors
    /// [`Ended`] once the hub has ended the subscription; after [`Ended::TooSlow`] the events
    /// still queued are dropped, since the reader has missed some anyway.
    pub async fn next(&mut self) -> Result<Arc<Event>, Ended> {
        if self.end.too_slow.load(Ordering::SeqCst) {
            return Err(Ended::TooSlow);
        }
        match self.events.recv().await {
            Some(event) => Ok(event),
            None => Err(self.end.reason()),
        }
    }

    /// Completes when the hub ends the subscription, even with events queued: for a reader busy
    /// elsewhere (writing to a slow socket) to learn that it has fallen behind.
    pub async fn ended(&self) -> Ended {
        if self.end.too_slow.load(Ordering::SeqCst) || self.hub.strong_count() == 0 {
            return self.end.reason();
        }
        self.end.notify.notified().await;
        // Leave the permit for the next caller: once ended, it stays ended.
        self.end.notify.notify_one();
        self.end.reason()
    }
}

impl Drop for LiveSubscription {
    fn drop(&mut self) {
        let Some(hub) = self.hub.upgrade() else { return };
        let mut users = hub.users();
        if let Some(entries) = users.get_mut(&self.user) {
            entries.retain(|entry| entry.id != self.id);
            if entries.is_empty() {
                users.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::macros::datetime;
    use todo_ports::model::{Task, TaskEvent, TaskEventType, TaskPatch};

    use super::*;

    fn user(name: &str) -> UserId {
        UserId::parse(name).unwrap()
    }

    fn event(owner: &str, title: &str) -> Event {
        let now = datetime!(2026-01-10 12:00 UTC);
        let patch = TaskPatch { title: Some(title.into()), ..TaskPatch::default() };
        let task = Task::create(user(owner), patch, now).unwrap();
        TaskEvent::new(TaskEventType::Created, task, now).into()
    }

    fn title(event: &Event) -> &str {
        match event {
            Event::Task(e) => &e.data.title,
            Event::Reminder(e) => &e.data.task_title,
        }
    }

    /// Whether `sub` has an event ready (under paused time, waiting costs nothing).
    async fn has_event(sub: &mut LiveSubscription) -> bool {
        tokio::time::timeout(Duration::from_secs(60), sub.next()).await.is_ok()
    }

    #[tokio::test(start_paused = true)]
    async fn each_event_reaches_the_subscriptions_of_its_user_only() {
        let live = LiveUpdates::default();
        let (mut alice1, mut alice2, mut bob) =
            (live.subscribe(&user("alice")), live.subscribe(&user("alice")), live.subscribe(&user("bob")));
        live.handle(&event("alice", "for alice")).await.unwrap();
        assert_eq!(title(&alice1.next().await.unwrap()), "for alice");
        assert_eq!(title(&alice2.next().await.unwrap()), "for alice");
        assert!(!has_event(&mut bob).await, "bob got alice's event");
        live.handle(&event("bob", "for bob")).await.unwrap();
        assert_eq!(title(&bob.next().await.unwrap()), "for bob");
        assert!(!has_event(&mut alice1).await, "alice got bob's event");
    }

    #[tokio::test(start_paused = true)]
    async fn events_nobody_listens_to_are_dropped_and_never_an_error() {
        let live = LiveUpdates::default();
        live.handle(&event("alice", "before")).await.unwrap();
        let mut alice = live.subscribe(&user("alice"));
        live.handle(&event("alice", "after")).await.unwrap();
        assert_eq!(title(&alice.next().await.unwrap()), "after", "an event from before the subscription was kept");
        assert!(!has_event(&mut alice).await);
        assert_eq!(live.publish(&event("carol", "nobody")), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn events_come_in_the_order_the_hub_got_them() {
        let live = LiveUpdates::default();
        let mut alice = live.subscribe(&user("alice"));
        for n in 0..10 {
            live.handle(&event("alice", &format!("t{n}"))).await.unwrap();
        }
        for n in 0..10 {
            assert_eq!(title(&alice.next().await.unwrap()), format!("t{n}"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_ends_that_subscription_as_too_slow_and_spares_the_others() {
        let live = LiveUpdates::new(2);
        let (mut slow, mut fast) = (live.subscribe(&user("alice")), live.subscribe(&user("alice")));
        for n in 0..2 {
            live.handle(&event("alice", &format!("t{n}"))).await.unwrap();
            assert_eq!(title(&fast.next().await.unwrap()), format!("t{n}"));
        }
        assert_eq!(live.subscriptions_of(&user("alice")), 2, "a full queue is not yet too slow");
        live.handle(&event("alice", "overflow")).await.unwrap();
        assert_eq!(title(&fast.next().await.unwrap()), "overflow");
        assert_eq!(live.subscriptions_of(&user("alice")), 1, "the hub still holds the slow subscription");
        assert_eq!(slow.ended().await, Ended::TooSlow);
        assert_eq!(slow.next().await.unwrap_err(), Ended::TooSlow, "the backlog of a reader that missed events");
        live.handle(&event("alice", "later")).await.unwrap();
        assert_eq!(title(&fast.next().await.unwrap()), "later");
    }

    #[tokio::test(start_paused = true)]
    async fn ended_waits_while_the_subscription_is_open() {
        let live = LiveUpdates::new(1);
        let alice = live.subscribe(&user("alice"));
        live.handle(&event("alice", "fills the queue")).await.unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(60), alice.ended()).await.is_err(), "ended while open");
        let waiting = tokio::spawn(async move { alice.ended().await });
        tokio::task::yield_now().await;
        live.handle(&event("alice", "one too many")).await.unwrap();
        assert_eq!(waiting.await.unwrap(), Ended::TooSlow);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_subscription_is_forgotten() {
        let live = LiveUpdates::default();
        let alice = live.subscribe(&user("alice"));
        let bob = live.subscribe(&user("bob"));
        assert_eq!((live.subscriptions(), live.subscriptions_of(&user("alice"))), (2, 1));
        drop(alice);
        assert_eq!((live.subscriptions(), live.subscriptions_of(&user("alice"))), (1, 0));
        assert!(live.hub.users().get(&user("alice")).is_none(), "an empty entry stays behind");
        drop(bob);
        assert_eq!(live.subscriptions(), 0);
        assert!(live.hub.users().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_subscription_outliving_its_hub_ends_as_closed() {
        let live = LiveUpdates::default();
        let mut alice = live.subscribe(&user("alice"));
        let waiting = live.subscribe(&user("alice"));
        let waiting = tokio::spawn(async move { waiting.ended().await });
        tokio::task::yield_now().await;
        drop(live);
        assert_eq!(alice.next().await.unwrap_err(), Ended::Closed);
        assert_eq!(alice.ended().await, Ended::Closed);
        assert_eq!(waiting.await.unwrap(), Ended::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn reminder_events_are_not_fanned_out() {
        let live = LiveUpdates::default();
        let mut alice = live.subscribe(&user("alice"));
        let due = datetime!(2026-01-10 12:00 UTC);
        let reminder = todo_ports::model::ReminderEvent::new(
            todo_ports::model::ReminderEventType::Due,
            todo_ports::model::Reminder {
                task_id: todo_ports::model::TaskId(1),
                user_id: user("alice"),
                task_title: "t".into(),
                due_date: due,
                reminder_time: due,
                notification_channels: Vec::new(),
            },
            due,
        );
        live.handle(&reminder.into()).await.unwrap();
        assert!(!has_event(&mut alice).await);
    }

    #[test]
    fn it_is_the_sync_roles_consumer_of_task_updates() {
        assert_eq!(
            (LiveUpdates::NAME, LiveUpdates::TOPIC, LiveUpdates::ROLE),
            ("sync", Topic::TaskUpdates, Role::Sync)
        );
        assert_eq!(LiveUpdates::new(0).capacity(), 1);
    }
}
