//! How runs share the machine's two cores: all processes free (shared), or PostgreSQL on a
//! core of its own (split, set with `taskset`).

use std::path::Path;
use std::process::Command;

use crate::Error;
use crate::db::connect;

/// How the two runs of a round share the machine's cores.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cores {
    /// Every process may run on every core: app, load client and PostgreSQL compete.
    Shared,
    /// PostgreSQL on core 0; this process (app and load client) and pgbench on the others,
    /// as with the database on a host of its own.
    Split,
}

impl Cores {
    /// `BENCH_CORES`: `shared`, `split` or both (the default), in that order.
    pub(crate) fn wanted() -> Result<Vec<Self>, Error> {
        let raw = std::env::var("BENCH_CORES").unwrap_or_else(|_| "shared,split".into());
        raw.split(',')
            .map(|c| match c.trim() {
                "shared" => Ok(Self::Shared),
                "split" => Ok(Self::Split),
                other => Err(format!("BENCH_CORES: unknown {other:?} (shared, split)").into()),
            })
            .collect()
    }

    pub(crate) fn column(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Split => "split",
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Shared => "shared cores (app, load client and PostgreSQL compete for all cores)",
            Self::Split => "split cores (PostgreSQL on core 0, app + load client or pgbench on the rest)",
        }
    }
}

/// CPU affinities set with `taskset` for the split-cores rounds: PostgreSQL's processes on
/// core 0, this process on the others. New backends inherit the postmaster's affinity, and
/// pgbench this process's. Dropping it gives every process all cores again.
pub(crate) struct CoreSplit {
    pub(crate) postmaster: u32,
    pub(crate) all: String,
}

impl CoreSplit {
    pub(crate) async fn apply(pg_url: &str) -> Result<Self, Error> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 {
            return Err("needs at least two cores".into());
        }
        let client = connect(pg_url).await?;
        let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        let postmaster =
            parent_of(u32::try_from(backend)?).ok_or("cannot read the server's processes (not on this machine?)")?;
        drop(client);
        let split = Self { postmaster, all: format!("0-{}", cores - 1) };
        for pid in split.server_processes() {
            // A backend may end between the listing and here.
            if let Err(e) = taskset(pid, "0")
                && Path::new(&format!("/proc/{pid}")).exists()
            {
                return Err(e);
            }
        }
        taskset(std::process::id(), &format!("1-{}", cores - 1))?;
        Ok(split)
    }

    /// The postmaster and its children.
    pub(crate) fn server_processes(&self) -> Vec<u32> {
        let mut pids = vec![self.postmaster];
        if let Ok(entries) = std::fs::read_dir("/proc") {
            let children = entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&pid| parent_of(pid) == Some(self.postmaster));
            pids.extend(children);
        }
        pids
    }
}

impl Drop for CoreSplit {
    fn drop(&mut self) {
        for pid in self.server_processes().into_iter().chain([std::process::id()]) {
            if let Err(e) = taskset(pid, &self.all) {
                eprintln!("  could not give process {pid} all cores again: {e}");
            }
        }
    }
}

/// The parent of process `pid`, from `/proc/<pid>/stat` (the field after the state, which
/// follows the parenthesised command name).
pub(crate) fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Sets the affinity of every thread of `pid` to `cpus` (a `taskset` list such as `0` or `1-3`).
pub(crate) fn taskset(pid: u32, cpus: &str) -> Result<(), Error> {
    let out = Command::new("taskset").args(["-a", "-p", "-c", cpus, &pid.to_string()]).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("taskset -a -p -c {cpus} {pid}: {}", String::from_utf8_lossy(&out.stderr).trim()).into())
    }
}
