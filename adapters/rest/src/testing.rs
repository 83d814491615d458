//! For tests of the REST API, over a router or over a socket: an answer read whole, its JSON
//! body or its server-sent events (the chat route's stream). Behind the `testing` feature.

use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::Value;

/// A response read to its end.
#[derive(Debug)]
pub struct Answer {
    /// Its status.
    pub status: StatusCode,
    /// Its `Content-Type`, empty when it has none.
    pub content_type: String,
    /// Its body, as text.
    pub body: String,
}

impl Answer {
    /// Reads `response` to its end.
    ///
    /// # Panics
    /// When its body fails, or is not UTF-8.
    #[allow(clippy::expect_used)] // a test helper: a broken body is the test's failure
    pub async fn read<B>(response: http::Response<B>) -> Self
    where
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        let status = response.status();
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        let bytes = response.into_body().collect().await.expect("the body is read to its end").to_bytes();
        let body = String::from_utf8(bytes.to_vec()).expect("the body is UTF-8");
        Self { status, content_type, body }
    }

    /// The JSON body.
    ///
    /// # Panics
    /// When the answer is not `application/json`, or its body is not JSON.
    #[must_use]
    pub fn json(&self) -> Value {
        assert_eq!(self.content_type, "application/json", "{}", self.body);
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `(event, data)` of every server-sent event, comments left out.
    ///
    /// # Panics
    /// When the answer is not `text/event-stream`, or an event's data is not JSON.
    #[must_use]
    pub fn events(&self) -> Vec<(String, Value)> {
        assert_eq!(self.content_type, "text/event-stream", "{}", self.body);
        self.body
            .split("\n\n")
            .filter_map(|frame| {
                let field =
                    |name: &str| frame.lines().find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_owned()));
                let data = field("data:")?;
                Some((field("event:")?, serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"))))
            })
            .collect()
    }
}
