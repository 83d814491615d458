//! The HTTP runs: the app started on a throwaway database, loaded by the client of [`crate::load`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use todo_adapter_postgres::testing::TempDatabase;
use tokio::net::TcpListener;

use crate::cpu::{BackendCpu, TICK_MS, cpu_ticks};
use crate::db::{commits, connect};
use crate::load::{Client, wait_until_up};
use crate::report::Figures;
use crate::{Error, Settings};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wiring {
    /// `todo_runtime::run` with `ROLES=backend`: the task backend (REST API and outbox relay).
    Backend,
    /// `todo_runtime::run` with every role: the consumers too, in process.
    App,
}

impl Wiring {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Backend => "HTTP backend (ROLES=backend)",
            Self::App => "HTTP all-in-one app",
        }
    }

    /// `ROLES` for `todo_runtime::run`.
    pub(crate) fn roles(self) -> &'static str {
        match self {
            Self::Backend => "backend",
            Self::App => "",
        }
    }
}

/// `todo_runtime::run` on a task of this process, serving a listener until [`RunningApp::stop`].
pub(crate) struct RunningApp(todo_runtime::Background);

impl RunningApp {
    /// Starts the app configured by `vars` (its environment) on `listener`.
    pub(crate) fn start(vars: &[(&str, &str)], listener: TcpListener) -> Result<Self, Error> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        let config = todo_runtime::Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned()))?;
        Ok(Self(todo_runtime::Background::spawn(todo_runtime::Runtime::new(config), listener)?))
    }

    /// Asks the app to stop and waits (15 s at most) for it to finish.
    pub(crate) async fn stop(self) -> Result<(), Error> {
        match tokio::time::timeout(Duration::from_secs(15), self.0.stop()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("the app failed: {e}").into()),
            Err(_) => {
                eprintln!("  (the app did not stop within 15 s)");
                Ok(())
            }
        }
    }
}

/// Runs the app on a throwaway database and loads it; prints what it saw.
pub(crate) async fn http_run(pg_url: &str, settings: &Settings, wiring: Wiring) -> Result<Figures, Error> {
    let db = TempDatabase::create(pg_url).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let pool = settings.pool.to_string();
    let app = RunningApp::start(
        &[
            ("DATABASE_URL", db.url()),
            ("DATABASE_POOL_SIZE", &pool),
            ("SWEEP_INTERVAL_SECS", "0"),
            ("ROLES", wiring.roles()),
        ],
        listener,
    )?;

    println!("\n== {}: POST /api/{{user}}/tasks on http://{addr}, database {} ==", wiring.label(), db.name());
    match wiring {
        Wiring::Backend => {
            println!(
                "  todo_runtime::run, ROLES=backend: REST API, create use case, PostgreSQL store (pool {}) and outbox relay,",
                settings.pool
            );
            println!("  publishing every event to the in-memory bus; the consumers are other services. Sweep off.");
        }
        Wiring::App => {
            println!(
                "  todo_runtime::run, every role: PostgreSQL store (pool {}), in-memory bus and scheduler, sweep off.",
                settings.pool
            );
            println!("  Its outbox relay publishes to the in-memory bus, whose audit consumer writes an audit_log row");
            println!("  per task.created and whose reminder planner reads the task and its plan and records the new");
            println!("  plan (the recurring-task consumer ignores creations): all of it during the run.");
        }
    }

    let client = Client::new(addr, settings)?;
    let stats = connect(db.url()).await?;
    let (warmup, measure) = (settings.warmup, settings.requests);

    wait_until_up(addr).await?;
    // Commits are counted over the warm-up and the measured requests together: an idle
    // backend may hold its statistics for 10 s, so a count between the two would need a wait.
    let before = commits(&stats, db.name()).await?;
    if warmup > 0 {
        let done = client.send(0..warmup).await?;
        println!("  warm-up: {warmup} requests in {:.2} s ({} errors)", done.elapsed.as_secs_f64(), done.errors);
        if let Err(pending) = wait_for_empty_outbox(&stats, Duration::from_secs(60)).await? {
            println!("  warm-up: {pending} outbox rows still waiting after 60 s; measuring anyway");
        }
        if wiring == Wiring::App
            && let Err(left) =
                wait_until_none_left(&stats, CONSUMER_WORK_LEFT, CONSUMER_POLL, Duration::from_secs(60)).await?
        {
            println!("  warm-up: the consumers still have {left} rows to write after 60 s; measuring anyway");
        }
    }
    let backends = BackendCpu::start(pg_url, db.name(), &["todo"]).await?;
    let process_before = cpu_ticks("/proc/self/stat");

    let done = client.send(warmup..warmup + measure).await?;
    let last_response = Instant::now();
    let at_most = Duration::from_secs(60);
    let drained = match wait_for_empty_outbox(&stats, at_most).await? {
        Ok(empty) => {
            format!("outbox empty {:.0} ms after the last response", (empty - last_response).as_secs_f64() * 1000.0)
        }
        Err(pending) => {
            format!("outbox NOT empty {} s after the last response: {pending} rows waiting", at_most.as_secs())
        }
    };
    // The all-in-one app's run ends when its consumers have caught up too: its throughput is
    // then tasks created with all their consumer work done, as pgbench's for the same work.
    let mut elapsed = done.elapsed;
    let caught_up = if wiring == Wiring::App {
        match wait_until_none_left(&stats, CONSUMER_WORK_LEFT, CONSUMER_POLL, at_most).await? {
            Ok(at) => {
                let behind = at.saturating_duration_since(last_response);
                elapsed += behind;
                format!("; consumers caught up {:.0} ms after the last response", behind.as_secs_f64() * 1000.0)
            }
            Err(left) => format!(
                "; consumers NOT caught up {} s after the last response: {left} rows to write",
                at_most.as_secs()
            ),
        }
    } else {
        String::new()
    };
    let process_cpu = process_before.zip(cpu_ticks("/proc/self/stat")).map(|(a, b)| (b - a) as f64 * TICK_MS);
    let server_cpu = backends.finish().await?;
    // Stopping the app closes its connections, whose backends report their statistics.
    app.stop().await?;
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
    let rps = latencies.len() as f64 / elapsed.as_secs_f64();
    println!(
        "  measured: {} requests in {:.2} s, {} errors; {drained}{caught_up}",
        latencies.len(),
        done.elapsed.as_secs_f64(),
        done.errors
    );
    let written =
        stats.query_one("SELECT (SELECT count(*) FROM audit_log), (SELECT count(*) FROM reminder_jobs)", &[]).await?;
    let (audited, planned): (i64, i64) = (written.get(0), written.get(1));
    println!(
        "  server: {:.2} commits per request (warm-up included) in this database (creates, relay drains and its NOTIFYs, audit appends, \
         reminder plans, this bench's outbox polls), {} rollbacks; {audited} audit rows, {planned} planned reminder jobs",
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
    let mut figures = Figures::from_micros(wiring.label(), latencies, elapsed, rps);
    figures.server_cpu_ms = server_cpu.map(|ms| ms / measure as f64);
    figures.process_cpu_ms = process_cpu.map(|ms| ms / measure as f64);
    Ok(figures)
}

/// Waits until the relay has published everything: `Ok` with when it saw the outbox empty,
/// `Err` with how many rows were still waiting after `at_most`.
pub(crate) async fn wait_for_empty_outbox(
    stats: &tokio_postgres::Client,
    at_most: Duration,
) -> Result<Result<Instant, i64>, Error> {
    wait_until_none_left(stats, "SELECT count(*) FROM outbox", Duration::from_millis(5), at_most).await
}

/// What the all-in-one app's consumers have still to write for the tasks created so far: an
/// audit row per task (each was created once), a planned job per task with a due date.
const CONSUMER_WORK_LEFT: &str = "SELECT (SELECT count(*) FROM tasks) - (SELECT count(*) FROM audit_log) \
     + (SELECT count(*) FROM tasks WHERE due_date IS NOT NULL) - (SELECT count(*) FROM reminder_jobs)";

/// How often the bench counts [`CONSUMER_WORK_LEFT`]: its four counts scan whole tables, so
/// not so often that the bench's own queries weigh in the server's CPU per task.
const CONSUMER_POLL: Duration = Duration::from_millis(50);

/// Waits until the count `pending` selects is zero, asking every `every`: `Ok` with when it
/// was, `Err` with the count after `at_most`.
async fn wait_until_none_left(
    stats: &tokio_postgres::Client,
    pending: &str,
    every: Duration,
    at_most: Duration,
) -> Result<Result<Instant, i64>, Error> {
    let deadline = Instant::now() + at_most;
    loop {
        let pending: i64 = stats.query_one(pending, &[]).await?.get(0);
        if pending == 0 {
            return Ok(Ok(Instant::now()));
        }
        if Instant::now() > deadline {
            return Ok(Err(pending));
        }
        tokio::time::sleep(every).await;
    }
}
