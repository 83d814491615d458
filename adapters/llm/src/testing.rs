//! [`ScriptedApi`]: a server on 127.0.0.1 speaking the OpenAI Chat Completions wire format,
//! answering each `POST …/chat/completions` with the next [`Reply`] a test scripted and
//! recording what it was [`Asked`]. It stands in for the hosted model alone (none can be
//! reached from the test machines): the client, its streaming and everything behind it are the
//! real code.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One request the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// `POST`, unless a client got it wrong.
    pub method: String,
    /// The request's path (`/v1/chat/completions`).
    pub path: String,
    /// Its `Authorization` header.
    pub authorization: Option<String>,
    /// Its `Accept` header.
    pub accept: Option<String>,
    /// Its body (`Null` when not JSON).
    pub body: Value,
}

impl Asked {
    /// The `model` asked for.
    pub fn model(&self) -> &str {
        self.body["model"].as_str().unwrap_or_default()
    }

    /// The `messages` sent.
    pub fn messages(&self) -> Vec<Value> {
        self.body["messages"].as_array().cloned().unwrap_or_default()
    }

    /// The names of the tools offered.
    pub fn tool_names(&self) -> Vec<String> {
        let tools = self.body["tools"].as_array().cloned().unwrap_or_default();
        tools.iter().filter_map(|t| t["function"]["name"].as_str().map(str::to_owned)).collect()
    }
}

/// How an answer ends once its pieces are out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The body ends.
    Close,
    /// The body never ends (a stalled server).
    Stall,
}

/// One scripted answer: a status, a content type and the body's pieces, each written on its
/// own after a short pause.
#[derive(Debug, Clone)]
pub struct Reply {
    status: StatusCode,
    content_type: &'static str,
    pieces: Vec<Bytes>,
    pause: Duration,
    end: End,
    /// How long the head waits.
    delay: Duration,
    /// The head waits until the server has been asked this many times in all.
    after_asked: usize,
}

/// A chunk of a streamed answer with `delta` for choice 0.
fn chunk(delta: Value, finish_reason: Option<&str>) -> String {
    json!({
        "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]
    })
    .to_string()
}

/// `text` in pieces of at most `n` characters.
fn split(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n.max(1)).map(|c| c.iter().collect()).collect()
}

impl Reply {
    /// Server-sent events whose data are `data`, in order, one piece each.
    pub fn events<S: AsRef<str>>(data: &[S]) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: "text/event-stream",
            pieces: data.iter().map(|d| Bytes::from(format!("data: {}\n\n", d.as_ref()))).collect(),
            pause: Duration::from_millis(2),
            end: End::Close,
            delay: Duration::ZERO,
            after_asked: 0,
        }
    }

    /// A streamed answer saying `pieces` one after the other, finished (`stop`, `[DONE]`).
    pub fn text(pieces: &[&str]) -> Self {
        let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), None)];
        events.extend(pieces.iter().map(|p| chunk(json!({"content": p}), None)));
        events.push(chunk(json!({}), Some("stop")));
        events.push("[DONE]".into());
        Self::events(&events)
    }

    /// A streamed answer calling `calls` (id, tool, arguments) after saying `preamble` (if
    /// anything), each call's arguments cut into pieces of 7 characters sent one by one, the
    /// calls' pieces interleaved, finished (`tool_calls`, `[DONE]`).
    pub fn tool_calls(preamble: &str, calls: &[(&str, &str, Value)]) -> Self {
        let mut events = vec![chunk(json!({"role": "assistant", "content": null}), None)];
        if !preamble.is_empty() {
            events.push(chunk(json!({"content": preamble}), None));
        }
        for (index, (id, name, _)) in calls.iter().enumerate() {
            let start =
                json!({"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
            events.push(chunk(json!({"tool_calls": [start]}), None));
        }
        let pieces: Vec<Vec<String>> = calls.iter().map(|(_, _, args)| split(&args.to_string(), 7)).collect();
        for round in 0..pieces.iter().map(Vec::len).max().unwrap_or(0) {
            for (index, call_pieces) in pieces.iter().enumerate() {
                if let Some(piece) = call_pieces.get(round) {
                    let delta = json!({"index": index, "function": {"arguments": piece}});
                    events.push(chunk(json!({"tool_calls": [delta]}), None));
                }
            }
        }
        events.push(chunk(json!({}), Some("tool_calls")));
        events.push("[DONE]".into());
        Self::events(&events)
    }

    /// An error answer with the API's error body.
    pub fn error(status: u16, message: &str) -> Self {
        let body = json!({"error": {"message": message, "type": "scripted", "code": null}}).to_string();
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            content_type: "application/json",
            pieces: vec![Bytes::from(body)],
            pause: Duration::ZERO,
            end: End::Close,
            delay: Duration::ZERO,
            after_asked: 0,
        }
    }

    /// A whole JSON answer (a server that does not stream).
    pub fn json(body: &Value) -> Self {
        Self {
            status: StatusCode::OK,
            content_type: "application/json",
            pieces: vec![Bytes::from(body.to_string())],
            pause: Duration::ZERO,
            end: End::Close,
            delay: Duration::ZERO,
            after_asked: 0,
        }
    }

    /// The same bytes cut into pieces of `n` bytes (lines and characters split anywhere).
    pub fn cut_every(mut self, n: usize) -> Self {
        let all: Vec<u8> = self.pieces.iter().flat_map(|p| p.iter().copied()).collect();
        self.pieces = all.chunks(n.max(1)).map(Bytes::copy_from_slice).collect();
        self
    }

    /// Only the first `n` pieces, then the body ends (an answer cut off).
    pub fn truncated(mut self, n: usize) -> Self {
        self.pieces.truncate(n);
        self
    }

    /// After its pieces the body never ends (a stalled server).
    pub fn then_stall(mut self) -> Self {
        self.end = End::Stall;
        self
    }

    /// `delay` before the answer's head (a server slow to answer).
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The answer's head waits until the server has received `n` requests in all (at most 10 s),
    /// so that a test can make requests overlap without guessing a delay.
    pub fn after_asked(mut self, n: usize) -> Self {
        self.after_asked = n;
        self
    }

    /// `pause` before each piece.
    pub fn paced(mut self, pause: Duration) -> Self {
        self.pause = pause;
        self
    }

    fn into_response(self) -> Response<UnsyncBoxBody<Bytes, Infallible>> {
        let Self { status, content_type, pieces, pause, end, delay: _, after_asked: _ } = self;
        let frames = futures_util::stream::iter(pieces).then(move |piece| async move {
            tokio::time::sleep(pause).await;
            Ok::<_, Infallible>(Frame::data(piece))
        });
        let body: BoxStream<'static, Result<Frame<Bytes>, Infallible>> = match end {
            End::Close => frames.boxed(),
            End::Stall => frames.chain(futures_util::stream::pending()).boxed(),
        };
        let mut response = Response::new(BodyExt::boxed_unsync(StreamBody::new(body)));
        *response.status_mut() = status;
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
        response
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    asked: Mutex<Vec<Asked>>,
    /// Woken whenever a request is recorded.
    arrived: tokio::sync::Notify,
}

impl Script {
    /// Until `n` requests have been recorded, or 10 s have passed.
    async fn until_asked(&self, n: usize) {
        let wait = async {
            loop {
                let arrived = self.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if lock(&self.asked).len() >= n {
                    return;
                }
                arrived.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The scripted server; it stops when dropped.
pub struct ScriptedApi {
    addr: SocketAddr,
    script: Arc<Script>,
    server: JoinHandle<()>,
}

impl ScriptedApi {
    /// A server on a free port of 127.0.0.1, with nothing scripted (it answers 500 to what it
    /// was not scripted for).
    ///
    /// # Panics
    /// When no port of 127.0.0.1 can be bound.
    #[allow(clippy::expect_used)] // a test fixture: failing to start is the test's failure
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound address");
        let script = Arc::new(Script::default());
        let serving = script.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let script = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| answer(script.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, script, server }
    }

    /// The base URL to configure (`http://127.0.0.1:{port}/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Scripts the answer to the next request not yet answered.
    pub fn reply(&self, reply: Reply) -> &Self {
        lock(&self.script.replies).push_back(reply);
        self
    }

    /// Every request received so far, in order.
    pub fn asked(&self) -> Vec<Asked> {
        lock(&self.script.asked).clone()
    }

    /// How many scripted answers are still unused.
    pub fn unused(&self) -> usize {
        lock(&self.script.replies).len()
    }
}

impl Drop for ScriptedApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    script: Arc<Script>,
    req: Request<Incoming>,
) -> Result<Response<UnsyncBoxBody<Bytes, Infallible>>, Infallible> {
    let (parts, body) = req.into_parts();
    let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    lock(&script.asked).push(Asked {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        authorization: header(http::header::AUTHORIZATION),
        accept: header(http::header::ACCEPT),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    script.arrived.notify_waiters();
    let next = lock(&script.replies).pop_front();
    Ok(match next {
        Some(reply) => {
            script.until_asked(reply.after_asked).await;
            tokio::time::sleep(reply.delay).await;
            reply.into_response()
        }
        None => {
            let body = json!({"error": {"message": "no reply scripted for this request"}}).to_string();
            let mut response = Response::new(BodyExt::boxed_unsync(Full::new(Bytes::from(body))));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    })
}
