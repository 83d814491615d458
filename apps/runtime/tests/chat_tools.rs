//! After the merge: the assistant's default tools are the task tools of `todo-adapter-tools`,
//! the same as `/mcp`'s, and a tool call through the chat route creates a real task.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use todo_adapter_llm::testing::{Reply, ScriptedApi};
use todo_runtime::{Background, Config};

async fn send(method: Method, url: &str, body: Option<Value>) -> String {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let request = Request::builder().method(method).uri(url).header("content-type", "application/json");
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let response = client.request(request.body(Full::new(body)).unwrap()).await.unwrap();
    String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
}

#[tokio::test]
async fn the_assistant_offers_the_task_tools_and_runs_them_for_the_user() {
    let api = ScriptedApi::start().await;
    let vars = [("LLM_BASE_URL", api.base_url()), ("LLM_API_KEY", "k".into()), ("LLM_MODEL", "m".into())];
    let mut config = Config::from_lookup(|k| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    config.sweep_interval = None;
    let app = Background::on_loopback(config).await.unwrap();
    let base = app.base_url();
    api.reply(Reply::tool_calls("", &[("call_1", "add_task", json!({"title": "Pay rent", "priority_id": 2}))]));
    api.reply(Reply::text(&["Added."]));
    let sse =
        send(Method::POST, &format!("{base}/api/ada/chat"), Some(json!({"session_id": "s1", "message": "add rent"})))
            .await;
    assert!(sse.contains("event: done"), "{sse}");
    let names = api.asked()[0].tool_names();
    for tool in ["add_task", "list_tasks", "search_tasks", "get_task", "update_task", "complete_task", "delete_task"] {
        assert!(names.iter().any(|n| n == tool), "{tool} offered: {names:?}");
    }
    let page: Value = serde_json::from_str(&send(Method::GET, &format!("{base}/api/ada/tasks"), None).await).unwrap();
    assert_eq!((&page["items"][0]["title"], &page["items"][0]["priority_id"]), (&json!("Pay rent"), &json!(2)));
    app.stop().await.unwrap();
}
