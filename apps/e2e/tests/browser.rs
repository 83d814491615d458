//! The web UI in a real browser (headless Chromium over WebDriver) against the all-in-one app
//! started in process on embedded defaults, exactly what `cargo run --release` serves: sign in,
//! a field error, a monthly task, its next instance arriving live, changes made elsewhere (the
//! REST API, the MCP tools) arriving live, a task's history, and another user's tasks never shown. Screenshots go to
//! `target/browser-artifacts/all-in-one/`; the page's weight and time to first render are printed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is its failure

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use todo_e2e::browser::Browser;

const PATIENCE: Duration = Duration::from_secs(20);

/// The all-in-one app on embedded defaults, on a free port of 127.0.0.1.
struct App {
    base: String,
    app: todo_runtime::Background,
}

impl App {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// On embedded defaults but for `settings`.
    async fn start_with(settings: &[(&str, String)]) -> Self {
        let config =
            todo_runtime::Config::from_lookup(|k| settings.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
                .unwrap();
        let app = todo_runtime::Background::on_loopback(config).await.unwrap();
        Self { base: app.base_url(), app }
    }

    /// A call to the REST API directly, as another client (another tab, a script) would make.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.map(|b| b.to_string()).unwrap_or_default())))
            .unwrap();
        let response = client.request(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// One JSON-RPC message to `POST /mcp` for `user` (the all-in-one app runs open, so the
    /// caller is the URL's `user_id`), as an MCP client over Streamable HTTP sends it.
    async fn mcp(&self, user: &str, message: Value) -> (StatusCode, Value) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/mcp?user_id={user}", self.base))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(Full::new(Bytes::from(message.to_string())))
            .unwrap();
        let response = client.request(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn stop(self) {
        self.app.stop().await.unwrap();
    }
}

/// A change made outside this page: the page must show it without a reload (the REST API, as
/// another tab or a script would call it; the MCP tools; the recurring-task consumer).
async fn changed_elsewhere_appears(browser: &mut Browser, title: &str, change: impl Future<Output = ()>) {
    change.await;
    let shown = format!(
        "[...document.querySelectorAll('#tasks li.task .title')].some((t) => t.textContent === {})",
        json!(title)
    );
    browser.wait_until(&format!("{title} shown live"), &shown, PATIENCE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_signs_in_plans_a_monthly_task_and_sees_every_change_arrive_without_a_reload() {
    let Some(mut browser) = Browser::start("all-in-one").await else { return };
    let app = App::start().await;
    let (status, _) = app.call(Method::POST, "/api/bob/tasks", Some(json!({"title": "Bob's private task"}))).await;
    assert_eq!(status, StatusCode::CREATED);

    // First load: the sign-in page, measured by the page itself.
    browser.goto(&format!("{}/", app.base)).await;
    browser.wait_until("the sign-in form", "!document.getElementById('dev-form').hidden", PATIENCE).await;
    let first = browser.first_load(PATIENCE).await;
    let paint = first.first_contentful_paint_ms.map_or_else(|| "not reported".to_owned(), |ms| format!("{ms:.0} ms"));
    println!(
        "first load (all-in-one): {} bytes transferred in {} requests ({} bytes for the page's own files, {} decoded); \
         first contentful paint {paint}, DOMContentLoaded {:.0} ms; {} bytes embedded",
        first.transferred_bytes,
        first.requests,
        first.page_bytes,
        first.decoded_bytes,
        first.dom_content_loaded_ms,
        todo_adapter_web::embedded_bytes(),
    );
    assert!(first.page_bytes > 0 && first.page_bytes < 100_000, "{first:?}");
    browser.screenshot("sign-in").await;

    browser.dev_sign_in(&format!("{}/", app.base), "alice").await;
    assert_eq!(browser.find("#whoami").await.text().await.unwrap(), "alice");
    browser.js("window.__sameDocument = 'still here';", vec![]).await;
    browser.screenshot("signed-in").await;

    // An empty title: the API's 422 shows beside the title field, and nothing is created.
    browser.click("#new-task").await;
    browser.wait_until("the task form", "document.getElementById('task-dialog').open", PATIENCE).await;
    browser.click("#t-save").await;
    browser.wait_until("the title's error", "document.getElementById('err-title').textContent !== ''", PATIENCE).await;
    let error = browser.find("#err-title").await.text().await.unwrap();
    assert!(error.starts_with("title:"), "the API's message, beside the field: {error}");
    assert_eq!(browser.find("#t-title").await.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    browser.screenshot("field-error").await;
    browser.click("#t-cancel").await;
    assert!(browser.tasks_shown().await.is_empty(), "nothing was created");

    // A monthly task due on January 31st.
    let first_id = browser
        .create_task(
            "Pay rent",
            &[
                ("#t-due", "2031-01-31T09:00"),
                ("#t-frequency", "monthly"),
                ("#t-tags", "home, bills"),
                ("#t-priority", "2"),
            ],
        )
        .await;
    browser.screenshot("monthly-task").await;
    let (_, body) = app.call(Method::GET, &format!("/api/alice/tasks/{first_id}"), None).await;
    assert_eq!(body["recurrence"], json!({"frequency": "monthly", "interval": 1}));
    assert_eq!(
        (body["due_date"].clone(), body["tags"].clone()),
        (json!("2031-01-31T09:00:00Z"), json!(["home", "bills"]))
    );

    // Completing it: the recurring-task consumer makes the next instance, capped at February's
    // end, and the page shows it.
    browser.click(&format!("#tasks li.task[data-id='{first_id}'] input.complete")).await;
    let next_shown = format!(
        "[...document.querySelectorAll('#tasks li.task')].some((li) => li.dataset.id !== '{first_id}' \
         && !li.classList.contains('done') && (li.querySelector('time.due') || {{}}).dateTime === '2031-02-28T09:00:00Z')"
    );
    browser.wait_until("the next instance", &next_shown, PATIENCE).await;
    let shown = browser.tasks_shown().await;
    assert!(shown.iter().any(|(id, _, done, _)| *id == first_id && *done), "the first one is done: {shown:?}");
    browser.screenshot("next-instance").await;

    // Changes made elsewhere arrive through the live feed.
    changed_elsewhere_appears(&mut browser, "Added in another tab", async {
        let (status, _) =
            app.call(Method::POST, "/api/alice/tasks", Some(json!({"title": "Added in another tab"}))).await;
        assert_eq!(status, StatusCode::CREATED);
    })
    .await;
    let renamed = browser.tasks_shown().await.into_iter().find(|(_, t, _, _)| t == "Added in another tab").unwrap().0;
    changed_elsewhere_appears(&mut browser, "Renamed by a script", async {
        let (status, _) = app
            .call(Method::PATCH, &format!("/api/alice/tasks/{renamed}"), Some(json!({"title": "Renamed by a script"})))
            .await;
        assert_eq!(status, StatusCode::OK);
    })
    .await;
    // And through the MCP endpoint, as an assistant would: the tool call publishes its event
    // like the REST call, and the page shows it.
    changed_elsewhere_appears(&mut browser, "Renamed through MCP", async {
        let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
            "name": "update_task", "arguments": {"task_id": renamed.parse::<u64>().unwrap(), "title": "Renamed through MCP"}}});
        let (status, answer) = app.mcp("alice", call).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["result"]["isError"], json!(false), "{answer}");
    })
    .await;
    assert_eq!(
        browser.js("return window.__sameDocument;", vec![]).await,
        json!("still here"),
        "no reload: the page is the one that was signed in"
    );
    browser.screenshot("changed-elsewhere").await;

    // The first task's history, from the audit log.
    browser.click(&format!("#tasks li.task[data-id='{first_id}'] button.history")).await;
    browser.wait_until("the history", "document.querySelectorAll('#history li').length >= 2", PATIENCE).await;
    let history = browser.find("#history").await.text().await.unwrap();
    assert!(history.contains("created") && history.contains("completed"), "{history}");
    browser.screenshot("history").await;
    browser.click("#history-close").await;

    // Filters: only what is open.
    browser.find("#f-status").await.select_by_value("false").await.unwrap();
    browser
        .wait_until(
            "open tasks only",
            "[...document.querySelectorAll('#tasks li.task')].every((li) => !li.classList.contains('done'))",
            PATIENCE,
        )
        .await;

    // Bob's task never appears, and the page's API answers for alice only.
    let text = browser.js("return document.body.innerText;", vec![]).await;
    assert!(!text.as_str().unwrap().contains("Bob's private task"), "another user's task is shown");
    let page = browser.js("return fetch('/ui/api/tasks?user_id=bob&limit=200').then((r) => r.json());", vec![]).await;
    assert!(page["items"].as_array().unwrap().iter().all(|t| t["user_id"] == "alice"), "{page}");

    // A phone-sized screen.
    browser.client().set_window_size(390, 844).await.unwrap();
    browser.screenshot("phone").await;

    browser.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_panel_says_what_to_set_when_no_model_is_configured() {
    let Some(mut browser) = Browser::start("all-in-one-chat").await else { return };
    let app = App::start().await;
    browser.dev_sign_in(&format!("{}/", app.base), "carol").await;
    browser.type_into("#chat-input", "what is due this week?").await;
    browser.click("#chat-send").await;
    // No model is configured: the route answers 503 chat_unavailable saying what to set, and the
    // panel shows that, not a blank or a stack trace.
    browser
        .wait_until(
            "the chat's answer",
            "document.querySelector('#chat-log li:last-child').textContent !== ''",
            PATIENCE,
        )
        .await;
    let answer = browser.find("#chat-log li:last-child").await.text().await.unwrap();
    println!("chat panel answered: {answer}");
    assert!(answer.contains("LLM_"), "what to set: {answer}");
    browser.screenshot("chat").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_panel_streams_a_turn_whose_tool_call_adds_a_task_to_the_list() {
    let Some(mut browser) = Browser::start("all-in-one-chat-turn").await else { return };
    // The model: a scripted server speaking the OpenAI wire format (no hosted model is reachable
    // from here); the assistant, its tools and the page are the real ones.
    let api = todo_adapter_llm::testing::ScriptedApi::start().await;
    api.reply(todo_adapter_llm::testing::Reply::tool_calls(
        "",
        &[("call_1", "add_task", json!({"title": "Buy milk"}))],
    ));
    api.reply(todo_adapter_llm::testing::Reply::text(&["Added ", "“Buy milk” ", "to your list."]));
    let settings = [
        ("LLM_BASE_URL", api.base_url()),
        ("LLM_API_KEY", "test-key".to_owned()),
        ("LLM_MODEL", "scripted".to_owned()),
    ];
    let app = App::start_with(&settings).await;
    browser.dev_sign_in(&format!("{}/", app.base), "dana").await;
    browser.js("window.__sameDocument = 'still here';", vec![]).await;
    browser.type_into("#chat-input", "remind me to buy milk").await;
    browser.click("#chat-send").await;
    browser
        .wait_until(
            "the streamed answer",
            "document.querySelector('#chat-log li:last-child').textContent === 'Added “Buy milk” to your list.'",
            PATIENCE,
        )
        .await;
    let tool = browser.find("#chat-log li.tool").await.text().await.unwrap();
    assert!(tool.starts_with("add_task(") && tool.contains("Buy milk"), "the tool call is shown: {tool}");
    changed_elsewhere_appears(&mut browser, "Buy milk", async {}).await;
    assert_eq!(browser.js("return window.__sameDocument;", vec![]).await, json!("still here"), "no reload");
    let asked = api.asked();
    assert!(asked[0].tool_names().iter().any(|t| t == "add_task"), "the tools were offered");
    assert!(
        asked[0].messages().iter().any(|m| m["role"] == "user" && m["content"] == "remind me to buy milk"),
        "the user's message was sent: {:?}",
        asked[0].messages()
    );
    let (_, tasks) = app.call(Method::GET, "/api/dana/tasks", None).await;
    assert_eq!(tasks["items"][0]["title"], json!("Buy milk"), "the tool ran as dana: {tasks}");
    browser.screenshot("chat-turn").await;
    browser.close().await;
    app.stop().await;
}
