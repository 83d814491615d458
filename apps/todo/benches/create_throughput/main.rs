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
//! `backend,pgbench,app,pgbench-app,deployed` (all by default).
//!
//! The runs, one after the other, each on a throwaway database of the same server:
//! - `backend`: the task backend of the microservice split, `todo_runtime::run` with `ROLES=backend`:
//!   REST API, create use case, PostgreSQL store and the outbox relay, which publishes every
//!   event to the (in-memory) bus; the consumers are other services. C keep-alive HTTP/1.1
//!   connections each send `POST /api/{user}/tasks` back to back until N requests are done;
//!   every latency is recorded.
//! - `app`: the all-in-one app (`todo_runtime::run`, every role): the same plus, in process, the
//!   consumers: the audit consumer writing one `audit_log` row per `task.created` to the same
//!   server, and the reminder planner reading the task and its planned job and recording the
//!   new plan (for the three tasks in four that the load client gives a due date).
//! - `pgbench`: `pgbench -M prepared -c C -j 2 -t N/C` runs, per transaction, the adapter's
//!   create statement itself (`todo_adapter_postgres::testing::statements::INSERT_TASK`: one task row
//!   and its two outbox rows), its parameters bound from pgbench variables, with a
//!   per-transaction log for percentiles.
//! - `pgbench-app`: the same plus, each as a transaction of its own as the app runs them, the
//!   adapter's audit append (`APPEND_AUDIT`) and the planner's statements (`GET_TASK`,
//!   `PLANNED`, and `SET_PLANNED` in three transactions in four): the server work the `app` run
//!   asks for per task, without the app, but for the relay's drains (the app deletes the
//!   outbox rows it has published; pgbench leaves them).
//! - `deployed`: the task backend as deployed: `todo_runtime::run` as the backend, with its own real
//!   `daprd` sidecar publishing every event to Kafka (the local stack's broker and Dapr
//!   Scheduler). Prints creates/s, the outbox's lag (rows waiting during the run, and how long
//!   it took to empty) and CPU per create of the app, its `daprd`, the Kafka broker, the Dapr
//!   Scheduler and PostgreSQL ([`deployed`]).
//!
//! `backend` and `pgbench` alternate for `BENCH_ROUNDS` rounds, first on shared cores (every
//! process may run anywhere), then on split cores (PostgreSQL on core 0, this process or
//! pgbench on the others, set with `taskset`, as with the database on a host of its own);
//! `app` and `pgbench-app` run once, after them, on shared cores. Sweep is off in every HTTP
//! run.
//!
//! Beside latencies it reports, per transaction, the CPU time of the PostgreSQL backends
//! serving the run (read from /proc, sampled every 25 ms) and of this process: on a small
//! machine app, client and server share the cores, so CPU per task explains the throughput.
//! It never asserts timings: it prints figures.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

mod cores;
mod cpu;
mod db;
mod deployed;
mod http;
mod load;
mod pgbench;
mod report;

use std::process::ExitCode;

use todo_contract_tests::stack::{Stack, env_file};

use crate::cores::{CoreSplit, Cores};
use crate::db::server_facts;
use crate::http::{Wiring, http_run};
use crate::pgbench::{Script, pgbench_run};
use crate::report::{Figures, HEADER, median};

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

fn setting(key: &str, default: usize) -> Result<usize, Error> {
    match std::env::var(key) {
        Ok(raw) if !raw.trim().is_empty() => {
            raw.trim().parse().map_err(|_| format!("{key}={raw} is not a whole number").into())
        }
        _ => Ok(default),
    }
}

/// The load every HTTP run gets.
pub(crate) struct Settings {
    /// Keep-alive connections sending at once.
    pub(crate) concurrency: usize,
    /// Requests measured.
    pub(crate) requests: usize,
    /// Requests sent before measuring.
    pub(crate) warmup: usize,
    /// Distinct users the requests spread over.
    pub(crate) users: usize,
    /// The app's PostgreSQL pool size.
    pub(crate) pool: usize,
}

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
    let stack = Stack::load().map_err(|e| {
        format!("the local stack is not up ({}: {e}); start it with `infra/local/stack up`", path.display())
    })?;
    let get = |key: &str| {
        stack
            .try_get(key)
            .map(str::to_owned)
            .ok_or_else(|| format!("{} has no {key}; rerun infra/local/stack up", path.display()))
    };
    let pg_url = get("TODO_STACK_PG_URL")?;
    let pg_bin = std::path::PathBuf::from(get("TODO_STACK_PG_BIN")?);
    let concurrency = setting("BENCH_CONCURRENCY", 8)?.max(1);
    let settings = Settings {
        concurrency,
        requests: setting("BENCH_REQUESTS", 20_000)?.max(1),
        warmup: setting("BENCH_WARMUP", 1_000)?,
        users: setting("BENCH_USERS", 100)?.max(1),
        pool: setting("BENCH_POOL", concurrency)?.max(1),
    };
    let rounds = setting("BENCH_ROUNDS", 7)?.max(1);
    let runs = std::env::var("BENCH_RUNS").unwrap_or_else(|_| "backend,pgbench,app,pgbench-app,deployed".into());
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
    let rounds_wanted = wanted("backend") || wanted("pgbench");
    for cores in Cores::wanted()?.into_iter().filter(|_| rounds_wanted) {
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
    if wanted("pgbench-app") {
        results.push(pgbench_run(&runtime, &pg_url, &pg_bin, &settings, Script::CreateAuditAndPlan)?);
    }
    let deployed = if wanted("deployed") { Some(runtime.block_on(deployed::run(&pg_url, &settings))?) } else { None };

    println!("\n{:<58}{:-^37} {:-^17}\n{HEADER}", "", " latency, ms ", " CPU ms per txn ");
    for figures in &results {
        println!("{}", figures.row());
    }
    let median_of = |label: &str, cores: Cores, pick: fn(&Figures) -> f64| {
        median(results.iter().filter(|f| f.label == label && f.cores == cores).map(pick).collect())
    };
    let (backend, pgbench, app, both) =
        (Wiring::Backend.label(), Script::Create.label(), Wiring::App.label(), Script::CreateAuditAndPlan.label());
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
    if let Some(deployed) = deployed {
        deployed.summary();
    }
    Ok(())
}
