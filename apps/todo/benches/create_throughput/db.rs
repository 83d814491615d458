//! Plain connections to the benchmark's PostgreSQL server: facts about it and its commit counters.

use crate::Error;

/// One line about the server: version and the durability settings (which stay as they are).
pub(crate) async fn server_facts(url: &str) -> Result<String, Error> {
    let client = connect(url).await?;
    let mut facts = Vec::new();
    let version: String = client.query_one("SHOW server_version", &[]).await?.get(0);
    facts.push(format!("PostgreSQL {version}"));
    for name in ["fsync", "synchronous_commit", "wal_sync_method", "commit_delay", "shared_buffers"] {
        let value: String = client.query_one(&format!("SHOW {name}"), &[]).await?.get(0);
        facts.push(format!("{name}={value}"));
    }
    Ok(facts.join(", "))
}

pub(crate) async fn connect(url: &str) -> Result<tokio_postgres::Client, Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Transactions committed and rolled back in database `name` so far (backends report them at
/// most once a second, or when they exit).
pub(crate) async fn commits(client: &tokio_postgres::Client, name: &str) -> Result<(i64, i64), Error> {
    let row = client
        .query_one("SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = $1", &[&name])
        .await?;
    Ok((row.get(0), row.get(1)))
}
