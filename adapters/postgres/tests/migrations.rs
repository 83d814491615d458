//! Migrations at start-up, against PostgreSQL from the local stack (skipped loudly without
//! it): replicas starting together apply each migration once, a changed migration is refused,
//! and the indexes the queries rely on exist.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

use std::sync::Arc;

use todo_adapter_postgres::PgStore;
use todo_adapter_postgres::migrate::MIGRATIONS;
use todo_adapter_postgres::testing::TempDatabase;
use todo_contract_tests::stack::stack;
use todo_ports::RepoError;
use tokio_postgres::NoTls;

async fn database(test: &str) -> Option<TempDatabase> {
    let stack = stack(&format!("postgres migrations ({test})"))?;
    Some(TempDatabase::create(stack.get("TODO_STACK_PG_URL")).await.expect("create a test database"))
}

async fn sql(db: &TempDatabase) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(db.url(), NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_apply_each_migration_once() {
    let Some(db) = database("concurrent start").await else { return };
    let mut starting = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let config = db.config();
        starting.spawn(async move { PgStore::connect(config).await.map(|s: Arc<PgStore>| drop(s)) });
    }
    while let Some(started) = starting.join_next().await {
        started.expect("join").expect("a replica failed to start");
    }
    let client = sql(&db).await;
    let rows = client.query("SELECT version FROM schema_migrations ORDER BY version", &[]).await.expect("query");
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_changed_after_it_was_applied_is_refused() {
    let Some(db) = database("changed migration").await else { return };
    drop(PgStore::connect(db.config()).await.expect("first start"));
    sql(&db)
        .await
        .execute("UPDATE schema_migrations SET checksum = checksum + 1 WHERE version = 1", &[])
        .await
        .expect("tamper");
    match PgStore::connect(db.config()).await {
        Err(RepoError::Internal(e)) => assert!(e.to_string().contains("changed after it was applied"), "{e}"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indexes_of_the_filters_and_sweeps_exist_and_serve_their_queries() {
    let Some(db) = database("indexes").await else { return };
    drop(PgStore::connect(db.config()).await.expect("start"));
    let client = sql(&db).await;
    let rows = client.query("SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'", &[]).await.expect("query");
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let trigram = client
        .query_opt("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'", &[])
        .await
        .expect("query")
        .is_some();
    let mut expected = vec![
        "tasks_user_created",
        "tasks_user_completed",
        "tasks_user_priority",
        "tasks_user_due",
        "tasks_tags",
        "tasks_open_due",
        "tasks_open_recurring",
        "tasks_series_occurrence_key",
    ];
    if trigram {
        expected.push("tasks_search_trgm");
    }
    for name in expected {
        assert!(names.iter().any(|n| n == name), "index {name} missing; have {names:?}");
    }

    // One user with many tasks, where each filter keeps few of them (1 in 100 open, of priority
    // 1, overdue, tagged `work`), analysed: the planner then picks each filter's index. Sequential
    // scans are priced out as well.
    client
        .batch_execute(
            "INSERT INTO tasks (user_id, title, completed, priority_id, due_date, tags, reminder_offset_minutes,
                                created_at, updated_at)
             SELECT 'u', 't' || i, i % 100 <> 0, CASE WHEN i % 100 = 0 THEN 1 ELSE 4 END,
                    CASE WHEN i % 100 = 0 THEN now() - interval '1 day' ELSE now() + interval '30 days' END,
                    CASE WHEN i % 100 = 0 THEN ARRAY['work'] ELSE ARRAY['home'] END, 60, now(), now()
             FROM generate_series(1, 20000) AS i;
             ANALYZE tasks;
             SET enable_seqscan = off",
        )
        .await
        .expect("seed");
    let plans = [
        (
            "SELECT id FROM tasks WHERE NOT completed AND due_date IS NOT NULL AND due_date >= now() \
             AND due_date <= now() + interval '1 day' ORDER BY due_date, id LIMIT 10",
            "tasks_open_due",
        ),
        (
            "SELECT id FROM tasks t WHERE NOT t.completed AND t.recurrence_frequency IS NOT NULL AND t.due_date <= now() \
             ORDER BY t.due_date, t.id LIMIT 10",
            "tasks_open_recurring",
        ),
        ("SELECT id FROM tasks WHERE tags @> ARRAY['work']::text[]", "tasks_tags"),
        // As the listing asks: filtered, and in the order the index keeps.
        (
            "SELECT id FROM tasks WHERE user_id = 'u' AND completed = false ORDER BY created_at, id LIMIT 50",
            "tasks_user_completed",
        ),
        ("SELECT id FROM tasks WHERE user_id = 'u' AND priority_id = 1 ORDER BY id LIMIT 50", "tasks_user_priority"),
        (
            "SELECT id FROM tasks WHERE user_id = 'u' AND due_date < now() ORDER BY due_date, id LIMIT 50",
            "tasks_user_due",
        ),
    ];
    for (query, index) in plans {
        let plan: Vec<String> =
            client.query(&format!("EXPLAIN {query}"), &[]).await.expect("explain").iter().map(|r| r.get(0)).collect();
        assert!(plan.iter().any(|line| line.contains(index)), "{query}\ndoes not use {index}:\n{}", plan.join("\n"));
    }
    if trigram {
        let plan: Vec<String> = client
            .query("EXPLAIN SELECT id FROM tasks WHERE search_text LIKE '%milk%'", &[])
            .await
            .expect("explain")
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(plan.iter().any(|l| l.contains("tasks_search_trgm")), "{}", plan.join("\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_indexes_serve_its_filters_and_pages() {
    let Some(db) = database("audit indexes").await else { return };
    drop(PgStore::connect(db.config()).await.expect("start"));
    let client = sql(&db).await;
    // One user with 20 000 entries over 4 000 tasks, 1 in 100 a deletion, and another user;
    // the task id is read from the event itself (the generated column), as for rows written
    // before migration 0005.
    client
        .batch_execute(
            "INSERT INTO audit_log (event_id, user_id, event_type, occurred_at, event)
             SELECT gen_random_uuid(), CASE WHEN i % 10 = 0 THEN 'v' ELSE 'u' END,
                    CASE WHEN i % 100 = 0 THEN 'task.deleted' ELSE 'task.updated' END,
                    now() - i * interval '1 second', jsonb_build_object('data', jsonb_build_object('id', i / 5 + 1))
             FROM generate_series(1, 20000) AS i;
             ANALYZE audit_log;
             SET enable_seqscan = off",
        )
        .await
        .expect("seed");
    let task_ids: Vec<i64> = client
        .query("SELECT task_id FROM audit_log WHERE (event #>> '{data,id}')::bigint = 7", &[])
        .await
        .expect("query")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(task_ids, [7; 5]);

    // As the adapter asks (src/ledgers.rs): the user, the filters, the position, newest first.
    let page = "ORDER BY occurred_at DESC, seq DESC LIMIT 51";
    let after = "(occurred_at, seq) < (now() - interval '1 hour', 9000)";
    let plans = [
        (format!("SELECT event FROM audit_log WHERE user_id = 'u' {page}"), "audit_log_user_recent"),
        (format!("SELECT event FROM audit_log WHERE user_id = 'u' AND {after} {page}"), "audit_log_user_recent"),
        (
            format!(
                "SELECT event FROM audit_log WHERE user_id = 'u' AND occurred_at >= now() - interval '2 hours' \
                 AND occurred_at < now() - interval '1 hour' {page}"
            ),
            "audit_log_user_recent",
        ),
        (
            format!("SELECT event FROM audit_log WHERE user_id = 'u' AND task_id = 7 AND {after} {page}"),
            "audit_log_user_task",
        ),
        (
            format!(
                "SELECT event FROM audit_log WHERE user_id = 'u' AND task_id = 7 AND event_type = 'task.updated' {page}"
            ),
            "audit_log_user_task",
        ),
        (
            format!(
                "SELECT event FROM audit_log WHERE user_id = 'u' AND event_type = 'task.deleted' AND {after} {page}"
            ),
            "audit_log_user_type",
        ),
    ];
    for (query, index) in plans {
        let plan: Vec<String> =
            client.query(&format!("EXPLAIN {query}"), &[]).await.expect("explain").iter().map(|r| r.get(0)).collect();
        assert!(plan.iter().any(|line| line.contains(index)), "{query}\ndoes not use {index}:\n{}", plan.join("\n"));
        assert!(
            !plan.iter().any(|line| line.contains("Sort")),
            "{query}\nsorts instead of reading in order:\n{}",
            plan.join("\n")
        );
    }
}
