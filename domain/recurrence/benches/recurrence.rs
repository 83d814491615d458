//! How fast the next due date is computed, per frequency.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure
#![allow(missing_docs)] // criterion_group! generates an undocumented function

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use time::macros::datetime;
use todo_model::{Frequency, Recurrence};
use todo_recurrence::next_due;

fn bench(c: &mut Criterion) {
    let start = datetime!(2028-01-31 09:30 UTC);
    for frequency in [Frequency::Daily, Frequency::Weekly, Frequency::Monthly] {
        let rule = Recurrence { frequency, interval: 1 };
        c.bench_function(&format!("next_due/{}", frequency.as_str()), |b| {
            b.iter(|| next_due(black_box(rule), black_box(31), black_box(start)))
        });
    }
    c.bench_function("next_due/monthly_series_of_120", |b| {
        let rule = Recurrence { frequency: Frequency::Monthly, interval: 1 };
        b.iter(|| {
            let mut due = start;
            for _ in 0..120 {
                due = next_due(rule, 31, due).unwrap_or(due);
            }
            due
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
