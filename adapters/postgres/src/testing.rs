//! Test support (feature `testing`): throwaway databases, so tests run in parallel and leave
//! nothing behind; a throwaway server to stop under a running store; and the adapter's own
//! statements, for benchmarks that run them without the app (pgbench).

/// The statements behind a task creation, an audit append and a reminder plan (the planner's
/// task read, plan read and plan write), as the adapter runs them.
pub mod statements {
    pub use crate::ledgers::APPEND_AUDIT;
    pub use crate::plans::{PLANNED, SET_PLANNED};
    pub use crate::tasks::{GET_TASK, INSERT_TASK};
}

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use todo_ports::RepoError;
use tokio_postgres::error::SqlState;

use crate::PgConfig;
use crate::error::{from_pg, internal};

/// Prefix of every database [`TempDatabase`] creates; followed by the creating process's id.
const PREFIX: &str = "todo_test_";

/// A fresh, empty database, dropped (with its connections) when this value is dropped.
#[derive(Debug)]
pub struct TempDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl TempDatabase {
    /// Creates a database through `admin_url` (a `postgres://` URL of a role that may
    /// CREATE DATABASE). First drops the databases left by test processes that have died.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses.
    pub async fn create(admin_url: &str) -> Result<Self, RepoError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let name = format!(
            "{PREFIX}{pid}_{}_{}",
            NEXT.fetch_add(1, Ordering::Relaxed),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let admin = admin(admin_url).await?;
        drop_orphans(&admin).await;
        // Identifiers cannot be parameters; the name is made of digits, letters and '_' above.
        admin.batch_execute(&format!("CREATE DATABASE \"{name}\"")).await.map_err(from_pg)?;
        let url = with_database(admin_url, &name)?;
        Ok(Self { admin_url: admin_url.to_owned(), name, url })
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A store configuration for this database, with a small pool.
    pub fn config(&self) -> PgConfig {
        PgConfig::new(self.url.clone()).with_pool_size(4)
    }
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop may run inside a runtime (or while unwinding): do the async work on a thread of
        // its own and wait for it.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let admin = admin(&admin_url).await?;
                let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                // FORCE cannot end an autovacuum worker without pg_signal_backend (the local
                // stack grants it); such a worker finishes soon, so try a few times.
                let mut attempt = 1;
                loop {
                    match admin.batch_execute(&drop).await {
                        Err(e) if attempt < 20 && e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                            attempt += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                        }
                        done => break done.map_err(from_pg),
                    }
                }
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

/// A connection through `url` (TLS as its `sslmode` says, as the store would), driven in the
/// background.
async fn admin(url: &str) -> Result<tokio_postgres::Client, RepoError> {
    let (pg, tls) = PgConfig::new(url).prepare().map_err(|e| RepoError::Internal(e.into()))?;
    let (client, connection) = pg.connect(tls).await.map_err(from_pg)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Drops test databases whose creating process is gone (killed before its guards ran).
async fn drop_orphans(admin: &tokio_postgres::Client) {
    let Ok(rows) = admin.query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", &[&PREFIX]).await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name[PREFIX.len()..].split('_').next().unwrap_or_default();
        let alive = pid.parse::<u32>().is_ok_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
        }
    }
}

/// `url` (a `postgres://` URL) naming database `name` instead of its own.
pub fn with_database(url: &str, name: &str) -> Result<String, RepoError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| internal("expected a postgres:// URL"))?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

/// A PostgreSQL server of a test's own, in a temporary directory on a free loopback port,
/// with fsync off; stopped and removed when dropped. Lets a test stop and restart the server
/// without touching the shared stack. Needs root (the server runs as `postgres` through
/// `runuser`). [`ThrowawayServer::with_tls`] turns TLS on.
pub struct ThrowawayServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    tls: bool,
}

impl ThrowawayServer {
    /// Whether a server can be run from PostgreSQL's binaries in `bin` here (root, `runuser`).
    fn can_run(bin: &Path) -> bool {
        let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        let runuser = Command::new("runuser").arg("--help").output().is_ok();
        bin.join("initdb").exists() && root && runuser
    }

    /// `bin` when a server can be run from it here, else why not (for
    /// `todo_contract_tests::stack::or_skip`).
    ///
    /// # Errors
    /// What is missing: root, `runuser` or PostgreSQL's binaries in `bin`.
    pub fn binaries(bin: PathBuf) -> Result<PathBuf, String> {
        if Self::can_run(&bin) {
            Ok(bin)
        } else {
            Err(format!("needs root, runuser and PostgreSQL's binaries ({})", bin.display()))
        }
    }

    fn as_postgres(&self, program: &str, args: &[&str]) -> std::process::Output {
        let program = self.bin.join(program);
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(&program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        assert!(out.status.success(), "{} {args:?}: {}", program.display(), String::from_utf8_lossy(&out.stderr));
        out
    }

    /// Initialises a data directory (not started yet).
    ///
    /// # Panics
    /// When `initdb` fails.
    #[allow(clippy::expect_used)]
    pub fn init(bin: PathBuf) -> Self {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let dir = std::env::temp_dir().join(format!("todo-pg-throwaway-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("server dir");
        let chown = Command::new("chown").args(["postgres:postgres"]).arg(&dir).status().expect("chown");
        assert!(chown.success());
        let server = Self { bin, dir, port, tls: false };
        let data = server.data();
        server
            .as_postgres("initdb", &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]);
        server
    }

    /// This server with TLS on (`ssl=on`) once started, presenting `certificate_pem` (the
    /// server's certificate, then any intermediates) with the private key `key_pem`. The
    /// default `pg_hba.conf` lets clients in with TLS and without.
    ///
    /// # Panics
    /// When the files cannot be written.
    #[allow(clippy::expect_used)]
    pub fn with_tls(mut self, certificate_pem: &str, key_pem: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        for (name, pem) in [("server.crt", certificate_pem), ("server.key", key_pem)] {
            let path = self.dir.join(name);
            std::fs::write(&path, pem).expect("write a TLS file");
            // PostgreSQL refuses a key that others may read.
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            let chown = Command::new("chown").args(["postgres:postgres"]).arg(&path).status().expect("chown");
            assert!(chown.success());
        }
        self.tls = true;
        self
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    /// Starts the server and waits until it accepts connections.
    ///
    /// # Panics
    /// When `pg_ctl start` fails.
    pub fn start(&self) {
        let mut options =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        if self.tls {
            let dir = self.dir.display();
            options.push_str(&format!(" -c ssl=on -c ssl_cert_file={dir}/server.crt -c ssl_key_file={dir}/server.key"));
        }
        let log = self.dir.join("server.log").display().to_string();
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "-t", "60", "start"]);
    }

    /// [`ThrowawayServer::start`]ed, for a test's first start: blocks, so call it in
    /// `tokio::task::block_in_place` on a multi-threaded runtime.
    ///
    /// # Panics
    /// When `pg_ctl start` fails.
    #[must_use]
    pub fn started(self) -> Self {
        self.start();
        self
    }

    /// Stops the server (fast shutdown: open connections are cut).
    ///
    /// # Panics
    /// When `pg_ctl stop` fails.
    pub fn stop(&self) {
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "-t", "60", "stop"]);
    }

    /// The superuser URL of the server's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The port the server listens on (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for ThrowawayServer {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(pg_ctl)
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
        if self.dir.starts_with(std::env::temp_dir()) && self.dir != Path::new("/") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_pointed_at_another_database() {
        let cases = [
            ("postgres://u:p@h:1/todo", "postgres://u:p@h:1/x"),
            ("postgres://u@h/todo?sslmode=disable", "postgres://u@h/x?sslmode=disable"),
            ("postgresql://h:1", "postgresql://h:1/x"),
            ("postgres://h?application_name=a", "postgres://h/x?application_name=a"),
        ];
        for (url, expected) in cases {
            assert_eq!(with_database(url, "x").expect("url"), expected);
        }
    }
}
