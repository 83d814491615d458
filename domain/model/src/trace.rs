//! W3C trace context: which request or delivery caused an event, so that the log lines of a
//! request and of every consumer it set off can be found by one trace id.

use std::fmt;

use uuid::Uuid;

/// A valid W3C `traceparent`: `00-{trace id: 32 hex}-{parent id: 16 hex}-{flags: 2 hex}`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TraceParent(String);

impl TraceParent {
    /// `value` if it is a well-formed `traceparent` (version `00`, neither id all zeros).
    pub fn parse(value: &str) -> Option<Self> {
        let parts: Vec<&str> = value.trim().split('-').collect();
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
        match parts.as_slice() {
            [version, trace, parent, flags]
                if *version == "00" && hex(trace, 32) && hex(parent, 16) && hex(flags, 2) =>
            {
                (nonzero(trace) && nonzero(parent)).then(|| Self(parts.join("-")))
            }
            _ => None,
        }
    }

    /// A new trace (sampled), for work that arrives without one.
    pub fn root() -> Self {
        Self(format!("00-{}-{}-01", Uuid::new_v4().simple(), span_id()))
    }

    /// The same trace with a new parent id: the context of work done on behalf of this one.
    pub fn child(&self) -> Self {
        Self(format!("00-{}-{}-{}", self.trace_id(), span_id(), &self.0[53..55]))
    }

    /// The 32 hex digits naming the whole trace.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn span_id() -> String {
    let mut hex = Uuid::new_v4().simple().to_string();
    hex.truncate(16);
    hex
}

impl fmt::Debug for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The trace an event was written in, carried beside the event by the outbox and the bus. Not
/// part of the event's data: it is never serialised with it, and two events that differ only
/// in it are equal.
#[derive(Debug, Clone, Default)]
pub struct Trace(pub Option<TraceParent>);

impl PartialEq for Trace {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Trace {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_well_formed_contexts() {
        let tp = TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").unwrap();
        assert_eq!(tp.trace_id(), "0af7651916cd43dd8448eb211c80319c");
        for bad in [
            "",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
        ] {
            assert!(TraceParent::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn a_child_keeps_the_trace_and_a_root_starts_one() {
        let root = TraceParent::root();
        assert!(TraceParent::parse(root.as_str()).is_some());
        let child = root.child();
        assert_eq!(child.trace_id(), root.trace_id());
        assert_ne!(child, root);
        assert_ne!(TraceParent::root().trace_id(), root.trace_id());
    }

    #[test]
    fn the_trace_is_no_part_of_an_events_equality() {
        assert_eq!(Trace(Some(TraceParent::root())), Trace(None));
    }
}
