//! [`PlannedJobs`] over the `reminder_jobs` table: the job last scheduled for each task.

use async_trait::async_trait;
use time::OffsetDateTime;
use todo_ports::model::{TaskId, UserId};
use todo_ports::{PlannedJobs, ReminderJob, RepoError};

use crate::PgStore;
use crate::error::{from_pg, internal};

/// The job last scheduled for task `$1`.
pub const PLANNED: &str = "SELECT user_id, due_date, fire_at FROM reminder_jobs WHERE task_id = $1";

/// Records the job scheduled for task `$1`: `$2` its user, `$3` its due date, `$4` when it fires.
pub const SET_PLANNED: &str = "
INSERT INTO reminder_jobs (task_id, user_id, due_date, fire_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (task_id) DO UPDATE SET user_id = excluded.user_id, due_date = excluded.due_date, fire_at = excluded.fire_at";

const CLEAR_PLANNED: &str = "DELETE FROM reminder_jobs WHERE task_id = $1";

#[async_trait]
impl PlannedJobs for PgStore {
    #[tracing::instrument(name = "postgres.plans.planned", skip_all, fields(task_id = %task_id))]
    async fn planned(&self, task_id: TaskId) -> Result<Option<ReminderJob>, RepoError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(PLANNED).await.map_err(from_pg)?;
        let Some(row) = client.query_opt(&statement, &[&task_id.0]).await.map_err(from_pg)? else { return Ok(None) };
        let user: String = row.try_get(0).map_err(from_pg)?;
        let (due_date, fire_at): (OffsetDateTime, OffsetDateTime) =
            (row.try_get(1).map_err(from_pg)?, row.try_get(2).map_err(from_pg)?);
        let user_id =
            UserId::parse(&user).map_err(|_| internal(format!("planned job of task {task_id} has a bad user id")))?;
        Ok(Some(ReminderJob { task_id, user_id, due_date, fire_at }))
    }

    #[tracing::instrument(name = "postgres.plans.set_planned", skip_all, fields(task_id = %task_id))]
    async fn set_planned(&self, task_id: TaskId, job: Option<ReminderJob>) -> Result<(), RepoError> {
        let client = self.client().await?;
        match job {
            Some(job) => {
                let statement = client.prepare_cached(SET_PLANNED).await.map_err(from_pg)?;
                client
                    .execute(&statement, &[&task_id.0, &job.user_id.as_str(), &job.due_date, &job.fire_at])
                    .await
                    .map_err(from_pg)?;
            }
            None => {
                let statement = client.prepare_cached(CLEAR_PLANNED).await.map_err(from_pg)?;
                client.execute(&statement, &[&task_id.0]).await.map_err(from_pg)?;
            }
        }
        Ok(())
    }
}
