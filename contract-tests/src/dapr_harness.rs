//! Real `daprd` sidecars for the Dapr runs of the suites, against the local stack
//! (`infra/local/stack up`).
//!
//! * One run (one test process) gets a random id `ct…`: its topics are `{run}-task-events`,
//!   `{run}-task-updates`, `{run}-reminders` and their `-dlq` topics (created once, with `$TODO_STACK_SCRIPT topic`),
//!   so runs never see each other's messages.
//! * Each sidecar gets its own app id `{run}-{case}` (hence its own Kafka consumer group,
//!   state key prefix and Scheduler namespace) and free ports on 127.0.0.1.
//! * Sidecars load a copy of the stack's resources in which the Kafka consumer group is
//!   `{appID}` (the committed one is `todo-app-group.{appID}`) and the cron binding is left out,
//!   or, for [`Resources::WithCron`], fires every second. Components with `scopes` (meant for one
//!   production app id, like `kafka-pubsub-fanout`) are left out of the copies.
//! * [`ConsumerGroup`] picks the group of a sidecar: one per app id (the default: replicas share
//!   the events), or one per sidecar (fan-out: every replica gets every event).
//! * A sidecar runs under a tiny shell watchdog that kills it when its stdin closes: when the
//!   [`Sidecar`] is dropped, and also when the test process dies, so no `daprd` outlives a run.
//!   Logs go to `$TMPDIR/todo-contract/{run}/{app-id}.log`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};

use crate::stack::{Stack, stack};

/// What one test process shares between its sidecars.
#[derive(Debug)]
pub struct DaprRun {
    /// The stack's settings.
    pub stack: Stack,
    /// `ct` + 8 hex digits.
    pub run_id: String,
    /// Logs and resource copies of this run.
    pub dir: PathBuf,
}

static RUN: OnceLock<Option<DaprRun>> = OnceLock::new();

/// The run, prepared on first use (resource copies, topics), or `None` (after a loud message)
/// when the stack is not up.
///
/// # Panics
/// When the stack is up but the run cannot be prepared.
pub fn dapr_run(suite: &str) -> Option<&'static DaprRun> {
    // Decide per call whether to skip (so every skipped test says so), prepare once.
    stack(suite)?;
    RUN.get_or_init(|| stack(suite).map(DaprRun::prepare)).as_ref()
}

/// Which copy of the resources a sidecar loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resources {
    /// Pub/sub, state store, resiliency; no cron binding.
    Default,
    /// The same plus `reminder-cron` firing every second.
    WithCron,
}

/// The Kafka consumer group a sidecar joins (the `consumerGroup` of its `kafka-pubsub`).
///
/// daprd expands the templates when it loads the component: `{appID}` is the sidecar's app id,
/// `{uuid}` a new random UUID at every start, `{podName}` the `POD_NAME` environment variable
/// (which the Kubernetes injector sets to the pod's name; without it daprd refuses to start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ConsumerGroup {
    /// `"{appID}"`: every sidecar of one app id joins one group, so the app's replicas share a
    /// topic's events (each is handled by one of them), as every app but the sync service does.
    #[default]
    PerApp,
    /// `"{appID}.{uuid}"` with `initialOffset: "newest"`, like
    /// `infra/dapr/local/kafka-pubsub-fanout.yaml`: each sidecar is a group of its own and gets
    /// every event published once its group holds the partitions.
    PerReplica,
    /// `"{appID}.{podName}"` with `initialOffset: "newest"`, the sidecar started with
    /// `POD_NAME` set to this name: a group per pod, as Kubernetes would run it.
    PerPod(String),
}

impl ConsumerGroup {
    /// The `consumerGroup` value and whether the group starts at the newest offset.
    fn template(&self) -> (&'static str, bool) {
        match self {
            Self::PerApp => ("{appID}", false),
            Self::PerReplica => ("{appID}.{uuid}", true),
            Self::PerPod(_) => ("{appID}.{podName}", true),
        }
    }

    /// The suffix of the resources copy with this group.
    fn dir_suffix(&self) -> &'static str {
        match self {
            Self::PerApp => "",
            Self::PerReplica => "-fanout",
            Self::PerPod(_) => "-pod",
        }
    }
}

impl DaprRun {
    fn prepare(stack: Stack) -> Self {
        let run_id = format!("ct{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let dir = std::env::temp_dir().join("todo-contract").join(&run_id);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let source = PathBuf::from(stack.get("TODO_STACK_DAPR_RESOURCES"));
        for which in [Resources::Default, Resources::WithCron] {
            // The pod name goes into the environment of each sidecar, not into the file.
            for group in [ConsumerGroup::PerApp, ConsumerGroup::PerReplica, ConsumerGroup::PerPod(String::new())] {
                copy_resources(&source, &resources_dir(&dir, which, &group), which, &group);
            }
        }
        let run = Self { stack, run_id, dir };
        for topic in ["task-events", "task-updates", "reminders"] {
            run.create_topic(&format!("{}{topic}", run.topic_prefix()));
            run.create_topic(&format!("{}{topic}-dlq", run.topic_prefix()));
        }
        eprintln!("dapr contract run {} (logs in {})", run.run_id, run.dir.display());
        run
    }

    /// The prefix of this run's topics.
    pub fn topic_prefix(&self) -> String {
        format!("{}-", self.run_id)
    }

    /// An app id for `case` in this run.
    pub fn app_id(&self, case: &str) -> String {
        let case: String = case.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).take(48).collect();
        format!("{}-{case}", self.run_id)
    }

    /// Creates the Kafka topic `name` with 3 partitions, if missing.
    ///
    /// # Panics
    /// When `$TODO_STACK_SCRIPT topic` fails.
    pub fn create_topic(&self, name: &str) {
        let cmd = self.stack.get("TODO_STACK_SCRIPT");
        let out = std::process::Command::new(cmd)
            .arg("topic")
            .arg(name)
            .arg("3")
            .output()
            .unwrap_or_else(|e| panic!("{cmd} {name}: {e}"));
        assert!(
            out.status.success(),
            "{cmd} {name} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Where the resources copy for `which` and `group` lives in the run dir `dir`.
fn resources_dir(dir: &Path, which: Resources, group: &ConsumerGroup) -> PathBuf {
    let cron = match which {
        Resources::Default => "",
        Resources::WithCron => "-cron",
    };
    dir.join(format!("resources{cron}{}", group.dir_suffix()))
}

/// Copies the stack's resource files to `to`, each rewritten by [`rewrite_resource`].
fn copy_resources(from: &Path, to: &Path, which: Resources, group: &ConsumerGroup) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Some(text) = rewrite_resource(&text, which, group) {
            let target = to.join(entry.file_name());
            std::fs::write(&target, text).unwrap_or_else(|e| panic!("{}: {e}", target.display()));
        }
    }
}

/// One resource file as a test sidecar loads it, or `None` to leave it out: the Kafka consumer
/// group (and start offset) of `group`; the cron binding left out, or firing every second with
/// [`Resources::WithCron`]; components scoped to production app ids left out (no test app id is
/// in their scopes, so daprd would skip them anyway).
fn rewrite_resource(text: &str, which: Resources, group: &ConsumerGroup) -> Option<String> {
    if text.lines().any(|line| line.starts_with("scopes:")) {
        return None;
    }
    if text.contains("type: bindings.cron") {
        return (which == Resources::WithCron).then(|| set_metadata(text, "schedule", "\"@every 1s\""));
    }
    if text.contains("type: pubsub.kafka") {
        let (template, newest) = group.template();
        let text = set_metadata(text, "consumerGroup", &format!("\"{template}\""));
        return Some(if newest { set_metadata(&text, "initialOffset", "\"newest\"") } else { text });
    }
    Some(text.to_owned())
}

/// Replaces the `value:` line following `- name: {name}` in a component's metadata list.
fn set_metadata(yaml: &str, name: &str, value: &str) -> String {
    let mut out = Vec::new();
    let mut replace_next = false;
    let mut replaced = false;
    for line in yaml.lines() {
        if replace_next && line.trim_start().starts_with("value:") {
            let indent = &line[..line.len() - line.trim_start().len()];
            out.push(format!("{indent}value: {value}"));
            replace_next = false;
            replaced = true;
            continue;
        }
        if line.trim_start().trim_start_matches("- ").trim() == format!("name: {name}") {
            replace_next = true;
        }
        out.push(line.to_owned());
    }
    assert!(replaced, "no metadata item {name} in:\n{yaml}");
    out.join("\n") + "\n"
}

/// A free TCP port on 127.0.0.1 (free when asked; the sidecar binds it right after).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

/// How to start one sidecar.
#[derive(Debug, Clone)]
pub struct SidecarSpec {
    /// The app id.
    pub app_id: String,
    /// Port of the app on 127.0.0.1, if the sidecar has an app.
    pub app_port: Option<u16>,
    /// Which resources it loads.
    pub resources: Resources,
    /// `DAPR_API_TOKEN` of the sidecar.
    pub api_token: Option<String>,
    /// `APP_API_TOKEN` of the sidecar.
    pub app_api_token: Option<String>,
    /// Its HTTP port (pick with [`free_port`] to build clients before it starts).
    pub http_port: u16,
    /// The Kafka consumer group it joins.
    pub consumer_group: ConsumerGroup,
}

impl SidecarSpec {
    /// A sidecar for `app_id` with default resources, no app, no tokens, a free HTTP port.
    pub fn new(app_id: String) -> Self {
        Self {
            app_id,
            app_port: None,
            resources: Resources::Default,
            api_token: None,
            app_api_token: None,
            http_port: free_port(),
            consumer_group: ConsumerGroup::PerApp,
        }
    }
}

/// A running `daprd` (stopped when dropped).
#[derive(Debug)]
pub struct Sidecar {
    /// Its app id.
    pub app_id: String,
    /// Its HTTP API port on 127.0.0.1.
    pub http_port: u16,
    /// Its log file.
    pub log: PathBuf,
    child: Child,
    stdin: Option<ChildStdin>,
}

const WATCHDOG: &str = r#""$@" </dev/null & pid=$!
trap 'kill -TERM $pid 2>/dev/null' TERM INT HUP
read -r _ignored
kill -TERM $pid 2>/dev/null
wait $pid"#;

impl Sidecar {
    /// Starts a sidecar and waits until it is ready (`/v1.0/healthz` with an app, which also
    /// waits for the app port and the Scheduler; `/v1.0/healthz/outbound` without).
    ///
    /// # Panics
    /// When it cannot start or is not ready within 60 s (with the tail of its log).
    pub async fn start(run: &DaprRun, spec: SidecarSpec) -> Self {
        let path = if spec.app_port.is_some() { "/v1.0/healthz" } else { "/v1.0/healthz/outbound" };
        // The gRPC ports are picked free but bound a moment later by daprd; another process
        // may take one in between (it happens with many sidecars starting at once): try again
        // with other ports.
        let mut attempt = 1;
        loop {
            let mut sidecar = Self::spawn(run, &spec);
            match sidecar.wait_for(path, Duration::from_secs(60)).await {
                Ok(()) => return sidecar,
                Err(NotReady { lost_a_port: true, .. }) if attempt < 3 => {
                    attempt += 1;
                    eprintln!("daprd {}: a port was taken before it bound it; starting again", spec.app_id);
                }
                Err(NotReady { message, .. }) => panic!("{message}"),
            }
        }
    }

    fn spawn(run: &DaprRun, spec: &SidecarSpec) -> Self {
        let daprd = run.stack.get("TODO_STACK_DAPRD");
        let mut args: Vec<String> =
            run.stack.get("TODO_STACK_DAPRD_ARGS").split_whitespace().map(str::to_owned).collect();
        let resources = resources_dir(&run.dir, spec.resources, &spec.consumer_group).display().to_string();
        match args.iter().position(|a| a == "--resources-path") {
            Some(i) if i + 1 < args.len() => args[i + 1] = resources,
            _ => args.extend(["--resources-path".into(), resources]),
        }
        let (grpc, internal) = (free_port(), free_port());
        args.extend([
            "--app-id".into(),
            spec.app_id.clone(),
            "--dapr-http-port".into(),
            spec.http_port.to_string(),
            "--dapr-grpc-port".into(),
            grpc.to_string(),
            "--dapr-internal-grpc-port".into(),
            internal.to_string(),
            "--dapr-graceful-shutdown-seconds".into(),
            "1".into(),
        ]);
        if let Some(port) = spec.app_port {
            args.extend(["--app-port".into(), port.to_string()]);
        }
        let (log, file) = new_log_file(&run.dir, &spec.app_id);
        let file2 = file.try_clone().expect("log file handle");
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(WATCHDOG).arg("daprd-watchdog").arg(daprd).args(&args);
        for pair in run.stack.get("TODO_STACK_DAPRD_ENV").split_whitespace() {
            if let Some((k, v)) = pair.split_once('=') {
                cmd.env(k, v);
            }
        }
        cmd.env_remove("DAPR_API_TOKEN").env_remove("APP_API_TOKEN").env_remove("POD_NAME");
        if let ConsumerGroup::PerPod(pod_name) = &spec.consumer_group {
            cmd.env("POD_NAME", pod_name);
        }
        if let Some(t) = &spec.api_token {
            cmd.env("DAPR_API_TOKEN", t);
        }
        if let Some(t) = &spec.app_api_token {
            cmd.env("APP_API_TOKEN", t);
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::from(file)).stderr(Stdio::from(file2));
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("starting {daprd}: {e}"));
        let stdin = child.stdin.take();
        Self { app_id: spec.app_id.clone(), http_port: spec.http_port, log, child, stdin }
    }

    /// The pid of `daprd` itself (a child of its watchdog shell), for CPU accounting.
    pub fn daprd_pid(&self) -> Option<u32> {
        let watchdog = self.child.id()?;
        let entries = std::fs::read_dir("/proc").ok()?;
        entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok()).find(|&pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let parent =
                stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok());
            parent == Some(watchdog) && stat.contains("(daprd)")
        })
    }

    /// `http://127.0.0.1:{http_port}`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    async fn wait_for(&mut self, path: &str, max: Duration) -> Result<(), NotReady> {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let own_port = format!("127.0.0.1:{}: bind", self.http_port);
                return Err(NotReady {
                    lost_a_port: log.contains("address already in use") && !log.contains(&own_port),
                    message: format!(
                        "daprd {} exited ({status}) before it was ready:\n{}",
                        self.app_id,
                        self.log_tail(40)
                    ),
                });
            }
            if http_status(self.http_port, path).await == Some(204) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(NotReady {
                    lost_a_port: false,
                    message: format!("daprd {} not ready ({path}) after {max:?}:\n{}", self.app_id, self.log_tail(40)),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Why a sidecar did not come up.
struct NotReady {
    /// It exited because a gRPC port it was given had been taken meanwhile.
    lost_a_port: bool,
    message: String,
}

/// A new log file for a sidecar of `app_id` in `dir`: `{app_id}.log`, or `{app_id}-2.log`, ...
/// when replicas of one app (or a restart) already have one.
fn new_log_file(dir: &Path, app_id: &str) -> (PathBuf, std::fs::File) {
    let mut n = 1;
    loop {
        let name = if n == 1 { format!("{app_id}.log") } else { format!("{app_id}-{n}.log") };
        let path = dir.join(name);
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(file) => return (path, file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        // Closing the watchdog's stdin makes it stop daprd.
        drop(self.stdin.take());
    }
}

/// The status of `GET path` on 127.0.0.1:`port`, or `None` when nothing answers.
pub async fn http_status(port: u16, path: &str) -> Option<u16> {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.ok()?;
        let head = String::from_utf8_lossy(&buf);
        head.split_whitespace().nth(1)?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(2), attempt).await.ok().flatten()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn metadata_values_are_replaced_in_place() {
        let yaml = "spec:\n  metadata:\n    - name: brokers\n      value: \"x\"\n    - name: consumerGroup\n      value: \"todo-app-group\"\n";
        let out = set_metadata(yaml, "consumerGroup", "\"{appID}\"");
        assert!(out.contains("      value: \"{appID}\"\n"), "{out}");
        assert!(out.contains("value: \"x\""), "{out}");
    }

    const KAFKA: &str = "kind: Component\nspec:\n  type: pubsub.kafka\n  metadata:\n    - name: consumerGroup\n      value: \"todo-app-group.{appID}\"\n    - name: initialOffset\n      value: \"oldest\"\n";

    #[test]
    fn replicas_of_an_app_share_its_group_by_default() {
        let out = rewrite_resource(KAFKA, Resources::Default, &ConsumerGroup::PerApp).unwrap();
        assert!(out.contains("value: \"{appID}\"\n"), "{out}");
        assert!(out.contains("value: \"oldest\""), "{out}");
    }

    #[test]
    fn fan_out_groups_are_per_sidecar_and_start_at_the_newest_offset() {
        for (group, template) in [
            (ConsumerGroup::PerReplica, "\"{appID}.{uuid}\""),
            (ConsumerGroup::PerPod("sync-0".into()), "\"{appID}.{podName}\""),
        ] {
            let out = rewrite_resource(KAFKA, Resources::Default, &group).unwrap();
            assert!(out.contains(&format!("value: {template}\n")), "{out}");
            assert!(out.contains("value: \"newest\""), "{out}");
        }
    }

    #[test]
    fn scoped_components_and_an_unwanted_cron_are_left_out() {
        let scoped = format!("{KAFKA}scopes:\n  - websocket-sync-service\n");
        assert_eq!(rewrite_resource(&scoped, Resources::Default, &ConsumerGroup::PerApp), None);
        let cron = "spec:\n  type: bindings.cron\n  metadata:\n    - name: schedule\n      value: \"@every 5m\"\n";
        assert_eq!(rewrite_resource(cron, Resources::Default, &ConsumerGroup::PerApp), None);
        let fast = rewrite_resource(cron, Resources::WithCron, &ConsumerGroup::PerApp).unwrap();
        assert!(fast.contains("value: \"@every 1s\""), "{fast}");
    }
}

/// Processes of the stack and its sidecars, as `ss` names them.
const STACK_PROCESSES: [&str; 6] = ["daprd", "scheduler", "java", "postgres", "redis-server", "todo"];

/// Every socket of the stack's processes (and of daprd sidecars) that is not on loopback, as
/// `ss -tunap` prints them; empty when all listeners and connections stay on 127.0.0.1.
///
/// # Panics
/// When `ss` cannot be run.
pub fn sockets_off_loopback() -> Vec<String> {
    let out = std::process::Command::new("ss").args(["-tunapH"]).output().expect("ss (iproute2) runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|line| STACK_PROCESSES.iter().any(|p| line.contains(&format!("((\"{p}\""))))
        .filter(|line| off_loopback(line))
        .map(str::to_owned)
        .collect()
}

/// Whether one `ss -tunapH` line shows a socket listening on every interface or talking to
/// (or from) an address that is not loopback.
fn off_loopback(line: &str) -> bool {
    let host = |addr: &str| -> String {
        let h = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        h.trim_start_matches('[').trim_end_matches(']').trim_start_matches("::ffff:").to_owned()
    };
    let loopback = |h: &str| h.starts_with("127.") || h == "::1";
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (local, peer) = (host(fields.get(4).copied().unwrap_or("")), host(fields.get(5).copied().unwrap_or("")));
    let no_peer = matches!(peer.as_str(), "0.0.0.0" | "*" | "::");
    !loopback(&local) || !(no_peer || loopback(&peer))
}

#[cfg(test)]
mod loopback_tests {
    use super::off_loopback;

    #[test]
    fn flags_wildcard_listeners_and_foreign_peers_only() {
        let ok = [
            r#"tcp LISTEN 0 4096 127.0.0.1:50006 0.0.0.0:* users:(("scheduler",pid=1,fd=11))"#,
            r#"tcp ESTAB 0 0 127.0.0.1:38118 127.0.0.1:52379 users:(("scheduler",pid=1,fd=17))"#,
            r#"tcp LISTEN 0 4096 [::1]:3500 [::]:* users:(("daprd",pid=2,fd=7))"#,
            r#"tcp ESTAB 0 0 [::ffff:127.0.0.1]:59092 [::ffff:127.0.0.1]:4242 users:(("java",pid=3,fd=9))"#,
        ];
        let bad = [
            r#"tcp LISTEN 0 4096 *:43502 *:* users:(("daprd",pid=2,fd=9))"#,
            r#"tcp LISTEN 0 4096 0.0.0.0:58081 0.0.0.0:* users:(("scheduler",pid=1,fd=5))"#,
            r#"tcp ESTAB 0 0 10.0.0.4:40000 10.0.0.5:9092 users:(("daprd",pid=2,fd=12))"#,
            r#"udp UNCONN 0 0 0.0.0.0:5353 0.0.0.0:* users:(("daprd",pid=2,fd=13))"#,
        ];
        for line in ok {
            assert!(!off_loopback(line), "{line}");
        }
        for line in bad {
            assert!(off_loopback(line), "{line}");
        }
    }
}
