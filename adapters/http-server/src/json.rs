//! JSON in and out: [`JsonBody`], the request-body extractor whose errors name the field they
//! are about, and [`json`], a response serialised straight to bytes.

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ApiError;
use crate::body::BodyError;

/// A request body read as JSON into `T`. Every failure is an [`ApiError`]: 400 `malformed_json`
/// for text that is not JSON, 422 `validation_failed` naming the field (`recurrence.frequency`,
/// `tags`, `colour`) for JSON of the wrong shape, 413 and 408 for a body too large or too slow.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::to_bytes(req.into_body(), usize::MAX).await.map_err(|e| body_error(&e))?;
        parse(&bytes).map(JsonBody)
    }
}

/// What reading a body failed with, as an API error.
pub(crate) fn body_error(e: &axum::Error) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(body) = err.downcast_ref::<BodyError>() {
            return body.to_api_error();
        }
        source = err.source();
    }
    ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("could not read the request body: {e}"))
}

/// Reads `bytes` as JSON into `T`.
///
/// # Errors
/// An [`ApiError`] as [`JsonBody`] describes.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed_json("the body is empty"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => data_error(&path, &inner),
            _ => ApiError::malformed_json(without_position(&inner)),
        }
    })?;
    de.end().map_err(|e| ApiError::malformed_json(without_position(&e)))?;
    Ok(value)
}

/// A 422 naming the field: the path without array indices (`tags[2]` is about `tags`); a
/// missing field is reported at its object, so its name comes from the message.
fn data_error(path: &str, e: &serde_json::Error) -> ApiError {
    let message = without_position(e);
    let object = if path == "." { String::new() } else { format!("{path}.") };
    let missing = message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let field = match missing {
        Some(name) => format!("{object}{name}"),
        None if path == "." => "body".to_owned(),
        None => path.to_owned(),
    };
    let field = strip_indices(&field);
    let field = if field.is_empty() || field == "." { "body".to_owned() } else { field };
    let shown = if path == "." { message.clone() } else { format!("{path}: {message}") };
    ApiError { message: shown, ..ApiError::invalid(field, "") }
}

fn strip_indices(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// serde_json's message without its " at line L column C" suffix.
fn without_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) if text[i..].contains(" column ") => text[..i].to_owned(),
        _ => text,
    }
}

/// A JSON response of `value`, serialized straight to bytes.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "response not serializable");
            ApiError::internal().into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rule {
        frequency: String,
        interval: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        title: Option<String>,
        tags: Option<Vec<String>>,
        recurrence: Option<Rule>,
    }

    fn field_of(body: &str) -> (StatusCode, Option<String>) {
        let e = parse::<Input>(body.as_bytes()).unwrap_err();
        (e.status, e.field)
    }

    #[test]
    fn errors_name_the_field_they_are_about() {
        let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
        assert_eq!(field_of(r#"{"title": 5}"#), (unprocessable, Some("title".into())));
        assert_eq!(field_of(r#"{"tags": ["a", 1]}"#), (unprocessable, Some("tags".into())));
        assert_eq!(field_of(r#"{"colour": "red"}"#), (unprocessable, Some("colour".into())));
        assert_eq!(field_of(r#"{"recurrence": {"every": 1}}"#), (unprocessable, Some("recurrence.every".into())));
        assert_eq!(
            field_of(r#"{"recurrence": {"interval": 1}}"#),
            (unprocessable, Some("recurrence.frequency".into()))
        );
        assert_eq!(field_of("[1, 2]"), (unprocessable, Some("body".into())));
    }

    #[test]
    fn text_that_is_not_json_is_malformed() {
        for body in ["", "  ", "{", "not json", r#"{"title": "a"} trailing"#, "\u{feff}{}"] {
            let e = parse::<Input>(body.as_bytes()).unwrap_err();
            assert_eq!((e.status, e.code), (StatusCode::BAD_REQUEST, "malformed_json"), "{body:?}");
            assert!(!e.message.contains(" at line "), "{}", e.message);
        }
    }
}
