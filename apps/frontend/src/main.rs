//! `todo-frontend`: the web UI, its sidecar in front of the services.

#[tokio::main]
async fn main() -> Result<(), todo_frontend::Error> {
    todo_frontend::serve().await
}
