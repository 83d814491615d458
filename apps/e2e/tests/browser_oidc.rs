//! The OpenID Connect sign-in in a real browser, on the split: every service and the frontend
//! their own process with their own `daprd`, started by `infra/local/services` with
//! `TODO_SERVICES_OIDC` pointing at the running Dex's `dex.env` (`infra/local/dex`, a real
//! OpenID provider). Headless Chromium goes from the frontend to Dex, alice types her password
//! on Dex's own form and comes back signed in through the authorization-code flow with PKCE,
//! Dex's ID token held in the sealed session cookie as the bearer the services verify against
//! Dex's key set (they hold no shared secret). Her task goes through the frontend's sidecar to
//! the backend's and shows; bob, signed in after her in the same browser, never sees it.
//!
//! The split runs at offset 14000, so the frontend listens on 127.0.0.1:17000 and its callback,
//! `http://127.0.0.1:17000/auth/callback`, is one of Dex's redirect URIs by `infra/local/dex
//! up`'s defaults. Screenshots go to `target/browser-artifacts/oidc/`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is its failure

use std::time::Duration;

use hyper::{Method, StatusCode};
use serde_json::{Value, json};
use todo_contract_tests::stack;
use todo_e2e::browser::Browser;
use todo_e2e::{Split, unique, wait_until};

const PATIENCE: Duration = Duration::from_secs(30);
/// The split's ports: the frontend on 3000 + 14000, the callback Dex allows by default.
const OFFSET: u16 = 14000;

/// Signs `email` in from the signed-out page at `origin`, on Dex's own form, and waits until
/// the page shows the task list as theirs.
async fn sign_in_at_dex(browser: &mut Browser, origin: &str, issuer: &str, email: &str, password: &str, who: &str) {
    browser.wait_until("the provider's sign-in", "!document.getElementById('oidc-box').hidden", PATIENCE).await;
    assert_eq!(
        browser.js("return document.getElementById('dev-form').hidden;", vec![]).await,
        json!(true),
        "no development sign-in beside the provider's"
    );
    browser.click("#oidc-link").await;
    browser.wait_until("Dex's login form", "!!document.querySelector('input[name=password]')", PATIENCE).await;
    let at_dex = browser.client().current_url().await.unwrap();
    assert!(at_dex.as_str().starts_with(issuer), "at the provider: {at_dex}");
    browser.screenshot(&format!("{who}-dex-login")).await;
    browser.type_into("input[name=login]", email).await;
    browser.type_into("input[name=password]", password).await;
    browser.click("button[type=submit]").await;

    let signed_in = format!(
        "!document.getElementById('app').hidden && document.getElementById('whoami').textContent === {}",
        json!(email)
    );
    browser.wait_until(&format!("signed in as {who}"), &signed_in, PATIENCE).await;
    let url = browser.client().current_url().await.unwrap();
    assert_eq!(url.as_str(), format!("{origin}/"), "the callback redirects to the page, without code or state");
    let readable = browser.js("return document.cookie;", vec![]).await;
    assert!(!readable.as_str().unwrap_or_default().contains("eyJ"), "no token readable by the page: {readable}");
    let session = browser.js("return fetch('/ui/session').then((r) => r.json());", vec![]).await;
    assert_eq!((session["via"].clone(), session["user_id"].clone()), (json!("oidc"), json!(email)), "{session}");
    browser
        .wait_until("the live feed", "document.getElementById('live-status').textContent === 'live'", PATIENCE)
        .await;
}

/// The tasks the UI's API lists for the signed-in user: `(user_id, title)` each.
async fn listed(browser: &Browser) -> Vec<(String, String)> {
    let page: Value = browser.js("return fetch('/ui/api/tasks?limit=100').then((r) => r.json());", vec![]).await;
    let items = page["items"].as_array().unwrap_or_else(|| panic!("a page of tasks: {page}"));
    items
        .iter()
        .map(|t| {
            (t["user_id"].as_str().unwrap_or_default().to_owned(), t["title"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alice_signs_in_through_dex_on_the_split_and_bob_never_sees_her_task() {
    let Some(dex) = stack::dex("browser_oidc") else { return };
    let setting = |k: &str| dex.get(k).cloned().unwrap_or_else(|| panic!("dex.env has no {k}"));
    let callback = format!("http://127.0.0.1:{}/auth/callback", 3000 + OFFSET);
    assert!(
        setting("TODO_DEX_REDIRECT_URIS").split_whitespace().any(|u| u == callback),
        "Dex must allow {callback}: run infra/local/dex up (its default redirect URIs include it)"
    );
    let dex_file = stack::dex_env_file().to_str().unwrap().to_owned();
    let Some(split) = Split::up_with("oidc", OFFSET, &[("TODO_SERVICES_OIDC", &dex_file)]) else { return };
    let Some(mut browser) = Browser::start("oidc").await else { return };
    let origin = split.url("frontend", 0);
    let issuer = setting("OIDC_ISSUER_URL");

    // The backend, reached past the sidecars, takes no request without a token; with the
    // provider's keys it holds no secret a token could be signed with here.
    let tasks = format!("{}/api/alice/tasks", split.url("backend", 0));
    assert_eq!(split.call(Method::GET, &tasks, None, None).await.status, StatusCode::UNAUTHORIZED);

    // Signed out: the page offers the provider's sign-in only. Alice signs in on Dex's form.
    browser.goto(&format!("{origin}/")).await;
    browser.wait_until("the provider's sign-in", "!document.getElementById('oidc-box').hidden", PATIENCE).await;
    browser.screenshot("signed-out").await;
    let alice = setting("TODO_DEX_USER1_EMAIL");
    sign_in_at_dex(&mut browser, &origin, &issuer, &alice, &setting("TODO_DEX_USER1_PASSWORD"), "alice").await;

    // Her task, through the frontend's sidecar to the backend's, which verified Dex's token.
    let hers = unique("Booked through Dex");
    let hers_id = browser.create_task(&hers, &[("#t-priority", "3")]).await;
    let listed_for_alice = listed(&browser).await;
    assert!(listed_for_alice.contains(&(alice.clone(), hers.clone())), "{listed_for_alice:?}");
    assert!(listed_for_alice.iter().all(|(owner, _)| *owner == alice), "only alice's: {listed_for_alice:?}");
    browser.screenshot("alice-signed-in-through-dex").await;

    // Alice signs out; bob signs in in the same browser, on Dex's form again.
    browser.click("#signout").await;
    browser.wait_until("signed out", "document.getElementById('app').hidden", PATIENCE).await;
    let session = browser.js("return fetch('/ui/session').then((r) => r.json());", vec![]).await;
    assert_eq!(session["signed_in"], json!(false), "{session}");
    let bob = setting("TODO_DEX_USER2_EMAIL");
    sign_in_at_dex(&mut browser, &origin, &issuer, &bob, &setting("TODO_DEX_USER2_PASSWORD"), "bob").await;

    // Bob's list, on the page and from the API, holds none of alice's tasks.
    let his = unique("Bob's own");
    browser.create_task(&his, &[]).await;
    let shown: Vec<String> = browser.tasks_shown().await.into_iter().map(|(_, title, _, _)| title).collect();
    assert!(shown.contains(&his), "{shown:?}");
    assert!(!shown.contains(&hers), "bob's page never shows alice's task: {shown:?}");
    let listed_for_bob = listed(&browser).await;
    assert!(listed_for_bob.iter().all(|(owner, _)| *owner == bob), "only bob's: {listed_for_bob:?}");
    // Her task by its id, asked for in bob's session: the backend looks under bob's tasks only.
    let status =
        browser.js("return fetch('/ui/api/tasks/' + arguments[0]).then((r) => r.status);", vec![json!(hers_id)]).await;
    assert_eq!(status, json!(404), "alice's task by id, in bob's session");
    // The backend itself answered it, under the user Dex's token named (ids are unique: this run's).
    let path = format!("{:?}", format!("/api/{bob}/tasks/{hers_id}"));
    wait_until("the backend's 404 for bob's request", PATIENCE, async || {
        split.log("backend", 0).iter().any(|l| l["fields"]["path"] == path.as_str() && l["fields"]["status"] == 404)
    })
    .await;
    browser.screenshot("bob-signed-in-through-dex").await;

    browser.close().await;
    drop(split);
}
