//! [`PgStore`]: the pool, the schema check at start-up and the outbox listener.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use todo_ports::RepoError;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::error::{from_pg, from_pool, internal};
use crate::{migrate, PgConfig};

/// The channel the outbox trigger notifies (see migration 0001).
pub(crate) const OUTBOX_CHANNEL: &str = "todo_outbox";

/// Tasks, their outbox and the consumers' ledgers in PostgreSQL. Implements
/// [`TaskRepository`](todo_ports::TaskRepository), [`Outbox`](todo_ports::Outbox),
/// [`AuditLog`](todo_ports::AuditLog) and [`NotificationFeed`](todo_ports::NotificationFeed);
/// share it as an `Arc` and hand it out as each port.
///
/// Holds a connection pool (which replaces broken connections by itself, so calls fail with
/// `RepoError::Unavailable` while the server is down and succeed again once it is back) and
/// one more connection that listens for outbox writes, reconnecting in the background.
pub struct PgStore {
    pool: Pool,
    /// Woken (all waiters, plus one stored permit) whenever an outbox write commits anywhere.
    pub(crate) outbox_written: Arc<Notify>,
    /// The listener task; aborted with the store.
    _listener: AbortOnDrop,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("pool", &self.pool.status()).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the database of `config`, applies the migrations it lacks (safe when
    /// several replicas start at once) and starts listening for outbox writes.
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] when the server cannot be reached (the caller may retry);
    /// [`RepoError::Internal`] for a malformed URL, refused credentials or a failed migration.
    pub async fn connect(config: PgConfig) -> Result<Arc<Self>, RepoError> {
        let mut pg: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| internal(format!("invalid PostgreSQL URL {}: {e}", config.redacted_url())))?;
        pg.connect_timeout(config.connect_timeout);
        pg.application_name(&config.application_name);
        let manager =
            Manager::from_config(pg.clone(), NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .build()
            .map_err(|e| internal(format!("cannot build the connection pool: {e}")))?;
        {
            let mut client = pool.get().await.map_err(from_pool)?;
            let applied = migrate::migrate(&mut client).await?;
            tracing::info!(url = %config.redacted_url(), ?applied, "postgres store ready");
        }
        let outbox_written = Arc::new(Notify::new());
        // The first LISTEN is in place before `connect` returns, so no write made after it is
        // missed; later reconnects happen in the background.
        let session = ListenSession::open(&pg, outbox_written.clone()).await?;
        let listener = tokio::spawn(listen_forever(pg, outbox_written.clone(), session));
        Ok(Arc::new(Self { pool, outbox_written, _listener: AbortOnDrop(listener) }))
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<Object, RepoError> {
        self.pool.get().await.map_err(from_pool)
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Wakes every waiter now and leaves a permit for the next one, so a notification that lands
/// between a drain and the following wait is not lost.
pub(crate) fn wake(notify: &Notify) {
    notify.notify_waiters();
    notify.notify_one();
}

/// One listening connection: the client (kept alive) and the task that drives the connection
/// and turns notifications into wake-ups.
struct ListenSession {
    _client: tokio_postgres::Client,
    driver: AbortOnDrop,
}

impl ListenSession {
    async fn open(pg: &tokio_postgres::Config, notify: Arc<Notify>) -> Result<Self, RepoError> {
        let (client, mut connection) = pg.connect(NoTls).await.map_err(from_pg)?;
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(_))) => wake(&notify),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "outbox listener connection lost");
                        break;
                    }
                    None => break,
                }
            }
        });
        let session = Self { _client: client, driver: AbortOnDrop(driver) };
        session._client.batch_execute(&format!("LISTEN {OUTBOX_CHANNEL}")).await.map_err(from_pg)?;
        Ok(session)
    }

    /// Waits until the connection ends.
    async fn closed(mut self) {
        let _ = (&mut self.driver.0).await;
    }
}

/// Keeps a listening connection open for the store's lifetime, reconnecting with back-off.
/// After each reconnect it wakes the waiters, since notifications sent meanwhile were lost.
async fn listen_forever(pg: tokio_postgres::Config, notify: Arc<Notify>, first: ListenSession) {
    first.closed().await;
    let mut backoff = Duration::from_millis(100);
    loop {
        tokio::time::sleep(backoff).await;
        match ListenSession::open(&pg, notify.clone()).await {
            Ok(session) => {
                tracing::info!("outbox listener reconnected");
                backoff = Duration::from_millis(100);
                wake(&notify);
                session.closed().await;
            }
            Err(e) => {
                tracing::debug!(error = %e, "outbox listener cannot reconnect yet");
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}
