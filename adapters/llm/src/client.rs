//! [`OpenAiChat`]: the [`ChatModel`] port over an OpenAI-compatible Chat Completions API.
//!
//! One `POST {base}/chat/completions` per request with `stream: true`; the answer's
//! server-sent events are read as they come: text deltas are passed on at once, tool calls once
//! the answer is complete (`data: [DONE]`, or the end of the body after a `finish_reason`).
//!
//! | what happens | [`ModelError`] |
//! |---|---|
//! | 401, 403 | `Rejected` (the key; the server's words are not repeated, they may quote it) |
//! | another 4xx but 408 and 429 | `Rejected`, with the server's message |
//! | 408, 429, 5xx; unreachable; no answer within the read deadline; a stream that stalls, is cut off, or carries an error object | `Unavailable` |
//! | an answer longer than its bounds (time, bytes) or not in the format | `Unavailable` (time), `Malformed` |

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use secrecy::ExposeSecret;
use todo_http_client::{HttpsClient, error_chain, https_client, is_loopback};
use todo_ports::{BoxError, ChatModel, ChatRequest, Completion, CompletionPart, ModelError};
use tokio::time::Instant;

use crate::config::{LlmConfig, LlmConfigError};
use crate::sse::Decoder;
use crate::wire::{Body, Calls, Chunk, ErrorBody, Whole};

/// How much of an error answer is read for its message.
const ERROR_BODY_BYTES: usize = 16 * 1024;

/// A model behind an OpenAI-compatible Chat Completions API. `Debug` shows no key.
#[derive(Clone)]
pub struct OpenAiChat {
    client: HttpsClient<Full<Bytes>>,
    endpoint: Uri,
    /// `Bearer …`, marked sensitive.
    authorization: HeaderValue,
    model: Arc<str>,
    read_timeout: Duration,
    answer_timeout: Duration,
    max_answer_bytes: usize,
}

impl std::fmt::Debug for OpenAiChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiChat")
            .field("endpoint", &self.endpoint)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl OpenAiChat {
    /// A client of the model `config` names: https through rustls (ring, the webpki roots), or
    /// plain http (a local server; warned about beyond loopback, where it would carry the key
    /// in clear).
    ///
    /// # Errors
    /// [`LlmConfigError`] for a key that cannot be a header, or TLS that cannot be set up.
    pub fn new(config: &LlmConfig) -> Result<Self, LlmConfigError> {
        let endpoint = config.endpoint()?;
        if endpoint.scheme_str() == Some("http") && !is_loopback(&endpoint) {
            tracing::warn!(url = %config.base_url, "the model is asked over plain http: its key travels in clear");
        }
        let mut authorization =
            HeaderValue::try_from(format!("Bearer {}", config.api_key.expose_secret())).map_err(|_| {
                LlmConfigError::Invalid {
                    key: "LLM_API_KEY",
                    value: "(not shown)".into(),
                    why: "must be text a header can carry".into(),
                }
            })?;
        authorization.set_sensitive(true);
        let client = https_client(Some(config.connect_timeout)).map_err(|e| LlmConfigError::Tls(e.to_string()))?;
        Ok(Self {
            client,
            endpoint,
            authorization,
            model: config.model.as_str().into(),
            read_timeout: config.read_timeout,
            answer_timeout: config.answer_timeout,
            max_answer_bytes: config.max_answer_bytes,
        })
    }

    /// The answer to a status other than 2xx.
    async fn refused(&self, status: StatusCode, body: Incoming) -> ModelError {
        let read = tokio::time::timeout(self.read_timeout, Limited::new(body, ERROR_BODY_BYTES).collect()).await;
        let message = read
            .ok()
            .and_then(Result::ok)
            .and_then(|b| serde_json::from_slice::<ErrorBody>(&b.to_bytes()).ok())
            .and_then(|b| b.error.message)
            .map(|m| m.chars().take(300).collect::<String>())
            .unwrap_or_default();
        let said = if message.is_empty() { String::new() } else { format!(": {message}") };
        match status.as_u16() {
            401 | 403 => ModelError::Rejected(format!("{status}: the API key was refused")),
            408 | 429 | 500..=599 => ModelError::Unavailable(format!("{status}{said}").into()),
            _ => ModelError::Rejected(format!("{status}{said}")),
        }
    }
}

fn unavailable(why: impl Into<String>) -> ModelError {
    ModelError::Unavailable(BoxError::from(why.into()))
}

#[async_trait]
impl ChatModel for OpenAiChat {
    async fn complete(&self, request: ChatRequest) -> Result<Completion, ModelError> {
        let body = serde_json::to_vec(&Body::new(&self.model, &request))
            .map_err(|e| ModelError::Malformed(format!("the request cannot be written: {e}")))?;
        let http = Request::post(self.endpoint.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "text/event-stream, application/json")
            .header(USER_AGENT, concat!("todo-adapter-llm/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ModelError::Malformed(format!("the request cannot be written: {e}")))?;
        tracing::debug!(model = %self.model, messages = request.messages.len(), tools = request.tools.len(), "asking the model");
        let deadline = Instant::now() + self.answer_timeout;
        let head_by = deadline.min(Instant::now() + self.read_timeout);
        let response = tokio::time::timeout_at(head_by, self.client.request(http))
            .await
            .map_err(|_| unavailable(format!("no answer within {:?}", self.read_timeout)))?
            .map_err(|e| ModelError::Unavailable(error_chain(&e).into()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.refused(status, response.into_body()).await);
        }
        let is_json =
            response.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let mut reading = Reading {
            body: response.into_body(),
            decoder: Decoder::default(),
            calls: Calls::default(),
            ready: VecDeque::new(),
            state: State::Open,
            read_timeout: self.read_timeout,
            deadline,
            received: 0,
            max_bytes: self.max_answer_bytes,
        };
        if is_json {
            let parts = reading.whole().await?;
            return Ok(Box::pin(futures_util::stream::iter(parts.into_iter().map(Ok))));
        }
        Ok(Box::pin(futures_util::stream::unfold(reading, |mut reading| async move {
            reading.next().await.map(|item| (item, reading))
        })))
    }
}

/// Where a streamed answer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// More is to come.
    Open,
    /// A `finish_reason` came: the answer is whole, whatever follows (usage, `[DONE]`) or not.
    Finished,
    /// Everything has been given out (or an error ended it).
    Over,
}

/// A streamed answer being read.
struct Reading {
    body: Incoming,
    decoder: Decoder,
    calls: Calls,
    /// Parts read and not yet given out.
    ready: VecDeque<CompletionPart>,
    state: State,
    read_timeout: Duration,
    deadline: Instant,
    received: usize,
    max_bytes: usize,
}

/// What reading the body gave.
enum Read {
    Bytes(Bytes),
    End,
}

impl Reading {
    /// The next part, `None` after the last (or after an error).
    async fn next(&mut self) -> Option<Result<CompletionPart, ModelError>> {
        loop {
            if let Some(part) = self.ready.pop_front() {
                return Some(Ok(part));
            }
            if self.state == State::Over {
                return None;
            }
            let step = match self.read().await {
                Ok(Read::Bytes(bytes)) => {
                    let events = self.decoder.push(&bytes);
                    events.into_iter().try_for_each(|data| self.event(&data))
                }
                Ok(Read::End) => self.end(),
                // A stall or a cut after the finish loses nothing.
                Err(_) if self.state == State::Finished => {
                    self.complete();
                    Ok(())
                }
                Err(e) => Err(e),
            };
            if let Err(e) = step {
                self.state = State::Over;
                self.ready.clear();
                return Some(Err(e));
            }
        }
    }

    /// The next bytes of the body, within the deadlines and the size bound.
    async fn read(&mut self) -> Result<Read, ModelError> {
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                return Err(unavailable("the answer took too long"));
            }
            let by = self.deadline.min(now + self.read_timeout);
            let frame = tokio::time::timeout_at(by, self.body.frame())
                .await
                .map_err(|_| unavailable(format!("the answer stalled for {:?}", self.read_timeout)))?;
            match frame {
                None => return Ok(Read::End),
                Some(Err(e)) => {
                    return Err(ModelError::Unavailable(format!("the answer was cut off: {}", error_chain(&e)).into()));
                }
                Some(Ok(frame)) => {
                    if let Ok(bytes) = frame.into_data() {
                        self.received += bytes.len();
                        if self.received > self.max_bytes {
                            return Err(ModelError::Malformed(format!("the answer is over {} bytes", self.max_bytes)));
                        }
                        return Ok(Read::Bytes(bytes));
                    }
                }
            }
        }
    }

    /// Takes in the data of one event.
    fn event(&mut self, data: &str) -> Result<(), ModelError> {
        if self.state == State::Over {
            return Ok(());
        }
        if data.trim() == "[DONE]" {
            self.complete();
            return Ok(());
        }
        let chunk: Chunk = serde_json::from_str(data)
            .map_err(|e| ModelError::Malformed(format!("a chunk of the answer is not the format's: {e}")))?;
        if let Some(error) = chunk.error {
            let message = error.message.unwrap_or_else(|| "an error without a message".into());
            return Err(unavailable(format!(
                "the answer broke off: {}",
                message.chars().take(300).collect::<String>()
            )));
        }
        for choice in chunk.choices.into_iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                self.ready.push_back(CompletionPart::Text(text));
            }
            for call in choice.delta.tool_calls {
                self.calls.add(call);
            }
            if choice.finish_reason.is_some() {
                self.state = State::Finished;
            }
        }
        Ok(())
    }

    /// The answer is whole: its tool calls follow its text, and nothing after.
    fn complete(&mut self) {
        self.ready.extend(self.calls.finish());
        self.state = State::Over;
    }

    /// The body ended: after what an event left open there, the answer must have finished (an
    /// answer cut off is an error, never a short answer).
    fn end(&mut self) -> Result<(), ModelError> {
        if let Some(data) = self.decoder.finish() {
            self.event(&data)?;
        }
        match self.state {
            State::Over => Ok(()),
            State::Finished => {
                self.complete();
                Ok(())
            }
            State::Open => Err(unavailable("the answer ended before it was finished")),
        }
    }

    /// A whole answer from a server that did not stream.
    async fn whole(&mut self) -> Result<Vec<CompletionPart>, ModelError> {
        let mut bytes = Vec::new();
        while let Read::Bytes(b) = self.read().await? {
            bytes.extend_from_slice(&b);
        }
        let whole: Whole = serde_json::from_slice(&bytes)
            .map_err(|e| ModelError::Malformed(format!("the answer is not the format's: {e}")))?;
        Ok(whole.into_parts())
    }
}
