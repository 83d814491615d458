//! The MCP server handler over a [`ToolBox`]: the catalogue as `tools/list`, each `tools/call`
//! made for the request's verified caller, in the request's trace and log span.

use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ListToolsResult, PaginatedRequestParams,
    ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};
use todo_ports::model::TraceParent;
use todo_ports::{Caller, ToolBox, ToolError};
use tracing::Instrument;

/// What the server tells a client on `initialize`.
const INSTRUCTIONS: &str = "Tools for the signed-in user's tasks: add, list, search, read, update, complete and \
                            delete them. Every tool acts for the user whose token the request carries; tasks \
                            are named by the `id` the tools return (`task_id` in arguments).";

/// The trace and log span of the HTTP request a call came in, for the task the SDK runs it on.
#[derive(Debug, Clone)]
pub(crate) struct RequestScope {
    trace: Option<TraceParent>,
    span: tracing::Span,
}

impl RequestScope {
    /// The scope the current request runs in.
    pub(crate) fn current() -> Self {
        Self { trace: todo_ports::trace::current(), span: tracing::Span::current() }
    }
}

/// The MCP server: one per request (the SDK's factory clones it), all over one toolbox.
#[derive(Clone)]
pub(crate) struct Server {
    tools: Arc<dyn ToolBox>,
    listed: Arc<Vec<Tool>>,
}

impl Server {
    pub(crate) fn new(tools: Arc<dyn ToolBox>) -> Self {
        let listed = tools
            .specs()
            .into_iter()
            .map(|spec| {
                let schema = match spec.input_schema {
                    Value::Object(schema) => schema,
                    _ => serde_json::Map::new(),
                };
                Tool::new(spec.name, spec.description, Arc::new(schema))
            })
            .collect();
        Self { tools, listed: Arc::new(listed) }
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("todo", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.listed.as_ref().clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let parts = context.extensions.get::<http::request::Parts>();
        // `routes` lets no request without a caller reach the SDK.
        let Some(Caller(user)) = parts.and_then(|p| p.extensions.get::<Caller>()) else {
            return Err(ErrorData::invalid_request("no verified caller", None));
        };
        let scope =
            parts.and_then(|p| p.extensions.get::<RequestScope>()).cloned().unwrap_or_else(RequestScope::current);
        let arguments = request.arguments.map_or(Value::Null, Value::Object);
        let call = self.tools.call(user, &request.name, arguments);
        let result = todo_ports::trace::scope(scope.trace, call).instrument(scope.span).await;
        match result {
            Ok(value) => Ok(CallToolResult::structured(value).into()),
            Err(e) => refusal(&request.name, e).map(Into::into),
        }
    }
}

/// A failed call as the model should see it: a tool result with `isError` and a message (the
/// field first, as the REST API words it) for what the caller can fix or retry, and a JSON-RPC
/// internal error, with no detail, for a bug. The structured part is the REST API's error body.
fn refusal(tool: &str, e: ToolError) -> Result<CallToolResult, ErrorData> {
    let (code, message, field) = match &e {
        ToolError::Invalid { field, .. } => ("validation_failed", e.to_string(), field.clone()),
        ToolError::NotFound(_) => ("not_found", e.to_string(), None),
        ToolError::Unknown(_) => ("unknown_tool", e.to_string(), None),
        ToolError::Unavailable(source) => {
            tracing::warn!(tool, error = %source, "tool call failed: dependency unavailable");
            ("unavailable", "a dependency is unavailable; retry shortly".to_owned(), None)
        }
        ToolError::Internal(source) => {
            tracing::error!(tool, error = %source, "tool call failed: internal error");
            return Err(ErrorData::internal_error("internal error", None));
        }
    };
    let mut error = json!({ "code": code, "message": message });
    if let Some(field) = field {
        error["field"] = Value::String(field);
    }
    let mut result = CallToolResult::structured_error(json!({ "error": error }));
    result.content = vec![rmcp::model::ContentBlock::text(message)];
    Ok(result)
}
