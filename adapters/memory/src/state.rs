//! The in-memory state store: conversations with versions (ETags) and expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use todo_ports::model::{Conversation, ConversationKey};
use todo_ports::{ETag, Precondition, StateError, StateStore, Versioned};
use tokio::time::Instant;

use crate::lock;

/// A [`StateStore`] in a map. Expiry follows Tokio's clock, so paused-time tests control it.
#[derive(Debug, Default)]
pub struct InMemoryStateStore {
    entries: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug, Clone)]
struct Entry {
    value: Conversation,
    version: u64,
    expires_at: Instant,
}

impl InMemoryStateStore {
    /// An empty store.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
}

/// The live entry under `key`, dropping it if it has expired.
fn live<'a>(entries: &'a mut HashMap<String, Entry>, key: &str) -> Option<&'a Entry> {
    if entries.get(key).is_some_and(|e| e.expires_at <= Instant::now()) {
        entries.remove(key);
    }
    entries.get(key)
}

fn check(current: Option<&Entry>, precondition: &Precondition) -> Result<(), StateError> {
    let holds = match (precondition, current) {
        (Precondition::None, _) => true,
        (Precondition::Absent, current) => current.is_none(),
        (Precondition::Matches(etag), Some(e)) => etag.0 == e.version.to_string(),
        (Precondition::Matches(_), None) => false,
    };
    if holds { Ok(()) } else { Err(StateError::Conflict) }
}

#[async_trait]
impl StateStore for InMemoryStateStore {
    async fn get(&self, key: &ConversationKey) -> Result<Option<Versioned<Conversation>>, StateError> {
        let mut entries = lock(&self.entries);
        Ok(live(&mut entries, &key.to_string())
            .map(|e| Versioned { value: e.value.clone(), etag: ETag(e.version.to_string()) }))
    }

    async fn save(
        &self,
        conversation: &Conversation,
        precondition: &Precondition,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let key = conversation.key().to_string();
        let mut entries = lock(&self.entries);
        let current = live(&mut entries, &key);
        check(current, precondition)?;
        let version = current.map_or(1, |e| e.version + 1);
        entries.insert(key, Entry { value: conversation.clone(), version, expires_at: Instant::now() + ttl });
        Ok(())
    }

    async fn delete(&self, key: &ConversationKey, precondition: &Precondition) -> Result<(), StateError> {
        let key = key.to_string();
        let mut entries = lock(&self.entries);
        if let Some(current) = live(&mut entries, &key) {
            if matches!(precondition, Precondition::Matches(_)) {
                check(Some(current), precondition)?;
            }
            entries.remove(&key);
        }
        Ok(())
    }
}
