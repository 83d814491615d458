//! [`EventBus`] over the sidecar's pub/sub API.

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use todo_ports::model::{Event, Topic};
use todo_ports::{BatchPublishError, BusError, EventBus};
use uuid::Uuid;

use super::client::{ErrorKind, SidecarClient, SidecarError, TRACEPARENT, encode};

/// Publishes events through the sidecar's pub/sub component ([`crate::DaprConfig::pubsub_name`]):
/// each event is the JSON body of a CloudEvent whose `id` is the event id and whose `type` is
/// the event type, keyed on the broker by its user id.
#[derive(Debug, Clone)]
pub struct DaprEventBus {
    client: SidecarClient,
}

impl DaprEventBus {
    /// A bus publishing through `client`'s sidecar.
    pub fn new(client: SidecarClient) -> Self {
        Self { client }
    }

    fn topic_name(&self, topic: Topic) -> String {
        format!("{}{}", self.client.config().topic_prefix, topic.name())
    }
}

fn bus_error(e: SidecarError) -> BusError {
    match e.kind {
        ErrorKind::Unavailable => BusError::Unavailable(Box::new(e)),
        ErrorKind::Rejected | ErrorKind::Conflict => BusError::Rejected(Box::new(e)),
    }
}

fn to_json(event: &Event) -> Result<Vec<u8>, BusError> {
    serde_json::to_vec(event).map_err(|e| BusError::Rejected(Box::new(e)))
}

#[derive(Serialize)]
struct BulkEntry<'a> {
    #[serde(rename = "entryId")]
    entry_id: String,
    event: &'a Event,
    #[serde(rename = "contentType")]
    content_type: &'static str,
    metadata: BulkMetadata<'a>,
}

#[derive(Serialize)]
struct BulkMetadata<'a> {
    #[serde(rename = "partitionKey")]
    partition_key: &'a str,
    #[serde(rename = "cloudevent.id")]
    id: String,
    #[serde(rename = "cloudevent.type")]
    event_type: &'static str,
    /// The trace the event was written in (daprd puts it in the CloudEvent, and delivery
    /// continues it).
    #[serde(rename = "cloudevent.traceparent", skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
}

#[derive(Deserialize)]
struct BulkFailure {
    #[serde(rename = "failedEntries", default)]
    failed_entries: Vec<FailedEntry>,
}

#[derive(Deserialize)]
struct FailedEntry {
    #[serde(rename = "entryId")]
    entry_id: String,
    #[serde(default)]
    error: Value,
}

#[async_trait]
impl EventBus for DaprEventBus {
    #[tracing::instrument(name = "bus.dapr.publish", skip_all, fields(topic = topic.name(), event_id = %event.id()))]
    async fn publish(&self, topic: Topic, event: &Event) -> Result<(), BusError> {
        let config = self.client.config();
        let path = format!(
            "/v1.0/publish/{}/{}?metadata.partitionKey={}&metadata.cloudevent.id={}&metadata.cloudevent.type={}",
            encode(&config.pubsub_name, false),
            encode(&self.topic_name(topic), false),
            encode(event.user_id().as_str(), false),
            event.id(),
            encode(event.event_type(), false),
        );
        // The event's own trace, else the caller's (the client adds that one).
        let mut headers = HeaderMap::new();
        if let Some(tp) = event.trace().and_then(|tp| http::HeaderValue::from_str(tp.as_str()).ok()) {
            headers.insert(TRACEPARENT, tp);
        }
        let answer = self
            .client
            .call(Method::POST, &path, headers, Some(Bytes::from(to_json(event)?)))
            .await
            .map_err(bus_error)?;
        if answer.status == StatusCode::NO_CONTENT {
            Ok(())
        } else {
            // Only 204 says "accepted by the broker"; anything else is not a promise.
            Err(BusError::Unavailable(format!("publish answered {} instead of 204", answer.status.as_u16()).into()))
        }
    }

    #[tracing::instrument(name = "bus.dapr.publish_batch", skip_all, fields(topic = topic.name(), events = events.len()))]
    async fn publish_batch(&self, topic: Topic, events: &[Event]) -> Result<(), BatchPublishError> {
        if events.is_empty() {
            return Ok(());
        }
        let all_failed =
            |source: BusError| BatchPublishError { failed: events.iter().map(Event::id).collect(), source };
        // Entry ids are positions, so that two events with one id cannot clash.
        let entries: Vec<BulkEntry<'_>> = events
            .iter()
            .enumerate()
            .map(|(i, event)| BulkEntry {
                entry_id: i.to_string(),
                event,
                content_type: "application/json",
                metadata: BulkMetadata {
                    partition_key: event.user_id().as_str(),
                    id: event.id().to_string(),
                    event_type: event.event_type(),
                    traceparent: event.trace().map(|tp| tp.as_str()),
                },
            })
            .collect();
        let body = serde_json::to_vec(&entries).map_err(|e| all_failed(BusError::Rejected(Box::new(e))))?;
        let config = self.client.config();
        let path = format!(
            "/v1.0/publish/bulk/{}/{}",
            encode(&config.pubsub_name, false),
            encode(&self.topic_name(topic), false)
        );
        match self.client.call(Method::POST, &path, HeaderMap::new(), Some(Bytes::from(body))).await {
            Ok(answer) if answer.status == StatusCode::NO_CONTENT || answer.status == StatusCode::OK => {
                // 200 may carry a (possibly empty) list of failed entries.
                match serde_json::from_slice::<BulkFailure>(&answer.body) {
                    Ok(f) if !f.failed_entries.is_empty() => {
                        Err(partial(events, f, BusError::Unavailable("bulk publish reported failed entries".into())))
                    }
                    _ => Ok(()),
                }
            }
            Ok(answer) => Err(all_failed(BusError::Unavailable(
                format!("bulk publish answered {}", answer.status.as_u16()).into(),
            ))),
            Err(e) => match serde_json::from_slice::<BulkFailure>(&e.body) {
                Ok(f) if !f.failed_entries.is_empty() => Err(partial(events, f, bus_error(e))),
                _ => Err(all_failed(bus_error(e))),
            },
        }
    }
}

/// The events named by `failure`'s entry ids (positions), in batch order.
fn partial(events: &[Event], failure: BulkFailure, source: BusError) -> BatchPublishError {
    let mut positions: Vec<usize> = failure.failed_entries.iter().filter_map(|f| f.entry_id.parse().ok()).collect();
    positions.sort_unstable();
    positions.dedup();
    let failed: Vec<Uuid> = positions.into_iter().filter_map(|i| events.get(i).map(Event::id)).collect();
    if let Some(first) = failure.failed_entries.first() {
        tracing::warn!(entry = %first.entry_id, error = %first.error, failed = failed.len(), "bulk publish partly failed");
    }
    if failed.is_empty() {
        // The sidecar named entries we did not send: trust nothing.
        return BatchPublishError { failed: events.iter().map(Event::id).collect(), source };
    }
    BatchPublishError { failed, source }
}
