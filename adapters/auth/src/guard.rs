//! The inbound guard: [`guard`] ties every route of an axum router to a verified caller.
//!
//! With a verifier, each request must carry a bearer token:
//!
//! | the request | the answer |
//! |---|---|
//! | no token (or another scheme than `Bearer`) | 401 `unauthorized`, `WWW-Authenticate: Bearer` |
//! | a token refused or expired | 401 `unauthorized`, `WWW-Authenticate: Bearer error="invalid_token", error_description=…` |
//! | the keys cannot be had now | 503 `unavailable` (with `Retry-After`) |
//! | a valid token, and the route's `{user_id}` (or any `user_id` query parameter) is another user | 403 `forbidden`; the handler is not called |
//! | a valid token | the handler runs with [`Caller`] in the request's extensions |
//!
//! The token comes from `Authorization: Bearer <token>` (the scheme in any case), and, on a
//! WebSocket upgrade request only (`Upgrade: websocket`, which browsers cannot add headers to),
//! from an `access_token` query parameter. No other request may carry it in the query, where
//! it would end up in logs.
//!
//! Off, nothing is checked: [`Caller`] is the route's `{user_id}` when it is a valid user id,
//! else a valid `user_id` query parameter, else absent.
//!
//! No token is ever logged; refusals are, at debug (no token) or info level, with their reason.

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, UPGRADE, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderValue, Method};
use todo_http_server::ApiError;
use todo_ports::model::UserId;
use todo_ports::{Caller, IdentityError, TokenVerifier};

use crate::config::{AuthConfig, AuthConfigError};
use crate::verifier::JwtVerifier;

/// The path parameter and query parameter naming the user a route serves.
const USER_ID: &str = "user_id";

/// What an app does when no `AUTH_*` setting says anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenUnconfigured {
    /// Run without identities (the all-in-one app on loopback).
    Off,
    /// Refuse to start ([`AuthConfigError::Unconfigured`]): a service reachable by others.
    Refuse,
}

/// How the guard treats requests: verify their bearer tokens, or let everything through.
#[derive(Clone)]
pub enum Guard {
    /// Every request needs a token this verifier accepts.
    Verify(Arc<dyn TokenVerifier>),
    /// Nothing is checked (embedded defaults, tests).
    Off,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Verify(_) => "Guard::Verify",
            Self::Off => "Guard::Off",
        })
    }
}

impl Guard {
    /// A guard verifying with `verifier`.
    pub fn verifying(verifier: impl TokenVerifier + 'static) -> Self {
        Self::Verify(Arc::new(verifier))
    }

    /// The guard `config` asks for: a [`JwtVerifier`], off, or, when nothing was configured,
    /// what `when_unconfigured` says.
    ///
    /// # Errors
    /// [`AuthConfigError::Unconfigured`] when nothing was configured and that is refused; the
    /// errors of [`JwtVerifier::new`].
    pub fn from_config(config: &AuthConfig, when_unconfigured: WhenUnconfigured) -> Result<Self, AuthConfigError> {
        match (config, when_unconfigured) {
            (AuthConfig::Jwt(jwt), _) => Ok(Self::verifying(JwtVerifier::new(jwt)?)),
            (AuthConfig::Off, _) | (AuthConfig::Unconfigured, WhenUnconfigured::Off) => Ok(Self::Off),
            (AuthConfig::Unconfigured, WhenUnconfigured::Refuse) => Err(AuthConfigError::Unconfigured),
        }
    }

    /// Whether nothing is checked.
    pub fn is_off(&self) -> bool {
        matches!(self, Self::Off)
    }
}

/// `router` with every one of its routes behind `auth` (see the module docs for the answers).
///
/// It is applied with `route_layer`, so it covers the routes `router` has now (not a fallback,
/// not routes merged in later) and runs after routing, where the route's `{user_id}` is known:
/// apply it to the user-facing routers of an app before merging them with the others (probes,
/// the routes the sidecar calls). A router without routes is returned as it is.
pub fn guard<S>(router: Router<S>, auth: Guard) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    if !router.has_routes() {
        return router;
    }
    router.route_layer(axum::middleware::from_fn_with_state(auth, check))
}

async fn check(State(auth): State<Guard>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let path_user = path_user_id(&mut parts).await;
    let caller = match &auth {
        Guard::Off => unverified(&parts, path_user),
        Guard::Verify(verifier) => match verified(verifier.as_ref(), &parts, path_user).await {
            Ok(user) => Some(user),
            Err(refusal) => return refusal,
        },
    };
    if let Some(user) = caller {
        parts.extensions.insert(Caller(user));
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The caller of a request, or the answer refusing it.
async fn verified(
    verifier: &dyn TokenVerifier,
    parts: &Parts,
    path_user: Option<Option<String>>,
) -> Result<UserId, Response> {
    let Some(token) = token(parts) else {
        tracing::debug!("request refused: no bearer token");
        return Err(refuse(&IdentityError::Missing));
    };
    let user = verifier.verify(&token).await.map_err(|e| refuse(&e))?;
    // A `{user_id}` that is not valid text (`None` inside) names no one the caller can be; every
    // `user_id` query parameter is looked at, whichever one a handler would read.
    let other_in_path = path_user.is_some_and(|path| path.as_deref() != Some(user.as_str()));
    let other_in_query = query_params(parts, USER_ID).any(|query| query != user.as_str());
    if other_in_path || other_in_query {
        tracing::info!(caller = %user, "request refused: the route serves another user");
        return Err(ApiError::forbidden("the token's user may not act for another user").into_response());
    }
    Ok(user)
}

/// The caller when nothing is checked: the route's `{user_id}`, else the `user_id` query
/// parameter, when valid.
fn unverified(parts: &Parts, path_user: Option<Option<String>>) -> Option<UserId> {
    match path_user {
        Some(raw) => raw.and_then(|raw| UserId::parse(&raw).ok()),
        None => query_param(parts, USER_ID).and_then(|raw| UserId::parse(&raw).ok()),
    }
}

/// The route's `{user_id}`: `None` when the route has none, `Some(None)` when it is not UTF-8.
async fn path_user_id(parts: &mut Parts) -> Option<Option<String>> {
    match RawPathParams::from_request_parts(parts, &()).await {
        Ok(params) => params.iter().find(|(name, _)| *name == USER_ID).map(|(_, value)| Some(value.to_owned())),
        Err(axum::extract::rejection::RawPathParamsRejection::InvalidUtf8InPathParam(e)) => {
            e.body_text().contains(&format!("`{USER_ID}`")).then_some(None)
        }
        Err(_) => None,
    }
}

/// The bearer token of a request: its `Authorization: Bearer` header, else, on a WebSocket
/// upgrade request, its `access_token` query parameter.
fn token(parts: &Parts) -> Option<String> {
    let header = parts.headers.get_all(AUTHORIZATION).iter().find_map(|value| {
        let (scheme, token) = value.to_str().ok()?.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
    });
    header.or_else(|| if is_websocket_upgrade(parts) { query_param(parts, "access_token") } else { None })
}

fn is_websocket_upgrade(parts: &Parts) -> bool {
    parts.method == Method::GET
        && parts
            .headers
            .get_all(UPGRADE)
            .iter()
            .any(|value| value.to_str().is_ok_and(|v| v.split(',').any(|p| p.trim().eq_ignore_ascii_case("websocket"))))
}

/// The non-empty values of query parameter `name`.
fn query_params<'a>(parts: &'a Parts, name: &'a str) -> impl Iterator<Item = String> + 'a {
    let query = parts.uri.query().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .filter(move |(key, value)| key == name && !value.is_empty())
        .map(|(_, value)| value.into_owned())
}

/// The first non-empty value of query parameter `name`.
fn query_param(parts: &Parts, name: &str) -> Option<String> {
    query_params(parts, name).next()
}

/// The answer to a request whose identity cannot be verified.
fn refuse(error: &IdentityError) -> Response {
    let (message, description) = match error {
        IdentityError::Missing => {
            let mut response = ApiError::unauthorized("a bearer token is required").into_response();
            response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        IdentityError::Unavailable(e) => {
            tracing::warn!(error = %e, "request refused: tokens cannot be verified now");
            return ApiError::unavailable().into_response();
        }
        IdentityError::Expired => ("the token has expired".to_owned(), "the token has expired".to_owned()),
        IdentityError::Invalid(reason) => (format!("invalid token: {reason}"), reason.clone()),
    };
    tracing::info!(reason = %description, "request refused: token not accepted");
    let mut response = ApiError::unauthorized(message).into_response();
    response.headers_mut().insert(WWW_AUTHENTICATE, challenge(&description));
    response
}

/// `Bearer error="invalid_token", error_description="…"`, the description kept to the
/// characters RFC 6750 allows in it.
fn challenge(description: &str) -> HeaderValue {
    let description: String = description.chars().filter(|c| matches!(c, ' ' | '!' | '#'..='[' | ']'..='~')).collect();
    HeaderValue::from_str(&format!(r#"Bearer error="invalid_token", error_description="{description}""#))
        .unwrap_or_else(|_| HeaderValue::from_static(r#"Bearer error="invalid_token""#))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder().uri(uri);
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_other_schemes_carry_no_token() {
        for header in ["Bearer abc", "bearer abc", "BEARER  abc "] {
            assert_eq!(token(&parts("/", &[("authorization", header)])).as_deref(), Some("abc"), "{header}");
        }
        for header in ["Basic YWxpY2U6cHc=", "Bearer", "Bearer ", "abc"] {
            assert_eq!(token(&parts("/", &[("authorization", header)])), None, "{header}");
        }
    }

    #[test]
    fn a_query_token_counts_on_websocket_upgrades_only() {
        let ws = [("upgrade", "websocket"), ("connection", "Upgrade")];
        assert_eq!(token(&parts("/ws?access_token=abc", &ws)).as_deref(), Some("abc"));
        assert_eq!(token(&parts("/ws?access_token=abc", &[("upgrade", "WebSocket")])).as_deref(), Some("abc"));
        assert_eq!(token(&parts("/api/alice/tasks?access_token=abc", &[])), None);
        assert_eq!(token(&parts("/ws?access_token=abc", &[("upgrade", "h2c")])), None);
        let header_wins = [("upgrade", "websocket"), ("authorization", "Bearer from-header")];
        assert_eq!(token(&parts("/ws?access_token=abc", &header_wins)).as_deref(), Some("from-header"));
    }

    #[test]
    fn the_challenge_keeps_to_the_allowed_characters() {
        let value = challenge("the `sub` claim is \"odd\" \\ é");
        assert_eq!(
            value.to_str().unwrap(),
            r#"Bearer error="invalid_token", error_description="the `sub` claim is odd  ""#
        );
    }
}
