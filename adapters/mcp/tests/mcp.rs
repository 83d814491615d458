//! The MCP server over real HTTP on loopback, driven by the official Rust SDK's client
//! (Streamable HTTP): the handshake, the catalogue, every tool, refusals as tool results, the
//! guard's 401s, and a token that acts for its own user only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;

use http::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, CallToolResult, ProtocolVersion};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientLifecycleMode, ClientServiceExt, RoleClient, ServiceExt};
use serde_json::{Value, json};
use todo_adapter_tools::TaskTools;
use todo_auth::testing::hs256;
use todo_ports::ToolBox;
use todo_ports::model::{Event, Topic};

use support::{App, SECRET, System, post, token};

type Client = RunningService<RoleClient, ()>;

/// How a client reaches `app`, with `token` if any.
fn config(app: &App, token: Option<&str>) -> StreamableHttpClientTransportConfig {
    let config = StreamableHttpClientTransportConfig::with_uri(app.url());
    match token {
        Some(token) => config.auth_header(token),
        None => config,
    }
}

/// A client that has initialized with `app` as `user`.
async fn client(app: &App, user: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(config(app, Some(&token(user))));
    ().serve(transport).await.expect("the handshake succeeds")
}

/// A server over a fresh system, and a client initialized with it as `ada`.
struct Session {
    system: System,
    app: App,
    client: Client,
}

impl Session {
    async fn start() -> Self {
        let system = System::new();
        let app = App::start(&system).await;
        let client = client(&app, "ada").await;
        Self { system, app, client }
    }

    async fn end(self) {
        self.client.cancel().await.unwrap();
        self.app.stop().await;
    }
}

async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else { panic!("arguments are an object") };
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(args);
    client.call_tool(params).await.unwrap_or_else(|e| panic!("{tool}: a protocol error: {e}"))
}

/// The JSON result of a call that succeeded (its text content says the same).
async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let result = call(client, tool, args.clone()).await;
    assert_eq!(result.is_error, Some(false), "{tool} {args}: {result:?}");
    let value = result.structured_content.clone().expect("a structured result");
    let text = result.content[0].as_text().expect("a text content").text.clone();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), value, "the text is the same JSON");
    value
}

/// The text and structured error of a call the tool refused.
async fn refused(client: &Client, tool: &str, args: Value) -> (String, Value) {
    let result = call(client, tool, args.clone()).await;
    assert_eq!(result.is_error, Some(true), "{tool} {args}: {result:?}");
    let text = result.content[0].as_text().expect("a text content").text.clone();
    (text, result.structured_content.expect("the error body")["error"].clone())
}

#[tokio::test]
async fn the_handshake_names_the_server_and_the_catalogue_is_the_toolboxs() {
    let session = Session::start().await;
    let (system, client) = (&session.system, &session.client);
    let info = client.peer_info().expect("the server's answer to initialize");
    assert_eq!(info.server_info.as_ref().map(|s| s.name.as_str()), Some("todo"));
    assert!(info.capabilities.tools.is_some(), "it offers tools");
    assert!(info.instructions.as_deref().is_some_and(|i| i.contains("task_id")), "{info:?}");
    let tools = client.list_all_tools().await.unwrap();
    let specs = TaskTools::new(system.todo.tasks.clone()).specs();
    assert_eq!(tools.len(), specs.len());
    for (tool, spec) in tools.iter().zip(&specs) {
        assert_eq!(tool.name, spec.name);
        assert_eq!(tool.description.as_deref(), Some(spec.description.as_str()));
        assert_eq!(Value::Object(tool.input_schema.as_ref().clone()), spec.input_schema, "{}", spec.name);
    }
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        ["add_task", "list_tasks", "search_tasks", "get_task", "update_task", "complete_task", "delete_task"]
    );
    session.end().await;
}

#[tokio::test]
async fn every_tool_works_over_http_for_the_caller_and_publishes_its_events() {
    let session = Session::start().await;
    let (system, client) = (&session.system, &session.client);
    let rent = ok(
        client,
        "add_task",
        json!({"title": "Pay rent", "due_date": "2028-01-31T09:00:00Z", "recurrence": {"frequency": "monthly"}, "priority_id": 1}),
    )
    .await;
    assert_eq!((&rent["id"], &rent["user_id"], &rent["title"]), (&json!(1), &json!("ada"), &json!("Pay rent")));
    assert_eq!(rent["recurrence"], json!({"frequency": "monthly", "interval": 1}));
    ok(client, "add_task", json!({"title": "Buy milk", "tags": ["errands"]})).await;
    let page = ok(client, "list_tasks", json!({"sort": "priority", "limit": 10})).await;
    assert_eq!((&page["total"], &page["limit"], &page["offset"]), (&json!(2), &json!(10), &json!(0)));
    assert_eq!(page["items"][0], rent);
    let found = ok(client, "search_tasks", json!({"q": "MILK"})).await;
    assert_eq!(found["items"].as_array().unwrap().len(), 1);
    assert_eq!(found["items"][0]["tags"], json!(["errands"]));
    assert_eq!(ok(client, "get_task", json!({"task_id": 1})).await, rent);
    let updated = ok(client, "update_task", json!({"task_id": 2, "title": "Buy oat milk", "priority_id": 3})).await;
    assert_eq!((&updated["title"], &updated["priority_id"]), (&json!("Buy oat milk"), &json!(3)));
    let done = ok(client, "complete_task", json!({"task_id": 1})).await;
    assert_eq!(done["completed"], json!(true));
    assert_eq!(ok(client, "delete_task", json!({"task_id": 2})).await, json!({"task_id": 2, "deleted": true}));
    assert_eq!(system.titles("ada").await, ["Pay rent"]);
    let published: Vec<(Topic, String)> =
        system.events().await.into_iter().map(|(topic, e)| (topic, e.event_type().to_owned())).collect();
    let on = |topic: Topic| -> Vec<&str> {
        published.iter().filter(|(t, _)| *t == topic).map(|(_, ty)| ty.as_str()).collect()
    };
    let expected = ["task.created", "task.created", "task.updated", "task.completed", "task.deleted"];
    assert_eq!((on(Topic::TaskEvents), on(Topic::TaskUpdates)), (expected.to_vec(), expected.to_vec()));
    session.end().await;
}

#[tokio::test]
async fn a_refused_call_is_a_tool_result_marked_as_an_error_naming_the_field() {
    let session = Session::start().await;
    let (system, client) = (&session.system, &session.client);
    let (text, error) = refused(client, "add_task", json!({"title": "   "})).await;
    assert_eq!(text, "title: must not be blank");
    assert_eq!(error, json!({"code": "validation_failed", "message": "title: must not be blank", "field": "title"}));
    let (text, error) = refused(client, "add_task", json!({"title": "x", "recurrence": {"frequency": "yearly"}})).await;
    assert!(text.starts_with("recurrence.frequency: "), "{text}");
    assert_eq!(error["field"], "recurrence.frequency");
    let (text, _) = refused(client, "list_tasks", json!({"limit": 0})).await;
    assert_eq!(text, "limit: must be an integer from 1 to 200");
    let (text, _) = refused(client, "get_task", json!({"task_id": "seven"})).await;
    assert_eq!(text, "task_id: must be a task id, a positive integer such as 7");
    let (text, error) = refused(client, "get_task", json!({"task_id": 7})).await;
    assert_eq!((text.as_str(), &error["code"]), ("task not found", &json!("not_found")));
    let (text, error) = refused(client, "drop_tables", json!({})).await;
    assert_eq!((text.as_str(), &error["code"]), ("no tool named \"drop_tables\"", &json!("unknown_tool")));
    assert!(system.titles("ada").await.is_empty(), "nothing was written");
    assert!(system.events().await.is_empty());
    session.end().await;
}

#[tokio::test]
async fn a_token_acts_for_its_own_user_and_never_reaches_anothers_tasks() {
    let (system, app) = App::fresh().await;
    let (ada_client, bob_client) = (client(&app, "ada").await, client(&app, "bob").await);
    let (ada, bob) = (&ada_client, &bob_client);
    let mine = ok(ada, "add_task", json!({"title": "Ada's secret"})).await;
    for (tool, args) in [
        ("get_task", json!({"task_id": 1})),
        ("update_task", json!({"task_id": 1, "title": "Bob's now"})),
        ("complete_task", json!({"task_id": 1})),
        ("delete_task", json!({"task_id": 1})),
    ] {
        assert_eq!(refused(bob, tool, args).await.0, "task not found", "{tool}");
    }
    let (text, error) = refused(bob, "add_task", json!({"title": "planted", "user_id": "ada"})).await;
    assert_eq!(error["field"], "user_id", "{text}");
    assert_eq!(ok(bob, "list_tasks", json!({})).await["total"], 0);
    assert_eq!(ok(bob, "search_tasks", json!({"q": "secret"})).await["items"], json!([]));
    let bobs = ok(bob, "add_task", json!({"title": "Bob's own"})).await;
    assert_eq!(bobs["user_id"], "bob");
    assert_eq!(ok(ada, "get_task", json!({"task_id": 1})).await, mine, "untouched");
    assert_eq!(
        (system.titles("ada").await, system.titles("bob").await),
        (vec!["Ada's secret".to_owned()], vec!["Bob's own".to_owned()])
    );
    let mut created: Vec<(String, String)> = system
        .events()
        .await
        .into_iter()
        .map(|(_, e)| match e {
            Event::Task(e) => (e.data.user_id.to_string(), e.data.title),
            other => panic!("{other:?}"),
        })
        .collect();
    created.sort();
    let ada = ("ada".to_owned(), "Ada's secret".to_owned());
    let bob = ("bob".to_owned(), "Bob's own".to_owned());
    assert_eq!(created, [ada.clone(), ada, bob.clone(), bob], "a create per topic each, for its caller only");
    for client in [ada_client, bob_client] {
        client.cancel().await.unwrap();
    }
    app.stop().await;
}

#[tokio::test]
async fn without_a_valid_token_the_server_is_not_reached() {
    let (system, app) = App::fresh().await;
    let anonymous = ().serve(StreamableHttpClientTransport::from_config(config(&app, None))).await;
    assert!(anonymous.is_err(), "no token, no handshake");
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"title": "sneaked in"}}});
    let expired = hs256(SECRET.as_bytes(), "ada").expires_in(-3600).sign();
    let forged = hs256(b"another-secret-of-more-than-32-bytes", "ada").sign();
    for token in [None, Some(expired.as_str()), Some(forged.as_str()), Some("garbage")] {
        for message in [&initialize, &call] {
            let answer = post(&app.url(), token, message.clone()).await;
            assert_eq!(answer.status, 401, "{token:?}");
            assert!(answer.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
            assert_eq!(answer.body["error"]["code"], "unauthorized");
        }
    }
    let ada = token("ada");
    let elsewhere = post(&format!("{}?user_id=bob", app.url()), Some(&ada), call.clone()).await;
    assert_eq!((elsewhere.status, &elsewhere.body["error"]["code"]), (403, &json!("forbidden")));
    assert!(system.titles("ada").await.is_empty() && system.titles("bob").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn no_session_is_kept_so_any_replica_answers_any_request() {
    let system = System::new();
    let (first, second) = (App::start(&system).await, App::start(&system).await);
    let ada = token("ada");
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}});
    let answer = post(&first.url(), Some(&ada), initialize).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.headers.get("mcp-session-id").is_none(), "no session");
    assert!(answer.headers["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(answer.body["result"]["serverInfo"]["name"], "todo");
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"title": "Pay rent"}}});
    let answer = post(&second.url(), Some(&ada), call).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["result"]["structuredContent"]["title"], "Pay rent");
    assert_eq!(answer.body["result"]["isError"], false);
    let stream = support::http(
        "GET",
        &first.url(),
        &[("authorization", &format!("Bearer {ada}")), ("accept", "text/event-stream")],
        None,
    )
    .await;
    assert_eq!((stream.status, stream.headers["allow"].to_str().unwrap()), (405, "POST"));
    assert_eq!(stream.body["error"]["code"], "method_not_allowed", "a JSON error body, as every route's");
    // A client of the newest protocol discovers instead of initializing, and calls as well.
    let modern = ()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(config(&second, Some(&ada))),
            ClientLifecycleMode::Discover { preferred_versions: vec![ProtocolVersion::V_2026_07_28] },
        )
        .await
        .expect("discovery succeeds");
    assert_eq!(ok(&modern, "list_tasks", json!({})).await["items"][0]["title"], "Pay rent");
    modern.cancel().await.unwrap();
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_call_runs_in_the_requests_trace_so_its_events_carry_it() {
    let (system, app) = App::fresh().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let headers = HashMap::from([(
        HeaderName::from_static("traceparent"),
        HeaderValue::from_str(&format!("00-{trace_id}-00f067aa0ba902b7-01")).unwrap(),
    )]);
    let traced = config(&app, Some(&token("ada"))).custom_headers(headers);
    let client = ().serve(StreamableHttpClientTransport::from_config(traced)).await.unwrap();
    ok(&client, "add_task", json!({"title": "Traced"})).await;
    let events = system.events().await;
    assert!(!events.is_empty());
    for (_, event) in events {
        let Event::Task(event) = event else { panic!("a task event") };
        assert_eq!(event.trace.0.as_ref().map(|t| t.trace_id().to_owned()).as_deref(), Some(trace_id));
    }
    client.cancel().await.unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_the_servers_limit_is_refused_as_the_server_refuses_it() {
    let (system, app) = App::fresh().await;
    let title = "x".repeat(2 * 1024 * 1024);
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"title": title}}});
    let answer = post(&app.url(), Some(&token("ada")), call).await;
    assert_eq!((answer.status, &answer.body["error"]["code"]), (413, &json!("payload_too_large")));
    assert!(system.titles("ada").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn the_host_header_can_be_held_to_a_list() {
    let system = System::new();
    let tools = std::sync::Arc::new(TaskTools::new(system.todo.tasks.clone()));
    let config = todo_adapter_mcp::McpConfig { allowed_hosts: vec!["todo.example".into()] };
    // The guard off: the caller is the `user_id` the URL names.
    let app = App::serve(todo_auth::guard(todo_adapter_mcp::routes(tools, config), todo_auth::Guard::Off)).await;
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"title": "Pay rent"}}});
    let headers = [("content-type", "application/json"), ("accept", "application/json, text/event-stream")];
    let url = format!("{}?user_id=ada", app.url());
    let refused = support::http("POST", &url, &headers, Some(call.clone())).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let allowed = [headers[0], headers[1], ("host", "todo.example")];
    let answer = support::http("POST", &url, &allowed, Some(call.clone())).await;
    assert_eq!((answer.status, &answer.body["result"]["structuredContent"]["user_id"]), (200, &json!("ada")));
    let nobody = support::http("POST", &app.url(), &allowed, Some(call)).await;
    assert_eq!((nobody.status, &nobody.body["error"]["code"]), (401, &json!("unauthorized")), "no caller, no call");
    assert_eq!(system.titles("ada").await, ["Pay rent"]);
    app.stop().await;
}
