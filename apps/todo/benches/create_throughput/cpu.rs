//! CPU time of processes and of PostgreSQL backends, read from `/proc`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::Error;
use crate::db::connect;

/// User + system CPU time, in clock ticks, from a `/proc/.../stat` file.
pub(crate) fn cpu_ticks(stat_path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let rest: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
}

/// Linux reports /proc CPU times in USER_HZ, 100 per second on every mainstream architecture.
pub(crate) const TICK_MS: f64 = 10.0;

/// CPU ticks of each backend serving `database` for one of `applications`.
pub(crate) async fn backend_ticks(
    client: &tokio_postgres::Client,
    database: &str,
    applications: &[String],
) -> Result<HashMap<i32, u64>, Error> {
    let rows = client
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = ANY($2)",
            &[&database, &applications],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let pid: i32 = r.get(0);
            cpu_ticks(&format!("/proc/{pid}/stat")).map(|t| (pid, t))
        })
        .collect())
}

/// Samples the CPU time of the backends serving `database` for the applications named
/// `applications`, every 25 ms, until stopped: backends that exit between two samples lose
/// at most their last 25 ms. Only works when the server runs on this machine.
pub(crate) struct BackendCpu {
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    pub(crate) task: tokio::task::JoinHandle<Result<Option<u64>, Error>>,
}

impl BackendCpu {
    pub(crate) async fn start(url: &str, database: &str, applications: &[&str]) -> Result<Self, Error> {
        let client = connect(url).await?;
        let (database, applications) =
            (database.to_owned(), applications.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>());
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let sample = move |client: Arc<tokio_postgres::Client>| {
            let (database, applications) = (database.clone(), applications.clone());
            async move { backend_ticks(&client, &database, &applications).await }
        };
        let client = Arc::new(client);
        let first = sample(client.clone()).await?;
        let task = tokio::spawn(async move {
            let mut last = first.clone();
            let mut seen_any = !first.is_empty();
            loop {
                let done = *stopped.borrow();
                for (pid, ticks) in sample(client.clone()).await? {
                    seen_any = true;
                    last.insert(pid, ticks);
                }
                if done {
                    break;
                }
                let _ = tokio::time::timeout(Duration::from_millis(25), stopped.changed()).await;
            }
            Ok(seen_any.then(|| last.iter().map(|(pid, t)| t - first.get(pid).copied().unwrap_or(0)).sum()))
        });
        Ok(Self { stop, task })
    }

    /// Total backend CPU ms since `start`, or `None` when no backend's /proc entry was readable.
    pub(crate) async fn finish(self) -> Result<Option<f64>, Error> {
        let _ = self.stop.send(true);
        Ok(self.task.await??.map(|ticks| ticks as f64 * TICK_MS))
    }
}
