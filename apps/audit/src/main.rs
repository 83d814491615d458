//! The audit service, Dapr app id `audit-service`, port 8003: consumes `task-events`, appends
//! each event once to an append-only log in a database of its own (`DATABASE_URL`), and serves
//! `GET /api/{user_id}/audit`.

#[tokio::main]
async fn main() -> Result<(), todo_runtime::Error> {
    todo_runtime::serve(todo_runtime::Service::Audit).await
}
