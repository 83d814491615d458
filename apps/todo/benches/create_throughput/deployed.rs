//! The `deployed` run: the task backend with its own `daprd` sidecar, publishing through Dapr
//! to the local stack's Kafka, as it runs in the microservice deployment.
//!
//! The load is the HTTP runs' (same bodies, same client). CPU is counted from the first measured
//! request until the outbox is empty again, so that every publish of the measured creates is in
//! it: this process minus the load client (the app), `daprd`, the Kafka broker, the Dapr
//! Scheduler and the PostgreSQL backends serving the app.

use std::sync::Arc;
use std::time::{Duration, Instant};

use todo_adapter_postgres::testing::TempDatabase;
use todo_contract_tests::dapr_harness::{Sidecar, SidecarSpec, dapr_run, free_port};
use todo_contract_tests::stack::Stack;
use tokio::net::TcpListener;

use crate::cpu::{BackendCpu, TICK_MS, cpu_ticks};
use crate::db::connect;
use crate::http::{RunningApp, Wiring, wait_for_empty_outbox};
use crate::load::{Client, wait_until_up};
use crate::report::Figures;
use crate::{Error, Settings};

/// What the deployed run measured beside latencies.
pub(crate) struct Deployed {
    /// Latencies and throughput.
    pub(crate) figures: Figures,
    /// Most outbox rows waiting at one sample (every 100 ms) during the measured requests.
    pub(crate) max_pending: i64,
    /// Rows waiting when the last response came.
    pub(crate) pending_at_end: i64,
    /// From the last response until the outbox was empty, or `None` if it did not empty in time.
    pub(crate) drained_after: Option<Duration>,
    /// CPU ms per measured create, by process.
    pub(crate) cpu_per_create: Vec<(&'static str, Option<f64>)>,
}

impl Deployed {
    /// Prints the run's summary lines.
    pub(crate) fn summary(&self) {
        let f = &self.figures;
        println!(
            "\ndeployed (backend + its daprd -> Kafka): {:.0} creates/s, p50 {:.2} ms, p99 {:.2} ms",
            f.tps, f.p50_ms, f.p99_ms
        );
        let drained = self.drained_after.map_or_else(
            || "did NOT empty within 120 s".to_owned(),
            |d| format!("emptied {:.0} ms after the last response", d.as_secs_f64() * 1000.0),
        );
        println!(
            "  outbox lag: at most {} rows waiting during the run, {} at the last response; {drained}",
            self.max_pending, self.pending_at_end
        );
        let cpu: Vec<String> = self
            .cpu_per_create
            .iter()
            .map(|(who, ms)| format!("{who} {}", ms.map_or_else(|| "n/a".to_owned(), |ms| format!("{ms:.3}"))))
            .collect();
        println!("  CPU ms per create: {}", cpu.join(", "));
    }
}

/// CPU ticks of a stack process whose pid file is `$TODO_STACK_RUN/pids/{name}.pid`.
fn stack_pid(stack: &Stack, name: &str) -> Option<u32> {
    let run = stack.try_get("TODO_STACK_RUN").unwrap_or("/tmp/todo-stack");
    let text = std::fs::read_to_string(format!("{run}/pids/{name}.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

fn ticks_of(pid: Option<u32>) -> Option<u64> {
    cpu_ticks(&format!("/proc/{}/stat", pid?))
}

/// Runs the backend with a real sidecar on a throwaway database and loads it.
pub(crate) async fn run(pg_url: &str, settings: &Settings) -> Result<Deployed, Error> {
    let Some(run) = dapr_run("create_throughput deployed") else {
        return Err("the local stack is not up".into());
    };
    let stack = &run.stack;
    let db = TempDatabase::create(pg_url).await?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let dapr_port = free_port();
    let (pool, port, prefix) = (settings.pool.to_string(), dapr_port.to_string(), run.topic_prefix());
    let app = RunningApp::start(
        &[
            ("DATABASE_URL", db.url()),
            ("DATABASE_POOL_SIZE", &pool),
            ("DAPR_HTTP_PORT", &port),
            ("TOPIC_PREFIX", &prefix),
            ("SWEEP_INTERVAL_SECS", "0"),
            ("ROLES", Wiring::Backend.roles()),
        ],
        listener,
    )?;
    let spec = SidecarSpec {
        app_port: Some(addr.port()),
        http_port: dapr_port,
        ..SidecarSpec::new(run.app_id("bench-backend"))
    };
    let sidecar = Sidecar::start(run, spec).await;
    let daprd = sidecar.daprd_pid();
    let (kafka, scheduler) = (stack_pid(stack, "kafka"), stack_pid(stack, "scheduler"));

    println!(
        "\n== deployed: the backend (ROLES=backend) on http://{addr} with daprd {} (pid {daprd:?}), database {} ==",
        sidecar.app_id,
        db.name()
    );
    println!(
        "  events go outbox -> relay -> daprd (http {dapr_port}) -> Kafka topics {prefix}task-events, {prefix}task-updates"
    );

    let client = Client::new(addr, settings)?;
    let stats = Arc::new(connect(db.url()).await?);
    let pending = |stats: Arc<tokio_postgres::Client>| async move {
        Ok::<i64, Error>(stats.query_one("SELECT count(*) FROM outbox", &[]).await?.get(0))
    };

    wait_until_up(addr).await?;
    if settings.warmup > 0 {
        let done = client.send(0..settings.warmup).await?;
        println!(
            "  warm-up: {} requests in {:.2} s ({} errors)",
            settings.warmup,
            done.elapsed.as_secs_f64(),
            done.errors
        );
        if wait_for_empty_outbox(&stats, Duration::from_secs(120)).await?.is_err() {
            println!("  warm-up: the outbox did not empty within 120 s; measuring anyway");
        }
    }

    let backends = BackendCpu::start(pg_url, db.name(), &["todo"]).await?;
    let before = [cpu_ticks("/proc/self/stat"), ticks_of(daprd), ticks_of(kafka), ticks_of(scheduler)];
    let sampling = {
        let stats = stats.clone();
        let (stop_sampling, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let mut max = 0i64;
            while !*stopped.borrow() {
                max = max.max(pending(stats.clone()).await.unwrap_or(0));
                let _ = tokio::time::timeout(Duration::from_millis(100), stopped.changed()).await;
            }
            max
        });
        (stop_sampling, task)
    };
    let done = client.send(settings.warmup..settings.warmup + settings.requests).await?;
    let last_response = Instant::now();
    let pending_at_end = pending(stats.clone()).await?;
    let _ = sampling.0.send(true);
    let max_pending = sampling.1.await?.max(pending_at_end);
    let emptied = wait_for_empty_outbox(&stats, Duration::from_secs(120)).await?.ok();
    let after = [cpu_ticks("/proc/self/stat"), ticks_of(daprd), ticks_of(kafka), ticks_of(scheduler)];
    let server_cpu = backends.finish().await?;

    let measured = settings.requests as f64;
    let delta = |i: usize| before[i].zip(after[i]).map(|(a, b)| (b - a) as f64 * TICK_MS);
    let app_cpu = delta(0).map(|ms| ms - done.cpu_ms.unwrap_or(0.0));
    let per = |ms: Option<f64>| ms.map(|ms| ms / measured);
    let cpu_per_create = vec![
        ("app", per(app_cpu)),
        ("daprd", per(delta(1))),
        ("kafka", per(delta(2))),
        ("scheduler", per(delta(3))),
        ("postgres", per(server_cpu)),
    ];
    println!(
        "  measured: {} requests in {:.2} s, {} errors",
        done.latencies.len(),
        done.elapsed.as_secs_f64(),
        done.errors
    );

    app.stop().await?;
    drop(sidecar);
    drop(stats);
    drop(db);
    let rps = done.latencies.len() as f64 / done.elapsed.as_secs_f64();
    let mut figures = Figures::from_micros("deployed backend + daprd", done.latencies, done.elapsed, rps);
    figures.server_cpu_ms = per(server_cpu);
    figures.process_cpu_ms = per(app_cpu);
    let deployed = Deployed {
        figures,
        max_pending,
        pending_at_end,
        drained_after: emptied.map(|t| t.saturating_duration_since(last_response)),
        cpu_per_create,
    };
    deployed.summary();
    Ok(deployed)
}
