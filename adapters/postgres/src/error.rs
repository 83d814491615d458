//! The one place where PostgreSQL's and the pool's errors become port errors.
//!
//! Policy: anything that says "the server cannot be reached or cannot serve now" (connection
//! refused, broken or timed out, pool exhausted, server shutting down or out of connections,
//! serialization failures and deadlocks) is [`RepoError::Unavailable`], so callers retry or
//! answer 503; unique violations are turned into the port's outcome by the call that expects
//! them (`Inserted::Duplicate`, `Ok(false)`, `RepoError::Conflict`) through
//! [`is_unique_violation`]; everything else (bad SQL, a row that does not decode) is a bug and
//! [`RepoError::Internal`]. The vendor error is kept as the source, for logs.

use deadpool_postgres::PoolError;
use todo_ports::{BoxError, RepoError};
use tokio_postgres::error::SqlState;

/// SQLSTATE classes and codes after which the same call may succeed later.
fn is_transient(code: &SqlState) -> bool {
    let code = code.code();
    // 08: connection exception; 53: insufficient resources (too many connections, disk full);
    // 57P01-57P05: admin/crash shutdown, cannot connect now, idle timeouts;
    // 57014: statement timeout or cancel; 40001/40P01: serialization failure, deadlock;
    // 25006: read-only transaction (writing to a standby during a failover); 55P03: lock timeout.
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code, "57014" | "40001" | "40P01" | "25006" | "55P03")
}

/// The port error for a tokio-postgres error.
pub(crate) fn from_pg(e: tokio_postgres::Error) -> RepoError {
    if let Some(code) = e.code() {
        return if is_transient(code) { RepoError::Unavailable(e.into()) } else { RepoError::Internal(e.into()) };
    }
    if let Some(refused) = tls_refusal(&e) {
        return internal(refused);
    }
    let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
    if e.is_closed() || io || e.to_string().starts_with("timeout") {
        RepoError::Unavailable(e.into())
    } else {
        RepoError::Internal(e.into())
    }
}

/// What went wrong when TLS could not be set up with the server for a reason retrying cannot
/// mend: a certificate not trusted or not naming the host, a handshake rustls refuses, or a
/// server without TLS under `sslmode=require`. Such an error is a configuration problem
/// ([`RepoError::Internal`]), not an outage.
fn tls_refusal(e: &tokio_postgres::Error) -> Option<String> {
    let cause = std::error::Error::source(e)?;
    let rustls = cause
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(rustls) = rustls {
        return Some(format!(
            "the PostgreSQL server's TLS is refused: {rustls} (check the URL's sslmode, its host name and the CA file)"
        ));
    }
    (cause.to_string() == "server does not support TLS")
        .then(|| "the PostgreSQL server does not offer TLS, which sslmode=require needs".to_owned())
}

/// The port error for a failure to get a pooled connection: the pool's own timeouts, a failed
/// connect and a store closed by [`PgStore::close`](crate::PgStore::close) are "unavailable";
/// a missing runtime or a failing hook is a wiring bug.
pub(crate) fn from_pool(e: PoolError) -> RepoError {
    match e {
        PoolError::Backend(e) => from_pg(e),
        PoolError::Timeout(_) | PoolError::Closed => RepoError::Unavailable(e.into()),
        PoolError::NoRuntimeSpecified | PoolError::PostCreateHook(_) => RepoError::Internal(e.into()),
    }
}

/// Whether `e` is a unique violation, of `constraint` when one is named.
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error, constraint: Option<&str>) -> bool {
    e.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::UNIQUE_VIOLATION && constraint.is_none_or(|c| db.constraint() == Some(c))
    })
}

/// An internal error with a message: stored data the domain cannot read, a value that does
/// not fit its column.
pub(crate) fn internal(message: impl Into<String>) -> RepoError {
    RepoError::Internal(BoxError::from(message.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_codes_are_told_from_bugs() {
        for code in ["08006", "08001", "53300", "57P01", "57P03", "57014", "40001", "40P01", "25006"] {
            assert!(is_transient(&SqlState::from_code(code)), "{code}");
        }
        for code in ["23505", "23514", "42601", "42P01", "22P02", "28P01"] {
            assert!(!is_transient(&SqlState::from_code(code)), "{code}");
        }
    }
}
