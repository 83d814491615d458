//! The guard in front of a router: who gets through, with which `Caller`, and what the others
//! are answered; routes that count their calls show that a refused request reaches no handler.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::routing::get;
use http::header::{AUTHORIZATION, CONTENT_TYPE, UPGRADE, WWW_AUTHENTICATE};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::Value;
use todo_auth::testing::{TestIssuer, hs256};
use todo_auth::{AuthConfig, AuthConfigError, Guard, JwtConfig, JwtVerifier, WhenUnconfigured, guard};
use todo_ports::Caller;
use tower::ServiceExt;

const SECRET: &str = "a-test-secret-of-more-than-32-bytes!";

/// A handler that counts its calls and answers with the caller it was given.
async fn echo_caller(State(calls): State<Arc<AtomicUsize>>, request: Request) -> String {
    calls.fetch_add(1, Ordering::SeqCst);
    request.extensions().get::<Caller>().map_or_else(|| "nobody".to_owned(), |Caller(user)| user.to_string())
}

struct App {
    router: Router,
    calls: Arc<AtomicUsize>,
}

fn app(auth: Guard) -> App {
    let calls = Arc::new(AtomicUsize::new(0));
    let user_routes = Router::new()
        .route("/api/{user_id}/tasks", get(echo_caller))
        .route("/api/{user_id}/tasks/{task_id}", get(echo_caller))
        .route("/ws", get(echo_caller))
        .with_state(calls.clone());
    let open = Router::new().route("/healthz", get(|| async { "ok" }));
    App { router: guard(user_routes, auth).merge(open), calls }
}

fn secret_guard() -> Guard {
    let config = JwtConfig::secret(SecretString::from(SECRET)).unwrap();
    Guard::verifying(JwtVerifier::new(&config).unwrap())
}

fn token(user: &str) -> String {
    hs256(SECRET.as_bytes(), user).sign()
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        assert_eq!(self.headers.get(CONTENT_TYPE).unwrap(), "application/json");
        serde_json::from_str(&self.body).unwrap()
    }

    fn challenge(&self) -> &str {
        self.headers.get(WWW_AUTHENTICATE).map_or("", |v| v.to_str().unwrap())
    }
}

async fn call(app: &App, uri: &str, headers: &[(http::HeaderName, String)]) -> Answer {
    let mut request = Request::builder().uri(uri);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let response = app.router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
    Answer { status: parts.status, headers: parts.headers, body }
}

fn bearer(token: &str) -> (http::HeaderName, String) {
    (AUTHORIZATION, format!("Bearer {token}"))
}

fn websocket() -> (http::HeaderName, String) {
    (UPGRADE, "websocket".to_owned())
}

#[tokio::test]
async fn a_request_without_a_token_is_challenged_and_reaches_no_handler() {
    let app = app(secret_guard());
    for headers in [vec![], vec![(AUTHORIZATION, "Basic YWxpY2U6cHc=".to_owned())]] {
        let answer = call(&app, "/api/alice/tasks", &headers).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(answer.challenge(), "Bearer");
        assert_eq!(answer.json()["error"]["code"], "unauthorized");
    }
    assert_eq!(app.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_refused_or_expired_token_is_an_invalid_token() {
    let app = app(secret_guard());
    let bad = hs256(b"not-the-secret-but-as-long-as-it-32", "alice").sign();
    let answer = call(&app, "/api/alice/tasks", &[bearer(&bad)]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.challenge(), r#"Bearer error="invalid_token", error_description="bad signature""#);
    let message = answer.json()["error"]["message"].as_str().unwrap().to_owned();
    assert_eq!(message, "invalid token: bad signature");
    assert!(!answer.body.contains(&bad));
    let expired = hs256(SECRET.as_bytes(), "alice").expires_in(-3600).sign();
    let answer = call(&app, "/api/alice/tasks", &[bearer(&expired)]).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.challenge().contains(r#"error="invalid_token""#));
    assert_eq!(answer.json()["error"]["message"], "the token has expired");
    assert_eq!(app.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_valid_token_reaches_its_own_routes_with_its_caller() {
    let app = app(secret_guard());
    for uri in ["/api/alice/tasks", "/api/alice/tasks/7", "/api/al%69ce/tasks", "/ws"] {
        let answer = call(&app, uri, &[bearer(&token("alice"))]).await;
        assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "alice"), "{uri}");
    }
    let lower = (AUTHORIZATION, format!("bearer {}", token("alice")));
    assert_eq!(call(&app, "/api/alice/tasks", &[lower]).await.status, StatusCode::OK);
    assert_eq!(app.calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_token_for_another_user_is_forbidden_and_reaches_no_handler() {
    let app = app(secret_guard());
    for uri in [
        "/api/bob/tasks",
        "/api/bob/tasks/1",
        "/api/alice%3A/tasks",
        "/api/%FF/tasks",
        "/ws?user_id=bob",
        "/ws?user_id=alice&user_id=bob",
    ] {
        let answer = call(&app, uri, &[bearer(&token("alice"))]).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{uri}");
        assert_eq!(answer.json()["error"]["code"], "forbidden");
    }
    assert_eq!(app.calls.load(Ordering::SeqCst), 0, "nothing of bob's was read");
}

#[tokio::test]
async fn a_query_token_counts_on_a_websocket_upgrade_only() {
    let app = app(secret_guard());
    let uri = format!("/ws?access_token={}", token("alice"));
    let answer = call(&app, &uri, &[websocket()]).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "alice"));
    let answer = call(&app, &uri, &[]).await;
    assert_eq!((answer.status, answer.challenge()), (StatusCode::UNAUTHORIZED, "Bearer"));
    let answer = call(&app, &format!("/api/alice/tasks?access_token={}", token("alice")), &[]).await;
    assert_eq!((answer.status, answer.challenge()), (StatusCode::UNAUTHORIZED, "Bearer"));
    let uri = format!("/ws?user_id=bob&access_token={}", token("alice"));
    assert_eq!(call(&app, &uri, &[websocket()]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn routes_merged_after_the_guard_stay_open() {
    let app = app(secret_guard());
    let answer = call(&app, "/healthz", &[]).await;
    assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn off_it_checks_nothing_and_names_the_caller_from_the_path_or_query() {
    let app = app(Guard::Off);
    for (uri, caller) in [
        ("/api/alice/tasks", "alice"),
        ("/api/alice/tasks/3?user_id=bob", "alice"),
        ("/ws?user_id=alice", "alice"),
        ("/ws", "nobody"),
        ("/ws?user_id=a:b", "nobody"),
        ("/api/a:b/tasks", "nobody"),
    ] {
        let answer = call(&app, uri, &[]).await;
        assert_eq!((answer.status, answer.body.as_str()), (StatusCode::OK, caller), "{uri}");
    }
    let answer = call(&app, "/api/alice/tasks", &[bearer("not even a jwt")]).await;
    assert_eq!(answer.status, StatusCode::OK, "a token is not looked at either");
}

#[tokio::test]
async fn keys_that_cannot_be_had_answer_503() {
    let issuer = TestIssuer::start().await.unwrap();
    let app = app(Guard::verifying(JwtVerifier::new(&issuer.config()).unwrap()));
    let token = issuer.token("alice").sign();
    issuer.stop().await;
    let answer = call(&app, "/api/alice/tasks", &[bearer(&token)]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.json()["error"]["code"], "unavailable");
    assert!(answer.headers.contains_key(http::header::RETRY_AFTER));
    assert_eq!(app.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn the_guard_follows_the_configuration() {
    let read = |pairs: &[(&str, &str)]| {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        AuthConfig::from_lookup(move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())).unwrap()
    };
    let unset = read(&[]);
    assert!(Guard::from_config(&unset, WhenUnconfigured::Off).unwrap().is_off());
    assert_eq!(Guard::from_config(&unset, WhenUnconfigured::Refuse).unwrap_err(), AuthConfigError::Unconfigured);
    assert!(Guard::from_config(&read(&[("AUTH_MODE", "none")]), WhenUnconfigured::Refuse).unwrap().is_off());
    let jwt = read(&[("AUTH_JWT_SECRET", SECRET)]);
    assert!(!Guard::from_config(&jwt, WhenUnconfigured::Refuse).unwrap().is_off());
}

/// The whole path over loopback: an issuer's key set, the verifier, the guard and the
/// project's HTTP server, called by an HTTP client.
#[tokio::test]
async fn over_http_the_guard_answers_as_the_api_does() {
    use http_body_util::Empty;
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let issuer = TestIssuer::start().await.unwrap();
    let app = app(Guard::verifying(JwtVerifier::new(&issuer.config()).unwrap()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(todo_http_server::serve(listener, app.router.clone(), Default::default(), async {
        let _ = stopped.await;
    }));
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<bytes::Bytes>>();
    let get = |path: &str, token: Option<String>| {
        let mut request = http::Request::get(format!("http://{addr}{path}"));
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Empty::new()).unwrap();
        let client = client.clone();
        async move {
            let response = client.request(request).await.unwrap();
            let status = response.status();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    assert_eq!(get("/api/alice/tasks", Some(issuer.token("alice").sign())).await, (StatusCode::OK, "alice".to_owned()));
    let (status, body) = get("/api/bob/tasks", Some(issuer.token("alice").sign())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], "forbidden");
    let (status, body) = get("/api/alice/tasks", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], "unauthorized");
    assert_eq!(app.calls.load(Ordering::SeqCst), 1);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
