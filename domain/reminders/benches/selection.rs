//! How long selecting the due reminders among 100 000 tasks takes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use time::{Duration, macros::datetime};
use todo_model::{Task, TaskId, TaskPatch, UserId};
use todo_reminders::{DEFAULT_GRACE, select_due};

fn tasks(n: i64) -> Vec<Task> {
    let now = datetime!(2026-03-01 12:00 UTC);
    (0..n)
        .map(|i| {
            let patch = TaskPatch {
                title: Some(format!("task {i}")),
                // due dates spread over a week around now; every tenth task completed
                due_date: Some(Some(now + Duration::minutes(i % 10_080 - 5_040))),
                completed: Some(i % 10 == 0),
                ..TaskPatch::default()
            };
            let mut t = Task::create(UserId::parse(&format!("u{}", i % 1000)).unwrap(), patch, now).unwrap();
            t.id = TaskId(i + 1);
            t
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let now = datetime!(2026-03-01 12:00 UTC);
    let all = tasks(100_000);
    let mut group = c.benchmark_group("select_due");
    group.throughput(criterion::Throughput::Elements(all.len() as u64));
    group.bench_function("100k_tasks", |b| b.iter(|| select_due(black_box(&all), black_box(now), DEFAULT_GRACE)));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
