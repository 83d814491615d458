//! Task-creation throughput and latency through the HTTP API on PostgreSQL, beside `pgbench`
//! running the adapter's own create statement on the same server; prints both and their ratio.
//!
//! `cargo bench -p todo --bench create_throughput` (needs `infra/local/stack up`). Settings,
//! all optional: `BENCH_CONCURRENCY` (8), `BENCH_REQUESTS` (20000), `BENCH_WARMUP` (1000),
//! `BENCH_USERS` (100), `BENCH_POOL` (the concurrency), `BENCH_LOG` (a tracing filter such as
//! `info`: formats the app's logs into a sink, to count their cost; off by default),
//! `BENCH_ROUNDS` (7: rounds of `backend` then `pgbench`, whose ratios are summarised by their
//! median, as identical runs on a shared 2-core VM differ by up to ±20 %), `BENCH_CORES`
//! (`shared,split`: see below) and `BENCH_RUNS`, a comma-separated subset of
//! `backend,pgbench,app,pgbench-audit` (all by default).
//!
//! The runs, one after the other, each on a throwaway database of the same server:
//! - `backend`: the task backend of the microservice split, `todo::run` with `ROLES=none`:
//!   REST API, create use case, PostgreSQL store and the outbox relay, which publishes every
//!   event to the (in-memory) bus; the consumers are other services. C keep-alive HTTP/1.1
//!   connections each send `POST /api/{user}/tasks` back to back until N requests are done;
//!   every latency is recorded.
//! - `app`: the all-in-one app (`todo::run`, every role): the same plus, in process, the
//!   audit consumer writing one `audit_log` row per `task.created` to the same server.
//! - `pgbench`: `pgbench -M prepared -c C -j 2 -t N/C` runs, per transaction, the adapter's
//!   create statement itself (`todo_adapter_postgres::statements::INSERT_TASK`: one task row
//!   and its two outbox rows), its parameters bound from pgbench variables, with a
//!   per-transaction log for percentiles.
//! - `pgbench-audit`: the same plus, as a second transaction, the adapter's audit append
//!   (`APPEND_AUDIT`): the server work the `app` run asks for per task, without the app.
//!
//! `backend` and `pgbench` alternate for `BENCH_ROUNDS` rounds, first on shared cores (every
//! process may run anywhere), then on split cores (PostgreSQL on core 0, this process or
//! pgbench on the others, set with `taskset`, as with the database on a host of its own);
//! `app` and `pgbench-audit` run once, after them, on shared cores. Sweep is off in every HTTP
//! run.
//!
//! Beside latencies it reports, per transaction, the CPU time of the PostgreSQL backends
//! serving the run (read from /proc, sampled every 25 ms) and of this process: on a small
//! machine app, client and server share the cores, so CPU per task explains the throughput.
//! It never asserts timings: it prints figures.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use todo_adapter_postgres::testing::TempDatabase;
use todo_adapter_postgres::{statements, PgConfig, PgStore};
use todo_ports::model::{Task, TaskEventType, TaskPatch, UserId};
use todo_ports::EventStamp;
use tokio::net::{TcpListener, TcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The allocator of the `todo` binary (`src/main.rs`), so that the app here runs as it does there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The local stack's env file: `$TODO_STACK_ENV`, else `${TODO_STACK_RUN:-/tmp/todo-stack}/stack.env`
/// (as `contract-tests/src/stack.rs` finds it).
fn env_file() -> PathBuf {
    if let Ok(path) = std::env::var("TODO_STACK_ENV") {
        return PathBuf::from(path);
    }
    let run = std::env::var("TODO_STACK_RUN").unwrap_or_else(|_| "/tmp/todo-stack".into());
    PathBuf::from(run).join("stack.env")
}

fn read_stack(path: &Path) -> std::io::Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)?;
    Ok(text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

fn setting(key: &str, default: usize) -> Result<usize, Error> {
    match std::env::var(key) {
        Ok(raw) if !raw.trim().is_empty() => {
            raw.trim().parse().map_err(|_| format!("{key}={raw} is not a whole number").into())
        }
        _ => Ok(default),
    }
}

struct Settings {
    concurrency: usize,
    requests: usize,
    warmup: usize,
    users: usize,
    pool: usize,
}

/// What one run measured.
struct Figures {
    label: &'static str,
    /// How the cores were shared during the run.
    cores: Cores,
    transactions: usize,
    elapsed: Duration,
    tps: f64,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// CPU ms per transaction: PostgreSQL backends, and this process (app + load client).
    server_cpu_ms: Option<f64>,
    process_cpu_ms: Option<f64>,
}

impl Figures {
    /// From per-transaction latencies in microseconds.
    fn from_micros(label: &'static str, mut micros: Vec<u64>, elapsed: Duration, tps: f64) -> Self {
        micros.sort_unstable();
        let pick = |q: f64| -> f64 {
            if micros.is_empty() {
                return f64::NAN;
            }
            // Nearest rank.
            let rank = ((q * micros.len() as f64).ceil() as usize).clamp(1, micros.len());
            micros[rank - 1] as f64 / 1000.0
        };
        let mean_ms = micros.iter().sum::<u64>() as f64 / micros.len().max(1) as f64 / 1000.0;
        Self {
            label,
            cores: Cores::Shared,
            transactions: micros.len(),
            elapsed,
            tps,
            mean_ms,
            p50_ms: pick(0.50),
            p90_ms: pick(0.90),
            p99_ms: pick(0.99),
            max_ms: pick(1.0),
            server_cpu_ms: None,
            process_cpu_ms: None,
        }
    }

    /// These figures, marked as measured with `cores`.
    fn on(mut self, cores: Cores) -> Self {
        self.cores = cores;
        self
    }

    fn row(&self) -> String {
        let cpu = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
        format!(
            "{:<28} {:<6} {:>6} {:>6.2} {:>7.0} {:>7.2} {:>6.2} {:>6.2} {:>6.2} {:>7.2} {:>8} {:>8}",
            self.label,
            self.cores.column(),
            self.transactions,
            self.elapsed.as_secs_f64(),
            self.tps,
            self.mean_ms,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms,
            cpu(self.server_cpu_ms),
            cpu(self.process_cpu_ms),
        )
    }
}

const HEADER: &str = "run                          cores    txns   secs     tps    mean    p50    p90    p99     max  postgres  process";

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets without it,
    // and a minute-long load run in a debug build would only slow the tests down.
    if !std::env::args().any(|a| a == "--bench") {
        println!("create_throughput: a benchmark; run it with `cargo bench -p todo --bench create_throughput`");
        return ExitCode::SUCCESS;
    }
    match bench() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("create_throughput: {e}");
            ExitCode::FAILURE
        }
    }
}

fn bench() -> Result<(), Error> {
    // `cargo bench` passes `--bench` (and filters); this harness has no options of its own.
    let path = env_file();
    let stack = match read_stack(&path) {
        Ok(stack) => stack,
        Err(e) => {
            return Err(format!(
                "the local stack is not up ({}: {e}); start it with `infra/local/stack up`",
                path.display()
            )
            .into());
        }
    };
    let get = |key: &str| {
        stack.get(key).cloned().ok_or_else(|| format!("{} has no {key}; rerun infra/local/stack up", path.display()))
    };
    let pg_url = get("TODO_STACK_PG_URL")?;
    let pg_bin = PathBuf::from(get("TODO_STACK_PG_BIN")?);
    let concurrency = setting("BENCH_CONCURRENCY", 8)?.max(1);
    let settings = Settings {
        concurrency,
        requests: setting("BENCH_REQUESTS", 20_000)?.max(1),
        warmup: setting("BENCH_WARMUP", 1_000)?,
        users: setting("BENCH_USERS", 100)?.max(1),
        pool: setting("BENCH_POOL", concurrency)?.max(1),
    };
    let rounds = setting("BENCH_ROUNDS", 7)?.max(1);
    let runs = std::env::var("BENCH_RUNS").unwrap_or_else(|_| "backend,pgbench,app,pgbench-audit".into());
    let wanted = |run: &str| runs.split(',').any(|r| r.trim() == run);
    let log = std::env::var("BENCH_LOG").ok().filter(|f| !f.trim().is_empty());
    if let Some(filter) = &log {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(std::io::sink)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let server = runtime.block_on(server_facts(&pg_url))?;

    println!("create_throughput: task creation through the HTTP API vs pgbench, same PostgreSQL server");
    println!(
        "  server: {server}\n  machine: {} cores; app, load client and PostgreSQL share them\n  \
         concurrency {} | requests {} (+{} warm-up) | users {} | pool {} | rounds {rounds} | app logs: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        settings.concurrency,
        settings.requests,
        settings.warmup,
        settings.users,
        settings.pool,
        log.as_ref().map_or_else(|| "off (no subscriber)".to_owned(), |f| format!("{f}, formatted into a sink")),
    );

    // Rounds of backend then pgbench, so that both see the machine in the same state; first
    // with every process free to run on both cores, then with the cores split.
    let mut results = Vec::new();
    let mut ratios: Vec<(Cores, Vec<f64>)> = Vec::new();
    for cores in Cores::wanted()? {
        let pinned = match cores {
            Cores::Shared => None,
            Cores::Split => match runtime.block_on(CoreSplit::apply(&pg_url)) {
                Ok(split) => Some(split),
                Err(e) => {
                    println!("\n(no split-cores rounds: {e})");
                    continue;
                }
            },
        };
        let mut round_ratios = Vec::new();
        for round in 1..=rounds {
            println!("\n######## {}: round {round} of {rounds}", cores.describe());
            let backend = wanted("backend")
                .then(|| runtime.block_on(http_run(&pg_url, &settings, Wiring::Backend)))
                .transpose()?
                .map(|f| f.on(cores));
            let pgbench = wanted("pgbench")
                .then(|| pgbench_run(&runtime, &pg_url, &pg_bin, &settings, Script::Create))
                .transpose()?
                .map(|f| f.on(cores));
            if let (Some(http), Some(pg)) = (&backend, &pgbench) {
                round_ratios.push(http.tps / pg.tps);
            }
            results.extend(backend.into_iter().chain(pgbench));
        }
        drop(pinned);
        ratios.push((cores, round_ratios));
    }
    if wanted("app") {
        results.push(runtime.block_on(http_run(&pg_url, &settings, Wiring::App))?);
    }
    if wanted("pgbench-audit") {
        results.push(pgbench_run(&runtime, &pg_url, &pg_bin, &settings, Script::CreateAndAudit)?);
    }

    println!("\n{:<58}{:-^37} {:-^17}\n{HEADER}", "", " latency, ms ", " CPU ms per txn ");
    for figures in &results {
        println!("{}", figures.row());
    }
    let median_of = |label: &str, cores: Cores, pick: fn(&Figures) -> f64| {
        median(results.iter().filter(|f| f.label == label && f.cores == cores).map(pick).collect())
    };
    let (backend, pgbench, app, both) =
        (Wiring::Backend.label(), Script::Create.label(), Wiring::App.label(), Script::CreateAndAudit.label());
    for (cores, round_ratios) in ratios.iter().filter(|(_, r)| !r.is_empty()) {
        let shown: Vec<String> = round_ratios.iter().map(|r| format!("{r:.3}")).collect();
        let ratio = median(round_ratios.clone()).unwrap_or(f64::NAN);
        println!(
            "\n{}:\n  ratio {} / {} per round: {}\n  median {ratio:.3}  (target 0.8: {})",
            cores.describe(),
            backend.trim(),
            pgbench.trim(),
            shown.join(", "),
            if ratio >= 0.8 { "met" } else { "NOT met" }
        );
        let p = |label, pick| median_of(label, *cores, pick).unwrap_or(f64::NAN);
        println!(
            "  medians: {:.0} vs {:.0} tps; p50 {:.2} vs {:.2} ms, p99 {:.2} vs {:.2} ms",
            p(backend, |f| f.tps),
            p(pgbench, |f| f.tps),
            p(backend, |f| f.p50_ms),
            p(pgbench, |f| f.p50_ms),
            p(backend, |f| f.p99_ms),
            p(pgbench, |f| f.p99_ms)
        );
    }
    let tps = |label| median_of(label, Cores::Shared, |f| f.tps);
    if let (Some(app_tps), Some(pg_tps)) = (tps(app), tps(pgbench)) {
        println!(
            "\nratio {} / {} (shared cores, median) = {:.3}  (consumers in process, on the same server)",
            app.trim(),
            pgbench.trim(),
            app_tps / pg_tps
        );
    }
    if let (Some(app_tps), Some(both_tps)) = (tps(app), tps(both)) {
        println!(
            "ratio {} / {} = {:.3}  (the all-in-one app's server work per task, run by pgbench)",
            app.trim(),
            both.trim(),
            app_tps / both_tps
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Cores

/// How the two runs of a round share the machine's cores.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cores {
    /// Every process may run on every core: app, load client and PostgreSQL compete.
    Shared,
    /// PostgreSQL on core 0; this process (app and load client) and pgbench on the others,
    /// as with the database on a host of its own.
    Split,
}

impl Cores {
    /// `BENCH_CORES`: `shared`, `split` or both (the default), in that order.
    fn wanted() -> Result<Vec<Self>, Error> {
        let raw = std::env::var("BENCH_CORES").unwrap_or_else(|_| "shared,split".into());
        raw.split(',')
            .map(|c| match c.trim() {
                "shared" => Ok(Self::Shared),
                "split" => Ok(Self::Split),
                other => Err(format!("BENCH_CORES: unknown {other:?} (shared, split)").into()),
            })
            .collect()
    }

    fn column(self) -> &'static str {
        match self {
            Self::Shared => "shared",
            Self::Split => "split",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Shared => "shared cores (app, load client and PostgreSQL compete for all cores)",
            Self::Split => "split cores (PostgreSQL on core 0, app + load client or pgbench on the rest)",
        }
    }
}

/// CPU affinities set with `taskset` for the split-cores rounds: PostgreSQL's processes on
/// core 0, this process on the others. New backends inherit the postmaster's affinity, and
/// pgbench this process's. Dropping it gives every process all cores again.
struct CoreSplit {
    postmaster: u32,
    all: String,
}

impl CoreSplit {
    async fn apply(pg_url: &str) -> Result<Self, Error> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 {
            return Err("needs at least two cores".into());
        }
        let client = connect(pg_url).await?;
        let backend: i32 = client.query_one("SELECT pg_backend_pid()", &[]).await?.get(0);
        let postmaster = parent_of(u32::try_from(backend)?).ok_or("cannot read the server's processes (not on this machine?)")?;
        drop(client);
        let split = Self { postmaster, all: format!("0-{}", cores - 1) };
        for pid in split.server_processes() {
            // A backend may end between the listing and here.
            if let Err(e) = taskset(pid, "0") {
                if Path::new(&format!("/proc/{pid}")).exists() {
                    return Err(e);
                }
            }
        }
        taskset(std::process::id(), &format!("1-{}", cores - 1))?;
        Ok(split)
    }

    /// The postmaster and its children.
    fn server_processes(&self) -> Vec<u32> {
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
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
}

/// Sets the affinity of every thread of `pid` to `cpus` (a `taskset` list such as `0` or `1-3`).
fn taskset(pid: u32, cpus: &str) -> Result<(), Error> {
    let out = Command::new("taskset").args(["-a", "-p", "-c", cpus, &pid.to_string()]).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("taskset -a -p -c {cpus} {pid}: {}", String::from_utf8_lossy(&out.stderr).trim()).into())
    }
}

/// The middle value (the mean of the two middle ones for an even count); `None` when empty.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// One line about the server: version and the durability settings (which stay as they are).
async fn server_facts(url: &str) -> Result<String, Error> {
    let client = connect(url).await?;
    let mut facts = Vec::new();
    let version: String = client.query_one("SHOW server_version", &[]).await?.get(0);
    facts.push(format!("PostgreSQL {version}"));
    for name in ["fsync", "synchronous_commit", "wal_sync_method", "commit_delay", "shared_buffers"] {
        let value: String = client.query_one(&format!("SHOW {name}"), &[]).await?.get(0);
        facts.push(format!("{name}={value}"));
    }
    Ok(facts.join(", "))
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Transactions committed and rolled back in database `name` so far (backends report them at
/// most once a second, or when they exit).
async fn commits(client: &tokio_postgres::Client, name: &str) -> Result<(i64, i64), Error> {
    let row = client
        .query_one("SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1", &[&name])
        .await?;
    Ok((row.get(0), row.get(1)))
}

// ---------------------------------------------------------------------------------------------
// CPU time

/// User + system CPU time, in clock ticks, from a `/proc/.../stat` file.
fn cpu_ticks(stat_path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(stat_path).ok()?;
    // Fields after the command name (which may hold spaces), from field 3 (state) on.
    let rest: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
}

/// Linux reports /proc CPU times in USER_HZ, 100 per second on every mainstream architecture.
const TICK_MS: f64 = 10.0;

/// CPU ticks of each backend serving `database` for one of `applications`.
async fn backend_ticks(
    client: &tokio_postgres::Client,
    database: &str,
    applications: &[String],
) -> Result<HashMap<i32, u64>, Error> {
    let rows = client
        .query("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = ANY($2)", &[&database, &applications])
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
struct BackendCpu {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<Option<u64>, Error>>,
}

impl BackendCpu {
    async fn start(url: &str, database: &str, applications: &[&str]) -> Result<Self, Error> {
        let client = connect(url).await?;
        let (database, applications) = (database.to_owned(), applications.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>());
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
    async fn finish(self) -> Result<Option<f64>, Error> {
        let _ = self.stop.send(true);
        Ok(self.task.await??.map(|ticks| ticks as f64 * TICK_MS))
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[derive(Clone, Copy, PartialEq, Eq)]
enum Wiring {
    /// `todo::run` with `ROLES=none`: the task backend (REST API and outbox relay).
    Backend,
    /// `todo::run` with every role: the consumers too, in process.
    App,
}

impl Wiring {
    fn label(self) -> &'static str {
        match self {
            Self::Backend => "HTTP backend (ROLES=none)",
            Self::App => "HTTP all-in-one app",
        }
    }

    /// `ROLES` for `todo::run`.
    fn roles(self) -> &'static str {
        match self {
            Self::Backend => todo::config::NO_ROLES,
            Self::App => "",
        }
    }
}

/// A small pseudo-random sequence, so every run sends the same bodies.
fn mix(i: usize) -> u64 {
    let mut x = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const TITLES: [&str; 6] = [
    "Buy groceries for the week",
    "Pay the electricity bill",
    "Call the bank about the card",
    "Prepare slides for Monday's review",
    "Book a dentist appointment",
    "Water the plants",
];

/// The path and body of request `i`: users spread over `users` ids; three in four tasks have a
/// due date 1 to 60 days ahead (so no reminder fires during the run), one in five of those
/// recurs weekly, half have a description, all have a priority and one or two tags.
fn request_of(i: usize, users: usize, today: OffsetDateTime) -> Result<(String, String), Error> {
    let r = mix(i);
    let user = r % users as u64;
    let mut body = serde_json::json!({
        "title": format!("{} #{i}", TITLES[(r >> 8) as usize % TITLES.len()]),
        "priority_id": 1 + (r >> 16) % 4,
        "tags": if (r >> 20) % 2 == 0 { serde_json::json!(["home", "errands"]) } else { serde_json::json!(["work"]) },
    });
    if (r >> 24) % 2 == 0 {
        body["description"] = "Milk, eggs, bread and coffee; pick up the parcel at the post office on the way back.".into();
    }
    if (r >> 28) % 4 != 0 {
        let due = today + time::Duration::days(1 + ((r >> 32) % 60) as i64);
        body["due_date"] = due.format(&Rfc3339)?.into();
        body["reminder_offset_minutes"] = (30 * (1 + (r >> 40) % 4)).into();
        if (r >> 44) % 5 == 0 {
            body["recurrence"] = serde_json::json!({"frequency": "weekly"});
        }
    }
    Ok((format!("/api/user{user}/tasks"), body.to_string()))
}

/// Starts the app as `wiring` says on `db`, serving `listener` until `stopped` completes.
async fn start_app(
    db: &TempDatabase,
    settings: &Settings,
    wiring: Wiring,
    listener: TcpListener,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> Result<tokio::task::JoinHandle<Result<(), todo::Error>>, Error> {
    let pool = settings.pool.to_string();
    let vars: HashMap<&str, &str> = HashMap::from([
        ("DATABASE_URL", db.url()),
        ("DATABASE_POOL_SIZE", pool.as_str()),
        ("SWEEP_INTERVAL_SECS", "0"),
        ("ROLES", wiring.roles()),
    ]);
    let config = todo::Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned()))?;
    let shutdown = async {
        let _ = stopped.await;
    };
    Ok(tokio::spawn(todo::run(config, listener, shutdown)))
}

/// Runs the app on a throwaway database and loads it; prints what it saw.
async fn http_run(pg_url: &str, settings: &Settings, wiring: Wiring) -> Result<Figures, Error> {
    let db = TempDatabase::create(pg_url).await?;
    let c = settings.concurrency;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = start_app(&db, settings, wiring, listener, stopped).await?;

    println!("\n== {}: POST /api/{{user}}/tasks on http://{addr}, database {} ==", wiring.label(), db.name());
    match wiring {
        Wiring::Backend => {
            println!("  todo::run, ROLES=none: REST API, create use case, PostgreSQL store (pool {}) and outbox relay,", settings.pool);
            println!("  publishing every event to the in-memory bus; the consumers are other services. Sweep off.");
        }
        Wiring::App => {
            println!("  todo::run, every role: PostgreSQL store (pool {}), in-memory bus and scheduler, sweep off.", settings.pool);
            println!("  Its outbox relay publishes to the in-memory bus, whose audit consumer writes an audit_log row");
            println!("  per task.created (the recurring-task consumer ignores creations): all of it during the run.");
        }
    }

    let today = OffsetDateTime::now_utc().replace_time(time::macros::time!(09:00));
    let requests: Arc<Vec<(String, Bytes)>> = Arc::new(
        (0..settings.warmup + settings.requests)
            .map(|i| request_of(i, settings.users, today).map(|(p, b)| (p, Bytes::from(b))))
            .collect::<Result<_, _>>()?,
    );
    let stats = connect(db.url()).await?;
    let (warmup, measure) = (settings.warmup, settings.requests);
    // The client runs on a runtime of its own (one thread), as a separate program would.
    let run_client = |range: std::ops::Range<usize>| {
        let requests = requests.clone();
        std::thread::Builder::new().name("bench-client".into()).spawn(move || -> Result<Load, String> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(load(addr, requests, range, c)).map_err(|e| e.to_string())
        })
    };

    wait_until_up(addr).await?;
    // Commits are counted over the warm-up and the measured requests together: an idle
    // backend may hold its statistics for 10 s, so a count between the two would need a wait.
    let before = commits(&stats, db.name()).await?;
    if warmup > 0 {
        let done = join(run_client(0..warmup)?).await?;
        println!("  warm-up: {warmup} requests in {:.2} s ({} errors)", done.elapsed.as_secs_f64(), done.errors);
        if let Err(pending) = wait_for_empty_outbox(&stats, Duration::from_secs(60)).await? {
            println!("  warm-up: {pending} outbox rows still waiting after 60 s; measuring anyway");
        }
    }
    let backends = BackendCpu::start(pg_url, db.name(), &["todo"]).await?;
    let process_before = cpu_ticks("/proc/self/stat");

    let done = join(run_client(warmup..warmup + measure)?).await?;
    let last_response = Instant::now();
    let at_most = Duration::from_secs(60);
    let drained = match wait_for_empty_outbox(&stats, at_most).await? {
        Ok(empty) => format!("outbox empty {:.0} ms after the last response", (empty - last_response).as_secs_f64() * 1000.0),
        Err(pending) => format!("outbox NOT empty {} s after the last response: {pending} rows waiting", at_most.as_secs()),
    };
    let process_cpu = process_before.zip(cpu_ticks("/proc/self/stat")).map(|(a, b)| (b - a) as f64 * TICK_MS);
    let server_cpu = backends.finish().await?;
    // Stopping the app closes its connections, whose backends report their statistics.
    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_secs(15), app).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(format!("the app failed: {e}").into()),
        Ok(Err(e)) => return Err(format!("the app panicked: {e}").into()),
        Err(_) => eprintln!("  (the app did not stop within 15 s)"),
    }
    // `run` closed the store; end any backend still there (a pgbench-style idle one would
    // report its last statistics only after 10 idle seconds).
    stats
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            &[&db.name()],
        )
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = commits(&stats, db.name()).await?;

    let latencies = done.latencies;
    let rps = latencies.len() as f64 / done.elapsed.as_secs_f64();
    println!(
        "  measured: {} requests in {:.2} s, {} errors; {drained}",
        latencies.len(),
        done.elapsed.as_secs_f64(),
        done.errors
    );
    let audited: i64 = stats.query_one("SELECT count(*) FROM audit_log", &[]).await?.get(0);
    println!(
        "  server: {:.2} commits per request (warm-up included) in this database (creates, relay drains and its NOTIFYs, audit appends, \
         this bench's outbox polls), {} rollbacks; {audited} audit rows",
        (after.0 - before.0) as f64 / (warmup + measure) as f64,
        after.1 - before.1
    );
    let per = |ms: Option<f64>| ms.map_or_else(|| "n/a".to_owned(), |ms| format!("{:.3} ms", ms / measure as f64));
    println!(
        "  CPU per request: PostgreSQL backends {}, this process {} (of which the load client {})",
        per(server_cpu),
        per(process_cpu),
        per(done.cpu_ms)
    );
    drop(stats);
    drop(db);
    let mut figures = Figures::from_micros(wiring.label(), latencies, done.elapsed, rps);
    figures.server_cpu_ms = server_cpu.map(|ms| ms / measure as f64);
    figures.process_cpu_ms = process_cpu.map(|ms| ms / measure as f64);
    Ok(figures)
}

/// What the load client saw.
struct Load {
    /// Every latency, µs.
    latencies: Vec<u64>,
    elapsed: Duration,
    /// Answers other than 201.
    errors: usize,
    /// CPU time of the client's thread, ms.
    cpu_ms: Option<f64>,
}

async fn join(handle: std::thread::JoinHandle<Result<Load, String>>) -> Result<Load, Error> {
    let joined = tokio::task::spawn_blocking(move || handle.join()).await?;
    match joined {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(e)) => Err(format!("load client: {e}").into()),
        Err(_) => Err("load client panicked".into()),
    }
}

async fn wait_until_up(addr: std::net::SocketAddr) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the app did not start listening within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the relay has published everything: `Ok` with when it saw the outbox empty,
/// `Err` with how many rows were still waiting after `at_most`.
async fn wait_for_empty_outbox(stats: &tokio_postgres::Client, at_most: Duration) -> Result<Result<Instant, i64>, Error> {
    let deadline = Instant::now() + at_most;
    loop {
        let pending: i64 = stats.query_one("SELECT count(*) FROM outbox", &[]).await?.get(0);
        if pending == 0 {
            return Ok(Ok(Instant::now()));
        }
        if Instant::now() > deadline {
            return Ok(Err(pending));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Sends `requests[range]` over `connections` keep-alive connections, each taking the next
/// request as soon as its previous answer is read.
async fn load(
    addr: std::net::SocketAddr,
    requests: Arc<Vec<(String, Bytes)>>,
    range: std::ops::Range<usize>,
    connections: usize,
) -> Result<Load, Error> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        senders.push(sender);
    }
    let cpu_before = cpu_ticks("/proc/thread-self/stat");
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for mut sender in senders {
        let (next, requests, end) = (next.clone(), requests.clone(), range.end);
        workers.spawn(async move {
            let mut latencies = Vec::with_capacity((end - next.load(Ordering::Relaxed)) / connections + 1);
            let mut errors = 0usize;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let (path, body) = &requests[i];
                let request = Request::builder()
                    .method(Method::POST)
                    .uri(path.as_str())
                    .header(hyper::header::HOST, "127.0.0.1")
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(body.clone()))?;
                let sent = Instant::now();
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let answer = response.into_body().collect().await?.to_bytes();
                latencies.push(sent.elapsed().as_micros() as u64);
                if status != StatusCode::CREATED {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("{status} {}", String::from_utf8_lossy(&answer)));
                }
            }
            if let Some(e) = first_error {
                eprintln!("  first error: {e}");
            }
            Ok::<_, Error>((latencies, errors))
        });
    }
    let mut latencies = Vec::with_capacity(range.len());
    let mut errors = 0;
    while let Some(done) = workers.join_next().await {
        let (mut l, e) = done??;
        latencies.append(&mut l);
        errors += e;
    }
    let elapsed = started.elapsed();
    let cpu_ms = cpu_before.zip(cpu_ticks("/proc/thread-self/stat")).map(|(a, b)| (b - a) as f64 * TICK_MS);
    Ok(Load { latencies, elapsed, errors, cpu_ms })
}

// ---------------------------------------------------------------------------------------------
// pgbench

#[derive(Clone, Copy, PartialEq, Eq)]
enum Script {
    /// The adapter's create statement.
    Create,
    /// That, then the audit consumer's insert of the same event.
    CreateAndAudit,
}

impl Script {
    fn label(self) -> &'static str {
        match self {
            Self::Create => "pgbench create",
            Self::CreateAndAudit => "pgbench create + audit",
        }
    }

    /// The pgbench script: the adapter's statements themselves, their parameters replaced by
    /// pgbench variables (which `-M prepared` binds as parameters, as the app's driver does)
    /// or, for the columns a plain task leaves empty, by `NULL`.
    fn text(self) -> String {
        // `$18` first, so that `$1` does not match the start of `$10`-`$18`.
        let create = [
            (18, ":topics"),
            (17, ":payload"),
            (16, "gen_random_uuid()"),
            (15, "now()"),
            (14, "now()"),
            (13, "NULL"),
            (12, "NULL"),
            (11, "NULL"),
            (10, ":offset"),
            (9, "NULL"),
            (8, "NULL"),
            (7, ":tags"),
            (6, ":due"),
            (5, ":prio"),
            (4, "false"),
            (3, ":description"),
            (2, ":title"),
            (1, "('user' || :uid)"),
        ]
        .iter()
        .fold(statements::INSERT_TASK.trim().to_owned(), |sql, (n, with)| sql.replace(&format!("${n}"), with));
        let mut text = format!("\\set uid random(0, 99)\n\\set prio random(1, 4)\n\\set offset 30 * random(1, 4)\n{create};\n");
        if self == Self::CreateAndAudit {
            let audit = [(5, ":payload"), (4, "now()"), (3, "'task.created'"), (2, "('user' || :uid)"), (1, "gen_random_uuid()")]
                .iter()
                .fold(statements::APPEND_AUDIT.trim().to_owned(), |sql, (n, with)| sql.replace(&format!("${n}"), with));
            text.push_str(&format!("{audit};\n"));
        }
        text
    }
}

/// The values pgbench binds for the strings of a task creation, fixed for a run (`-D`): a
/// task with a title, a description, a due date and two tags, and its `task.created` event as
/// the app serialises it, which the server parses into `jsonb` per transaction as it does the
/// app's.
fn pgbench_values() -> Result<Vec<(&'static str, String)>, Error> {
    let now = OffsetDateTime::now_utc();
    let due = now.replace_time(time::macros::time!(09:00)) + time::Duration::days(30);
    let patch = TaskPatch {
        title: Some("Pay the electricity bill #48213".to_owned()),
        description: Some(Some("Milk, eggs, bread and coffee; pick up the parcel at the post office on the way back.".to_owned())),
        priority_id: Some(Some(2)),
        due_date: Some(Some(due)),
        tags: Some(vec!["home".to_owned(), "errands".to_owned()]),
        reminder_offset_minutes: Some(60),
        ..TaskPatch::default()
    };
    let task = Task::create(UserId::parse("user7")?, patch, now)?;
    let event = EventStamp::new(TaskEventType::Created, now).event(&task);
    Ok(vec![
        ("title", task.title.clone()),
        ("description", task.description.clone().unwrap_or_default()),
        ("due", due.format(&Rfc3339)?),
        ("tags", "{home,errands}".to_owned()),
        ("topics", "{task-events,task-updates}".to_owned()),
        ("payload", serde_json::to_string(&event)?),
    ])
}

fn pgbench_run(
    runtime: &tokio::runtime::Runtime,
    pg_url: &str,
    pg_bin: &Path,
    settings: &Settings,
    script: Script,
) -> Result<Figures, Error> {
    let db = runtime.block_on(TempDatabase::create(pg_url))?;
    // The adapter's migrations, exactly as the app applies them.
    runtime.block_on(async { PgStore::connect(PgConfig::new(db.url()).with_pool_size(1)).await.map(drop) })?;
    let dir = std::env::temp_dir().join(format!("todo-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let script_path = dir.join("create_task.sql");
    std::fs::File::create(&script_path)?.write_all(script.text().as_bytes())?;
    let c = settings.concurrency;
    let jobs = c.min(2);
    let per_client = settings.requests.div_ceil(c);
    let pgbench = pg_bin.join("pgbench");

    println!("\n== {}: database {} ==", script.label(), db.name());
    let values = pgbench_values()?;
    let base = |per_client: usize| {
        let mut cmd = Command::new(&pgbench);
        cmd.args(["-n", "-M", "prepared", "-f"]).arg(&script_path);
        for (name, value) in &values {
            cmd.arg("-D").arg(format!("{name}={value}"));
        }
        cmd
            .args(["-c", &c.to_string(), "-j", &jobs.to_string(), "-t", &per_client.to_string()])
            .arg(db.url());
        cmd
    };
    println!(
        "  pgbench -n -M prepared -f create_task.sql -D title=… -D payload=… (see the bench) -c {c} -j {jobs} -t {per_client} -l --log-prefix=txn <database URL>"
    );
    if settings.warmup > 0 {
        let out = base(settings.warmup.div_ceil(c)).output()?;
        if !out.status.success() {
            return Err(format!("pgbench warm-up failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        println!("  warm-up: {} transactions", settings.warmup.div_ceil(c) * c);
    }
    std::thread::sleep(Duration::from_secs(2));
    let backends = runtime.block_on(BackendCpu::start(pg_url, db.name(), &["pgbench"]))?;
    let prefix = dir.join("txn");
    let child = base(per_client)
        .arg("-l")
        .arg(format!("--log-prefix={}", prefix.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = child.wait_with_output()?;
    let server_cpu = runtime.block_on(backends.finish())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("pgbench failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let field = |name: &str| -> Option<f64> {
        stdout.lines().find_map(|l| l.trim().strip_prefix(name)).and_then(|rest| {
            rest.trim_start_matches([' ', '=', ':']).split_whitespace().next().and_then(|n| n.parse().ok())
        })
    };
    let tps = field("tps").ok_or_else(|| format!("no tps in pgbench's output:\n{stdout}"))?;
    let latency = field("latency average").unwrap_or(f64::NAN);
    let failed = field("number of failed transactions").unwrap_or(0.0);
    println!("  pgbench says: tps = {tps:.1} (without initial connection time), latency average = {latency:.3} ms, {failed} failed");

    // Per-transaction log lines: client_id transaction_no time_us script_no epoch epoch_us.
    let mut micros = Vec::with_capacity(settings.requests);
    let (mut first, mut last) = (f64::MAX, f64::MIN);
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("txn")) {
            continue;
        }
        for line in std::fs::read_to_string(&path)?.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let (Some(us), Some(s), Some(frac)) = (f.get(2), f.get(4), f.get(5)) {
                if let (Ok(us), Ok(s), Ok(frac)) = (us.parse::<u64>(), s.parse::<f64>(), frac.parse::<f64>()) {
                    micros.push(us);
                    let end = s + frac / 1e6;
                    first = first.min(end - us as f64 / 1e6);
                    last = last.max(end);
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // What the script wrote, warm-up included: one task and two outbox rows per creation.
    let written = runtime.block_on(async {
        let client = connect(db.url()).await?;
        let row = client
            .query_one("SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM outbox), (SELECT count(*) FROM audit_log)", &[])
            .await?;
        Ok::<_, Error>((row.get::<_, i64>(0), row.get::<_, i64>(1), row.get::<_, i64>(2)))
    })?;
    println!("  written: {} tasks, {} outbox rows, {} audit rows", written.0, written.1, written.2);
    drop(db);
    let count = micros.len().max(1) as f64;
    let per = server_cpu.map(|ms| ms / count);
    println!(
        "  CPU per transaction: PostgreSQL backends {}",
        per.map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.3} ms"))
    );
    let elapsed = Duration::from_secs_f64((last - first).max(0.0));
    let mut figures = Figures::from_micros(script.label(), micros, elapsed, tps);
    figures.server_cpu_ms = per;
    Ok(figures)
}
