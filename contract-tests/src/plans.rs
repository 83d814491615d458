//! The [`PlannedJobs`](todo_ports::PlannedJobs) contract: the job last recorded for a task
//! reads back until it is replaced or cleared.

use time::Duration;
use todo_ports::ReminderJob;
use todo_ports::model::TaskId;

use crate::store::{Store, now, user};

/// A task never planned has no job.
pub async fn nothing_is_planned_for_an_unknown_task(s: Store) {
    assert_eq!(s.plans.planned(TaskId(424_242)).await.expect("planned"), None);
    s.plans.set_planned(TaskId(424_243), None).await.expect("clearing nothing succeeds");
}

/// `set_planned` records a task's job, a later one replaces it, `None` clears it; other tasks'
/// jobs are their own.
pub async fn a_planned_job_reads_back_and_is_replaced_or_cleared(s: Store) {
    let u = user("plans");
    let due = now() + Duration::days(2);
    let job = |task: i64, due: time::OffsetDateTime| ReminderJob {
        task_id: TaskId(task),
        user_id: u.clone(),
        due_date: due,
        fire_at: due - Duration::HOUR,
    };
    s.plans.set_planned(TaskId(1), Some(job(1, due))).await.expect("set");
    s.plans.set_planned(TaskId(2), Some(job(2, due))).await.expect("set");
    assert_eq!(s.plans.planned(TaskId(1)).await.expect("planned"), Some(job(1, due)));
    let moved = job(1, due + Duration::days(1));
    s.plans.set_planned(TaskId(1), Some(moved.clone())).await.expect("replace");
    assert_eq!(s.plans.planned(TaskId(1)).await.expect("planned"), Some(moved));
    s.plans.set_planned(TaskId(1), None).await.expect("clear");
    assert_eq!(s.plans.planned(TaskId(1)).await.expect("planned"), None);
    assert_eq!(s.plans.planned(TaskId(2)).await.expect("planned"), Some(job(2, due)));
}
