//! The recurring-task service, Dapr app id `recurring-task-service`, port 8001: consumes
//! `task-events`, creates the next instance of a completed recurring task (writing the backend's
//! tasks table, the one exception the seeds allow), plans reminder jobs in the Jobs API, runs
//! them and the `reminder-cron` sweep, and publishes `reminder.due` through its outbox.

#[tokio::main]
async fn main() -> Result<(), todo_runtime::Error> {
    todo_runtime::serve(todo_runtime::Service::RecurringTasks).await
}
