//! The trace the current task works in: set by an inbound adapter around a request or a
//! delivery, read by the outbound adapters that write events (the outbox keeps it with each
//! event) and call other services (the sidecar client sends it on).

use std::future::Future;

pub use todo_model::{Trace, TraceParent};

tokio::task_local! {
    static CURRENT: Option<TraceParent>;
}

/// Runs `work` in `trace` (or in none).
pub async fn scope<F: Future>(trace: Option<TraceParent>, work: F) -> F::Output {
    CURRENT.scope(trace, work).await
}

/// The trace the current task works in, if any.
pub fn current() -> Option<TraceParent> {
    CURRENT.try_with(Clone::clone).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_trace_holds_within_its_scope_only() {
        assert_eq!(current(), None);
        let tp = TraceParent::root();
        let seen = scope(Some(tp.clone()), async { current() }).await;
        assert_eq!(seen, Some(tp));
        assert_eq!(current(), None);
    }
}
