//! The WebSocket sync service, Dapr app id `websocket-sync-service`, port 8004: consumes
//! `task-updates` (every replica all of them) and pushes each event to the open `/ws`
//! sockets of its user. Keeps no data.

#[tokio::main]
async fn main() -> Result<(), todo_runtime::Error> {
    todo_runtime::serve(todo_runtime::Service::Sync).await
}
