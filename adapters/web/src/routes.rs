//! The routes of the UI: the pages, the session and sign-in, and the same-origin API that relays
//! each call to the service behind it as the signed-in user.
//!
//! | route | what it does |
//! |---|---|
//! | `GET /`, `GET /ui/app.js`, `/ui/app.css`, `/ui/icon.svg` | the embedded UI |
//! | `GET /ui/session` | `{"signed_in", "user_id", "csrf_token", "expires_at", "sign_in": {"dev", "oidc"}}` |
//! | `POST /auth/dev` `{"user_id"}` | development sign-in (when on): a session for that user |
//! | `GET /auth/login`, `GET /auth/callback` | the OpenID Connect flow (when configured) |
//! | `POST /auth/logout` | ends the session |
//! | `/ui/api/tasks[/{id}[/complete]]`, `/ui/api/chat` | the backend's `/api/{user}/…` |
//! | `GET /ui/api/notifications`, `GET /ui/api/audit` | the notification and audit services' |
//! | `GET /ui/ws` | the live feed, relayed from the sync service |
//!
//! Every state-changing request (any method but `GET`, `HEAD`, `OPTIONS`) must come from the
//! UI's own origin (`Origin`, and `Sec-Fetch-Site` when sent) and, once signed in, carry the
//! session's CSRF token in `X-CSRF-Token`; otherwise it is 403 `forbidden` and nothing happens.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use http::header::{ACCEPT, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HOST, LOCATION, ORIGIN, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;
use todo_http_server::{ApiError, X_REQUEST_ID};
use todo_ports::model::UserId;

use crate::session::{Session, Via};
use crate::signin::{PendingLogin, SignInError};
use crate::upstream::{Call, Service, UpstreamError};
use crate::{Web, assets, live};

/// The header carrying the CSRF token.
pub const X_CSRF_TOKEN: HeaderName = HeaderName::from_static("x-csrf-token");
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

pub(crate) fn router(web: Arc<Web>) -> Router {
    Router::new()
        .route("/", get(assets::index))
        .route("/ui/{asset}", get(assets::asset))
        .route("/ui/session", get(session))
        .route("/auth/dev", post(dev_sign_in))
        .route("/auth/login", get(oidc_begin))
        .route("/auth/callback", get(oidc_finish))
        .route("/auth/logout", post(sign_out))
        .route("/ui/api/{*rest}", any(relay))
        .route("/ui/ws", get(socket))
        .layer(axum::middleware::map_response(assets::security_headers))
        .with_state(web)
}

impl Web {
    fn now() -> SystemTime {
        SystemTime::now()
    }

    /// The origin state-changing requests must come from.
    fn expected_origin(&self, headers: &HeaderMap) -> Option<String> {
        if let Some(origin) = &self.config.public_origin {
            return Some(origin.clone());
        }
        let host = headers.get(HOST)?.to_str().ok()?;
        let scheme = if self.config.secure_cookies { "https" } else { "http" };
        Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
    }

    /// Refuses a request that does not come from the UI's own origin.
    fn same_origin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let refused = |why: &str| {
            tracing::info!(why, "cross-site request refused");
            Err(ApiError::forbidden(format!("cross-site request refused: {why}")))
        };
        if let Some(site) = headers.get(SEC_FETCH_SITE).and_then(|v| v.to_str().ok())
            && site != "same-origin"
        {
            return refused("Sec-Fetch-Site is not same-origin");
        }
        let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
            return refused("no Origin header");
        };
        match self.expected_origin(headers) {
            Some(expected) if origin.eq_ignore_ascii_case(&expected) => Ok(()),
            _ => refused("Origin is not this site"),
        }
    }

    /// The session of a request that must be signed in (and, for a state-changing method,
    /// same-origin with the session's CSRF token).
    /// The refusal is boxed: a `Response` is large, and the happy path should not carry it.
    fn signed_in(&self, method: &Method, headers: &HeaderMap) -> Result<Session, Box<Response>> {
        let Some(session) = self.cookies.session(headers, Self::now()) else {
            return Err(Box::new(self.signed_out(headers, "sign in first")));
        };
        if !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
            self.same_origin(headers).map_err(|e| Box::new(e.into_response()))?;
            let sent = headers.get(X_CSRF_TOKEN).map(HeaderValue::as_bytes).unwrap_or_default();
            if !bool::from(sent.ct_eq(session.csrf().as_bytes())) {
                tracing::info!(user_id = %session.user, "request refused: no or wrong CSRF token");
                return Err(Box::new(ApiError::forbidden("missing or wrong X-CSRF-Token").into_response()));
            }
        }
        Ok(session)
    }

    /// 401, removing a session cookie the request carried (expired, or from another key).
    fn signed_out(&self, headers: &HeaderMap, message: &str) -> Response {
        let mut response = ApiError::unauthorized(message).into_response();
        if self.cookies.has_session_cookie(headers) {
            self.cookies.clear(response.headers_mut());
        }
        response
    }

    fn session_body(&self, session: Option<&Session>) -> Value {
        let methods = json!({"dev": self.dev.is_some(), "oidc": self.oidc.is_some()});
        match session {
            Some(s) => json!({
                "signed_in": true,
                "user_id": s.user,
                "csrf_token": s.csrf(),
                "expires_at": s.expires_at,
                "via": s.via,
                "sign_in": methods,
            }),
            None => json!({"signed_in": false, "sign_in": methods}),
        }
    }

    /// Starts `session`: the cookie, and the session's JSON.
    fn start(&self, session: &Session) -> Response {
        let mut response = no_store(Json(self.session_body(Some(session))).into_response());
        self.cookies.store(response.headers_mut(), session, Self::now());
        tracing::info!(user_id = %session.user, via = ?session.via, "signed in");
        response
    }
}

/// A JSON body.
struct Json(Value);

impl IntoResponse for Json {
    fn into_response(self) -> Response {
        todo_http_server::json(StatusCode::OK, &self.0)
    }
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn session(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    let session = web.cookies.session(&headers, Web::now());
    let mut response = no_store(Json(web.session_body(session.as_ref())).into_response());
    if session.is_none() && web.cookies.has_session_cookie(&headers) {
        web.cookies.clear(response.headers_mut());
    }
    response
}

#[derive(Deserialize)]
struct DevSignIn {
    user_id: String,
}

async fn dev_sign_in(State(web): State<Arc<Web>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(refused) = web.same_origin(&headers) {
        return refused.into_response();
    }
    let Some(dev) = &web.dev else {
        return ApiError::not_found("the development sign-in (AUTH_DEV_SIGNER)").into_response();
    };
    let form: DevSignIn = match todo_http_server::parse(&body) {
        Ok(form) => form,
        Err(e) => return e.into_response(),
    };
    let user = match UserId::parse(form.user_id.trim()) {
        Ok(user) => user,
        Err(e) => return ApiError::invalid("user_id", e).into_response(),
    };
    match dev.issue(&user, web.config.session_max_age) {
        Ok(issued) => {
            let ends = issued.expires_at.min(Web::now() + web.config.session_max_age);
            web.start(&Session::new(user.as_str().to_owned(), issued.token, ends, Via::Dev))
        }
        Err(e) => {
            tracing::warn!(error = %e, "development sign-in failed");
            ApiError::unavailable().into_response()
        }
    }
}

fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(LOCATION, HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/")));
    no_store(response)
}

async fn oidc_begin(State(web): State<Arc<Web>>) -> Response {
    let Some(oidc) = &web.oidc else {
        return ApiError::not_found("the OpenID Connect sign-in (OIDC_ISSUER_URL)").into_response();
    };
    match oidc.begin().await {
        Ok((url, pending)) => {
            let mut response = see_other(&url);
            web.cookies.store_login(response.headers_mut(), &serde_json::to_vec(&pending).unwrap_or_default());
            response
        }
        Err(e) => {
            tracing::warn!(error = %e, "sign-in could not begin");
            see_other("/?sign_in_error=unavailable")
        }
    }
}

/// The first value of query parameter `name`.
fn query_param(raw: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

async fn oidc_finish(State(web): State<Arc<Web>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let Some(oidc) = &web.oidc else {
        return ApiError::not_found("the OpenID Connect sign-in (OIDC_ISSUER_URL)").into_response();
    };
    let refused = |why: &str| {
        tracing::info!(why, "sign-in refused");
        let mut response = see_other("/?sign_in_error=refused");
        web.cookies.clear_login(response.headers_mut());
        response
    };
    if let Some(error) = query_param(query.as_deref(), "error") {
        return refused(&format!("the provider answered {error}"));
    }
    let (Some(code), Some(state)) = (query_param(query.as_deref(), "code"), query_param(query.as_deref(), "state"))
    else {
        return refused("no code or state");
    };
    let Some(pending) = web.cookies.login(&headers).and_then(|p| serde_json::from_slice::<PendingLogin>(&p).ok())
    else {
        return refused("no pending sign-in in this browser");
    };
    match oidc.finish(pending, &code, &state).await {
        Ok(signed_in) => {
            let ends = signed_in.expires_at.min(Web::now() + web.config.session_max_age);
            let session = Session::new(signed_in.user_id.as_str().to_owned(), Some(signed_in.token), ends, Via::Oidc);
            let mut response = see_other("/");
            web.cookies.store(response.headers_mut(), &session, Web::now());
            web.cookies.clear_login(response.headers_mut());
            tracing::info!(user_id = %session.user, "signed in through OpenID Connect");
            response
        }
        Err(SignInError::Refused(why)) => refused(&why),
        Err(SignInError::Unavailable(why)) => {
            tracing::warn!(why, "sign-in could not finish");
            let mut response = see_other("/?sign_in_error=unavailable");
            web.cookies.clear_login(response.headers_mut());
            response
        }
    }
}

async fn sign_out(State(web): State<Arc<Web>>, headers: HeaderMap) -> Response {
    if web.cookies.has_session_cookie(&headers) {
        // Only a valid session's own page may end it (with its CSRF token); an expired one is
        // simply removed.
        if web.cookies.session(&headers, Web::now()).is_some()
            && let Err(refused) = web.signed_in(&Method::POST, &headers)
        {
            return *refused;
        }
    } else if let Err(refused) = web.same_origin(&headers) {
        return refused.into_response();
    }
    let mut response = no_store(StatusCode::NO_CONTENT.into_response());
    web.cookies.clear(response.headers_mut());
    response
}

/// Where an API path of the UI goes: the service and its path for `user`.
fn target(rest: &str, user: &str) -> Option<(Service, String)> {
    let is_id = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = rest.split('/').collect();
    let path = |tail: &str| format!("/api/{user}/{tail}");
    match parts.as_slice() {
        ["tasks"] => Some((Service::Backend, path("tasks"))),
        ["tasks", id] if is_id(id) => Some((Service::Backend, path(&format!("tasks/{id}")))),
        ["tasks", id, "complete"] if is_id(id) => Some((Service::Backend, path(&format!("tasks/{id}/complete")))),
        ["chat"] => Some((Service::Backend, path("chat"))),
        ["notifications"] => Some((Service::Notifications, path("notifications"))),
        ["audit"] => Some((Service::Audit, path("audit"))),
        _ => None,
    }
}

/// The query string the service gets: the UI's, without the parameters that would name
/// another user or carry a token.
fn forwarded_query(raw: Option<&str>) -> String {
    let Some(raw) = raw.filter(|q| !q.is_empty()) else { return String::new() };
    let kept: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k != "user_id" && k != "access_token")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if kept.is_empty() {
        return String::new();
    }
    format!("?{}", form_urlencoded::Serializer::new(String::new()).extend_pairs(kept).finish())
}

async fn relay(
    State(web): State<Arc<Web>>,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session = match web.signed_in(&method, &headers) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let Some((service, path)) = target(&rest, &session.user) else {
        return ApiError::not_found("route").into_response();
    };
    let mut forwarded = HeaderMap::new();
    if let Some(token) = session.token().and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
        forwarded.insert(AUTHORIZATION, token);
    }
    for name in [CONTENT_TYPE, ACCEPT, X_REQUEST_ID] {
        if let Some(value) = headers.get(&name) {
            forwarded.insert(name, value.clone());
        }
    }
    let call = Call {
        service,
        method,
        path_and_query: format!("{path}{}", forwarded_query(query.as_deref())),
        headers: forwarded,
        body,
    };
    match web.upstream.call(call).await {
        Ok(reply) if reply.status == StatusCode::UNAUTHORIZED => {
            tracing::info!(user_id = %session.user, service = service.app_id(), "the service refused the session's token");
            web.signed_out(&headers, "your session has expired; sign in again")
        }
        Ok(reply) => {
            let mut response = Response::new(reply.body);
            *response.status_mut() = reply.status;
            for name in [CONTENT_TYPE, RETRY_AFTER] {
                if let Some(value) = reply.headers.get(&name) {
                    response.headers_mut().insert(name, value.clone());
                }
            }
            no_store(response)
        }
        Err(UpstreamError::Unavailable { service: app, circuit_open, detail }) => {
            tracing::warn!(service = app, circuit_open, detail, "service unavailable");
            let what = match service {
                Service::Backend => "task",
                Service::Audit => "history",
                Service::Notifications => "notification",
            };
            let state = if circuit_open { " (its circuit breaker is open)" } else { "" };
            no_store(
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    format!("the {what} service is unavailable{state}; retrying shortly"),
                )
                .into_response(),
            )
        }
    }
}

async fn socket(
    State(web): State<Arc<Web>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let session = match web.signed_in(&Method::GET, &headers) {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    // A browser always sends Origin on a WebSocket handshake: refuse other sites' pages.
    if let Err(refused) = web.same_origin(&headers) {
        return refused.into_response();
    }
    let Some(feed) = web.live.clone() else { return ApiError::not_found("the live feed").into_response() };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            return ApiError::new(rejection.status(), "not_a_websocket", rejection.body_text()).into_response();
        }
    };
    let shutdown = web.shutdown.clone();
    upgrade
        .max_message_size(64 * 1024)
        .on_upgrade(move |browser| live::relay(browser, feed, session, shutdown))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_map_to_the_users_own_service_paths() {
        assert_eq!(target("tasks", "alice"), Some((Service::Backend, "/api/alice/tasks".into())));
        assert_eq!(target("tasks/12", "alice"), Some((Service::Backend, "/api/alice/tasks/12".into())));
        assert_eq!(target("tasks/12/complete", "a"), Some((Service::Backend, "/api/a/tasks/12/complete".into())));
        assert_eq!(target("audit", "a"), Some((Service::Audit, "/api/a/audit".into())));
        assert_eq!(target("notifications", "a"), Some((Service::Notifications, "/api/a/notifications".into())));
        for bad in ["tasks/..", "tasks/1/../../bob/tasks", "tasks/x", "tasks/", "users", "tasks/1/delete", ""] {
            assert_eq!(target(bad, "alice"), None, "{bad}");
        }
    }

    #[test]
    fn the_forwarded_query_never_names_another_user() {
        assert_eq!(forwarded_query(Some("completed=false&user_id=bob&q=a+b")), "?completed=false&q=a+b");
        assert_eq!(forwarded_query(Some("access_token=x")), "");
        assert_eq!(forwarded_query(None), "");
    }
}
