#![doc = include_str!("../README.md")]
//!
//! # Layout
//! - [`routes`] and [`McpConfig`]: the `/mcp` route, its transport settings, and the request
//!   checks in front of the SDK (a caller, the server's body limits, the request's trace).
//! - `server`: the MCP server handler: `tools/list` from [`ToolBox::specs`], `tools/call` through
//!   [`ToolBox::call`] for the request's caller, and tool errors as tool results.

mod server;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, StatusCode};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use todo_http_server::{ApiError, BodyError};
use todo_ports::{Caller, ToolBox};

use crate::server::{RequestScope, Server};

/// Where the MCP server is served.
pub const MCP_PATH: &str = "/mcp";

/// How `/mcp` is served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct McpConfig {
    /// The `Host` values (`name` or `name:port`) a request may carry, against DNS rebinding;
    /// empty (the default) accepts any, as the REST routes beside it do: the bearer token the
    /// guard demands is what a rebinding page cannot have.
    pub allowed_hosts: Vec<String>,
}

/// `POST /mcp`: the MCP server over Streamable HTTP serving `tools`, stateless (no session:
/// any replica answers any request) with JSON answers.
///
/// Mount it behind the authentication guard (`todo_auth::guard`): each call acts for the
/// [`Caller`] in the request's extensions, and a request without one is answered 401 before the
/// SDK sees it. Bodies are read within the HTTP server's limits and refused as it refuses them
/// (413, 408); a JSON-RPC error (a malformed message, an unknown method) is the SDK's answer.
pub fn routes(tools: Arc<dyn ToolBox>, config: McpConfig) -> Router {
    let transport = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(config.allowed_hosts);
    let server = Server::new(tools);
    let service =
        StreamableHttpService::new(move || Ok(server.clone()), Arc::new(NeverSessionManager::default()), transport);
    Router::new().route_service(MCP_PATH, service).route_layer(axum::middleware::from_fn(admit))
}

/// Lets through a request with a caller, its body read whole (within the server's limits) and
/// its trace and log span kept for the tool call, which the SDK runs on a task of its own.
async fn admit(request: Request, next: Next) -> Response {
    if request.extensions().get::<Caller>().is_none() {
        let mut response = ApiError::unauthorized("a bearer token is required").into_response();
        response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let (mut parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return body_refused(&e).into_response(),
    };
    parts.extensions.insert(RequestScope::current());
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The server's answer to a body that could not be read: too large, too slow, or cut off.
fn body_refused(e: &axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        match err.downcast_ref::<BodyError>() {
            Some(e @ BodyError::TooLarge { .. }) => {
                return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e.to_string());
            }
            Some(e @ BodyError::Timeout) => {
                return ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", e.to_string());
            }
            Some(BodyError::Broken) | None => source = err.source(),
        }
    }
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("could not read the request body: {e}"))
}
