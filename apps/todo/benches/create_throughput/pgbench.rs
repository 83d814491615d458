//! The anchor: `pgbench` running the adapter's own create statement (and, for the all-in-one
//! app, its audit append and reminder plan) on the same server.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use todo_adapter_postgres::testing::TempDatabase;
use todo_adapter_postgres::testing::statements;
use todo_adapter_postgres::{PgConfig, PgStore};
use todo_ports::model::{Task, TaskEvent, TaskEventType, TaskId, TaskPatch, TraceParent, UserId};

use crate::cpu::BackendCpu;
use crate::db::connect;
use crate::report::Figures;
use crate::{Error, Settings};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Script {
    /// The adapter's create statement.
    Create,
    /// That, then what the all-in-one app's consumers ask of the server per created task: the
    /// audit consumer's insert of the event, and the reminder planner's reads of the task and of
    /// its planned job and its write of the new plan.
    CreateAuditAndPlan,
}

impl Script {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Create => "pgbench create",
            Self::CreateAuditAndPlan => "pgbench create + audit + plan",
        }
    }

    /// The pgbench script: the adapter's statements themselves, their parameters replaced by
    /// pgbench variables (which `-M prepared` binds as parameters, as the app's driver does)
    /// or, for the columns a plain task leaves empty, by `NULL`.
    pub(crate) fn text(self) -> String {
        // From `$22` down to `$1`. The id is the sequence's next value, which the app reserves
        // 32 at a time; the trace is one per request, as the app's.
        let user = "('user' || :uid)";
        let create = bind(
            statements::INSERT_TASK,
            &[
                ":trace",
                ":topics",
                ":payload",
                "gen_random_uuid()",
                ":search",
                "now()",
                "now()",
                "0",
                "NULL",
                "NULL",
                "NULL",
                ":offset",
                "NULL",
                "NULL",
                ":tags",
                ":due",
                ":prio",
                "false",
                ":description",
                ":title",
                user,
                "nextval(pg_get_serial_sequence('tasks', 'id'))",
            ],
        );
        let mut text = "\\set uid random(0, 99)\n\\set prio random(1, 4)\n\\set offset 30 * random(1, 4)\n".to_owned();
        if self == Self::Create {
            text.push_str(&format!("{create};\n"));
            return text;
        }
        // The new task's id, for the planner's statements (`\gset` ends the query in place of `;`).
        text.push_str(&format!("{create} \\gset\n"));
        let audit = bind(statements::APPEND_AUDIT, &[":payload", "now()", "'task.created'", user, "gen_random_uuid()"]);
        let task = bind(&statements::GET_TASK, &[user, ":id"]);
        let planned = bind(statements::PLANNED, &[":id"]);
        let plan = bind(statements::SET_PLANNED, &[":fire", ":due", user, ":id"]);
        for statement in [audit, task, planned] {
            text.push_str(&format!("{statement};\n"));
        }
        // The load client gives three tasks in four a due date, and only those get a plan.
        text.push_str(&format!("\\set dated random(0, 3)\n\\if :dated > 0\n{plan};\n\\endif\n"));
        text
    }
}

/// `sql` with `$n` replaced by `with[len - n]`: the values are given last parameter first, so
/// that `$1` is replaced after `$10`-`$19`, whose text it starts.
fn bind(sql: &str, with: &[&str]) -> String {
    with.iter()
        .enumerate()
        .fold(sql.trim().to_owned(), |sql, (i, value)| sql.replace(&format!("${}", with.len() - i), value))
}

/// The values pgbench binds for the strings of a task creation, fixed for a run (`-D`): a
/// task with a title, a description, a due date and two tags, and its `task.created` event as
/// the app serialises it, which the server parses into `jsonb` per transaction as it does the
/// app's.
pub(crate) fn pgbench_values() -> Result<Vec<(&'static str, String)>, Error> {
    let now = OffsetDateTime::now_utc();
    let due = now.replace_time(time::macros::time!(09:00)) + time::Duration::days(30);
    let patch = TaskPatch {
        title: Some("Pay the electricity bill #48213".to_owned()),
        description: Some(Some(
            "Milk, eggs, bread and coffee; pick up the parcel at the post office on the way back.".to_owned(),
        )),
        priority_id: Some(Some(2)),
        due_date: Some(Some(due)),
        tags: Some(vec!["home".to_owned(), "errands".to_owned()]),
        reminder_offset_minutes: Some(60),
        ..TaskPatch::default()
    };
    let task = Task::create(UserId::parse("user7")?, patch, now)?.with_id(TaskId(48_213));
    let event = TaskEvent::new(TaskEventType::Created, task.clone(), now);
    Ok(vec![
        ("title", task.title.clone()),
        ("search", task.search_text()),
        ("description", task.description.clone().unwrap_or_default()),
        ("due", due.format(&Rfc3339)?),
        ("fire", (due - time::Duration::minutes(60)).format(&Rfc3339)?),
        ("tags", "{home,errands}".to_owned()),
        ("topics", "{task-events,task-updates}".to_owned()),
        ("trace", TraceParent::root().as_str().to_owned()),
        ("payload", serde_json::to_string(&event)?),
    ])
}

pub(crate) fn pgbench_run(
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
        cmd.args(["-c", &c.to_string(), "-j", &jobs.to_string(), "-t", &per_client.to_string()]).arg(db.url());
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
    println!(
        "  pgbench says: tps = {tps:.1} (without initial connection time), latency average = {latency:.3} ms, {failed} failed"
    );

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
            if let (Some(us), Some(s), Some(frac)) = (f.get(2), f.get(4), f.get(5))
                && let (Ok(us), Ok(s), Ok(frac)) = (us.parse::<u64>(), s.parse::<f64>(), frac.parse::<f64>())
            {
                micros.push(us);
                let end = s + frac / 1e6;
                first = first.min(end - us as f64 / 1e6);
                last = last.max(end);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // What the script wrote, warm-up included: one task and two outbox rows per creation.
    let written = runtime.block_on(async {
        let client = connect(db.url()).await?;
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM outbox), (SELECT count(*) FROM audit_log), \
                 (SELECT count(*) FROM reminder_jobs)",
                &[],
            )
            .await?;
        Ok::<_, Error>([0, 1, 2, 3].map(|i| row.get::<_, i64>(i)))
    })?;
    println!(
        "  written: {} tasks, {} outbox rows, {} audit rows, {} planned reminder jobs",
        written[0], written[1], written[2], written[3]
    );
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
