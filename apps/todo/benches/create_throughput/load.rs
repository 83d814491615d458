//! The load client: the same request bodies every run, sent over keep-alive connections from a
//! thread of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::net::TcpStream;

use crate::Error;
use crate::cpu::{TICK_MS, cpu_ticks};

/// A small pseudo-random sequence, so every run sends the same bodies.
pub(crate) fn mix(i: usize) -> u64 {
    let mut x = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

pub(crate) const TITLES: [&str; 6] = [
    "Buy groceries for the week",
    "Pay the electricity bill",
    "Call the bank about the card",
    "Prepare slides for Monday's review",
    "Book a dentist appointment",
    "Water the plants",
];

/// The path and body of request `i`: users spread over `users` ids; three in four tasks have a
/// due date 1 to 60 days ahead (so no reminder fires during the run), one in five of those
/// recurs weekly, half have a description, all have a priority and one or two tags.
fn request_of(i: usize, users: usize, today: OffsetDateTime) -> Result<(String, String), Error> {
    let r = mix(i);
    let user = r % users as u64;
    let mut body = serde_json::json!({
        "title": format!("{} #{i}", TITLES[(r >> 8) as usize % TITLES.len()]),
        "priority_id": 1 + (r >> 16) % 4,
        "tags": if (r >> 20).is_multiple_of(2) { serde_json::json!(["home", "errands"]) } else { serde_json::json!(["work"]) },
    });
    if (r >> 24).is_multiple_of(2) {
        body["description"] =
            "Milk, eggs, bread and coffee; pick up the parcel at the post office on the way back.".into();
    }
    if !(r >> 28).is_multiple_of(4) {
        let due = today + time::Duration::days(1 + ((r >> 32) % 60) as i64);
        body["due_date"] = due.format(&Rfc3339)?.into();
        body["reminder_offset_minutes"] = (30 * (1 + (r >> 40) % 4)).into();
        if (r >> 44).is_multiple_of(5) {
            body["recurrence"] = serde_json::json!({"frequency": "weekly"});
        }
    }
    Ok((format!("/api/user{user}/tasks"), body.to_string()))
}

/// What the load client saw.
pub(crate) struct Load {
    /// Every latency, µs.
    pub(crate) latencies: Vec<u64>,
    pub(crate) elapsed: Duration,
    /// Answers other than 201.
    pub(crate) errors: usize,
    /// CPU time of the client's thread, ms.
    pub(crate) cpu_ms: Option<f64>,
}

/// The load client of one run: every request body made up front, sent from a thread and a
/// runtime of its own (one thread), as a separate program would.
pub(crate) struct Client {
    addr: std::net::SocketAddr,
    requests: Arc<Vec<(String, Bytes)>>,
    connections: usize,
}

impl Client {
    pub(crate) fn new(addr: std::net::SocketAddr, settings: &crate::Settings) -> Result<Self, Error> {
        let today = OffsetDateTime::now_utc().replace_time(time::macros::time!(09:00));
        let requests = (0..settings.warmup + settings.requests)
            .map(|i| request_of(i, settings.users, today).map(|(p, b)| (p, Bytes::from(b))))
            .collect::<Result<_, _>>()?;
        Ok(Self { addr, requests: Arc::new(requests), connections: settings.concurrency })
    }

    /// Sends `requests[range]` and waits for the last answer.
    pub(crate) async fn send(&self, range: std::ops::Range<usize>) -> Result<Load, Error> {
        let (addr, requests, connections) = (self.addr, self.requests.clone(), self.connections);
        let handle =
            std::thread::Builder::new().name("bench-client".into()).spawn(move || -> Result<Load, String> {
                let rt =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
                rt.block_on(load(addr, requests, range, connections)).map_err(|e| e.to_string())
            })?;
        match tokio::task::spawn_blocking(move || handle.join()).await? {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => Err(format!("load client: {e}").into()),
            Err(_) => Err("load client panicked".into()),
        }
    }
}

pub(crate) async fn wait_until_up(addr: std::net::SocketAddr) -> Result<(), Error> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the app did not start listening within 30 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `requests[range]` over `connections` keep-alive connections, each taking the next
/// request as soon as its previous answer is read.
async fn load(
    addr: std::net::SocketAddr,
    requests: Arc<Vec<(String, Bytes)>>,
    range: std::ops::Range<usize>,
    connections: usize,
) -> Result<Load, Error> {
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut senders = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        senders.push(sender);
    }
    let cpu_before = cpu_ticks("/proc/thread-self/stat");
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for mut sender in senders {
        let (next, requests, end) = (next.clone(), requests.clone(), range.end);
        workers.spawn(async move {
            let mut latencies = Vec::with_capacity((end - next.load(Ordering::Relaxed)) / connections + 1);
            let mut errors = 0usize;
            let mut first_error = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let (path, body) = &requests[i];
                let request = Request::builder()
                    .method(Method::POST)
                    .uri(path.as_str())
                    .header(hyper::header::HOST, "127.0.0.1")
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(body.clone()))?;
                let sent = Instant::now();
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let answer = response.into_body().collect().await?.to_bytes();
                latencies.push(sent.elapsed().as_micros() as u64);
                if status != StatusCode::CREATED {
                    errors += 1;
                    first_error.get_or_insert_with(|| format!("{status} {}", String::from_utf8_lossy(&answer)));
                }
            }
            if let Some(e) = first_error {
                eprintln!("  first error: {e}");
            }
            Ok::<_, Error>((latencies, errors))
        });
    }
    let mut latencies = Vec::with_capacity(range.len());
    let mut errors = 0;
    while let Some(done) = workers.join_next().await {
        let (mut l, e) = done??;
        latencies.append(&mut l);
        errors += e;
    }
    let elapsed = started.elapsed();
    let cpu_ms = cpu_before.zip(cpu_ticks("/proc/thread-self/stat")).map(|(a, b)| (b - a) as f64 * TICK_MS);
    Ok(Load { latencies, elapsed, errors, cpu_ms })
}
