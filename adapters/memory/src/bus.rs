//! The in-memory event bus: asynchronous, at-least-once delivery to subscribed handlers, in
//! order per user, with redelivery after transient failures ([`Policy::REDELIVERY`]) and dead
//! letters for the rest. A handler that panics is one failed delivery: it is redelivered, then
//! dead-lettered, and its lane goes on with the next event.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_util::FutureExt;
use todo_ports::model::{Event, Topic, TraceParent};
use todo_ports::{BusError, EventBus, HandlerError, Subscription};
use todo_retry::Policy;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::lock;

/// Lanes per subscription; a user's events always take the same lane, so they stay in order
/// (the role Kafka partitions play).
const LANES: usize = 8;

/// An [`EventBus`] that hands events to the handlers subscribed in this process.
pub struct InMemoryEventBus {
    policy: Policy,
    subscriptions: Mutex<Vec<Arc<Consumer>>>,
    dead_letters: Arc<DeadLetters>,
    /// Every accepted `(topic, event)`, when recording (tests).
    published: Option<Mutex<Vec<(Topic, Event)>>>,
}

struct Consumer {
    topic: Topic,
    lanes: Vec<mpsc::UnboundedSender<Event>>,
}

impl Consumer {
    /// Starts the lanes of `subscription`; what its handler gives up on goes to `dead_letters`
    /// (none for a consumer of dead letters itself).
    fn start(subscription: &Subscription, policy: Policy, dead_letters: Option<Arc<DeadLetters>>) -> Arc<Self> {
        let lanes = (0..LANES)
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(deliver(subscription.clone(), rx, policy, dead_letters.clone()));
                tx
            })
            .collect();
        Arc::new(Self { topic: subscription.topic, lanes })
    }

    fn send(&self, event: &Event) -> Result<(), BusError> {
        self.lanes[lane_of(event)]
            .send(event.clone())
            .map_err(|_| BusError::Unavailable("the bus's runtime has shut down".into()))
    }
}

/// The events given up on, kept, and handed to the consumers of each topic's dead letters (the
/// `{topic}-dlq` a sidecar would send them to).
#[derive(Default)]
struct DeadLetters {
    kept: Mutex<Vec<(Topic, Event)>>,
    consumers: Mutex<Vec<Arc<Consumer>>>,
}

impl DeadLetters {
    fn put(&self, topic: Topic, event: &Event) {
        lock(&self.kept).push((topic, event.clone()));
        let consumers: Vec<Arc<Consumer>> =
            lock(&self.consumers).iter().filter(|c| c.topic == topic).cloned().collect();
        for consumer in consumers {
            if consumer.send(event).is_err() {
                tracing::warn!(event_id = %event.id(), "dead letter not handed on: the bus's runtime has shut down");
            }
        }
    }
}

impl InMemoryEventBus {
    /// A bus redelivering with [`Policy::REDELIVERY`].
    pub fn new() -> Arc<Self> {
        Self::with_policy(Policy::REDELIVERY, false)
    }

    /// A bus that also keeps every published event, for [`InMemoryEventBus::published`].
    pub fn recording() -> Arc<Self> {
        Self::with_policy(Policy::REDELIVERY, true)
    }

    /// A bus redelivering with `policy`; `record` keeps every published event.
    pub fn with_policy(policy: Policy, record: bool) -> Arc<Self> {
        Arc::new(Self {
            policy,
            subscriptions: Mutex::new(Vec::new()),
            dead_letters: Arc::default(),
            published: record.then(Mutex::default),
        })
    }

    /// Delivers every later event of `subscription.topic` to its handler. Must be called
    /// within a Tokio runtime: each lane is a task.
    pub fn subscribe(&self, subscription: Subscription) {
        let consumer = Consumer::start(&subscription, self.policy, Some(self.dead_letters.clone()));
        lock(&self.subscriptions).push(consumer);
    }

    /// Delivers every later dead letter of `subscription.topic` (an event some consumer of that
    /// topic gave up on) to its handler; what that handler gives up on is logged and dropped.
    pub fn subscribe_dead_letters(&self, subscription: Subscription) {
        let consumer = Consumer::start(&subscription, self.policy, None);
        lock(&self.dead_letters.consumers).push(consumer);
    }

    /// Events given up on: rejected by a handler, or still failing after every attempt.
    pub fn dead_letters(&self) -> Vec<(Topic, Event)> {
        lock(&self.dead_letters.kept).clone()
    }

    /// Every event published so far (only on a [`InMemoryEventBus::recording`] bus).
    pub fn published(&self) -> Vec<(Topic, Event)> {
        self.published.as_ref().map(|p| lock(p).clone()).unwrap_or_default()
    }
}

fn lane_of(event: &Event) -> usize {
    let mut h = DefaultHasher::new();
    event.user_id().hash(&mut h);
    (h.finish() % LANES as u64) as usize
}

/// One lane's delivery loop: each event is handled, retried or dead-lettered before the next.
async fn deliver(
    subscription: Subscription,
    mut events: mpsc::UnboundedReceiver<Event>,
    policy: Policy,
    dead_letters: Option<Arc<DeadLetters>>,
) {
    while let Some(event) = events.recv().await {
        // Delivery continues the trace the event was written in, as a delivery through the
        // sidecar does.
        let trace = event.trace().map_or_else(TraceParent::root, TraceParent::child);
        let span = tracing::info_span!("delivery", trace_id = trace.trace_id());
        todo_ports::trace::scope(Some(trace), deliver_one(&subscription, &event, &policy, dead_letters.as_deref()))
            .instrument(span)
            .await;
    }
}

/// Hands `event` to the subscription until it is handled or dead-lettered.
async fn deliver_one(subscription: &Subscription, event: &Event, policy: &Policy, dead_letters: Option<&DeadLetters>) {
    let give_up = |event: &Event| match dead_letters {
        Some(dead) => dead.put(subscription.topic, event),
        None => {
            tracing::error!(consumer = subscription.name, event_id = %event.id(), "dead letter dropped: its own consumer gave up")
        }
    };
    let mut delays = policy.delays();
    let mut attempt = 1;
    loop {
        let handled = AssertUnwindSafe(subscription.handler.handle(event)).catch_unwind().await;
        let result = handled.unwrap_or_else(|panic| {
                let why = panic_message(panic.as_ref());
                tracing::error!(consumer = subscription.name, event_id = %event.id(), panic = ?why, "event handler panicked");
                Err(HandlerError::Transient(format!("the handler panicked: {why}").into()))
            });
        match result {
            Ok(()) => {
                tracing::info!(consumer = subscription.name, event_id = %event.id(), event_type = event.event_type(), "event handled");
                break;
            }
            Err(HandlerError::Transient(e)) => match delays.next() {
                Some(delay) => {
                    tracing::warn!(consumer = subscription.name, event_id = %event.id(), attempt, error = %e, "event will be redelivered");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                None => {
                    tracing::warn!(consumer = subscription.name, event_id = %event.id(), attempt, error = %e, "event dead-lettered after its last delivery");
                    give_up(event);
                    break;
                }
            },
            Err(e) => {
                tracing::warn!(consumer = subscription.name, event_id = %event.id(), error = %e, "event dead-lettered");
                give_up(event);
                break;
            }
        }
    }
}

/// What a panic said, when it said it with a string.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

#[async_trait]
impl EventBus for InMemoryEventBus {
    async fn publish(&self, topic: Topic, event: &Event) -> Result<(), BusError> {
        if let Some(published) = &self.published {
            lock(published).push((topic, event.clone()));
        }
        let consumers: Vec<Arc<Consumer>> =
            lock(&self.subscriptions).iter().filter(|c| c.topic == topic).cloned().collect();
        for consumer in consumers {
            consumer.send(event)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use todo_ports::EventHandler;
    use todo_ports::model::{Task, TaskEvent, TaskEventType, TaskPatch, UserId};

    use super::*;

    /// Panics on the events titled "poison", handles the rest.
    #[derive(Default)]
    struct Fragile {
        poisoned: AtomicUsize,
        handled: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl EventHandler for Fragile {
        async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
            let Event::Task(e) = event else { return Ok(()) };
            if e.data.title == "poison" {
                self.poisoned.fetch_add(1, Ordering::SeqCst);
                panic!("a bug in the handler");
            }
            lock(&self.handled).push(e.data.title.clone());
            Ok(())
        }
    }

    fn event(user: &str, title: &str) -> Event {
        let patch = TaskPatch { title: Some(title.into()), ..TaskPatch::default() };
        let task = Task::create(UserId::parse(user).unwrap(), patch, time::OffsetDateTime::UNIX_EPOCH).unwrap();
        TaskEvent::new(TaskEventType::Created, task, time::OffsetDateTime::UNIX_EPOCH).into()
    }

    #[tokio::test(start_paused = true)]
    async fn a_handler_that_panics_is_redelivered_then_dead_lettered_and_its_lane_goes_on() {
        let bus = InMemoryEventBus::new();
        let handler = Arc::new(Fragile::default());
        bus.subscribe(Subscription { topic: Topic::TaskEvents, name: "fragile", handler: handler.clone() });
        let poison = event("u1", "poison");
        bus.publish(Topic::TaskEvents, &poison).await.unwrap();
        bus.publish(Topic::TaskEvents, &event("u1", "after it")).await.unwrap();
        bus.publish(Topic::TaskEvents, &event("u2", "another user")).await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(handler.poisoned.load(Ordering::SeqCst), Policy::REDELIVERY.attempts.unwrap_or(0));
        assert_eq!(bus.dead_letters(), vec![(Topic::TaskEvents, poison)]);
        let mut handled = lock(&handler.handled).clone();
        handled.sort();
        assert_eq!(handled, ["after it", "another user"], "the lane and the others went on");
    }

    #[tokio::test(start_paused = true)]
    async fn a_dead_letter_reaches_the_consumers_of_its_topics_dead_letters_only() {
        let bus = InMemoryEventBus::new();
        bus.subscribe(Subscription {
            topic: Topic::TaskEvents,
            name: "fragile",
            handler: Arc::new(Fragile::default()),
        });
        let (graveyard, elsewhere) = (Arc::new(Fragile::default()), Arc::new(Fragile::default()));
        bus.subscribe_dead_letters(Subscription { topic: Topic::TaskEvents, name: "dlq", handler: graveyard.clone() });
        bus.subscribe_dead_letters(Subscription { topic: Topic::Reminders, name: "other", handler: elsewhere.clone() });
        bus.publish(Topic::TaskEvents, &event("u1", "poison")).await.unwrap();
        bus.publish(Topic::TaskEvents, &event("u1", "fine")).await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        // The poison reaches the dead-letter consumer, whose own panics drop it at last.
        assert_eq!(graveyard.poisoned.load(Ordering::SeqCst), Policy::REDELIVERY.attempts.unwrap_or(0));
        assert!(lock(&graveyard.handled).is_empty(), "only what was given up on");
        assert_eq!(elsewhere.poisoned.load(Ordering::SeqCst), 0, "another topic's dead letters");
        assert_eq!(bus.dead_letters().len(), 1, "kept once: a dead letter's consumer makes none");
    }
}
