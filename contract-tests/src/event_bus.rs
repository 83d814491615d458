//! The [`EventBus`] contract: what every bus adapter, with its way of subscribing handlers,
//! must show. One function per rule; [`crate::event_bus_contract_tests!`] makes one test of
//! each for an adapter.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use todo_ports::model::{Event, Topic};
use todo_ports::{EventBus, HandlerError, Subscription};

use crate::support::{Recorder, eventually, reminder_event, task_event, unique_user};

/// An event bus plus the adapter-specific way to subscribe to it and see its dead letters.
#[async_trait]
pub trait BusHarness: Send + Sync {
    /// The bus under test.
    fn bus(&self) -> Arc<dyn EventBus>;
    /// Registers a subscription; called before [`BusHarness::start`].
    fn subscribe(&mut self, subscription: Subscription);
    /// Starts delivering to the registered subscriptions.
    async fn start(&mut self);
    /// The events of `topic` given up on so far (memory: the bus's list; Dapr: what a
    /// subscriber of `{topic}-dlq` received).
    async fn dead_letters(&self, topic: Topic) -> Vec<Event>;
    /// How long a delivery may take.
    fn patience(&self) -> Duration;
    /// How long to watch for something that must not happen.
    fn quiet_period(&self) -> Duration;
}

/// `publish` -> the subscribed handler gets the very same event.
pub async fn a_published_event_reaches_the_subscriber(mut h: impl BusHarness) {
    let user = unique_user("published");
    let recorder = Recorder::new(&user);
    h.subscribe(Subscription { topic: Topic::TaskEvents, name: "contract", handler: recorder.clone() });
    h.start().await;
    let event = task_event(&user, "publish");
    h.bus().publish(Topic::TaskEvents, &event).await.expect("publish");
    let got = eventually(h.patience(), || async { recorder.distinct().into_iter().next() }).await;
    assert_eq!(got.as_ref(), Some(&event), "the delivered event differs from the published one");
}

/// 20 events of one user, published one after the other, arrive in that order.
pub async fn events_of_one_user_arrive_in_order(mut h: impl BusHarness) {
    let user = unique_user("order");
    let recorder = Recorder::new(&user);
    h.subscribe(Subscription { topic: Topic::TaskEvents, name: "contract", handler: recorder.clone() });
    h.start().await;
    let events: Vec<Event> = (0..20).map(|i| task_event(&user, &format!("event {i}"))).collect();
    for e in &events {
        h.bus().publish(Topic::TaskEvents, e).await.expect("publish");
    }
    eventually(h.patience(), || async { (recorder.distinct().len() >= events.len()).then_some(()) }).await;
    let ids = |es: &[Event]| es.iter().map(Event::id).collect::<Vec<_>>();
    assert_eq!(ids(&recorder.distinct()), ids(&events), "events of one user out of order (or missing)");
}

/// A handler answering `Transient` gets the event again, and it does not go to the dead
/// letters once handled.
pub async fn a_transient_failure_is_redelivered(mut h: impl BusHarness) {
    let user = unique_user("transient");
    let recorder = Recorder::answering(
        &user,
        Arc::new(|_, before| if before == 0 { Err(HandlerError::Transient("not yet".into())) } else { Ok(()) }),
    );
    h.subscribe(Subscription { topic: Topic::TaskEvents, name: "contract", handler: recorder.clone() });
    h.start().await;
    let event = task_event(&user, "retry me");
    h.bus().publish(Topic::TaskEvents, &event).await.expect("publish");
    let redelivered = eventually(h.patience(), || async { (recorder.count(event.id()) >= 2).then_some(()) }).await;
    assert!(redelivered.is_some(), "delivered {} time(s), expected a redelivery", recorder.count(event.id()));
    assert_eq!(recorder.deliveries()[1], event);
    tokio::time::sleep(h.quiet_period()).await;
    let dead = h.dead_letters(Topic::TaskEvents).await;
    assert!(!dead.iter().any(|e| e.id() == event.id()), "a handled event went to the dead letters");
}

/// A handler answering `Rejected` does not get the event again; it lands in the dead letters.
pub async fn a_rejected_event_goes_to_the_dead_letters_once(mut h: impl BusHarness) {
    let user = unique_user("rejected");
    let recorder = Recorder::answering(&user, Arc::new(|_, _| Err(HandlerError::Rejected("poison".into()))));
    h.subscribe(Subscription { topic: Topic::TaskEvents, name: "contract", handler: recorder.clone() });
    h.start().await;
    let event = task_event(&user, "poison");
    h.bus().publish(Topic::TaskEvents, &event).await.expect("publish");
    let dead = eventually(h.patience(), || async {
        h.dead_letters(Topic::TaskEvents).await.into_iter().find(|e| e.id() == event.id())
    })
    .await;
    assert_eq!(dead.as_ref(), Some(&event), "the rejected event is not in the dead letters");
    tokio::time::sleep(h.quiet_period()).await;
    assert_eq!(recorder.count(event.id()), 1, "a rejected event was redelivered");
}

/// `publish_batch` delivers every event, each user's in order.
pub async fn a_batch_is_delivered_in_order_per_user(mut h: impl BusHarness) {
    let (a, b) = (unique_user("batch-a"), unique_user("batch-b"));
    let (ra, rb) = (Recorder::new(&a), Recorder::new(&b));
    h.subscribe(Subscription { topic: Topic::TaskEvents, name: "contract-a", handler: ra.clone() });
    h.subscribe(Subscription { topic: Topic::TaskEvents, name: "contract-b", handler: rb.clone() });
    h.start().await;
    let events: Vec<Event> =
        (0..10).map(|i| task_event(if i % 3 == 0 { &b } else { &a }, &format!("batch {i}"))).collect();
    h.bus().publish_batch(Topic::TaskEvents, &events).await.expect("publish_batch");
    let of =
        |u: &todo_ports::model::UserId| events.iter().filter(|e| e.user_id() == u).map(Event::id).collect::<Vec<_>>();
    let (want_a, want_b) = (of(&a), of(&b));
    eventually(h.patience(), || async {
        (ra.distinct().len() >= want_a.len() && rb.distinct().len() >= want_b.len()).then_some(())
    })
    .await;
    assert_eq!(ra.distinct().iter().map(Event::id).collect::<Vec<_>>(), want_a, "user a's batch events");
    assert_eq!(rb.distinct().iter().map(Event::id).collect::<Vec<_>>(), want_b, "user b's batch events");
    assert!(h.bus().publish_batch(Topic::TaskEvents, &[]).await.is_ok(), "an empty batch is a no-op");
}

/// A subscriber of one topic does not get the events of another.
pub async fn subscribers_only_get_their_topic(mut h: impl BusHarness) {
    let user = unique_user("topics");
    let events_rec = Recorder::new(&user);
    let reminders_rec = Recorder::new(&user);
    h.subscribe(Subscription { topic: Topic::TaskEvents, name: "contract-tasks", handler: events_rec.clone() });
    h.subscribe(Subscription { topic: Topic::Reminders, name: "contract-reminders", handler: reminders_rec.clone() });
    h.start().await;
    let reminder = reminder_event(&user);
    let task = task_event(&user, "topic");
    h.bus().publish(Topic::Reminders, &reminder).await.expect("publish reminder");
    h.bus().publish(Topic::TaskEvents, &task).await.expect("publish task event");
    let got = eventually(h.patience(), || async {
        (!events_rec.distinct().is_empty() && !reminders_rec.distinct().is_empty()).then_some(())
    })
    .await;
    assert!(got.is_some(), "both subscribers should have their event");
    tokio::time::sleep(h.quiet_period() / 2).await;
    assert_eq!(events_rec.distinct(), vec![task]);
    assert_eq!(reminders_rec.distinct(), vec![reminder]);
}

/// One `#[tokio::test]` per [`EventBus`] case. `$factory` is an `async fn(case: &'static str)
/// -> Option<impl BusHarness>` giving a fresh harness, or `None` to skip (stack not up).
#[macro_export]
macro_rules! event_bus_contract_tests {
    ($factory:path) => {
        $crate::event_bus_contract_tests!(@cases $factory;
            a_published_event_reaches_the_subscriber,
            events_of_one_user_arrive_in_order,
            a_transient_failure_is_redelivered,
            a_rejected_event_goes_to_the_dead_letters_once,
            a_batch_is_delivered_in_order_per_user,
            subscribers_only_get_their_topic);
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $case() {
            if let Some(harness) = $factory(stringify!($case)).await {
                $crate::event_bus::$case(harness).await;
            }
        }
    )*};
}
