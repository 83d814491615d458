//! `POST /events/{route}`: a CloudEvent the sidecar delivers, handed to each subscription of the
//! route, answered with the [`Delivery`] Dapr acts on.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use futures_util::FutureExt;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use todo_http_server::json;
use todo_ports::model::Event;
use todo_ports::{HandlerError, Subscription};

use todo_ports::model::TraceParent;
use tracing::Instrument;

use crate::sidecar::TRACEPARENT;

/// What the app tells Dapr about a delivery (`{"status": ...}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Delivery {
    /// Handled; the message is acknowledged.
    Success,
    /// Can never be handled; Dapr sends it to the dead-letter topic.
    Drop,
    /// Failed for now; Dapr delivers it again (then dead-letters it, per its resiliency policy).
    Retry,
}

impl Delivery {
    /// The answer for a handler's result.
    pub fn of(result: &Result<(), HandlerError>) -> Self {
        match result {
            Ok(()) => Self::Success,
            Err(HandlerError::Transient(_)) => Self::Retry,
            Err(HandlerError::Rejected(_)) => Self::Drop,
        }
    }
}

/// A delivered CloudEvent, as far as the app reads it. `data` is the domain event: a JSON object
/// (what a JSON publish gives) or a JSON string holding one (a publish without the JSON type).
#[derive(Debug, Deserialize)]
pub struct CloudEvent {
    /// The CloudEvent id (the event id, as the bus publishes it).
    #[serde(default)]
    pub id: String,
    /// The topic it came from.
    #[serde(default)]
    pub topic: String,
    /// The CloudEvent type.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// The trace the event was published in.
    #[serde(default)]
    pub traceparent: Option<String>,
    #[serde(default)]
    data: Option<Value>,
    #[serde(default)]
    data_base64: Option<serde::de::IgnoredAny>,
}

impl CloudEvent {
    /// Reads a delivery's body.
    ///
    /// # Errors
    /// What is wrong with it, for the log line.
    pub fn decode(body: &[u8]) -> Result<(Self, Event), String> {
        let mut ce: Self = serde_json::from_slice(body).map_err(|e| format!("not a CloudEvent: {e}"))?;
        let data = match ce.data.take() {
            Some(Value::String(s)) => {
                serde_json::from_str(&s).map_err(|e| format!("data is a string but not JSON: {e}"))?
            }
            Some(v @ Value::Object(_)) => v,
            Some(other) => return Err(format!("data is {other}, not an event")),
            None if ce.data_base64.is_some() => return Err("binary data (data_base64)".into()),
            None => return Err("no data".into()),
        };
        let event: Event = serde_json::from_value(data).map_err(|e| format!("data is not an event: {e}"))?;
        event.check().map_err(|e| format!("data breaks a rule of the domain: {e}"))?;
        Ok((ce, event))
    }
}

/// The subscriptions by name.
pub(super) struct Handlers(Vec<Subscription>);

impl Handlers {
    pub(super) fn new(subscriptions: Vec<Subscription>) -> Self {
        Self(subscriptions)
    }
}

#[derive(Serialize)]
struct Status {
    status: Delivery,
}

fn answer(status: Delivery) -> Response {
    json(StatusCode::OK, &Status { status })
}

/// Hands the event to every subscription of `route` and answers the most serious outcome
/// (`RETRY` over `DROP` over `SUCCESS`): handlers are idempotent, so a redelivery to all of them
/// is harmless. A handler that panics is a `RETRY`.
pub(super) async fn deliver(
    State(handlers): State<Arc<Handlers>>,
    Path(route): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let subscriptions: Vec<&Subscription> =
        route.split('+').filter_map(|name| handlers.0.iter().find(|s| s.name == name)).collect();
    if subscriptions.is_empty() {
        tracing::warn!(route = ?route, "event for an unknown subscription dropped");
        return answer(Delivery::Drop);
    }
    let (ce, event) = match CloudEvent::decode(&body) {
        Ok(decoded) => decoded,
        Err(why) => {
            tracing::warn!(route = ?route, reason = ?why, "malformed event dropped");
            return answer(Delivery::Drop);
        }
    };
    // The sidecar's span of this delivery continues the publisher's trace; without one, the
    // CloudEvent's own, else a new trace.
    let trace = headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .or(ce.traceparent.as_deref())
        .and_then(TraceParent::parse)
        .unwrap_or_else(TraceParent::root);
    let span = tracing::info_span!("delivery", trace_id = trace.trace_id());
    let event = event.with_trace(Some(trace.clone()));
    let outcome = todo_ports::trace::scope(Some(trace), async {
        let mut outcome = Delivery::Success;
        for sub in subscriptions {
            let result = AssertUnwindSafe(sub.handler.handle(&event)).catch_unwind().await.unwrap_or_else(|_| {
                tracing::error!(subscription = sub.name, event_id = %event.id(), "event handler panicked");
                Err(HandlerError::Transient("the handler panicked".into()))
            });
            let this = Delivery::of(&result);
            match &result {
                Ok(()) => tracing::info!(
                    subscription = sub.name, topic = ?ce.topic, event_id = %event.id(),
                    event_type = event.event_type(), status = ?this, "event delivered"
                ),
                Err(e) => tracing::warn!(
                    subscription = sub.name, topic = ?ce.topic, event_id = %event.id(),
                    event_type = event.event_type(), status = ?this, error = %e, "event delivered"
                ),
            }
            outcome = outcome.max(this);
        }
        outcome
    })
    .instrument(span)
    .await;
    answer(outcome)
}
