//! One connection's socket as hyper sees it, with what hyper does not do itself: the header and
//! idle deadlines, and JSON bodies on the error responses hyper writes on its own.
//!
//! * **Deadlines.** A connection is idle (waiting for a request), reading a request head (a
//!   first byte came), or busy (a request is being served, until its response is written). Idle for
//!   [`ServerConfig::idle_timeout`] or reading a head for [`ServerConfig::header_timeout`], its
//!   next read fails with `TimedOut` and hyper closes it; a busy connection has no deadline here
//!   (its body has one of its own, [`crate::body`]). Once a request is answered `101 Switching
//!   Protocols` (a WebSocket), the connection is upgraded: the socket belongs to the new
//!   protocol, which keeps its own keep-alive, and has no deadline here.
//! * **Hyper's own answers.** When a request cannot be parsed (a raw 0xFF byte, two
//!   Content-Lengths, a request target too long, headers too large) hyper writes the status
//!   itself with an empty body. Such a response is recognised as the one written while no
//!   request was handed to the service, and replaced by the same status with the API's JSON
//!   error body. Nothing is replaced on an upgraded connection: its bytes are not HTTP.
//! * **The connection's slot.** The socket holds its permit of the connection cap, so an
//!   upgraded connection counts against the cap (and is waited for by the drain) until it ends.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};

use crate::ApiError;

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request since then.
    Idle(Instant),
    /// Reading a request head whose first byte came then.
    Head(Instant),
    /// Serving this many requests.
    Busy(usize),
    /// Handed over to another protocol by a `101 Switching Protocols` answer.
    Upgraded,
}

/// What the service and the socket share about one connection.
#[derive(Debug)]
pub(crate) struct ConnState {
    phase: Mutex<Phase>,
    /// Requests handed to the service so far.
    requests: AtomicU64,
    /// Response heads written so far (interim 1xx ones not counted).
    heads: AtomicU64,
}

impl ConnState {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            phase: Mutex::new(Phase::Idle(Instant::now())),
            requests: AtomicU64::new(0),
            heads: AtomicU64::new(0),
        })
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A request reached the service; the guard marks it done when dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> RequestGuard {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let mut phase = self.phase();
        *phase = match *phase {
            Phase::Busy(n) => Phase::Busy(n + 1),
            Phase::Upgraded => Phase::Upgraded,
            _ => Phase::Busy(1),
        };
        RequestGuard(self.clone())
    }

    /// The request being served was answered `101 Switching Protocols`: from now on the socket
    /// carries another protocol.
    pub(crate) fn upgraded(&self) {
        *self.phase() = Phase::Upgraded;
    }

    fn is_upgraded(&self) -> bool {
        *self.phase() == Phase::Upgraded
    }

    fn on_bytes_read(&self) {
        let mut phase = self.phase();
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
        }
    }

    fn deadline(&self, header: Duration, idle: Duration) -> Option<Instant> {
        match *self.phase() {
            Phase::Idle(since) => Some(since + idle),
            Phase::Head(since) => Some(since + header),
            Phase::Busy(_) | Phase::Upgraded => None,
        }
    }
}

/// Marks a request done when dropped: once its response has been written whole (see
/// [`BusyBody`]), or at once for an upgraded connection.
pub(crate) struct RequestGuard(Arc<ConnState>);

/// A response body that keeps its request's connection busy until the body has been written
/// (or dropped): a response that streams for long, such as server-sent events, is no idle
/// connection, and its idle deadline starts once it is written.
pub(crate) struct BusyBody {
    inner: axum::body::Body,
    _guard: RequestGuard,
}

impl BusyBody {
    pub(crate) fn new(inner: axum::body::Body, guard: RequestGuard) -> Self {
        Self { inner, _guard: guard }
    }
}

impl http_body::Body for BusyBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut phase = self.0.phase();
        *phase = match *phase {
            Phase::Busy(n) if n > 1 => Phase::Busy(n - 1),
            Phase::Upgraded => Phase::Upgraded,
            _ => Phase::Idle(Instant::now()),
        };
    }
}

/// The socket of one connection with its deadlines and error bodies.
pub(crate) struct GuardedStream<S> {
    inner: S,
    state: Arc<ConnState>,
    header_timeout: Duration,
    idle_timeout: Duration,
    sleep: Pin<Box<Sleep>>,
    /// Bytes of a rewritten response still to be written.
    pending: Vec<u8>,
    /// The connection's slot under the cap, given back when the socket is dropped.
    _permit: OwnedSemaphorePermit,
}

impl<S> GuardedStream<S> {
    pub(crate) fn new(
        inner: S,
        state: Arc<ConnState>,
        header_timeout: Duration,
        idle_timeout: Duration,
        permit: OwnedSemaphorePermit,
    ) -> Self {
        Self {
            inner,
            state,
            header_timeout,
            idle_timeout,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            pending: Vec::new(),
            _permit: permit,
        }
    }
}

fn timed_out() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "connection idle or request head too slow")
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let deadline = this.state.deadline(this.header_timeout, this.idle_timeout);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Poll::Ready(Err(timed_out()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.state.on_bytes_read();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                if let Some(deadline) = deadline {
                    this.sleep.as_mut().reset(deadline);
                    if this.sleep.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Err(timed_out()));
                    }
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> GuardedStream<S> {
    /// Writes what is left of a rewritten response; `Ready` once it is all out.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        Poll::Ready(Ok(()))
    }

    /// If `first` starts a response head that no request of the service asked for, the JSON
    /// response that replaces it.
    fn replacement(&self, first: &[u8]) -> Option<Vec<u8>> {
        if self.state.is_upgraded() {
            return None;
        }
        let status = first.strip_prefix(b"HTTP/1.1 ")?;
        let code: u16 = std::str::from_utf8(status.get(..3)?).ok()?.parse().ok()?;
        if code < 200 {
            return None;
        }
        let answered = self.state.heads.fetch_add(1, Ordering::SeqCst);
        if answered < self.state.requests.load(Ordering::SeqCst) {
            return None;
        }
        let status = StatusCode::from_u16(code).ok()?;
        let error = ApiError::for_status(status);
        let body = error.body();
        tracing::info!(status = code, code = error.code, "request refused before routing");
        let mut out = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            code,
            status.canonical_reason().unwrap_or(""),
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(&body);
        Some(out)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        if let Some(replacement) = self.replacement(buf) {
            self.pending = replacement;
            // Hyper's bytes count as written; ours go out before anything else.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        std::task::ready!(self.poll_pending(cx))?;
        let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &b[..]);
        if let Some(replacement) = self.replacement(first) {
            self.pending = replacement;
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
