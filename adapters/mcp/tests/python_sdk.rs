//! The official MCP Python SDK (`mcp` on PyPI) against the server over Streamable HTTP with a
//! bearer header (`tests/python/mcp_client.py`): refused without a token; initializes, lists
//! the tools, calls each, reads invalid input as tool errors naming the field; and a second
//! user's token never reaches the first user's task. The SDK is installed into a venv of its
//! own by `infra/local/mcp-python`; when that cannot be had the test skips, loudly, and fails
//! instead under `TODO_REQUIRE_STACK=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use todo_ports::model::Topic;
use tokio::process::Command;

use support::{App, token};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv's python with the SDK installed, or `None` (after saying why) when the test must
/// be skipped.
///
/// # Panics
/// When it cannot be had and `TODO_REQUIRE_STACK=1`.
async fn sdk_python() -> Option<PathBuf> {
    let script = repo().join("infra/local/mcp-python");
    let why = match Command::new(&script).arg("install").output().await {
        Ok(out) if out.status.success() => {
            let python = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if python.is_file() {
                return Some(python);
            }
            format!("{} printed no python ({})", script.display(), python.display())
        }
        Ok(out) => format!("{} failed: {}", script.display(), String::from_utf8_lossy(&out.stderr).trim()),
        Err(e) => format!("{} could not run: {e}", script.display()),
    };
    todo_contract_tests::stack::or_skip(
        "the MCP Python SDK test",
        Err(format!("the MCP Python SDK cannot be had ({why})")),
    )
}

#[tokio::test]
async fn the_official_python_sdk_initializes_lists_the_tools_and_calls_them() {
    let Some(python) = sdk_python().await else { return };
    let (system, app) = App::fresh().await;
    let client = Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/mcp_client.py"))
        .arg(app.url())
        .env("MCP_TOKEN", token("ada"))
        .env("MCP_OTHER_TOKEN", token("bob"))
        .kill_on_drop(true)
        .output();
    // A bound on a hang only, far beyond the few seconds the script takes.
    let out = tokio::time::timeout(Duration::from_secs(120), client).await.expect("the client ends").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the Python client failed ({}):\n{stderr}", out.status);
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    // No token: a 401 JSON body, and the SDK's handshake fails.
    assert_eq!((&seen["no_token"]["status"], &seen["no_token"]["error"]), (&json!(401), &json!("unauthorized")));
    assert_eq!(seen["no_token"]["handshake"], "refused");

    // The handshake and the catalogue.
    assert_eq!(seen["server"], "todo");
    assert_eq!(
        seen["tools"],
        json!(["add_task", "list_tasks", "search_tasks", "get_task", "update_task", "complete_task", "delete_task"])
    );

    // Every tool, for the token's user.
    let calls = &seen["calls"];
    let plants = &calls["add_task"];
    assert_eq!(
        (&plants["user_id"], &plants["title"], &plants["priority_id"], &plants["recurrence"]),
        (&json!("ada"), &json!("Water the plants"), &json!(2), &json!({"frequency": "weekly", "interval": 2}))
    );
    assert_eq!(calls["list_tasks"]["total"], 1);
    assert_eq!(calls["search_tasks"]["items"][0]["title"], "Buy milk");
    assert_eq!(&calls["get_task"], plants);
    assert_eq!(
        (&calls["update_task"]["title"], &calls["update_task"]["priority_id"]),
        (&json!("Buy oat milk"), &Value::Null)
    );
    assert_eq!(calls["complete_task"]["completed"], true);
    assert_eq!(calls["delete_task"], json!({"task_id": calls["update_task"]["id"], "deleted": true}));
    let after = &seen["after"];
    assert_eq!((&after["total"], &after["items"][0]["title"]), (&json!(1), &json!("Water the plants")));
    assert_eq!(after["items"][0]["completed"], true);

    // Invalid input: tool errors naming the field, as REST words them.
    let invalid = &seen["invalid"];
    assert_eq!(invalid["blank_title"][0], "title: must not be blank");
    assert_eq!(
        invalid["blank_title"][1],
        json!({"code": "validation_failed", "message": "title: must not be blank", "field": "title"})
    );
    assert_eq!(invalid["bad_frequency"][1]["field"], "recurrence.frequency");
    assert_eq!(invalid["limit"][0], "limit: must be an integer from 1 to 200");
    assert_eq!(invalid["user_id"][1]["field"], "user_id");
    assert_eq!(invalid["unknown_tool"][1]["code"], "unknown_tool");

    // Another user's token never reaches the task.
    let others = &seen["another_users_task"];
    for tool in ["get_task", "update_task", "complete_task", "delete_task"] {
        assert_eq!(others[tool][0], "task not found", "{tool}");
        assert_eq!(others[tool][1]["code"], "not_found", "{tool}");
    }
    assert_eq!((&others["list_tasks"], &others["search_tasks"]), (&json!(0), &json!(0)));
    assert_eq!(system.titles("ada").await, ["Water the plants"]);
    assert!(system.titles("bob").await.is_empty());

    // The calls published what the REST requests would have.
    let types: Vec<String> = system
        .events()
        .await
        .into_iter()
        .filter(|(topic, _)| *topic == Topic::TaskEvents)
        .map(|(_, e)| e.event_type().to_owned())
        .collect();
    assert_eq!(types, ["task.created", "task.created", "task.updated", "task.completed", "task.deleted"]);
    app.stop().await;
}
