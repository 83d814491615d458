//! The app side of Dapr: the routes the sidecar calls on an app, as one axum router that every
//! app talking to a sidecar mounts on the one HTTP server.
//!
//! | route | module | what |
//! |---|---|---|
//! | `GET /dapr/subscribe` | `subscribe` | the app's subscriptions, each with `deadLetterTopic` `{topic}-dlq` |
//! | `POST /events/{route}` | `events` | a delivered CloudEvent for the subscriptions of `route` |
//! | `POST /job/{name}` | `jobs` | a fired Scheduler job ([`crate::JobData`]) |
//! | `POST`, `OPTIONS /dapr/cron/{binding}` | `cron` | a tick of a cron input binding |
//!
//! With an app token (Dapr's `APP_API_TOKEN`) every one of them demands it in
//! `dapr-api-token`, compared in constant time, once, in `token`.

mod cron;
mod events;
mod jobs;
mod subscribe;
mod token;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use secrecy::SecretString;
use todo_ports::{JobHandler, Subscription, SweepService};

pub use events::{CloudEvent, Delivery};

/// Route prefix of event deliveries.
pub const EVENTS_PREFIX: &str = "/events/";

/// What an app registers with its sidecar, turned into the routes the sidecar calls.
pub struct DaprApp {
    pubsub_name: String,
    topic_prefix: String,
    subscriptions: Vec<Subscription>,
    dead_letter_subscriptions: Vec<Subscription>,
    jobs: Option<Arc<dyn JobHandler>>,
    crons: BTreeMap<String, Arc<dyn SweepService>>,
    app_api_token: Option<SecretString>,
    listed: Listed,
}

/// Whether the sidecar has read the app's subscriptions (`GET /dapr/subscribe`) since the app
/// started: until it has, no event can arrive, so an app with subscriptions is not ready.
#[derive(Debug, Clone, Default)]
pub struct Listed(Arc<std::sync::atomic::AtomicBool>);

impl Listed {
    /// Whether the listing has been read.
    pub fn is_read(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    pub(super) fn mark_read(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}

impl std::fmt::Debug for DaprApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DaprApp")
            .field("pubsub_name", &self.pubsub_name)
            .field("subscriptions", &self.subscriptions)
            .field("dead_letter_subscriptions", &self.dead_letter_subscriptions)
            .field("jobs", &self.jobs.is_some())
            .field("crons", &self.crons.keys().collect::<Vec<_>>())
            .field("app_api_token", &self.app_api_token)
            .finish()
    }
}

impl DaprApp {
    /// An app of pub/sub component `pubsub_name` that registers nothing yet.
    pub fn new(pubsub_name: impl Into<String>) -> Self {
        Self {
            pubsub_name: pubsub_name.into(),
            topic_prefix: String::new(),
            subscriptions: Vec::new(),
            dead_letter_subscriptions: Vec::new(),
            jobs: None,
            crons: BTreeMap::new(),
            app_api_token: None,
            listed: Listed::default(),
        }
    }

    /// Consumes `subscriptions`, delivered at `/events/{name}`.
    pub fn with_subscriptions(mut self, subscriptions: Vec<Subscription>) -> Self {
        self.subscriptions.extend(subscriptions);
        self
    }

    /// Also consumes the dead-letter topic `{topic}-dlq` of each of `subscriptions` (their
    /// `topic` names the live topic).
    pub fn with_dead_letter_subscriptions(mut self, subscriptions: Vec<Subscription>) -> Self {
        self.dead_letter_subscriptions.extend(subscriptions);
        self
    }

    /// Runs fired Scheduler jobs with `jobs` (`POST /job/{name}`).
    pub fn with_jobs(mut self, jobs: Arc<dyn JobHandler>) -> Self {
        self.jobs = Some(jobs);
        self
    }

    /// Serves the cron input binding `binding` (route `/dapr/cron/{binding}`) by running
    /// `sweep` on each tick.
    pub fn with_cron(mut self, binding: impl Into<String>, sweep: Arc<dyn SweepService>) -> Self {
        self.crons.insert(binding.into(), sweep);
        self
    }

    /// Demands `token` (`APP_API_TOKEN`) in `dapr-api-token` on every route; `None` or an empty
    /// token demands nothing.
    pub fn with_app_token(mut self, token: Option<SecretString>) -> Self {
        use secrecy::ExposeSecret;
        self.app_api_token = token.filter(|t| !t.expose_secret().is_empty());
        self
    }

    /// Tells whether the sidecar has read the subscriptions yet (for a readiness check).
    pub fn listed(&self) -> Listed {
        self.listed.clone()
    }

    /// Puts `prefix` before every topic name (must match [`crate::DaprConfig::topic_prefix`]).
    pub fn with_topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.topic_prefix = prefix.into();
        self
    }

    /// The routes. Only what was registered is served: without jobs `/job/*` is not a route,
    /// a binding not registered is not one either.
    pub fn router(self) -> Router {
        let listing = subscribe::listing(
            &self.pubsub_name,
            &self.topic_prefix,
            &self.subscriptions,
            &self.dead_letter_subscriptions,
        );
        let handlers =
            events::Handlers::new(self.subscriptions.iter().chain(&self.dead_letter_subscriptions).cloned().collect());
        let mut router = Router::new()
            .route("/dapr/subscribe", get(subscribe::subscribe).with_state((Arc::new(listing), self.listed.clone())))
            .route("/events/{route}", post(events::deliver).with_state(Arc::new(handlers)));
        if let Some(jobs) = self.jobs {
            router = router.route("/job/{name}", post(jobs::fire).with_state(jobs));
        }
        if !self.crons.is_empty() {
            let crons = Arc::new(self.crons);
            router = router.route("/dapr/cron/{binding}", post(cron::tick).options(cron::probe).with_state(crons));
        }
        token::guard(router, self.app_api_token)
    }
}
