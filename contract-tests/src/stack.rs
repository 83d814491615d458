//! The local stack's env file (`infra/local/stack up` writes it): where PostgreSQL, Redis,
//! Kafka, the Dapr Scheduler and the `daprd` binary are; and [`or_skip`], the one rule by which
//! a suite skips for want of infrastructure, or fails under `TODO_REQUIRE_STACK=1`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The stack's run directory: `$TODO_STACK_RUN`, else `/tmp/todo-stack` (its env file, and
/// `dex.env` of `infra/local/dex up`, are there).
pub fn run_dir() -> PathBuf {
    PathBuf::from(std::env::var("TODO_STACK_RUN").unwrap_or_else(|_| "/tmp/todo-stack".into()))
}

/// The env file's path: `$TODO_STACK_ENV`, else `stack.env` in [`run_dir`].
pub fn env_file() -> PathBuf {
    std::env::var("TODO_STACK_ENV").map_or_else(|_| run_dir().join("stack.env"), PathBuf::from)
}

/// The `KEY=value` lines of an env file the stack's scripts write (`#` lines are comments).
///
/// # Errors
/// When the file cannot be read.
pub fn read_env(path: &Path) -> std::io::Result<HashMap<String, String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

/// What `suite` needs, or `None` after saying loudly why it is skipped: `Err(why)` says what
/// is missing and what installs it.
///
/// # Panics
/// On `Err` when `TODO_REQUIRE_STACK=1`: under the test command no suite may skip.
pub fn or_skip<T>(suite: &str, needed: Result<T, String>) -> Option<T> {
    match needed {
        Ok(found) => Some(found),
        Err(why) => {
            let message = format!("SKIPPED {suite}: {why}");
            assert!(!std::env::var("TODO_REQUIRE_STACK").is_ok_and(|v| v == "1"), "{message} (TODO_REQUIRE_STACK=1)");
            eprintln!("\n!!!!!!!! {message}\n");
            None
        }
    }
}

/// The stack's settings, `KEY=value` per line.
#[derive(Debug, Clone)]
pub struct Stack {
    vars: HashMap<String, String>,
}

impl Stack {
    /// Reads the env file.
    ///
    /// # Errors
    /// When the file cannot be read (the stack is not up).
    pub fn load() -> std::io::Result<Self> {
        Ok(Self { vars: read_env(&env_file())? })
    }

    /// The value of `key`, if the file has it.
    pub fn try_get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }

    /// The value of `key`.
    ///
    /// # Panics
    /// When the env file lacks `key`: the stack script and the tests disagree.
    pub fn get(&self, key: &str) -> &str {
        match self.vars.get(key) {
            Some(v) => v,
            None => panic!("{} has no {key}; rerun infra/local/stack up", env_file().display()),
        }
    }
}

/// The running stack, or `None` (after printing why) when its suites must be skipped.
///
/// # Panics
/// When the stack is not up and `TODO_REQUIRE_STACK=1`.
pub fn stack(suite: &str) -> Option<Stack> {
    let needed = Stack::load()
        .map_err(|e| format!("the local stack is not up ({}: {e}); run `infra/local/stack up`", env_file().display()));
    or_skip(suite, needed)
}

/// `dex.env` of `infra/local/dex up`: `$TODO_DEX_ENV`, else `dex.env` in [`run_dir`].
pub fn dex_env_file() -> PathBuf {
    std::env::var("TODO_DEX_ENV").map_or_else(|_| run_dir().join("dex.env"), PathBuf::from)
}

/// The running Dex's settings (its `OIDC_*` and `AUTH_*` lines), or `None` by [`or_skip`]
/// when it is not up.
pub fn dex(suite: &str) -> Option<HashMap<String, String>> {
    let path = dex_env_file();
    let needed =
        read_env(&path).map_err(|e| format!("Dex is not up ({}: {e}); run `infra/local/dex up`", path.display()));
    or_skip(suite, needed)
}

/// Where PostgreSQL's binaries are, for a test's throwaway server: the stack's
/// `TODO_STACK_PG_BIN`, else Debian's.
pub fn pg_bin_dir() -> PathBuf {
    let from_stack = Stack::load().ok().and_then(|stack| stack.try_get("TODO_STACK_PG_BIN").map(PathBuf::from));
    from_stack.unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}
