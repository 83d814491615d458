//! `cargo run --release`: the whole Todo system in one process, every role (`ROLES` narrows
//! them), on embedded defaults, or on PostgreSQL and a Dapr sidecar when the environment says
//! so (see the README).

#[tokio::main]
async fn main() -> Result<(), todo_runtime::Error> {
    todo_runtime::serve(todo_runtime::Service::AllInOne).await
}
