//! Request bodies as the server hands them to routes: at most [`ServerConfig::max_body_bytes`],
//! complete within [`ServerConfig::body_timeout`]. A body over the limit is still read (and
//! thrown away) up to [`ServerConfig::max_drained_bytes`] before the error, so that a client that
//! sends it whole before reading reads its 413 instead of a reset connection.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::StatusCode;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use crate::{ApiError, ServerConfig};

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// It is larger than the limit.
    #[error("request body exceeds {limit} bytes")]
    TooLarge {
        /// The limit, bytes.
        limit: usize,
    },
    /// It did not arrive in time.
    #[error("request body did not arrive in time")]
    Timeout,
    /// The connection failed while it was read.
    #[error("the connection failed while the request body was read")]
    Broken,
}

impl BodyError {
    /// The answer to a request whose body failed so.
    pub(crate) fn to_api_error(self) -> ApiError {
        match self {
            Self::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", self.to_string())
            }
            Self::Timeout => ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", self.to_string()),
            Self::Broken => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", self.to_string()),
        }
    }
}

/// A body with the server's limits applied.
pub(crate) struct GuardedBody<B> {
    inner: B,
    limit: usize,
    drain_limit: usize,
    timeout: std::time::Duration,
    read: usize,
    deadline: Option<Pin<Box<Sleep>>>,
    failed: Option<BodyError>,
}

impl<B> GuardedBody<B> {
    pub(crate) fn new(inner: B, config: &ServerConfig) -> Self {
        Self::with_limit(inner, config.max_body_bytes, config)
    }

    fn with_limit(inner: B, limit: usize, config: &ServerConfig) -> Self {
        Self {
            inner,
            limit,
            drain_limit: config.max_drained_bytes.max(limit),
            timeout: config.body_timeout,
            read: 0,
            deadline: None,
            failed: None,
        }
    }
}

impl<B> Body for GuardedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Some(e) = this.failed {
            return Poll::Ready(Some(Err(e)));
        }
        let timeout = this.timeout;
        let deadline =
            this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + timeout)));
        loop {
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => {
                    ready!(deadline.as_mut().poll(cx));
                    this.failed = Some(BodyError::Timeout);
                    return Poll::Ready(Some(Err(BodyError::Timeout)));
                }
                Poll::Ready(None) if this.read > this.limit => None,
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Ready(Some(Err(_))) => {
                    this.failed = Some(BodyError::Broken);
                    return Poll::Ready(Some(Err(BodyError::Broken)));
                }
                Poll::Ready(Some(Ok(frame))) => Some(frame),
            };
            if let Some(frame) = &frame {
                this.read = this.read.saturating_add(frame.data_ref().map_or(0, Bytes::len));
            }
            match frame {
                // Within the limit: hand it on.
                Some(frame) if this.read <= this.limit => return Poll::Ready(Some(Ok(frame))),
                // Over it, with more to come and room to drain: throw it away and read on.
                Some(_) if this.read <= this.drain_limit => continue,
                // Over it, and the whole body read (or the drain bound reached).
                _ => {
                    let e = BodyError::TooLarge { limit: this.limit };
                    this.failed = Some(e);
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed.is_none() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::{BodyExt, Full, StreamBody};

    use super::*;

    fn config() -> ServerConfig {
        ServerConfig {
            max_body_bytes: 10,
            max_drained_bytes: 100,
            body_timeout: Duration::from_secs(1),
            ..ServerConfig::default()
        }
    }

    #[tokio::test]
    async fn a_body_within_the_limit_reads_whole() {
        let body = GuardedBody::new(Full::new(Bytes::from_static(b"0123456789")), &config());
        assert_eq!(body.collect().await.unwrap().to_bytes(), Bytes::from_static(b"0123456789"));
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_read_to_its_end_then_refused() {
        let frames: Vec<Result<Frame<Bytes>, std::convert::Infallible>> =
            (0..5).map(|_| Ok(Frame::data(Bytes::from_static(b"0123456789")))).collect();
        let stream = StreamBody::new(futures_util::stream::iter(frames));
        let mut body = GuardedBody::new(stream, &config());
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.data_ref().map(Bytes::len), Some(10));
        assert_eq!(body.frame().await.unwrap().unwrap_err(), BodyError::TooLarge { limit: 10 });
        assert_eq!(body.read, 50, "the rest was drained before the error");
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_times_out() {
        let stream = StreamBody::new(futures_util::stream::pending::<Result<Frame<Bytes>, std::convert::Infallible>>());
        let started = Instant::now();
        let err = GuardedBody::new(stream, &config()).collect().await.unwrap_err();
        assert_eq!((err, started.elapsed()), (BodyError::Timeout, Duration::from_secs(1)));
    }
}
