//! The in-memory scheduler: one Tokio timer per task's reminder job.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_ports::model::TaskId;
use todo_ports::{JobHandler, ReminderJob, Scheduler, SchedulerError};
use todo_retry::{Policy, retry};
use tokio::task::JoinHandle;

use crate::lock;

/// Each task's timer, with the generation that scheduled it (a newer job replaces it).
type Jobs = Arc<Mutex<HashMap<TaskId, (u64, JoinHandle<()>)>>>;

/// A [`Scheduler`] whose jobs are timers in this process (lost when it stops: the periodic
/// sweep makes up for them). A failing job is fired again as [`Policy::JOB_RETRY`] says.
#[derive(Default)]
pub struct InMemoryScheduler {
    handler: OnceLock<Arc<dyn JobHandler>>,
    jobs: Jobs,
    generation: std::sync::atomic::AtomicU64,
}

impl InMemoryScheduler {
    /// A scheduler with no handler yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Sets who runs fired jobs (once; later calls are ignored). Jobs firing before a handler
    /// is set are dropped with a warning.
    pub fn set_handler(&self, handler: Arc<dyn JobHandler>) {
        let _ = self.handler.set(handler);
    }

    /// How many jobs are waiting to fire.
    pub fn pending(&self) -> usize {
        lock(&self.jobs).values().filter(|(_, h)| !h.is_finished()).count()
    }
}

#[async_trait]
impl Scheduler for InMemoryScheduler {
    async fn schedule(&self, job: &ReminderJob) -> Result<(), SchedulerError> {
        let Some(handler) = self.handler.get().cloned() else {
            return Err(SchedulerError::Unavailable("no job handler set".into()));
        };
        let generation = self.generation.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let delay = (job.fire_at - OffsetDateTime::now_utc()).try_into().unwrap_or(Duration::ZERO);
        let task_id = job.task_id;
        let job = job.clone();
        let jobs = self.jobs.clone();
        let mut jobs_now = lock(&self.jobs);
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let fired = retry(
                &Policy::JOB_RETRY,
                || async {
                    let result = handler.fire(&job).await;
                    if let Err(e) = &result {
                        tracing::warn!(job = %job.name(), error = %e, "job failed");
                    }
                    result
                },
                |_| true,
            )
            .await;
            if fired.is_err() {
                tracing::warn!(job = %job.name(), "job given up on; the sweep raises its reminder");
            }
            let mut jobs = lock(&jobs);
            if jobs.get(&job.task_id).is_some_and(|(g, _)| *g == generation) {
                jobs.remove(&job.task_id);
            }
        });
        if let Some((_, previous)) = jobs_now.insert(task_id, (generation, task)) {
            previous.abort();
        }
        Ok(())
    }

    async fn cancel(&self, task_id: TaskId) -> Result<(), SchedulerError> {
        if let Some((_, task)) = lock(&self.jobs).remove(&task_id) {
            task.abort();
        }
        Ok(())
    }
}
