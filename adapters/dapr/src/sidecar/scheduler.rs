//! [`Scheduler`] over the sidecar's Jobs API (backed by the Dapr Scheduler service), and the
//! wire form of a job's data.

use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use todo_ports::model::{TaskId, UserId, check_instant};
use todo_ports::{ReminderJob, Scheduler, SchedulerError};

use super::client::{ErrorKind, SidecarClient, SidecarError, encode};

/// How the Scheduler retries a job whose callback failed: `maxRetries` more calls, `interval`
/// apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Wait between calls.
    pub interval: Duration,
    /// Retries after the first call.
    pub max_retries: u32,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        Self { interval: Duration::from_secs(2), max_retries: 5 }
    }
}

/// Schedules reminder jobs through the sidecar: one one-shot job per task, named
/// [`ReminderJob::name`], whose data is the job as JSON ([`JobData`]). The Scheduler calls back
/// `POST /job/{name}` on the app whose sidecar scheduled it ([`crate::DaprApp`] serves it).
#[derive(Debug, Clone)]
pub struct DaprScheduler {
    client: SidecarClient,
    failure_policy: FailurePolicy,
}

impl DaprScheduler {
    /// A scheduler using `client`'s sidecar with the default failure policy.
    pub fn new(client: SidecarClient) -> Self {
        Self { client, failure_policy: FailurePolicy::default() }
    }

    /// The same scheduler with another failure policy.
    pub fn with_failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.failure_policy = policy;
        self
    }

    fn path(name: &str) -> String {
        format!("/v1.0-alpha1/jobs/{}", encode(name, false))
    }
}

/// A reminder job's data as the Scheduler stores it and posts it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobData {
    /// The task.
    pub task_id: TaskId,
    /// Its owner.
    pub user_id: UserId,
    /// The due date the reminder is for.
    #[serde(with = "time::serde::rfc3339")]
    pub due_date: OffsetDateTime,
    /// When the job was meant to fire.
    #[serde(with = "time::serde::rfc3339")]
    pub fire_at: OffsetDateTime,
}

impl From<&ReminderJob> for JobData {
    fn from(job: &ReminderJob) -> Self {
        Self { task_id: job.task_id, user_id: job.user_id.clone(), due_date: job.due_date, fire_at: job.fire_at }
    }
}

impl From<JobData> for ReminderJob {
    fn from(d: JobData) -> Self {
        Self { task_id: d.task_id, user_id: d.user_id, due_date: d.due_date, fire_at: d.fire_at }
    }
}

impl JobData {
    /// Reads the body the Scheduler posts to `/job/{name}`: the job's data, either bare or
    /// wrapped as a protobuf `Value` (`{"@type": ..., "value": {...}}`).
    ///
    /// # Errors
    /// When the body is not a reminder job.
    pub fn from_callback(body: &[u8]) -> Result<Self, serde_json::Error> {
        let value: serde_json::Value = serde_json::from_slice(body)?;
        let value = match value {
            serde_json::Value::Object(mut m) if m.contains_key("@type") && m.contains_key("value") => {
                m.remove("value").unwrap_or_default()
            }
            other => other,
        };
        let data: Self = serde_json::from_value(value)?;
        for (field, t) in [("due_date", data.due_date), ("fire_at", data.fire_at)] {
            check_instant(field, t).map_err(serde::de::Error::custom)?;
        }
        Ok(data)
    }
}

/// `d` as protobuf JSON wants a `google.protobuf.Duration`: seconds with an `s` suffix
/// (`"2s"`, `"1.5s"`). The sidecar refuses Go-style `"1500ms"` there.
fn proto_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else {
        let frac = format!("{:09}", d.subsec_nanos());
        format!("{}.{}s", d.as_secs(), frac.trim_end_matches('0'))
    }
}

fn scheduler_error(e: SidecarError) -> SchedulerError {
    match e.kind {
        ErrorKind::Unavailable => SchedulerError::Unavailable(Box::new(e)),
        ErrorKind::Rejected | ErrorKind::Conflict => SchedulerError::Rejected(Box::new(e)),
    }
}

#[async_trait]
impl Scheduler for DaprScheduler {
    #[tracing::instrument(name = "scheduler.dapr.schedule", skip_all, fields(job = %job.name()))]
    async fn schedule(&self, job: &ReminderJob) -> Result<(), SchedulerError> {
        let due_time = job
            .fire_at
            .to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .map_err(|e| SchedulerError::Rejected(Box::new(e)))?;
        let body = serde_json::json!({
            "dueTime": due_time,
            "repeats": 1,
            "data": JobData::from(job),
            "overwrite": true,
            "failurePolicy": {
                "constant": {
                    "interval": proto_duration(self.failure_policy.interval),
                    "maxRetries": self.failure_policy.max_retries,
                }
            },
        });
        let body = serde_json::to_vec(&body).map_err(|e| SchedulerError::Rejected(Box::new(e)))?;
        self.client
            .call(Method::POST, &Self::path(&job.name()), HeaderMap::new(), Some(Bytes::from(body)))
            .await
            .map_err(scheduler_error)?;
        Ok(())
    }

    #[tracing::instrument(name = "scheduler.dapr.cancel", skip_all, fields(task_id = %task_id))]
    async fn cancel(&self, task_id: TaskId) -> Result<(), SchedulerError> {
        let name = ReminderJob::name_for(task_id);
        match self.client.call(Method::DELETE, &Self::path(&name), HeaderMap::new(), None).await {
            Ok(_) => Ok(()),
            Err(e) if e.status == Some(StatusCode::NOT_FOUND) || is_not_found(&e) => Ok(()),
            Err(e) => Err(scheduler_error(e)),
        }
    }
}

/// Whether the sidecar says the job does not exist (some versions answer 500 with a
/// "not found" message instead of 404).
fn is_not_found(e: &SidecarError) -> bool {
    let m = e.message.to_ascii_lowercase();
    m.contains("not found") || m.contains("notfound")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn job_data_round_trips_bare_and_wrapped() {
        let data = JobData {
            task_id: TaskId(7),
            user_id: UserId::parse("u1").unwrap(),
            due_date: datetime!(2026-01-01 10:00 UTC),
            fire_at: datetime!(2026-01-01 09:00 UTC),
        };
        let bare = serde_json::to_vec(&data).unwrap();
        assert_eq!(JobData::from_callback(&bare).unwrap(), data);
        let wrapped = serde_json::json!({"@type": "type.googleapis.com/google.protobuf.Value", "value": data});
        assert_eq!(JobData::from_callback(&serde_json::to_vec(&wrapped).unwrap()).unwrap(), data);
        assert!(JobData::from_callback(b"{\"task_id\": \"x\"}").is_err());
    }

    #[test]
    fn durations_are_protobuf_durations() {
        assert_eq!(proto_duration(Duration::from_secs(2)), "2s");
        assert_eq!(proto_duration(Duration::from_millis(1500)), "1.5s");
    }
}
