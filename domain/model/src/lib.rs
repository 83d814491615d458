//! The Todo domain's vocabulary: tasks, recurrence rules, reminders, conversations and the
//! events published about them. Pure data and validation; no I/O, no async.
//!
//! The JSON shapes of [`TaskEvent`] and [`ReminderEvent`] are the published contract
//! (`schemas/*.json` at the workspace root), so these types derive serde directly.

mod conversation;
mod error;
mod event;
mod ids;
mod instant;
mod task;
mod text;
mod trace;

pub use conversation::{
    Conversation, ConversationKey, MAX_MESSAGE_CHARS, MAX_TOOL_NAME_CHARS, Message, Role, SessionId, ToolCall,
};
pub use error::ValidationError;
pub use event::{
    Channel, EVENT_VERSION, Event, Reminder, ReminderEvent, ReminderEventType, TaskEvent, TaskEventType, Topic,
};
pub use ids::{TaskId, UserId};
pub use instant::{EARLIEST, LATEST, check_instant, parse_instant, truncate_to_micros};
pub use task::{
    DEFAULT_REMINDER_OFFSET_MINUTES, Frequency, MAX_DESCRIPTION_CHARS, MAX_REMINDER_OFFSET_MINUTES, MAX_TAG_CHARS,
    MAX_TAGS, MAX_TITLE_CHARS, Priority, Recurrence, RecurrenceInput, Series, Task, TaskPatch,
};
pub use text::{check_json, check_line, check_multiline, fold_for_search};
pub use trace::{Trace, TraceParent};
