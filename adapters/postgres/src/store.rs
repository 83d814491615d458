//! [`PgStore`]: the pool, the schema check at start-up and the outbox listener.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use todo_ports::RepoError;
use todo_retry::Policy;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::{from_pg, from_pool, internal};
use crate::{PgConfig, migrate};

/// The channel on which stores tell each other that outbox records were committed.
pub(crate) const OUTBOX_CHANNEL: &str = "todo_outbox";

/// Least time between two NOTIFYs this process sends; writes in between share one. Each
/// NOTIFY is a transaction of its own that waits for a WAL flush, so under load they are
/// kept to at most 40 a second. The first write after a quiet spell is notified at once; a
/// relay of another process that is busy draining does not need waking anyway.
const NOTIFY_SPACING: Duration = Duration::from_millis(25);

/// Tasks, their outbox and the consumers' ledgers in PostgreSQL. Implements
/// [`TaskRepository`](todo_ports::TaskRepository), [`Outbox`](todo_ports::Outbox),
/// [`AuditLog`](todo_ports::AuditLog) and [`NotificationFeed`](todo_ports::NotificationFeed);
/// share it as an `Arc` and hand it out as each port.
///
/// Holds a connection pool (which replaces broken connections by itself, so calls fail with
/// `RepoError::Unavailable` while the server is down and succeed again once it is back) and
/// one more connection that carries the outbox wake-ups between processes, reconnecting in
/// the background.
///
/// # Waking relays
/// After each commit that wrote outbox records the store wakes the relays of its own process
/// at once, and asks its listening connection to `NOTIFY todo_outbox` so that relays of other
/// processes wake too. Those NOTIFYs are sent after the commit, outside it, coalesced (at
/// most one per `NOTIFY_SPACING`): a NOTIFY inside every write transaction would serialise all
/// commits on the database-wide notify lock (see migration 0003 for the numbers). A process
/// that dies between its commit and the NOTIFY leaves its records to the next drain of any
/// relay (each waits at most its `ForWork` timeout).
pub struct PgStore {
    pool: Pool,
    /// Woken (all waiters, plus one stored permit) when outbox records are committed.
    outbox_written: Arc<Notify>,
    /// Asks the listener task to NOTIFY the other processes (capacity 1: requests coalesce).
    notify_others: mpsc::Sender<()>,
    /// The listener task; aborted with the store or by [`PgStore::close`].
    listener: AbortOnDrop,
    /// Task ids reserved from the sequence and not handed out yet.
    ids: Mutex<VecDeque<i64>>,
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
        let (pg, tls) = config.prepare().map_err(|e| RepoError::Internal(e.into()))?;
        let manager =
            Manager::from_config(pg.clone(), tls.clone(), ManagerConfig { recycling_method: RecyclingMethod::Fast });
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
        // The first LISTEN is in place before `connect` returns, so no NOTIFY sent after it is
        // missed; later reconnects happen in the background.
        let session = ListenSession::open(&pg, &tls, outbox_written.clone()).await?;
        let (notify_others, requests) = mpsc::channel(1);
        let listener = tokio::spawn(listen_forever(pg, tls, outbox_written.clone(), session, requests));
        Ok(Arc::new(Self {
            pool,
            outbox_written,
            notify_others,
            listener: AbortOnDrop(listener),
            ids: Mutex::new(VecDeque::new()),
        }))
    }

    /// Closes the store: the pool drops its idle connections (and those in use as they come
    /// back) and refuses new checkouts, and the listening connection ends, so that nothing
    /// reconnects in the background. Calls made afterwards fail with
    /// `RepoError::Unavailable`. For shutdown: clones of the store held elsewhere (timers,
    /// tasks) would otherwise keep it alive.
    pub fn close(&self) {
        self.pool.close();
        self.listener.0.abort();
    }

    /// Whether the database answers (for readiness probes).
    ///
    /// # Errors
    /// [`RepoError::Unavailable`] while it does not.
    pub async fn ping(&self) -> Result<(), RepoError> {
        self.client().await?.simple_query("SELECT 1").await.map_err(from_pg)?;
        Ok(())
    }

    /// The ids reserved and not handed out yet.
    pub(crate) fn reserved_ids(&self) -> MutexGuard<'_, VecDeque<i64>> {
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<Object, RepoError> {
        self.pool.get().await.map_err(from_pool)
    }

    /// Says that outbox records were committed: wakes this process's relays now and has the
    /// other processes' relays woken.
    pub(crate) fn outbox_written(&self) {
        wake(&self.outbox_written);
        let _ = self.notify_others.try_send(());
    }

    /// Waits until [`PgStore::outbox_written`] here or a NOTIFY from another process, or
    /// `at_most`.
    pub(crate) async fn wait_for_records(&self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.outbox_written.notified()).await;
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Wakes every waiter now and leaves a permit for the next one, so a wake-up that lands
/// between a drain and the following wait is not lost.
fn wake(notify: &Notify) {
    notify.notify_waiters();
    notify.notify_one();
}

/// One listening connection: the client (kept alive, and used to send NOTIFYs) and the task
/// that drives the connection and turns other processes' notifications into wake-ups.
struct ListenSession {
    client: tokio_postgres::Client,
    driver: AbortOnDrop,
}

impl ListenSession {
    async fn open(
        pg: &tokio_postgres::Config,
        tls: &MakeRustlsConnect,
        notify: Arc<Notify>,
    ) -> Result<Self, RepoError> {
        let (client, mut connection) = pg.connect(tls.clone()).await.map_err(from_pg)?;
        // Our own NOTIFYs come back to us; they are not news to this process.
        let own_pid = Arc::new(AtomicI32::new(0));
        let pid = own_pid.clone();
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) if n.process_id() != pid.load(Ordering::Relaxed) => {
                        wake(&notify);
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "outbox listener connection lost");
                        break;
                    }
                    None => break,
                }
            }
        });
        let session = Self { client, driver: AbortOnDrop(driver) };
        let row = session.client.query_one("SELECT pg_backend_pid()", &[]).await.map_err(from_pg)?;
        own_pid.store(row.try_get(0).map_err(from_pg)?, Ordering::Relaxed);
        session.client.batch_execute(&format!("LISTEN {OUTBOX_CHANNEL}")).await.map_err(from_pg)?;
        Ok(session)
    }

    /// Sends NOTIFYs as `requests` ask, until the connection ends (returns `true`) or the
    /// store is gone (returns `false`).
    async fn serve(mut self, requests: &mut mpsc::Receiver<()>) -> bool {
        loop {
            tokio::select! {
                _ = &mut self.driver.0 => return true,
                request = requests.recv() => {
                    if request.is_none() {
                        return false;
                    }
                    if let Err(e) = self.client.batch_execute(&format!("NOTIFY {OUTBOX_CHANNEL}")).await {
                        tracing::warn!(error = %e, "cannot notify other relays");
                        return true;
                    }
                    tokio::time::sleep(NOTIFY_SPACING).await;
                }
            }
        }
    }
}

/// Keeps a listening connection open for the store's lifetime, reconnecting as
/// [`Policy::RECONNECT`] says.
/// After each reconnect it wakes this process's waiters and notifies the others, since
/// wake-ups sent meanwhile were lost.
async fn listen_forever(
    pg: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    notify: Arc<Notify>,
    first: ListenSession,
    mut requests: mpsc::Receiver<()>,
) {
    if !first.serve(&mut requests).await {
        return;
    }
    let mut delays = Policy::RECONNECT.delays();
    loop {
        tokio::time::sleep(delays.next().unwrap_or(Duration::from_secs(5))).await;
        match ListenSession::open(&pg, &tls, notify.clone()).await {
            Ok(session) => {
                tracing::info!("outbox listener reconnected");
                delays = Policy::RECONNECT.delays();
                wake(&notify);
                let _ = session.client.batch_execute(&format!("NOTIFY {OUTBOX_CHANNEL}")).await;
                if !session.serve(&mut requests).await {
                    return;
                }
            }
            Err(e) => tracing::debug!(error = %e, "outbox listener cannot reconnect yet"),
        }
    }
}
