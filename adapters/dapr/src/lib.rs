//! Dapr sidecar adapter (being built).
