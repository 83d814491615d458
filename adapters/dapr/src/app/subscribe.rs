//! `GET /dapr/subscribe`: the programmatic subscriptions, read once by the sidecar at start.
//! Dapr allows one subscription per (pubsub, topic) in an app, so subscriptions sharing a topic
//! share one route, `/events/{a}+{b}`, whose delivery goes to each of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;
use todo_http_server::json;
use todo_ports::Subscription;

use super::EVENTS_PREFIX;

/// One entry of the listing, as Dapr reads it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(super) struct Entry {
    pubsubname: String,
    topic: String,
    route: String,
    #[serde(rename = "deadLetterTopic", skip_serializing_if = "Option::is_none")]
    dead_letter_topic: Option<String>,
}

/// The listing for `subscriptions` (live topics, each with its dead-letter topic) and
/// `dead_letters` (consumers of the `{topic}-dlq` topics themselves).
pub(super) fn listing(
    pubsub: &str,
    prefix: &str,
    subscriptions: &[Subscription],
    dead_letters: &[Subscription],
) -> Vec<Entry> {
    let mut by_topic: BTreeMap<(bool, String), Vec<&'static str>> = BTreeMap::new();
    for s in subscriptions {
        by_topic.entry((false, format!("{prefix}{}", s.topic.name()))).or_default().push(s.name);
    }
    for s in dead_letters {
        by_topic.entry((true, format!("{prefix}{}-dlq", s.topic.name()))).or_default().push(s.name);
    }
    by_topic
        .into_iter()
        .map(|((is_dead_letter, topic), names)| Entry {
            pubsubname: pubsub.to_owned(),
            route: format!("{EVENTS_PREFIX}{}", names.join("+")),
            dead_letter_topic: (!is_dead_letter).then(|| format!("{topic}-dlq")),
            topic,
        })
        .collect()
}

pub(super) async fn subscribe(State((listing, listed)): State<(Arc<Vec<Entry>>, super::Listed)>) -> Response {
    listed.mark_read();
    json(StatusCode::OK, listing.as_slice())
}
