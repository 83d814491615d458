//! `POST /job/{name}`: a Scheduler job fired; its data is a reminder job ([`JobData`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use todo_http_server::{ApiError, json};
use todo_ports::{JobHandler, ReminderJob};

use super::Delivery;
use crate::sidecar::JobData;

#[derive(Serialize)]
struct Fired {
    status: Delivery,
}

/// Runs the job: 200 when done or when its data can never be read (retrying cannot help), 500
/// on a failure, which makes the Scheduler fire it again (its failure policy).
pub(super) async fn fire(State(jobs): State<Arc<dyn JobHandler>>, Path(name): Path<String>, body: Bytes) -> Response {
    let job: ReminderJob = match JobData::from_callback(&body) {
        Ok(data) => data.into(),
        Err(e) => {
            tracing::warn!(job = ?name, error = %e, "undecodable job dropped");
            return json(StatusCode::OK, &Fired { status: Delivery::Drop });
        }
    };
    match jobs.fire(&job).await {
        Ok(()) => {
            tracing::info!(job = ?name, task_id = %job.task_id, "job fired");
            json(StatusCode::OK, &Fired { status: Delivery::Success })
        }
        Err(e) => {
            tracing::warn!(job = ?name, task_id = %job.task_id, error = %e, "job failed; the scheduler will retry");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "job_failed", "the job failed; fire it again")
                .into_response()
        }
    }
}
