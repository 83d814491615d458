//! `POST /dapr/cron/{binding}`: a tick of a cron input binding runs its sweep; `OPTIONS` is the
//! probe daprd sends a binding's route at start.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use todo_http_server::{ApiError, json};
use todo_ports::{ServiceError, SweepService};

type Crons = State<Arc<BTreeMap<String, Arc<dyn SweepService>>>>;

/// What a tick answers: `{"status":"SUCCESS","processed":n,"reminders":r,"instances":i}`.
#[derive(Serialize)]
struct Ticked {
    status: super::Delivery,
    processed: usize,
    reminders: usize,
    instances: usize,
}

pub(super) async fn tick(State(crons): Crons, Path(binding): Path<String>) -> Response {
    let Some(sweep) = crons.get(&binding) else { return ApiError::not_found("binding").into_response() };
    match sweep.sweep().await {
        Ok(report) => {
            tracing::info!(binding = ?binding, reminders = report.reminders, instances = report.instances, "cron tick");
            let ticked = Ticked {
                status: super::Delivery::Success,
                processed: report.processed(),
                reminders: report.reminders,
                instances: report.instances,
            };
            json(StatusCode::OK, &ticked)
        }
        Err(ServiceError::Unavailable(e)) => {
            tracing::warn!(binding = ?binding, error = %e, "cron tick failed; the next one catches up");
            ApiError::unavailable().into_response()
        }
        Err(e) => {
            tracing::error!(binding = ?binding, error = %e, "cron tick failed");
            ApiError::internal().into_response()
        }
    }
}

pub(super) async fn probe(State(crons): Crons, Path(binding): Path<String>) -> Response {
    if crons.contains_key(&binding) {
        StatusCode::OK.into_response()
    } else {
        ApiError::not_found("binding").into_response()
    }
}
