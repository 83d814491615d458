//! The notification service, Dapr app id `notification-service`, port 8002: consumes
//! `reminders`, logs each reminder with its task and user, keeps each user's feed in a database
//! of its own (`DATABASE_URL`), publishes `reminder.sent` through its outbox, and serves
//! `GET /api/{user_id}/notifications`.

#[tokio::main]
async fn main() -> Result<(), todo_runtime::Error> {
    todo_runtime::serve(todo_runtime::Service::Notifications).await
}
