//! Versioned schema migrations, applied at start-up.
//!
//! The SQL files in `migrations/` are compiled in. [`migrate`] takes a transaction-scoped
//! advisory lock first, so replicas starting together apply each migration once: the first
//! applies them while the others wait on the lock, then find them recorded in
//! `schema_migrations` and apply nothing. All pending migrations and their records commit
//! together, so a failed one leaves the schema as it was. Each applied migration's checksum is
//! kept, and start-up refuses a database whose applied migration no longer matches its file.

use todo_ports::RepoError;
use tokio_postgres::Client;

use crate::error::{from_pg, internal};

/// One migration: its version (the file's number), name and SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Applied in increasing order; never reused.
    pub version: i32,
    /// The file name without the number, for people.
    pub name: &'static str,
    /// The SQL, run as one batch.
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tasks_outbox_ledgers",
        sql: include_str!("../migrations/0001_tasks_outbox_ledgers.sql"),
    },
    Migration { version: 2, name: "text_search", sql: include_str!("../migrations/0002_text_search.sql") },
    Migration {
        version: 3,
        name: "notify_after_commit",
        sql: include_str!("../migrations/0003_notify_after_commit.sql"),
    },
    Migration {
        version: 4,
        name: "events_built_by_the_domain",
        sql: include_str!("../migrations/0004_events_built_by_the_domain.sql"),
    },
    Migration { version: 5, name: "audit_query", sql: include_str!("../migrations/0005_audit_query.sql") },
    Migration { version: 6, name: "outbox_trace", sql: include_str!("../migrations/0006_outbox_trace.sql") },
    Migration {
        version: 7,
        name: "notification_failures",
        sql: include_str!("../migrations/0007_notification_failures.sql"),
    },
];

/// Key of the advisory lock serialising migrations ("todo_mig" in ASCII).
const MIGRATION_LOCK: i64 = 0x746f_646f_5f6d_6967;

/// A stable 64-bit checksum of a migration's text (FNV-1a).
fn checksum(sql: &str) -> i64 {
    let hash = sql.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Applies the migrations `client`'s database lacks; returns the versions applied.
pub(crate) async fn migrate(client: &mut Client) -> Result<Vec<i32>, RepoError> {
    let tx = client.transaction().await.map_err(from_pg)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(from_pg)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    integer PRIMARY KEY,
             name       text        NOT NULL,
             checksum   bigint      NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(from_pg)?;
    let applied = tx.query("SELECT version, checksum FROM schema_migrations", &[]).await.map_err(from_pg)?;
    let mut done = Vec::new();
    for row in &applied {
        let (version, sum): (i32, i64) = (row.get(0), row.get(1));
        match MIGRATIONS.iter().find(|m| m.version == version) {
            Some(m) if checksum(m.sql) != sum => {
                return Err(internal(format!(
                    "migration {version} ({}) changed after it was applied; add a new migration instead",
                    m.name
                )));
            }
            Some(_) => done.push(version),
            // Applied by a newer release: this one can still run against the schema it knows.
            None => tracing::warn!(version, "database has a migration this build does not know"),
        }
    }
    let mut newly = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        tracing::info!(version = m.version, name = m.name, "applying migration");
        if let Err(e) = tx.batch_execute(m.sql).await {
            let message = format!("migration {} ({}) failed: {}", m.version, m.name, describe(&e));
            return Err(match from_pg(e) {
                RepoError::Internal(_) => internal(message),
                unavailable => unavailable,
            });
        }
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &checksum(m.sql)],
        )
        .await
        .map_err(from_pg)?;
        newly.push(m.version);
    }
    tx.commit().await.map_err(from_pg)?;
    Ok(newly)
}

/// The server's message for `e` when it has one.
fn describe(e: &tokio_postgres::Error) -> String {
    e.as_db_error().map_or_else(|| e.to_string(), |db| format!("{}: {}", db.code().code(), db.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_increase_and_checksums_tell_texts_apart() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert_eq!(checksum("a"), checksum("a"));
        assert_ne!(checksum("a"), checksum("b"));
    }
}
