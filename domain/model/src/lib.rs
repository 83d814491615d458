//! The Todo domain's vocabulary: tasks, recurrence rules, reminders, conversations and the
//! events published about them. Pure data and validation; no I/O, no async.
//!
//! The JSON shapes of [`TaskEvent`] and [`ReminderEvent`] are the published contract
//! (`schemas/*.json` at the workspace root), so these types derive serde directly.

mod conversation;
mod error;
mod event;
mod ids;
mod task;
mod timestamp;

pub use conversation::{Conversation, ConversationKey, Message, Role, SessionId, MAX_MESSAGE_CHARS};
pub use error::ValidationError;
pub use event::{
    Channel, Event, Reminder, ReminderEvent, ReminderEventType, TaskEvent, TaskEventType, Topic,
    EVENT_VERSION,
};
pub use ids::{TaskId, UserId};
pub use task::{
    Frequency, Priority, Recurrence, Series, Task, TaskPatch, DEFAULT_REMINDER_OFFSET_MINUTES,
    MAX_DESCRIPTION_CHARS, MAX_REMINDER_OFFSET_MINUTES, MAX_TAGS, MAX_TAG_CHARS, MAX_TITLE_CHARS,
};
pub use timestamp::{truncate_to_micros, Timestamp};
