//! `/healthz` (the process is up) and `/readyz` (what it depends on answers), for probes.

use std::sync::Arc;

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use serde_json::json;

use crate::{ApiError, json};

/// Something a service needs before it can serve: its database, its sidecar, its subscriptions.
#[async_trait]
pub trait Readiness: Send + Sync {
    /// A short name for the answer (`database`, `sidecar`).
    fn name(&self) -> &'static str;

    /// Whether it is ready now.
    ///
    /// # Errors
    /// What is not ready, in a few words (shown to the probe).
    async fn check(&self) -> Result<(), String>;
}

/// `GET /healthz`: 200 `{"status":"ok"}` while the process serves; `GET /readyz`: 200 with every
/// check `ok`, or 503 naming the checks that failed.
pub fn routes(checks: Vec<Arc<dyn Readiness>>) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz)).with_state(Arc::new(checks))
}

async fn healthz() -> Response {
    json(StatusCode::OK, &json!({"status": "ok"}))
}

async fn readyz(State(checks): State<Arc<Vec<Arc<dyn Readiness>>>>) -> Response {
    let results =
        futures_util::future::join_all(checks.iter().map(|c| async move { (c.name(), c.check().await) })).await;
    let failed: Vec<String> =
        results.iter().filter_map(|(name, r)| r.as_ref().err().map(|why| format!("{name}: {why}"))).collect();
    if failed.is_empty() {
        let checks: serde_json::Map<String, serde_json::Value> =
            results.iter().map(|(name, _)| ((*name).to_owned(), json!("ok"))).collect();
        json(StatusCode::OK, &json!({"status": "ready", "checks": checks}))
    } else {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", format!("not ready: {}", failed.join("; ")))
            .into_response()
    }
}
