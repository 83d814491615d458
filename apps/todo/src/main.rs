//! `cargo run --release`: the whole Todo system in one process, every role, on embedded
//! defaults (or on PostgreSQL and a Dapr sidecar when the environment says so; see the README).

use tokio::net::TcpListener;

/// mimalloc rather than the system allocator: under load glibc's malloc spent 13% of the
/// app's CPU consolidating free lists for hyper's and the driver's buffers.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), todo_runtime::Error> {
    todo_runtime::logging::init();
    let config = todo_runtime::Config::from_env()?;
    let listener = TcpListener::bind(config.listen).await?;
    todo_runtime::run(config, listener, todo_runtime::shutdown_signal()).await
}
