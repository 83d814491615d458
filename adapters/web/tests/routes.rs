//! The UI's same-origin API as a browser (or a forger) meets it: the development sign-in, the
//! session cookie's attributes, CSRF and cross-site refusals that reach no service, the relay's
//! path, query and headers, a service's 401 ending the session, and an unreachable service as
//! 503 JSON. The services are a recording stand-in ([`Upstream`]).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test: a failed expectation is its failure

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use todo_adapter_web::{Call, DevTokens, Issued, Reply, Service, SignInError, Upstream, UpstreamError, Web, WebConfig};
use todo_ports::model::UserId;
use tower::ServiceExt;

const SITE: &str = "http://127.0.0.1:3000";

/// Tokens named after their user.
struct Tokens;

impl DevTokens for Tokens {
    fn issue(&self, user: &UserId, lifetime: Duration) -> Result<Issued, SignInError> {
        Ok(Issued {
            token: Some(SecretString::from(format!("token-of-{user}"))),
            expires_at: SystemTime::now() + lifetime,
        })
    }
}

/// What the service stand-in answers next.
#[derive(Clone, Copy)]
enum Next {
    Created,
    Unauthorized,
    BreakerOpen,
}

/// Records every call; answers as told.
struct Services {
    calls: Mutex<Vec<Call>>,
    next: Mutex<Next>,
}

#[async_trait]
impl Upstream for Services {
    async fn call(&self, call: Call) -> Result<Reply, UpstreamError> {
        self.calls.lock().unwrap().push(call);
        let (status, body) = match *self.next.lock().unwrap() {
            Next::Created => (StatusCode::CREATED, json!({"id": 1, "title": "Pay rent"})),
            Next::Unauthorized => (StatusCode::UNAUTHORIZED, json!({"error": {"code": "unauthorized"}})),
            Next::BreakerOpen => {
                return Err(UpstreamError::Unavailable {
                    service: "backend",
                    circuit_open: true,
                    detail: "circuit breaker is open".into(),
                });
            }
        };
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("x-internal", "not for the browser".parse().unwrap());
        Ok(Reply { status, headers, body: Body::from(body.to_string()) })
    }
}

struct Ui {
    router: Router,
    services: Arc<Services>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Ui {
    fn new() -> Self {
        let config = WebConfig::from_lookup(
            |k| (k == "AUTH_DEV_SIGNER").then(|| "1".into()),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            false,
        )
        .unwrap();
        let services = Arc::new(Services { calls: Mutex::new(Vec::new()), next: Mutex::new(Next::Created) });
        let router = Web::new(config, services.clone()).with_dev_tokens(Arc::new(Tokens)).router();
        Self { router, services }
    }

    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Answer {
        let mut request = Request::builder().method(method).uri(path).header("host", "127.0.0.1:3000");
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let request = request.body(Body::from(body.map(|b| b.to_string()).unwrap_or_default())).unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
    }

    /// Signs `user` in; the cookie header to send and the CSRF token.
    async fn sign_in(&self, user: &str) -> (String, String, Answer) {
        let answer = self.send(Method::POST, "/auth/dev", &[("origin", SITE)], Some(json!({"user_id": user}))).await;
        assert!(answer.status.is_success(), "{}", answer.status);
        let cookie = answer
            .headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("; ");
        let session = self.send(Method::GET, "/ui/session", &[("cookie", &cookie)], None).await;
        let csrf = session.body["csrf_token"].as_str().unwrap().to_owned();
        (cookie, csrf, answer)
    }

    fn calls(&self) -> Vec<Call> {
        self.services.calls.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn the_session_cookie_is_http_only_lax_and_holds_no_readable_token() {
    let ui = Ui::new();
    let (cookie, _, answer) = ui.sign_in("alice").await;
    let set = answer.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    let session = set.iter().find(|c| c.contains("HttpOnly")).expect("an HttpOnly session cookie");
    assert!(session.contains("SameSite=Lax") && session.contains("Path=/"), "{session}");
    assert!(!session.contains("Secure"), "plain http on loopback: {session}");
    assert!(!cookie.contains("token-of-alice"), "the token is sealed, not readable: {cookie}");
    let me = ui.send(Method::GET, "/ui/session", &[("cookie", &cookie)], None).await;
    assert_eq!((me.body["signed_in"].clone(), me.body["user_id"].clone()), (json!(true), json!("alice")));
    assert!(!me.body.to_string().contains("token-of-alice"), "the page never sees the token: {}", me.body);
}

#[tokio::test]
async fn a_state_changing_call_without_the_csrf_token_or_from_another_site_reaches_no_service() {
    let ui = Ui::new();
    let (cookie, csrf, _) = ui.sign_in("alice").await;
    let task = Some(json!({"title": "Pay rent"}));
    let refused = [
        vec![("cookie", cookie.as_str()), ("origin", SITE)],
        vec![("cookie", cookie.as_str()), ("origin", SITE), ("x-csrf-token", "forged")],
        vec![("cookie", cookie.as_str()), ("origin", "http://evil.example"), ("x-csrf-token", csrf.as_str())],
        vec![("cookie", cookie.as_str()), ("x-csrf-token", csrf.as_str())],
        vec![("cookie", cookie.as_str()), ("origin", SITE), ("x-csrf-token", &csrf), ("sec-fetch-site", "cross-site")],
    ];
    for headers in refused {
        let answer = ui.send(Method::POST, "/ui/api/tasks", &headers, task.clone()).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{headers:?}");
        assert_eq!(answer.body["error"]["code"], "forbidden");
    }
    let forged_sign_in = ui
        .send(Method::POST, "/auth/dev", &[("origin", "http://evil.example")], Some(json!({"user_id": "mallory"})))
        .await;
    assert_eq!(forged_sign_in.status, StatusCode::FORBIDDEN, "a cross-site sign-in (login CSRF)");
    assert!(ui.calls().is_empty(), "nothing reached a service");

    let ok = ui
        .send(Method::POST, "/ui/api/tasks", &[("cookie", &cookie), ("origin", SITE), ("x-csrf-token", &csrf)], task)
        .await;
    assert_eq!(ok.status, StatusCode::CREATED);
    assert_eq!(ui.calls().len(), 1);
}

#[tokio::test]
async fn a_call_goes_to_the_users_own_path_with_the_sessions_token_and_the_requests_headers() {
    let ui = Ui::new();
    let (cookie, csrf, _) = ui.sign_in("alice").await;
    let headers = [
        ("cookie", cookie.as_str()),
        ("origin", SITE),
        ("x-csrf-token", csrf.as_str()),
        ("x-request-id", "req-42"),
        ("authorization", "Bearer a-token-of-bob"),
    ];
    let answer = ui
        .send(Method::POST, "/ui/api/tasks?user_id=bob&access_token=x&limit=5", &headers, Some(json!({"title": "t"})))
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert!(answer.headers.get("x-internal").is_none(), "only the service's Content-Type and Retry-After pass");
    let call = ui.calls().pop().unwrap();
    assert_eq!((call.service, call.method.clone()), (Service::Backend, Method::POST));
    assert_eq!(call.path_and_query, "/api/alice/tasks?limit=5", "the session's user, never the query's");
    assert_eq!(call.headers["authorization"], "Bearer token-of-alice", "the session's token, not the browser's header");
    assert_eq!(call.headers["x-request-id"], "req-42");
    assert_eq!(call.headers["content-type"], "application/json");
    assert!(call.headers.get("cookie").is_none(), "the session cookie stays with the frontend");
    assert_eq!(call.body, Bytes::from(json!({"title": "t"}).to_string()));

    let history = ui.send(Method::GET, "/ui/api/audit?task_id=7", &[("cookie", &cookie)], None).await;
    assert_eq!(history.status, StatusCode::CREATED, "the stand-in's answer");
    let call = ui.calls().pop().unwrap();
    assert_eq!((call.service, call.path_and_query.as_str()), (Service::Audit, "/api/alice/audit?task_id=7"));
    let other = ui.send(Method::GET, "/ui/api/tasks/1%2F..%2F..%2Fbob", &[("cookie", &cookie)], None).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND, "a task id is digits only");
}

#[tokio::test]
async fn signed_out_calls_are_401_and_a_services_401_ends_the_session() {
    let ui = Ui::new();
    let anonymous = ui.send(Method::GET, "/ui/api/tasks", &[], None).await;
    assert_eq!(
        (anonymous.status, anonymous.body["error"]["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("unauthorized"))
    );
    assert!(ui.calls().is_empty());

    let (cookie, _, _) = ui.sign_in("alice").await;
    *ui.services.next.lock().unwrap() = Next::Unauthorized;
    let expired = ui.send(Method::GET, "/ui/api/tasks", &[("cookie", &cookie)], None).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    let cleared = expired.headers.get_all("set-cookie").iter().any(|v| v.to_str().unwrap().contains("Max-Age=0"));
    assert!(cleared, "the session cookie is removed: {:?}", expired.headers);
}

#[tokio::test]
async fn an_unreachable_service_is_a_503_in_json_saying_so() {
    let ui = Ui::new();
    let (cookie, _, _) = ui.sign_in("alice").await;
    *ui.services.next.lock().unwrap() = Next::BreakerOpen;
    let answer = ui.send(Method::GET, "/ui/api/tasks", &[("cookie", &cookie)], None).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.body["error"]["code"], "unavailable");
    let message = answer.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("task service") && message.contains("circuit breaker is open"), "{message}");
    assert!(!message.contains("backend"), "the log's detail is not shown: {message}");
}
