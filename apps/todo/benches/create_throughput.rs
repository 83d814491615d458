//! Task-creation throughput and latency through the HTTP API on PostgreSQL, beside `pgbench`
//! running the same inserts per transaction on the same server; prints both and their ratio.
//!
//! `cargo bench -p todo --bench create_throughput` (needs `infra/local/stack up`). Settings,
//! all optional: `BENCH_CONCURRENCY` (8), `BENCH_REQUESTS` (20000), `BENCH_WARMUP` (1000),
//! `BENCH_USERS` (100), `BENCH_SKIP_PGBENCH=1`, `BENCH_SKIP_HTTP=1`.
//!
//! What runs:
//! 1. the whole app (`todo::run`) in this process on a throwaway database, PostgreSQL store,
//!    in-memory bus and scheduler, sweep off, pool size = concurrency. Its outbox relay and
//!    the audit consumer (which writes one `audit_log` row per `task.created`) run as in
//!    production and use the same server: that load is part of the figure;
//! 2. C keep-alive HTTP/1.1 connections each send `POST /api/{user}/tasks` back to back until
//!    N requests are done; every latency is recorded;
//! 3. `pgbench -M prepared -c C -j 2 -t N/C` on a second throwaway database with the same
//!    migrations runs, per transaction, the statement the adapter runs for a task creation
//!    (one task row and its two outbox rows, with the event's JSON payload), with a
//!    per-transaction log for percentiles.
//!
//! It never asserts timings: it prints figures.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use todo_adapter_postgres::PgStore;
use todo_adapter_postgres::testing::TempDatabase;
use tokio::net::{TcpListener, TcpStream};

type Error = Box<dyn std::error::Error + Send + Sync>;

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

fn flag(key: &str) -> bool {
    std::env::var(key).is_ok_and(|v| v == "1")
}

struct Settings {
    concurrency: usize,
    requests: usize,
    warmup: usize,
    users: usize,
}

/// Latency summary of one run.
struct Figures {
    label: &'static str,
    transactions: usize,
    elapsed: Duration,
    tps: f64,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
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
            transactions: micros.len(),
            elapsed,
            tps,
            mean_ms,
            p50_ms: pick(0.50),
            p90_ms: pick(0.90),
            p99_ms: pick(0.99),
            max_ms: pick(1.0),
        }
    }

    fn row(&self) -> String {
        format!(
            "{:<26} {:>7} {:>8.2} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            self.label,
            self.transactions,
            self.elapsed.as_secs_f64(),
            self.tps,
            self.mean_ms,
            self.p50_ms,
            self.p90_ms,
            self.p99_ms,
            self.max_ms
        )
    }
}

const HEADER: &str = "run                        txns      secs   tps/rps  mean ms   p50 ms   p90 ms   p99 ms   max ms";

fn main() -> ExitCode {
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
    let settings = Settings {
        concurrency: setting("BENCH_CONCURRENCY", 8)?.max(1),
        requests: setting("BENCH_REQUESTS", 20_000)?.max(1),
        warmup: setting("BENCH_WARMUP", 1_000)?,
        users: setting("BENCH_USERS", 100)?.max(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let server = runtime.block_on(server_facts(&pg_url))?;

    println!("create_throughput: task creation through the HTTP API vs pgbench, same PostgreSQL server");
    println!(
        "  server: {server}\n  machine: {} cores; app, client and PostgreSQL share them\n  \
         concurrency {} | requests {} (+{} warm-up) | users {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        settings.concurrency,
        settings.requests,
        settings.warmup,
        settings.users
    );

    let http = if flag("BENCH_SKIP_HTTP") { None } else { Some(runtime.block_on(http_run(&pg_url, &settings))?) };
    let pgbench = if flag("BENCH_SKIP_PGBENCH") {
        None
    } else {
        Some(pgbench_run(&runtime, &pg_url, &pg_bin, &settings)?)
    };

    println!("\n{HEADER}");
    for figures in [&http, &pgbench].into_iter().flatten() {
        println!("{}", figures.row());
    }
    if let (Some(http), Some(pgbench)) = (&http, &pgbench) {
        let ratio = http.tps / pgbench.tps;
        println!(
            "\nratio http_tps / pgbench_tps = {:.0} / {:.0} = {ratio:.2}  (target 0.80: {})",
            http.tps,
            pgbench.tps,
            if ratio >= 0.8 { "met" } else { "NOT met" }
        );
        println!(
            "p50 {:.2} ms vs {:.2} ms, p99 {:.2} ms vs {:.2} ms (HTTP vs pgbench)",
            http.p50_ms, pgbench.p50_ms, http.p99_ms, pgbench.p99_ms
        );
    }
    Ok(())
}

/// One line about the server: version and the durability settings (which stay as they are).
async fn server_facts(url: &str) -> Result<String, Error> {
    let client = connect(url).await?;
    let mut facts = Vec::new();
    let version: String = client.query_one("SHOW server_version", &[]).await?.get(0);
    facts.push(format!("PostgreSQL {version}"));
    for name in ["fsync", "synchronous_commit", "wal_sync_method", "commit_delay"] {
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

/// Transactions committed and rolled back in database `name` so far (the statistics lag by up
/// to a second; see [`settle_stats`]).
async fn commits(client: &tokio_postgres::Client, name: &str) -> Result<(i64, i64), Error> {
    let row = client
        .query_one("SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1", &[&name])
        .await?;
    Ok((row.get(0), row.get(1)))
}

/// Backends flush their statistics at most once a second while busy, and an idle one up to
/// 10 s later (PostgreSQL 15); one that exits flushes at once.
async fn settle_stats() {
    tokio::time::sleep(Duration::from_millis(11_000)).await;
}

// ---------------------------------------------------------------------------------------------
// HTTP

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

/// Runs the app on a throwaway database and loads it; prints what it saw.
async fn http_run(pg_url: &str, settings: &Settings) -> Result<Figures, Error> {
    let db = TempDatabase::create(pg_url).await?;
    let c = settings.concurrency;
    let pool = c.to_string();
    let vars: HashMap<&str, &str> =
        HashMap::from([("DATABASE_URL", db.url()), ("DATABASE_POOL_SIZE", pool.as_str()), ("SWEEP_INTERVAL_SECS", "0")]);
    let config = todo::Config::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned()))?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = tokio::spawn(todo::run(config, listener, async {
        let _ = stopped.await;
    }));

    println!("\n== HTTP: POST /api/{{user}}/tasks on http://{addr} ==");
    println!(
        "  app: todo::run, PostgreSQL store on {} (pool {c}), in-memory bus and scheduler, sweep off, no log subscriber;",
        db.name()
    );
    println!("       its outbox relay publishes to the in-memory bus, whose audit consumer writes audit_log rows:");
    println!("       both run during the measurement, on the same server.");

    // The client runs on a runtime of its own (one thread), as a separate program would.
    let today = OffsetDateTime::now_utc().replace_time(time::macros::time!(09:00));
    let requests: Arc<Vec<(String, Bytes)>> = Arc::new(
        (0..settings.warmup + settings.requests)
            .map(|i| request_of(i, settings.users, today).map(|(p, b)| (p, Bytes::from(b))))
            .collect::<Result<_, _>>()?,
    );
    let stats = connect(db.url()).await?;
    let warmup = settings.warmup;
    let measure = settings.requests;
    let client_requests = requests.clone();
    let run_client = move |range: std::ops::Range<usize>| {
        let requests = client_requests.clone();
        std::thread::spawn(move || -> Result<(Vec<u64>, Duration, usize), String> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            rt.block_on(load(addr, requests, range, c)).map_err(|e| e.to_string())
        })
    };

    wait_until_up(addr).await?;
    if warmup > 0 {
        let (_, took, errors) = join(run_client(0..warmup)).await?;
        println!("  warm-up: {warmup} requests in {:.2} s ({errors} errors)", took.as_secs_f64());
        if let Err(pending) = wait_for_empty_outbox(&stats, Duration::from_secs(60)).await? {
            println!("  warm-up: {pending} outbox rows still waiting after 60 s; measuring anyway");
        }
    }
    settle_stats().await;
    let before = commits(&stats, db.name()).await?;

    let (latencies, elapsed, errors) = join(run_client(warmup..warmup + measure)).await?;
    let last_response = Instant::now();
    let at_most = Duration::from_secs(60);
    let drained = match wait_for_empty_outbox(&stats, at_most).await? {
        Ok(empty) => format!("outbox empty {:.0} ms after the last response", (empty - last_response).as_secs_f64() * 1000.0),
        Err(pending) => format!("outbox NOT empty {} s after the last response: {pending} rows waiting", at_most.as_secs()),
    };
    // Stopping the app closes its connections, whose backends flush their statistics.
    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_secs(15), app).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => return Err(format!("the app failed: {e}").into()),
        Ok(Err(e)) => return Err(format!("the app panicked: {e}").into()),
        Err(_) => eprintln!("  (the app did not stop within 15 s)"),
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = commits(&stats, db.name()).await?;

    let rps = latencies.len() as f64 / elapsed.as_secs_f64();
    let audited: i64 = stats.query_one("SELECT count(*) FROM audit_log", &[]).await?.get(0);
    let tasks: i64 = stats.query_one("SELECT count(*) FROM tasks", &[]).await?.get(0);
    println!(
        "  measured: {} requests in {:.2} s, {errors} errors; {drained}",
        latencies.len(),
        elapsed.as_secs_f64(),
    );
    let txns = (after.0 - before.0) as f64;
    println!(
        "  server work: {:.2} commits per request in this database (create + relay drains + audit appends; \
         the stats query's own commits included), {} rollbacks; {tasks} tasks, {audited} audit rows in all",
        txns / measure as f64,
        after.1 - before.1
    );

    drop(stats);
    drop(db);
    Ok(Figures::from_micros("HTTP POST /api/{u}/tasks", latencies, elapsed, rps))
}

async fn join(
    handle: std::thread::JoinHandle<Result<(Vec<u64>, Duration, usize), String>>,
) -> Result<(Vec<u64>, Duration, usize), Error> {
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
/// request as soon as its previous answer is read. Returns every latency (µs), the wall time
/// and how many answers were not 201.
async fn load(
    addr: std::net::SocketAddr,
    requests: Arc<Vec<(String, Bytes)>>,
    range: std::ops::Range<usize>,
    connections: usize,
) -> Result<(Vec<u64>, Duration, usize), Error> {
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
    Ok((latencies, started.elapsed(), errors))
}

// ---------------------------------------------------------------------------------------------
// pgbench

/// One transaction per task creation: the statement `adapters/postgres/src/tasks.rs`
/// (`INSERT_TASK`) runs, with values made up per transaction by the same rules as the HTTP
/// bodies, and the event payload (the `task.created` envelope around the full task, as the
/// app serialises it) built in SQL from the inserted row.
const PGBENCH_SCRIPT: &str = r#"\set r random(0, 1000000000)
\set uid random(0, 99)
\set title random(0, 5)
\set prio random(1, 4)
\set days random(1, 60)
\set offs random(1, 4)
WITH v AS (
    SELECT 'user' || :uid::int AS user_id,
           (ARRAY['Buy groceries for the week', 'Pay the electricity bill', 'Call the bank about the card',
                  'Prepare slides for Monday''s review', 'Book a dentist appointment', 'Water the plants'])[:title::int + 1]
               || ' #' || :r::int AS title,
           CASE WHEN :r::int % 2 = 0 THEN 'Milk, eggs, bread and coffee; pick up the parcel at the post office on the way back.' END
               AS description,
           CASE WHEN :r::int % 4 <> 0 THEN date_trunc('day', now()) + interval '9 hours' + :days::int * interval '1 day' END AS due_date,
           CASE WHEN :r::int % 3 = 0 THEN ARRAY['home', 'errands'] ELSE ARRAY['work'] END AS tags,
           :r::int % 4 <> 0 AND :r::int % 5 = 0 AS recurring,
           gen_random_uuid() AS event_id,
           now() AS at
), t AS (
    INSERT INTO tasks (user_id, title, description, completed, priority_id, due_date, tags,
                       recurrence_frequency, recurrence_interval, reminder_offset_minutes,
                       series_id, series_occurrence, series_anchor_day, revision, created_at, updated_at)
    SELECT user_id, title, description, false, :prio::smallint, due_date, tags,
           CASE WHEN recurring THEN 'weekly' END, CASE WHEN recurring THEN 1 END,
           CASE WHEN due_date IS NULL THEN 60 ELSE 30 * :offs::int END,
           CASE WHEN recurring THEN gen_random_uuid() END, CASE WHEN recurring THEN 0 END,
           CASE WHEN recurring THEN extract(day FROM due_date)::smallint END, 0, at, at
    FROM v
    ON CONFLICT (series_id, series_occurrence) DO NOTHING
    RETURNING *
), o AS (
    INSERT INTO outbox (user_id, topic, kind, event_id, payload)
    SELECT t.user_id, x.topic, 'task', v.event_id,
           jsonb_build_object(
               'event_id', v.event_id, 'event_type', 'task.created', 'timestamp', t.created_at, 'version', 'v1.0',
               'data', jsonb_build_object(
                   'id', t.id, 'user_id', t.user_id, 'title', t.title, 'description', t.description,
                   'completed', t.completed, 'priority_id', t.priority_id, 'due_date', t.due_date, 'tags', t.tags,
                   'recurrence', CASE WHEN t.recurrence_frequency IS NOT NULL THEN
                       jsonb_build_object('frequency', t.recurrence_frequency, 'interval', t.recurrence_interval) END,
                   'reminder_offset_minutes', t.reminder_offset_minutes,
                   'series', CASE WHEN t.series_id IS NOT NULL THEN jsonb_build_object(
                       'id', t.series_id, 'occurrence', t.series_occurrence, 'anchor_day', t.series_anchor_day) END,
                   'revision', t.revision, 'created_at', t.created_at, 'updated_at', t.updated_at))
    FROM t, v, unnest(ARRAY['task-events', 'task-updates']) WITH ORDINALITY AS x(topic, n)
    ORDER BY x.n
)
SELECT id FROM t;
"#;

fn pgbench_run(runtime: &tokio::runtime::Runtime, pg_url: &str, pg_bin: &Path, settings: &Settings) -> Result<Figures, Error> {
    let db = runtime.block_on(TempDatabase::create(pg_url))?;
    // The adapter's migrations, exactly as the app applies them.
    runtime.block_on(async { PgStore::connect(db.config().with_pool_size(1)).await.map(drop) })?;
    let dir = std::env::temp_dir().join(format!("todo-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("create_task.sql");
    std::fs::File::create(&script)?.write_all(PGBENCH_SCRIPT.as_bytes())?;
    let c = settings.concurrency;
    let pgbench = pg_bin.join("pgbench");

    println!("\n== pgbench: the adapter's create statement per transaction, database {} ==", db.name());
    let base = |per_client: usize| {
        let mut cmd = Command::new(&pgbench);
        cmd.args(["-n", "-M", "prepared", "-f"])
            .arg(&script)
            .args(["-c", &c.to_string(), "-j", &c.min(2).to_string(), "-t", &per_client.to_string()])
            .arg(db.url());
        cmd
    };
    let shown = format!(
        "{} -n -M prepared -f {} -c {c} -j {} -t {} -l --log-prefix=… <db url>",
        pgbench.display(),
        script.display(),
        c.min(2),
        settings.requests.div_ceil(c)
    );
    println!("  {shown}");
    if settings.warmup > 0 {
        let out = base(settings.warmup.div_ceil(c)).output()?;
        if !out.status.success() {
            return Err(format!("pgbench warm-up failed: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        println!("  warm-up: {} transactions", settings.warmup.div_ceil(c) * c);
    }
    std::thread::sleep(Duration::from_secs(2));
    let prefix = dir.join("txn");
    let out = base(settings.requests.div_ceil(c)).arg("-l").arg(format!("--log-prefix={}", prefix.display())).output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!("pgbench failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let field = |name: &str| -> Option<f64> {
        stdout.lines().find_map(|l| l.trim().strip_prefix(name)).and_then(|rest| {
            rest.trim_start_matches([' ', '=']).split_whitespace().next().and_then(|n| n.parse().ok())
        })
    };
    let tps = field("tps").ok_or_else(|| format!("no tps in pgbench's output:\n{stdout}"))?;
    let latency = field("latency average").unwrap_or(f64::NAN);
    let failed = field("number of failed transactions:").unwrap_or(0.0);
    println!("  pgbench: tps = {tps:.1} (without initial connection time), latency average = {latency:.3} ms, {failed} failed");

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
    drop(db);
    let elapsed = Duration::from_secs_f64((last - first).max(0.0));
    Ok(Figures::from_micros("pgbench (same statement)", micros, elapsed, tps))
}
