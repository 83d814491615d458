//! The OpenID Connect sign-in in a real browser: the frontend app (started in process) sends
//! headless Chromium to Dex (`infra/local/dex`, a real OpenID provider), alice types her
//! password on Dex's own form, and she comes back signed in through the authorization-code
//! flow with PKCE, Dex's ID token held in the sealed session cookie as the bearer the services
//! verify (against Dex's key set). The services are the all-in-one app verifying Dex's tokens;
//! between the frontend and it stands a stand-in for the frontend's sidecar that forwards
//! `/v1.0/invoke/{app}/method/…` to it (the real sidecars are `tests/frontend.rs`'s).
//!
//! The frontend listens where Dex sends the browser back: `OIDC_REDIRECT_URL` of `dex.env`
//! (`http://127.0.0.1:8080/auth/callback` with `infra/local/dex up`'s defaults), so Dex runs
//! as the lead started it. Screenshots go to `target/browser-artifacts/oidc/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is its failure

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use todo_e2e::browser::Browser;
use tokio::sync::oneshot;

const PATIENCE: Duration = Duration::from_secs(30);

/// `dex.env` of the running Dex, or `None` (after a loud message) when Dex is not up and
/// `TODO_REQUIRE_STACK` is unset.
fn dex_env() -> Option<HashMap<String, String>> {
    let run = std::env::var("TODO_STACK_RUN").unwrap_or_else(|_| "/tmp/todo-stack".into());
    let path = std::path::Path::new(&run).join("dex.env");
    let Ok(text) = std::fs::read_to_string(&path) else {
        let message = format!("{} missing: run infra/local/dex up", path.display());
        assert!(std::env::var_os("TODO_REQUIRE_STACK").is_none(), "{message} (TODO_REQUIRE_STACK is set)");
        eprintln!("SKIPPED: {message}");
        return None;
    };
    Some(
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
    )
}

/// A server on `listener` until the returned sender fires.
fn serve(listener: tokio::net::TcpListener, router: Router) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    stop
}

/// The stand-in sidecar: `/v1.0/invoke/{app}/method/{path}` to `target/{path}`, headers and
/// body as they came; its health checks answer 204.
async fn invoke(State(target): State<String>, request: Request) -> Response {
    let client: Client<HttpConnector, Body> = Client::builder(TokioExecutor::new()).build_http();
    let (mut parts, body) = request.into_parts();
    let path_and_query = parts.uri.path_and_query().map(|pq| pq.as_str().to_owned()).unwrap_or_default();
    let Some((_, rest)) = path_and_query.split_once("/method/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    parts.uri = format!("{target}/{rest}").parse().unwrap();
    parts.headers.remove("host");
    match client.request(Request::from_parts(parts, body)).await {
        Ok(answer) => {
            let (parts, body) = answer.into_parts();
            let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(e) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!(r#"{{"errorCode":"ERR_DIRECT_INVOKE","message":"{e}"}}"#))
                .into_response()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_signs_in_through_dex_with_the_code_flow_and_pkce_and_uses_her_tasks() {
    let Some(dex) = dex_env() else { return };
    let Some(mut browser) = Browser::start("oidc").await else { return };
    let setting = |k: &str| dex.get(k).cloned().unwrap_or_else(|| panic!("dex.env has no {k}"));

    // The services, verifying Dex's ID tokens as `Oidc::service_settings` says.
    let services_auth: Vec<(&str, String)> =
        ["AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE", "AUTH_USER_CLAIM"].map(|k| (k, setting(k))).into();
    let config =
        todo_runtime::Config::from_lookup(|k| services_auth.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone()))
            .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let services = format!("http://{}", listener.local_addr().unwrap());
    let (stop_services, services_stopped) = oneshot::channel::<()>();
    let services_done = tokio::spawn(todo_runtime::run(config, listener, async move {
        let _ = services_stopped.await;
    }));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sidecar = format!("http://{}", listener.local_addr().unwrap());
    let stop_sidecar = serve(
        listener,
        Router::new()
            .route("/v1.0/healthz", get(|| async { StatusCode::NO_CONTENT }))
            .route("/v1.0/healthz/outbound", get(|| async { StatusCode::NO_CONTENT }))
            .route("/v1.0/invoke/{*rest}", any(invoke))
            .with_state(services.clone()),
    );

    // The frontend, where Dex sends the browser back.
    let redirect = setting("OIDC_REDIRECT_URL");
    let origin = redirect.trim_end_matches("/auth/callback").to_owned();
    let address = origin.trim_start_matches("http://").to_owned();
    let mut frontend_settings: Vec<(&str, String)> =
        ["OIDC_ISSUER_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_REDIRECT_URL"]
            .map(|k| (k, setting(k)))
            .into();
    frontend_settings.extend([("DAPR_HTTP_ENDPOINT", sidecar), ("SYNC_URL", services.clone())]);
    frontend_settings.extend(services_auth.iter().cloned());
    let config = todo_frontend::FrontendConfig::from_lookup(|k| {
        frontend_settings.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .unwrap_or_else(|e| panic!("the frontend must listen on {address} (Dex's redirect URI): {e}"));
    let (stop_frontend, frontend_stopped) = oneshot::channel::<()>();
    let frontend_done = tokio::spawn(todo_frontend::run(config, listener, async move {
        let _ = frontend_stopped.await;
    }));

    // Signed out: the page offers the provider's sign-in, and no development sign-in.
    browser.goto(&format!("{origin}/")).await;
    browser.wait_until("the provider's sign-in", "!document.getElementById('oidc-box').hidden", PATIENCE).await;
    assert_eq!(browser.js("return document.getElementById('dev-form').hidden;", vec![]).await, json!(true));
    browser.screenshot("signed-out").await;

    // To Dex: an authorization request with a PKCE S256 challenge, then Dex's own login form.
    browser.click("#oidc-link").await;
    browser.wait_until("Dex's login form", "!!document.querySelector('input[name=password]')", PATIENCE).await;
    let at_dex = browser.client().current_url().await.unwrap();
    assert!(at_dex.as_str().starts_with(&setting("OIDC_ISSUER_URL")), "at the provider: {at_dex}");
    browser.screenshot("dex-login").await;
    browser.type_into("input[name=login]", &setting("TODO_DEX_USER1_EMAIL")).await;
    browser.type_into("input[name=password]", &setting("TODO_DEX_USER1_PASSWORD")).await;
    browser.click("button[type=submit]").await;

    // Back through the callback: signed in as alice, with no token the page could read.
    let alice = setting("TODO_DEX_USER1_EMAIL");
    let signed_in = format!(
        "!document.getElementById('app').hidden && document.getElementById('whoami').textContent === {}",
        json!(alice)
    );
    browser.wait_until("signed in as alice", &signed_in, PATIENCE).await;
    let url = browser.client().current_url().await.unwrap();
    assert_eq!(url.as_str(), format!("{origin}/"), "the callback redirects to the page, without code or state");
    let readable = browser.js("return document.cookie;", vec![]).await;
    assert!(!readable.as_str().unwrap_or_default().contains("eyJ"), "no token readable by the page: {readable}");
    let session = browser.js("return fetch('/ui/session').then((r) => r.json());", vec![]).await;
    assert_eq!(session["via"], json!("oidc"), "{session}");

    // Dex's ID token is what the services get: alice's own tasks, created and listed.
    browser.create_task("Booked through Dex", &[("#t-priority", "3")]).await;
    let page = browser.js("return fetch('/ui/api/tasks').then((r) => r.json());", vec![]).await;
    assert_eq!(page["items"][0]["user_id"], json!(alice), "{page}");
    browser
        .wait_until("the live feed", "document.getElementById('live-status').textContent === 'live'", PATIENCE)
        .await;
    browser.screenshot("signed-in-through-dex").await;

    browser.close().await;
    let _ = stop_frontend.send(());
    let _ = frontend_done.await;
    let _ = stop_sidecar.send(());
    let _ = stop_services.send(());
    let _ = services_done.await;
}
