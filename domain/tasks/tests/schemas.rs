//! Every event the use cases emit validates against the checked-in JSON Schemas.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

mod support;

use support::{System, eventually, user};
use time::{Duration, OffsetDateTime};
use todo_ports::model::{Event, TaskPatch};
use todo_ports::{SweepService, TaskService};

fn validator(file: &str) -> jsonschema::Validator {
    let path = format!("{}/../model/schemas/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(jsonschema::draft7::meta::is_valid(&schema), "{file} is not a valid draft-07 schema");
    jsonschema::draft7::options().should_validate_formats(true).build(&schema).unwrap()
}

#[tokio::test(start_paused = true)]
async fn every_emitted_event_validates_against_its_schema() {
    let task_schema = validator("task-event.schema.json");
    let reminder_schema = validator("reminder-event.schema.json");

    let system = System::start();
    let u = user("usr_abc123");
    let soon = OffsetDateTime::now_utc() + Duration::minutes(10);
    let recurring = TaskPatch {
        title: Some("weekly review".into()),
        description: Some(Some("look back".into())),
        priority_id: Some(Some(2)),
        tags: Some(vec!["work".into()]),
        due_date: Some(Some(soon)),
        recurrence: Some(Some(todo_ports::model::RecurrenceInput {
            frequency: todo_ports::model::Frequency::Weekly,
            interval: Some(1),
        })),
        ..TaskPatch::default()
    };
    let plain = TaskPatch { title: Some("plain".into()), ..TaskPatch::default() };
    let a = system.todo.tasks.create(&u, recurring).await.unwrap();
    let b = system.todo.tasks.create(&u, plain).await.unwrap();
    system.todo.tasks.update(&u, b.id, TaskPatch { description: Some(None), ..TaskPatch::default() }).await.unwrap();
    system.todo.tasks.update(&u, b.id, TaskPatch { priority_id: Some(Some(4)), ..TaskPatch::default() }).await.unwrap();
    system.todo.sweep.sweep().await.unwrap();
    system.todo.tasks.complete(&u, a.id).await.unwrap();
    system.todo.tasks.delete(&u, b.id).await.unwrap();

    let kinds = ["task.created", "task.updated", "task.completed", "task.deleted", "reminder.due", "reminder.sent"];
    eventually("every kind of event", async || {
        let published = system.bus.published();
        kinds.iter().all(|k| published.iter().any(|(_, e)| e.event_type() == *k))
    })
    .await;

    let published = system.bus.published();
    for (topic, event) in &published {
        let json = serde_json::to_value(event).unwrap();
        let schema = match event {
            Event::Task(_) => &task_schema,
            Event::Reminder(_) => &reminder_schema,
        };
        let errors: Vec<String> = schema.iter_errors(&json).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{} on {topic:?} does not validate: {errors:?}\n{json:#}", event.event_type());
        assert_eq!(json["version"], "v1.0");
        assert!(json["timestamp"].as_str().unwrap().ends_with('Z'), "timestamps are UTC");
    }
}

#[test]
fn the_schemas_reject_what_the_seed_forbids() {
    let task_schema = validator("task-event.schema.json");
    let bad = serde_json::json!({
        "event_id": "not-a-uuid", "event_type": "task.exploded", "timestamp": "yesterday",
        "version": "1", "data": {"id": "x", "user_id": "u", "title": "t"}
    });
    let fields: Vec<String> = task_schema.iter_errors(&bad).map(|e| e.instance_path.to_string()).collect();
    for field in ["/event_id", "/event_type", "/timestamp", "/version", "/data/id", "/data"] {
        assert!(fields.iter().any(|f| f == field), "{field} not reported in {fields:?}");
    }
}
