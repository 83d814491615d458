//! The server's limits and timeouts, each with a default a public service can live with.

use std::time::Duration;

/// Limits and timeouts of [`crate::serve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Largest request body; a larger one is answered 413 (default 1 MiB).
    pub max_body_bytes: usize,
    /// How much of an oversized body is still read and thrown away, so that a client that
    /// sends its whole body before reading (most do) reads the 413 instead of a reset
    /// connection; beyond it the connection is closed at once (default 16 MiB).
    pub max_drained_bytes: usize,
    /// From a request's first byte until its head is complete (slowloris; default 10 s).
    pub header_timeout: Duration,
    /// From the first read of a request body until it is complete; a stalled body is answered
    /// 408 (default 30 s).
    pub body_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request (default 60 s).
    pub idle_timeout: Duration,
    /// Connections served at once; beyond them the server stops accepting until one closes,
    /// so a flood queues in the kernel's backlog instead of exhausting file descriptors
    /// (default 4096).
    pub max_connections: usize,
    /// Longest request target (path and query); a longer one is answered 414 (default 8 KiB).
    pub max_uri_bytes: usize,
    /// Largest request head (request line and headers); a larger one is answered 431 (default
    /// 64 KiB, the least hyper allows is 8 KiB).
    pub max_head_bytes: usize,
    /// How long a shutdown waits for requests in flight (default 10 s).
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_drained_bytes: 16 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4096,
            max_uri_bytes: 8 * 1024,
            max_head_bytes: 64 * 1024,
            drain_timeout: Duration::from_secs(10),
        }
    }
}
