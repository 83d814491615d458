//! [`StateStore`] over the sidecar's state API.
//!
//! How each [`Precondition`] is sent (checked against daprd 1.18 + `state.redis`; see the
//! README, "Create-only writes"):
//!
//! * `Matches(etag)`: `etag` + `concurrency: first-write`; a mismatch answers 409.
//! * `Absent`: `concurrency: first-write` **without** an etag: create-only on PostgreSQL, and
//!   on Redis for every key that was written with `first-write` before (Redis keeps a
//!   `first-write` flag per key; without it an etag-less write overwrites). Redis answers an
//!   existing key with **500** `ERR_STATE_SAVE` "failed to set key" (not 409), which the
//!   client classifies as a conflict.
//! * `None`: read the current etag, then write under `Matches`/`Absent`, again on conflict.
//!   A plain etag-less write would fail on Redis for any key that carries the `first-write`
//!   flag, and would leave a key without the flag (so a later `Absent` would overwrite it).
//!   Lost races are retried as [`Policy::STATE_WRITE`] says.
//!
//! Every write carries `ttlInSeconds` (whole seconds, rounded up, at least 1).

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use serde::Serialize;
use todo_ports::model::{Conversation, ConversationKey};
use todo_ports::{ETag, Precondition, StateError, StateStore, Versioned};
use todo_retry::Policy;

use super::client::{ErrorKind, SidecarClient, SidecarError, encode};

/// Stores conversations in the sidecar's state store ([`crate::DaprConfig::state_store`]) under
/// `conversation:{user_id}:{session_id}`.
#[derive(Debug, Clone)]
pub struct DaprStateStore {
    client: SidecarClient,
}

impl DaprStateStore {
    /// A store reached through `client`'s sidecar.
    pub fn new(client: SidecarClient) -> Self {
        Self { client }
    }

    fn key_path(&self, key: &ConversationKey) -> String {
        format!("/v1.0/state/{}/{}", encode(&self.client.config().state_store, false), encode(&key.to_string(), true))
    }

    async fn read(&self, key: &ConversationKey) -> Result<Option<(Bytes, ETag)>, StateError> {
        let path = format!("{}?consistency=strong", self.key_path(key));
        let answer = self.client.call(Method::GET, &path, HeaderMap::new(), None).await.map_err(state_error)?;
        if answer.status == StatusCode::NO_CONTENT || answer.body.is_empty() {
            return Ok(None);
        }
        let etag = answer
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(|v| ETag(v.to_owned()))
            .ok_or_else(|| StateError::Internal(format!("{key}: the state store returned no ETag").into()))?;
        Ok(Some((answer.body, etag)))
    }

    async fn write(
        &self,
        key: &ConversationKey,
        value: &serde_json::Value,
        etag: Option<&ETag>,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let item = SetItem {
            key: key.to_string(),
            value,
            etag: etag.map(|e| e.0.as_str()),
            metadata: SetMetadata { ttl_in_seconds: ttl_seconds(ttl).to_string() },
            options: SetOptions { concurrency: "first-write", consistency: "strong" },
        };
        let body = serde_json::to_vec(&[item]).map_err(|e| StateError::Internal(Box::new(e)))?;
        let path = format!("/v1.0/state/{}", encode(&self.client.config().state_store, false));
        self.client.call(Method::POST, &path, HeaderMap::new(), Some(Bytes::from(body))).await.map_err(state_error)?;
        Ok(())
    }
}

/// Whole seconds of `ttl`, rounded up, at least 1 (0 or less would mean "never expire").
pub(crate) fn ttl_seconds(ttl: Duration) -> u64 {
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    secs.max(1)
}

fn state_error(e: SidecarError) -> StateError {
    match e.kind {
        ErrorKind::Conflict => StateError::Conflict,
        ErrorKind::Unavailable => StateError::Unavailable(Box::new(e)),
        ErrorKind::Rejected => StateError::Internal(Box::new(e)),
    }
}

#[derive(Serialize)]
struct SetItem<'a> {
    key: String,
    value: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    etag: Option<&'a str>,
    metadata: SetMetadata,
    options: SetOptions,
}

#[derive(Serialize)]
struct SetMetadata {
    #[serde(rename = "ttlInSeconds")]
    ttl_in_seconds: String,
}

#[derive(Serialize)]
struct SetOptions {
    concurrency: &'static str,
    consistency: &'static str,
}

#[async_trait]
impl StateStore for DaprStateStore {
    #[tracing::instrument(name = "state.dapr.get", skip_all, fields(key = %key))]
    async fn get(&self, key: &ConversationKey) -> Result<Option<Versioned<Conversation>>, StateError> {
        let Some((body, etag)) = self.read(key).await? else { return Ok(None) };
        let value: Conversation = serde_json::from_slice(&body)
            .map_err(|e| StateError::Internal(format!("{key}: the stored value is not a conversation: {e}").into()))?;
        Ok(Some(Versioned { value, etag }))
    }

    #[tracing::instrument(name = "state.dapr.save", skip_all, fields(key = %conversation.key()))]
    async fn save(
        &self,
        conversation: &Conversation,
        precondition: &Precondition,
        ttl: Duration,
    ) -> Result<(), StateError> {
        let key = conversation.key();
        let value = serde_json::to_value(conversation).map_err(|e| StateError::Internal(Box::new(e)))?;
        match precondition {
            Precondition::Matches(etag) => self.write(&key, &value, Some(etag), ttl).await,
            Precondition::Absent => self.write(&key, &value, None, ttl).await,
            // Read the current etag and write under it, again while others win the race.
            Precondition::None => {
                let write = || async {
                    let current = self.read(&key).await?.map(|(_, etag)| etag);
                    self.write(&key, &value, current.as_ref(), ttl).await
                };
                todo_retry::retry(&Policy::STATE_WRITE, write, |e| matches!(e, StateError::Conflict)).await
            }
        }
    }

    #[tracing::instrument(name = "state.dapr.delete", skip_all, fields(key = %key))]
    async fn delete(&self, key: &ConversationKey, precondition: &Precondition) -> Result<(), StateError> {
        let mut headers = HeaderMap::new();
        if let Precondition::Matches(etag) = precondition {
            let value = HeaderValue::from_str(&etag.0).map_err(|_| StateError::Conflict)?;
            headers.insert(header::IF_MATCH, value);
        }
        let path = format!("{}?concurrency=first-write&consistency=strong", self.key_path(key));
        self.client.call(Method::DELETE, &path, headers, None).await.map_err(state_error)?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_seconds_of_at_least_one() {
        assert_eq!(ttl_seconds(Duration::ZERO), 1);
        assert_eq!(ttl_seconds(Duration::from_millis(1)), 1);
        assert_eq!(ttl_seconds(Duration::from_secs(2)), 2);
        assert_eq!(ttl_seconds(Duration::from_millis(2001)), 3);
    }
}
