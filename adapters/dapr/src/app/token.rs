//! The one check of the app token: every route the sidecar calls demands `dapr-api-token`
//! equal to `APP_API_TOKEN`, compared in constant time.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use todo_http_server::ApiError;

use crate::sidecar::DAPR_API_TOKEN_HEADER;

/// `router` with every route demanding `token`, when there is one.
pub(super) fn guard(router: Router, token: Option<SecretString>) -> Router {
    match token {
        None => router,
        Some(token) => router.layer(axum::middleware::from_fn_with_state(Arc::new(token), check)),
    }
}

/// Whether `given` is `expected`, in time that depends on their lengths only.
pub(crate) fn same_token(given: &[u8], expected: &[u8]) -> bool {
    given.ct_eq(expected).into()
}

async fn check(State(token): State<Arc<SecretString>>, req: Request, next: Next) -> Response {
    let given = req.headers().get(DAPR_API_TOKEN_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
    if same_token(given, token.expose_secret().as_bytes()) {
        next.run(req).await
    } else {
        tracing::warn!(method = %req.method(), path = ?req.uri().path(), "dapr callback without a valid dapr-api-token");
        ApiError::unauthorized("missing or invalid dapr-api-token header").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::same_token;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(same_token(b"s3cret", b"s3cret"));
        assert!(!same_token(b"s3cre", b"s3cret"));
        assert!(!same_token(b"s3creT", b"s3cret"));
        assert!(!same_token(b"", b"s3cret"));
    }
}
