//! The split when parts of it fail: a service stopped or killed while the others go on, and
//! replicas sharing (or each getting) the work. A split of its own, since these tests stop and
//! start its services; they run one after the other in one test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is its failure

use std::collections::HashMap;
use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use todo_e2e::{Split, user, wait_until};

const PATIENCE: Duration = Duration::from_secs(60);

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

async fn items(split: &Split, url: &str, token: &str) -> Vec<Value> {
    let answer = split.call(Method::GET, url, Some(token), None).await;
    assert_eq!(answer.status, StatusCode::OK, "{url}: {:?}", answer.body);
    answer.body["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_split_survives_its_services_failing_and_shares_work_between_replicas() {
    let Some(split) = Split::up("faults", 21000) else { return };
    reminders_raised_while_the_notification_service_is_down_all_arrive_after_it_restarts(&split).await;
    a_killed_service_leaves_the_others_serving_and_catches_up_when_back(&split).await;
    two_recurring_task_replicas_share_the_work_without_a_duplicate_instance(&split).await;
}

async fn reminders_raised_while_the_notification_service_is_down_all_arrive_after_it_restarts(split: &Split) {
    let jo = user("jo");
    let token = split.token(&jo, 900);
    split.services(&["stop", "notifications", "0"]);
    // Three reminders due in about 5 s (due in 65 s, a reminder 1 minute before), raised by the
    // recurring-task service while nobody consumes `reminders`.
    let due = rfc3339(time::OffsetDateTime::now_utc() + time::Duration::seconds(65));
    let mut ids = Vec::new();
    for n in 0..3 {
        let task = split
            .create(
                &jo,
                &token,
                json!({"title": format!("reminder {n}"), "due_date": due, "reminder_offset_minutes": 1}),
            )
            .await;
        ids.push(task["id"].clone());
    }
    let raised = |split: &Split| {
        split
            .log("recurring-tasks", 0)
            .iter()
            .filter(|l| l["fields"]["message"] == "reminder.due raised" && l["fields"]["user_id"] == jo.as_str())
            .count()
    };
    wait_until("the three reminders raised", PATIENCE, async || raised(split) == 3).await;
    split.services(&["start", "notifications", "0"]);
    let feed = format!("{}/api/{jo}/notifications", split.url("notifications", 0));
    wait_until("every reminder in the feed after the restart", PATIENCE, async || {
        items(split, &feed, &token).await.len() == 3
    })
    .await;
    let mut delivered: Vec<Value> =
        items(split, &feed, &token).await.iter().map(|n| n["event"]["data"]["task_id"].clone()).collect();
    delivered.sort_by_key(|v| v.as_i64());
    assert_eq!(delivered, ids, "each reminder once");
}

async fn a_killed_service_leaves_the_others_serving_and_catches_up_when_back(split: &Split) {
    let kit = user("kit");
    let token = split.token(&kit, 900);
    split.services(&["kill", "audit", "0"]);
    let task = split.create(&kit, &token, json!({"title": "written while audit is down"})).await;
    let done = format!("{}/api/{kit}/tasks/{}/complete", split.url("backend", 0), task["id"]);
    assert_eq!(split.call(Method::POST, &done, Some(&token), None).await.status, StatusCode::OK);
    let list = format!("{}/api/{kit}/tasks", split.url("backend", 0));
    assert_eq!(split.call(Method::GET, &list, Some(&token), None).await.body["total"], 1, "the backend serves");
    let notes = format!("{}/api/{kit}/notifications", split.url("notifications", 0));
    assert_eq!(split.call(Method::GET, &notes, Some(&token), None).await.status, StatusCode::OK, "and the others");
    split.services(&["stop", "audit", "0"]); // its sidecar, left running by the kill
    split.services(&["start", "audit", "0"]);
    let audit = format!("{}/api/{kit}/audit", split.url("audit", 0));
    wait_until("the events missed while down, in the audit log", PATIENCE, async || {
        items(split, &audit, &token).await.len() == 2
    })
    .await;
    let types: Vec<Value> = items(split, &audit, &token).await.iter().map(|e| e["event_type"].clone()).collect();
    assert_eq!(types, [json!("task.completed"), json!("task.created")]);
}

async fn two_recurring_task_replicas_share_the_work_without_a_duplicate_instance(split: &Split) {
    split.services(&["start", "recurring-tasks", "1"]);
    let lee = user("lee");
    let backend = split.url("backend", 0);
    // Which replica made the next instance of each completed task (by the `previous` task id).
    let made_by = |split: &Split| -> HashMap<String, Vec<u16>> {
        let mut made: HashMap<String, Vec<u16>> = HashMap::new();
        for replica in [0, 1] {
            for line in split.log("recurring-tasks", replica) {
                if line["fields"]["message"] == "next occurrence created" {
                    let previous = line["fields"]["previous"].as_str().unwrap_or_default().to_owned();
                    made.entry(previous).or_default().push(replica);
                }
            }
        }
        made
    };
    // A user per series spreads them over the topic's partitions (the key is the user); go on
    // until both replicas have made some (the group may still be rebalancing at first).
    let mut series = Vec::new();
    for n in 0..60 {
        let owner = format!("{lee}-{n}");
        let token = split.token(&owner, 900);
        let body = json!({"title": format!("daily {n}"), "due_date": "2031-03-01T08:00:00Z", "recurrence": {"frequency": "daily"}});
        let task = split.create(&owner, &token, body).await;
        let done = format!("{backend}/api/{owner}/tasks/{}/complete", task["id"]);
        assert_eq!(split.call(Method::POST, &done, Some(&token), None).await.status, StatusCode::OK);
        series.push((owner, token, task["id"].to_string()));
        if n >= 11 && n % 6 == 5 {
            let mine = |made: &HashMap<String, Vec<u16>>, replica| {
                series.iter().filter(|(_, _, id)| made.get(id).is_some_and(|r| r.contains(&replica))).count()
            };
            tokio::time::sleep(Duration::from_secs(2)).await;
            let made = made_by(split);
            if mine(&made, 0) > 0 && mine(&made, 1) > 0 {
                break;
            }
        }
    }
    for (owner, token, id) in &series {
        let open = format!("{backend}/api/{owner}/tasks?completed=false");
        wait_until("the next instance", PATIENCE, async || {
            split.call(Method::GET, &open, Some(token), None).await.body["total"] == 1
        })
        .await;
        let all = format!("{backend}/api/{owner}/tasks");
        let total = split.call(Method::GET, &all, Some(token), None).await.body["total"].clone();
        assert_eq!(total, 2, "task {id} of {owner}: exactly one next instance");
    }
    let made = made_by(split);
    let per_replica: Vec<usize> = [0u16, 1]
        .iter()
        .map(|r| series.iter().filter(|(_, _, id)| made.get(id).is_some_and(|m| m.contains(r))).count())
        .collect();
    println!(
        "{} series completed; next instances made by replica 0: {}, replica 1: {}",
        series.len(),
        per_replica[0],
        per_replica[1]
    );
    assert!(per_replica.iter().all(|n| *n > 0), "both replicas took a share: {per_replica:?}");
    for (_, _, id) in &series {
        assert_eq!(made.get(id).map(Vec::len), Some(1), "task {id}'s next instance made once: {:?}", made.get(id));
    }
}
