//! The task backend, Dapr app id `backend`, port 8000 (the seeds' Chat API service): the task
//! REST API and conversation state, tasks and their outbox in PostgreSQL (`DATABASE_URL`), the
//! outbox relay publishing task events to `task-events` and `task-updates` through the sidecar.

#[tokio::main]
async fn main() -> Result<(), todo_runtime::Error> {
    todo_runtime::serve(todo_runtime::Service::Backend).await
}
