//! The app run on a task of its own until it is stopped: for tests and benchmarks, and for a
//! service that embeds the whole app beside work of its own.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Config, Error, Runtime};

/// A [`Runtime::run`] on a task of its own, serving its listener until [`Background::stop`]. Dropped
/// without `stop`, it shuts down in the background as it would on SIGTERM.
#[derive(Debug)]
pub struct Background {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    done: JoinHandle<Result<(), Error>>,
}

impl Background {
    /// Runs `runtime` on `listener`.
    ///
    /// # Errors
    /// When the listener has no local address.
    pub fn spawn(runtime: Runtime, listener: TcpListener) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(runtime.run(listener, async move {
            let _ = stopped.await;
        }));
        Ok(Self { addr, stop, done })
    }

    /// Runs the app `config` describes on a free port of 127.0.0.1.
    ///
    /// # Errors
    /// When no port can be bound.
    pub async fn on_loopback(config: Config) -> std::io::Result<Self> {
        Self::spawn(Runtime::new(config), TcpListener::bind("127.0.0.1:0").await?)
    }

    /// Where it listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://` and its address, without a trailing slash.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Shuts it down as SIGTERM would (connections drained, the outbox relay and the loops
    /// stopped) and waits until it has.
    ///
    /// # Errors
    /// What the app failed with, or its panic.
    pub async fn stop(self) -> Result<(), Error> {
        let _ = self.stop.send(());
        self.done.await.map_err(|e| format!("the app panicked: {e}"))?
    }
}
