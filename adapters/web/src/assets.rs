//! The UI itself: one page, its stylesheet, its script and an icon, embedded in the binary (no
//! build step, nothing fetched from elsewhere), served with an `ETag` so that a reload costs a
//! `304`, and every answer of the UI with headers that keep other sites out: a content security
//! policy allowing only this origin (no inline script, no framing), `nosniff`, no referrer
//! beyond the origin.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderValue, StatusCode};
use todo_http_server::ApiError;

/// One embedded file.
struct Asset {
    body: &'static [u8],
    content_type: &'static str,
    etag: String,
}

impl Asset {
    fn new(body: &'static [u8], content_type: &'static str) -> Self {
        // FNV-1a: a fingerprint of the content for `ETag`, not a security measure.
        let hash =
            body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
        Self { body, content_type, etag: format!("\"{hash:016x}\"") }
    }

    fn serve(&self, headers: &HeaderMap) -> Response {
        let fresh = headers
            .get(IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|tags| tags.split(',').any(|t| t.trim() == self.etag || t.trim() == "*"));
        let mut response = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { self.body.into_response() };
        let h = response.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if let Ok(etag) = HeaderValue::from_str(&self.etag) {
            h.insert(ETAG, etag);
        }
        response
    }
}

static INDEX: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_bytes!("../assets/index.html"), "text/html; charset=utf-8"));
static SCRIPT: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_bytes!("../assets/app.js"), "text/javascript; charset=utf-8"));
static STYLE: LazyLock<Asset> =
    LazyLock::new(|| Asset::new(include_bytes!("../assets/app.css"), "text/css; charset=utf-8"));
static ICON: LazyLock<Asset> = LazyLock::new(|| Asset::new(include_bytes!("../assets/icon.svg"), "image/svg+xml"));

/// The bytes of every embedded file, for tests that weigh the UI.
pub fn embedded_bytes() -> usize {
    [&*INDEX, &*SCRIPT, &*STYLE, &*ICON].iter().map(|a| a.body.len()).sum()
}

pub(crate) async fn index(headers: HeaderMap) -> Response {
    INDEX.serve(&headers)
}

pub(crate) async fn asset(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match name.as_str() {
        "app.js" => SCRIPT.serve(&headers),
        "app.css" => STYLE.serve(&headers),
        "icon.svg" => ICON.serve(&headers),
        _ => ApiError::not_found("asset").into_response(),
    }
}

/// The policy of every page and answer of the UI: everything from this origin only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub(crate) async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}
