//! The local stack's env file (`infra/local/stack up` writes it): where PostgreSQL, Redis,
//! Kafka, the Dapr Scheduler and the `daprd` binary are.

use std::collections::HashMap;
use std::path::PathBuf;

/// The env file's path: `$TODO_STACK_ENV`, else `${TODO_STACK_RUN:-/tmp/todo-stack}/stack.env`.
pub fn env_file() -> PathBuf {
    if let Ok(path) = std::env::var("TODO_STACK_ENV") {
        return PathBuf::from(path);
    }
    let run = std::env::var("TODO_STACK_RUN").unwrap_or_else(|_| "/tmp/todo-stack".into());
    PathBuf::from(run).join("stack.env")
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
        let text = std::fs::read_to_string(env_file())?;
        let vars = text
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Ok(Self { vars })
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
    let path = env_file();
    match Stack::load() {
        Ok(stack) => Some(stack),
        Err(e) => {
            let message = format!(
                "SKIPPED {suite}: the local stack is not up ({}: {e}); run `infra/local/stack up`",
                path.display()
            );
            if std::env::var("TODO_REQUIRE_STACK").is_ok_and(|v| v == "1") {
                panic!("{message} (TODO_REQUIRE_STACK=1)");
            }
            eprintln!("\n!!!!!!!! {message}\n");
            None
        }
    }
}

/// Where PostgreSQL's binaries are, for a test's throwaway server: the stack's
/// `TODO_STACK_PG_BIN`, else Debian's.
pub fn pg_bin_dir() -> PathBuf {
    let from_stack = Stack::load().ok().and_then(|stack| stack.try_get("TODO_STACK_PG_BIN").map(PathBuf::from));
    from_stack.unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}
