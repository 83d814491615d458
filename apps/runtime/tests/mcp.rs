//! `/mcp` in the apps: the backend and the all-in-one app serve it behind the guard, over the
//! same use cases as the REST API; a service without the backend role does not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use todo_auth::testing::hs256;
use todo_runtime::{Background, Config, Service};

const SECRET: &str = "a-test-secret-of-more-than-32-bytes!";

/// Runs `service` on a loopback port, with authentication by `SECRET` unless `vars` set
/// `AUTH_MODE`; `f` gets its address.
async fn with_app(service: Service, vars: &[(&str, &str)], f: impl AsyncFnOnce(String)) {
    let mut vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    if !vars.contains_key("AUTH_MODE") {
        vars.insert("AUTH_JWT_SECRET".into(), SECRET.into());
    }
    let mut config = Config::for_service(service, |k| vars.get(k).cloned()).unwrap();
    config.sweep_interval = None;
    let app = Background::on_loopback(config).await.unwrap();
    f(app.base_url()).await;
    app.stop().await.unwrap();
}

async fn send(method: Method, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
    let response = client.request(request.body(Full::new(body)).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
}

fn add_task(title: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"title": title}}})
}

/// Adds a task through `/mcp` and reads it back through REST; without a token `/mcp` is 401.
async fn serves_mcp(base: String) {
    let ada = hs256(SECRET.as_bytes(), "ada").sign();
    let (status, answer) = send(Method::POST, &format!("{base}/mcp"), Some(&ada), Some(add_task("Pay rent"))).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["structuredContent"]["user_id"], "ada");
    let (status, page) = send(Method::GET, &format!("{base}/api/ada/tasks"), Some(&ada), None).await;
    assert_eq!((status, &page["items"][0]["title"]), (200, &json!("Pay rent")), "the same use cases as REST");
    let (status, refused) = send(Method::POST, &format!("{base}/mcp"), None, Some(add_task("sneaked in"))).await;
    assert_eq!((status, &refused["error"]["code"]), (401, &json!("unauthorized")));
    assert_eq!(send(Method::GET, &format!("{base}/api/ada/tasks"), Some(&ada), None).await.1["total"], 1);
}

#[tokio::test]
async fn the_backend_serves_mcp_behind_the_guard() {
    with_app(Service::Backend, &[], serves_mcp).await;
}

#[tokio::test]
async fn the_all_in_one_app_serves_mcp_behind_the_guard() {
    with_app(Service::AllInOne, &[], serves_mcp).await;
}

/// On loopback with authentication off (`cargo run` with nothing set), as the REST routes take
/// the path's `{user_id}`, `/mcp` acts for the `user_id` of its URL, and for no one without it.
#[tokio::test]
async fn the_open_all_in_one_app_acts_for_the_user_id_of_the_url() {
    with_app(Service::AllInOne, &[("AUTH_MODE", "none")], async |base: String| {
        let url = format!("{base}/mcp?user_id=ada");
        let (status, answer) = send(Method::POST, &url, None, Some(add_task("Pay rent"))).await;
        assert_eq!((status, &answer["result"]["structuredContent"]["user_id"]), (200, &json!("ada")), "{answer}");
        let (status, page) = send(Method::GET, &format!("{base}/api/ada/tasks"), None, None).await;
        assert_eq!((status, &page["items"][0]["title"]), (200, &json!("Pay rent")));
        let (status, refused) = send(Method::POST, &format!("{base}/mcp"), None, Some(add_task("nobody's"))).await;
        assert_eq!((status, &refused["error"]["code"]), (401, &json!("unauthorized")));
    })
    .await;
}

#[tokio::test]
async fn a_service_without_the_backend_role_serves_no_mcp() {
    with_app(Service::Audit, &[], async |base: String| {
        let ada = hs256(SECRET.as_bytes(), "ada").sign();
        let (status, answer) = send(Method::POST, &format!("{base}/mcp"), Some(&ada), Some(add_task("x"))).await;
        assert_eq!((status, &answer["error"]["code"]), (404, &json!("not_found")));
    })
    .await;
}
