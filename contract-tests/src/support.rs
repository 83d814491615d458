//! Small helpers shared by the suites: unique ids, sample events and conversations, a
//! recording event handler, and polling with a deadline.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_ports::model::{
    Conversation, ConversationKey, Event, Reminder, ReminderEvent, ReminderEventType, SessionId, Task, TaskEvent,
    TaskEventType, TaskId, UserId,
};
use todo_ports::{EventHandler, HandlerError};
use uuid::Uuid;

/// A user id no other test uses.
pub fn unique_user(case: &str) -> UserId {
    let short: String = case.chars().filter(|c| c.is_ascii_alphanumeric()).take(40).collect();
    let id = format!("u-{short}-{}", Uuid::new_v4().simple());
    UserId::parse(&id).unwrap_or_else(|e| panic!("bad test user id {id}: {e}"))
}

/// A random positive task id.
pub fn unique_task_id() -> TaskId {
    TaskId(i64::from(Uuid::new_v4().as_u128() as u32) + 1)
}

/// Now, truncated to microseconds (what every store keeps).
pub fn now() -> OffsetDateTime {
    todo_ports::model::truncate_to_micros(OffsetDateTime::now_utc())
}

/// A `task.created` event of `user`, with `title`.
pub fn task_event(user: &UserId, title: &str) -> Event {
    let t = now();
    let task = Task {
        id: unique_task_id(),
        user_id: user.clone(),
        title: title.to_owned(),
        description: Some(format!("about {title}")),
        completed: false,
        priority_id: None,
        due_date: Some(t + time::Duration::days(1)),
        tags: vec!["contract".into()],
        recurrence: None,
        reminder_offset_minutes: 30,
        series: None,
        revision: 0,
        created_at: t,
        updated_at: t,
    };
    TaskEvent::new(TaskEventType::Created, task, t).into()
}

/// A `reminder.due` event of `user`.
pub fn reminder_event(user: &UserId) -> Event {
    let t = now();
    let data = Reminder {
        task_id: unique_task_id(),
        user_id: user.clone(),
        task_title: "call back".into(),
        due_date: t + time::Duration::hours(1),
        reminder_time: t,
        notification_channels: vec![todo_ports::model::Channel::Email],
    };
    ReminderEvent::new(ReminderEventType::Due, data, t).into()
}

/// A conversation of a fresh user with one message.
pub fn conversation(case: &str) -> Conversation {
    let key = ConversationKey { user_id: unique_user(case), session_id: SessionId::parse("s-1").expect("session id") };
    let mut c = Conversation::new(key, now());
    c.messages
        .push(todo_ports::model::Message::new(todo_ports::model::Role::User, "hello".into(), now()).expect("message"));
    c.context = serde_json::json!({"task_ids": [1, 2]});
    c
}

/// What a [`Recorder`] answers for one delivery.
pub type Answer = Arc<dyn Fn(&Event, usize) -> Result<(), HandlerError> + Send + Sync>;

/// An event handler that records the deliveries of one user's events (others are
/// acknowledged and ignored, so that suites sharing a topic do not see each other) and
/// answers them with `answer(event, how many times this event was delivered before)`.
pub struct Recorder {
    user: UserId,
    deliveries: Mutex<Vec<Event>>,
    answer: Answer,
}

impl Recorder {
    /// Records `user`'s events and acknowledges them.
    pub fn new(user: &UserId) -> Arc<Self> {
        Self::answering(user, Arc::new(|_, _| Ok(())))
    }

    /// Records `user`'s events and answers with `answer`.
    pub fn answering(user: &UserId, answer: Answer) -> Arc<Self> {
        Arc::new(Self { user: user.clone(), deliveries: Mutex::new(Vec::new()), answer })
    }

    /// Every delivery so far, in order (an event delivered twice is there twice).
    pub fn deliveries(&self) -> Vec<Event> {
        self.deliveries.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The distinct events delivered so far, in order of first delivery.
    pub fn distinct(&self) -> Vec<Event> {
        let mut seen = Vec::<Event>::new();
        for e in self.deliveries() {
            if !seen.iter().any(|s| s.id() == e.id()) {
                seen.push(e);
            }
        }
        seen
    }

    /// How many times the event `id` was delivered.
    pub fn count(&self, id: Uuid) -> usize {
        self.deliveries().iter().filter(|e| e.id() == id).count()
    }
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        if event.user_id() != &self.user {
            return Ok(());
        }
        let before = {
            let mut d = self.deliveries.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let before = d.iter().filter(|e| e.id() == event.id()).count();
            d.push(event.clone());
            before
        };
        (self.answer)(event, before)
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `patience`.
pub async fn eventually<T, F, Fut>(patience: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `check` holds, polling every 100 ms, for at most `max`.
///
/// # Panics
/// Naming `what`, when it does not hold in time.
pub async fn wait_until(what: &str, max: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + max;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {max:?} waiting for {what}");
}
