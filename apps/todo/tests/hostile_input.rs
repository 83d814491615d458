//! Hostile input, as black-box fuzzing of the running app sent it: first one test per defect
//! it found (each failed before its fix), then a property suite that feeds random and
//! adversarial paths, query strings, bodies and dates into the HTTP layer of both stores.
//!
//! Every test runs on the in-memory store and on PostgreSQL from the local stack (skipped loudly
//! without it, failing under `TODO_REQUIRE_STACK=1`). Server limits and timeouts (defect 5) and
//! hyper's own errors (defect 6) are proven over raw sockets in `adapters/http-server/tests`,
//! log injection (defect 7) in `todo_runtime::logging`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a test or benchmark: a failed expectation is its failure

mod support;

use std::sync::Arc;

use hyper::{Method, StatusCode};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{Value, json};
use support::{App, assert_error, eventually};
use todo_adapter_memory::ManualClock;
use todo_adapter_postgres::testing::TempDatabase;

/// The stores a test runs on: memory always, PostgreSQL when the stack is up.
enum Store {
    Memory,
    Postgres(TempDatabase),
}

async fn stores(test: &str) -> Vec<Store> {
    let mut stores = vec![Store::Memory];
    if let Some(stack) = todo_contract_tests::stack::stack(&format!("hostile input on postgres ({test})")) {
        stores.push(Store::Postgres(TempDatabase::create(stack.get("TODO_STACK_PG_URL")).await.unwrap()));
    }
    stores
}

impl Store {
    fn name(&self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Postgres(_) => "postgres",
        }
    }

    async fn app(&self, roles: &str, clock: Option<Arc<dyn todo_ports::Clock>>) -> App {
        let mut vars = vec![("ROLES", roles)];
        if let Self::Postgres(db) = self {
            vars.push(("DATABASE_URL", db.url()));
            vars.push(("DATABASE_POOL_SIZE", "8"));
        }
        App::start_with(&vars, clock).await
    }
}

const ALL_ROLES: &str = "backend,recurring-tasks,notifications,audit";

// ------------------------------------------------------------------------ the defects, one each

/// 1. An instant whose UTC form is past 9999-12-31 is a 422 naming the field in a body and a 400
/// naming the parameter in a query, not a panic; the app serves the next request as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instant_past_the_calendar_is_refused_not_a_panic() {
    for store in stores("past the calendar").await {
        let app = store.app(ALL_ROLES, None).await;
        let (s, b) = app
            .json(Method::POST, "/api/u/tasks", json!({"title": "a", "due_date": "9999-12-31T23:59:59-00:01"}))
            .await;
        assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(b["error"]["field"], "due_date", "{}", store.name());
        for param in ["due_before", "due_after"] {
            let (s, b) = app.get(&format!("/api/u/tasks?{param}=9999-12-31T23:59:59-00:01")).await;
            assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_parameter");
            assert_eq!(b["error"]["field"], param);
        }
        for _ in 0..10 {
            assert_eq!(app.get("/api/u/tasks").await.0, StatusCode::OK, "{}: the next request", store.name());
        }
        app.stop().await;
    }
}

/// 2. An instant before year 1 in UTC is refused and stores nothing; a refused PUT changes
/// nothing (no new revision); the user's reads all still work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instant_before_year_one_stores_nothing_and_breaks_no_account() {
    for store in stores("before year one").await {
        let app = store.app(ALL_ROLES, None).await;
        let (s, b) = app
            .json(Method::POST, "/api/n/tasks", json!({"title": "n", "due_date": "0000-01-01T00:00:00+00:01"}))
            .await;
        assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(app.get("/api/n/tasks").await.1["total"], 0, "{}: the refused task was stored", store.name());
        let (_, task) = app.json(Method::POST, "/api/n/tasks", json!({"title": "keep"})).await;
        let path = format!("/api/n/tasks/{}", task["id"]);
        let (s, _) = app.json(Method::PUT, &path, json!({"due_date": "0000-12-31T23:59:59Z"})).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.get(&path).await.1, task, "{}: the refused PUT changed the task", store.name());
        for read in ["/api/n/tasks", "/api/n/audit", "/api/n/notifications"] {
            assert_eq!(app.get(read).await.0, StatusCode::OK, "{}: {read}", store.name());
        }
        app.stop().await;
    }
}

/// 3. Completing a recurring task at the end of the calendar ends its series; the consumers go
/// on for every user (no lane, relay or runtime dies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_at_the_end_of_the_calendar_ends_and_delivery_goes_on() {
    for store in stores("end of the calendar").await {
        let app = store.app(ALL_ROLES, None).await;
        for frequency in ["weekly", "monthly", "daily"] {
            let (s, t) = app
                .json(Method::POST, "/api/w/tasks", json!({"title": "w", "due_date": "9999-12-30T09:00:00Z", "recurrence": {"frequency": frequency, "interval": 7}}))
                .await;
            assert_eq!(s, StatusCode::CREATED, "{t}");
            let (s, _) = app.call(Method::PATCH, &format!("/api/w/tasks/{}/complete", t["id"]), None).await;
            assert_eq!(s, StatusCode::OK);
        }
        eventually("the completions audited", async || {
            app.get("/api/w/audit").await.1["items"].as_array().is_some_and(|a| a.len() == 6)
        })
        .await;
        // Users of every lane still get their next instances.
        for i in 0..8 {
            let user = format!("other{i}");
            let (_, t) = app
                .json(Method::POST, &format!("/api/{user}/tasks"), json!({"title": "rent", "due_date": "2030-01-31T09:00:00Z", "recurrence": {"frequency": "monthly"}}))
                .await;
            app.call(Method::PATCH, &format!("/api/{user}/tasks/{}/complete", t["id"]), None).await;
            eventually("a next instance", async || {
                app.get(&format!("/api/{user}/tasks?completed=false")).await.1["total"] == 1
            })
            .await;
        }
        assert_eq!(
            app.get("/api/w/tasks?completed=false").await.1["total"],
            0,
            "{}: an instance past 9999",
            store.name()
        );
        app.stop().await;
    }
}

/// 4. NUL (and other control characters) are refused identically by both stores; newline and
/// tab stay allowed in descriptions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_are_refused_alike_in_both_stores() {
    for store in stores("control characters").await {
        let app = store.app("backend", None).await;
        for (body, field) in [
            (json!({"title": "a\u{0}b"}), "title"),
            (json!({"title": "a", "description": "x\u{0}y"}), "description"),
            (json!({"title": "a", "description": "bell\u{7}"}), "description"),
            (json!({"title": "a", "tags": ["t\u{0}"]}), "tags"),
            (json!({"title": "line\nbreak"}), "title"),
        ] {
            let (s, b) = app.json(Method::POST, "/api/c/tasks", body.clone()).await;
            assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(b["error"]["field"], field, "{}: {body}", store.name());
        }
        for query in ["q=%00", "tag=a%00b", "q=%1b%5b2J"] {
            let (s, b) = app.get(&format!("/api/c/tasks?{query}")).await;
            assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_parameter");
        }
        let (s, _) =
            app.json(Method::POST, "/api/c/tasks", json!({"title": "ok", "description": "1.\tmilk\n2.\teggs"})).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, b) = app
            .json(Method::PUT, "/api/c/conversations/s1", json!({"context": {"note": "a\u{0}"}, "messages": []}))
            .await;
        assert_error(s, &b, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(app.get("/api/c/tasks").await.1["total"], 1, "{}", store.name());
        app.stop().await;
    }
}

/// 8. Fifty parallel PUTs on one task: `updated_at` never goes back from one revision to the
/// next, and the newest audit entry is the task's final state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_keep_time_and_audit_order() {
    for store in stores("concurrent updates").await {
        let app = Arc::new(store.app(ALL_ROLES, None).await);
        let (_, task) = app.json(Method::POST, "/api/p/tasks", json!({"title": "t0"})).await;
        let path = format!("/api/p/tasks/{}", task["id"]);
        let puts: Vec<_> = (1..=50)
            .map(|i| {
                let (app, path) = (app.clone(), path.clone());
                tokio::spawn(async move { app.json(Method::PUT, &path, json!({"title": format!("t{i}")})).await.0 })
            })
            .collect();
        for put in puts {
            assert_eq!(put.await.unwrap(), StatusCode::OK);
        }
        let (_, last) = app.get(&path).await;
        eventually("51 audit entries", async || {
            app.get("/api/p/audit?limit=100").await.1["items"].as_array().is_some_and(|a| a.len() == 51)
        })
        .await;
        let (_, audit) = app.get("/api/p/audit?limit=100").await;
        let items = audit["items"].as_array().unwrap();
        assert_eq!(
            items[0]["data"]["title"],
            last["title"],
            "{}: the newest entry is not the final state",
            store.name()
        );
        assert_eq!(items[0]["data"]["revision"], 50);
        let mut by_revision: Vec<(i64, String)> = items
            .iter()
            .map(|e| (e["data"]["revision"].as_i64().unwrap(), e["data"]["updated_at"].as_str().unwrap().to_owned()))
            .collect();
        by_revision.sort();
        let times: Vec<time::OffsetDateTime> = by_revision
            .iter()
            .map(|(_, t)| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{}: updated_at went backwards: {by_revision:?}", store.name());
        match Arc::try_unwrap(app) {
            Ok(app) => app.stop().await,
            Err(_) => panic!("the app is still shared"),
        }
    }
}

/// 9. Paths are parsed strictly: user ids by their pattern (never `.` or `..`), no empty
/// segments, task ids in canonical decimal; text search folds case alike in both stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_strict_and_search_folds_alike() {
    for store in stores("strict paths").await {
        let app = store.app("backend", None).await;
        for user in [".", "..", "...", "%2e%2e", "a%3Ab"] {
            let (s, b) = app.json(Method::POST, &format!("/api/{user}/tasks"), json!({"title": "t"})).await;
            assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_parameter");
        }
        let (_, t) = app.json(Method::POST, "/api/u/tasks", json!({"title": "Visit İstanbul"})).await;
        assert_eq!(t["id"], 1, "{}", store.name());
        for path in [
            "//api//u//tasks//",
            "/api/u/tasks/",
            "/api/u/tasks/+1",
            "/api/u/tasks/01",
            "/api/u/tasks/0",
            "/api/u/tasks/1/",
        ] {
            let (s, b) = app.get(path).await;
            assert_error(s, &b, StatusCode::NOT_FOUND, "not_found");
        }
        let (s, b) = app.get("/api//tasks").await;
        assert_error(s, &b, StatusCode::BAD_REQUEST, "invalid_parameter");
        assert_eq!(b["error"]["field"], "user_id");
        assert_eq!(app.get("/api/u/tasks/1").await.0, StatusCode::OK);
        for q in ["istanbul", "%C4%B0STANBUL", "VISIT"] {
            assert_eq!(app.get(&format!("/api/u/tasks?q={q}")).await.1["total"], 1, "{}: q={q}", store.name());
        }
        let answer = app.send(Method::HEAD, "/api/u/tasks", None, &[]).await;
        assert_eq!(answer.status, StatusCode::OK, "HEAD wherever GET");
        let answer = app.send(Method::DELETE, "/api/u/tasks", None, &[]).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
        assert!(
            answer.headers.get("allow").is_some_and(|a| a.to_str().unwrap().contains("POST")),
            "{:?}",
            answer.headers
        );
        app.stop().await;
    }
}

// --------------------------------------------------------------------------- the property suite

/// What a generated request is.
#[derive(Clone)]
struct Probe {
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = self.body.as_deref().map(String::from_utf8_lossy);
        write!(f, "{} {} {body:?}", self.method, self.path)
    }
}

fn encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn user() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("ada".to_owned()),
        4 => Just("bob".to_owned()),
        1 => prop::sample::select(vec![".", "..", "...", "", "a:b", "ü", "a b", "a\u{0}b", "@", "x/y"]).prop_map(encode),
        1 => Just("x".repeat(129)),
        1 => "[a-z0-9_.@-]{1,12}",
    ]
}

fn task_id() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (1u32..6).prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec!["0", "01", "+1", "-1", "1.0", "9223372036854775808", "abc", "%31", ""]).prop_map(str::to_owned),
        1 => any::<u64>().prop_map(|n| n.to_string()),
    ]
}

/// RFC 3339-looking text, often at the edges of the calendar.
fn instant() -> impl Strategy<Value = String> {
    let year = prop_oneof![2 => Just(0), 2 => Just(1), 2 => Just(9999), 3 => 1900u32..2100, 1 => 0u32..10000];
    let offset = prop_oneof![
        Just("Z".to_owned()),
        (0u32..24, 0u32..60, any::<bool>())
            .prop_map(|(h, m, neg)| format!("{}{h:02}:{m:02}", if neg { '-' } else { '+' }))
    ];
    prop_oneof![
        6 => (year, 1u32..13, 1u32..32, 0u32..24, 0u32..60, 0u32..60, offset)
            .prop_map(|(y, mo, d, h, mi, s, off)| format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{off}")),
        3 => prop::sample::select(vec![
            "9999-12-31T23:59:59-00:01", "9999-12-31T23:59:59.999999Z", "0000-01-01T00:00:00+00:01", "0000-06-15T12:00:00Z",
            "0001-01-01T00:00:00+23:59", "0001-01-01T00:00:00Z", "tomorrow", "", "2026-02-30T00:00:00Z",
            "2026-01-01T00:00:00.123456789Z", "9999-12-30T09:00:00Z",
        ]).prop_map(str::to_owned),
    ]
}

/// Text a field accepts, mostly, and text at its limits.
fn plain() -> impl Strategy<Value = String> {
    prop_oneof![8 => "[a-zA-Z0-9][a-zA-Z0-9 ]{0,19}", 1 => Just("İstanbul ÉTÉ".to_owned()), 1 => Just("é".repeat(200))]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 ]{0,20}",
        2 => any::<String>(),
        1 => Just("\u{0}".to_owned()),
        1 => Just("a\n2026-12-01T21:00:00Z ERROR forged".to_owned()),
        1 => Just("İstanbul ÉTÉ".to_owned()),
        1 => Just("x".repeat(4001)),
    ]
}

/// A JSON value of any shape.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A task body: the documented fields with values of every kind, sometimes an extra field.
fn task_body() -> impl Strategy<Value = Value> {
    let field_value = |valid: BoxedStrategy<Value>| prop_oneof![8 => valid, 1 => any_json()];
    (
        prop_oneof![8 => plain().prop_map(Value::String), 1 => text().prop_map(Value::String), 1 => any_json()],
        prop::option::of(
            prop_oneof![8 => plain().prop_map(Value::String), 1 => text().prop_map(Value::String), 1 => any_json()],
        ),
        prop::option::of(field_value((1i64..6).prop_map(|n| json!(n)).boxed())),
        prop::option::weighted(0.7, field_value(instant().prop_map(Value::String).boxed())),
        prop::option::of(field_value(
            prop::collection::vec(plain().prop_map(Value::String), 0..4).prop_map(Value::Array).boxed(),
        )),
        prop::option::weighted(
            0.3,
            field_value(
                (prop::sample::select(vec!["daily", "weekly", "monthly", "yearly"]), prop::option::of(-1i64..400))
                    .prop_map(|(f, i)| json!({"frequency": f, "interval": i}))
                    .boxed(),
            ),
        ),
        prop::option::of(field_value((-5i64..11000).prop_map(|n| json!(n)).boxed())),
        prop::option::weighted(0.2, field_value(any::<bool>().prop_map(Value::Bool).boxed())),
        prop::option::weighted(0.1, ("[a-z]{1,8}", any_json())),
    )
        .prop_map(|(title, description, priority, due, tags, recurrence, offset, completed, extra)| {
            let mut body = serde_json::Map::new();
            body.insert("title".into(), title);
            for (name, value) in [
                ("description", description),
                ("priority_id", priority),
                ("due_date", due),
                ("tags", tags),
                ("recurrence", recurrence),
                ("reminder_offset_minutes", offset),
                ("completed", completed),
            ] {
                if let Some(value) = value {
                    body.insert(name.into(), value);
                }
            }
            if let Some((name, value)) = extra {
                body.insert(name, value);
            }
            Value::Object(body)
        })
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "completed",
            "priority_id",
            "tag",
            "due_before",
            "due_after",
            "q",
            "sort",
            "order",
            "limit",
            "offset"
        ])
        .prop_map(str::to_owned),
        "[a-z]{1,6}",
    ];
    let value = prop_oneof![
        text(),
        instant(),
        (-3i64..300).prop_map(|n| n.to_string()),
        prop::sample::select(vec!["true", "false", "asc", "desc", "due_date", "priority"]).prop_map(str::to_owned)
    ];
    prop::collection::vec((key, value), 0..4).prop_map(|pairs| {
        pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
    })
}

/// A message or conversation body.
fn conversation_body() -> impl Strategy<Value = Value> {
    let message = || {
        (
            prop::sample::select(vec!["user", "assistant", "system", "tool", "robot"]),
            text(),
            prop::option::of(instant()),
        )
            .prop_map(|(role, content, ts)| json!({"role": role, "content": content, "timestamp": ts}))
    };
    prop_oneof![
        3 => message(),
        2 => (prop::collection::vec(message(), 0..3), prop::option::of(any_json())).prop_map(|(m, c)| {
            let mut body = json!({"messages": m});
            if let Some(c) = c {
                body["context"] = if c.is_object() { c } else { json!({"note": c}) };
            }
            body
        }),
        1 => any_json(),
    ]
}

fn probe() -> impl Strategy<Value = Probe> {
    // Mostly a route with one of its methods and a body of its kind; sometimes anything.
    let route = prop_oneof![
        5 => Just(("tasks", vec![Method::POST, Method::POST, Method::GET])),
        4 => Just(("task", vec![Method::GET, Method::PUT, Method::PATCH, Method::DELETE])),
        1 => Just(("complete", vec![Method::PATCH, Method::POST])),
        1 => Just(("conversation", vec![Method::GET, Method::PUT, Method::DELETE])),
        1 => Just(("messages", vec![Method::POST])),
        1 => Just(("audit", vec![Method::GET])),
        1 => Just(("odd", vec![Method::GET])),
    ];
    let any_method = prop::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ]);
    let choice = (route, any::<prop::sample::Index>(), prop::option::weighted(0.15, any_method));
    // A body of the route's kind, mostly; some of the other kind, garbage or none.
    let bodies = (
        task_body().prop_map(|b| b.to_string().into_bytes()),
        conversation_body().prop_map(|b| b.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
        prop::sample::select(vec![0u8, 0, 0, 0, 0, 0, 1, 2, 3]),
    );
    (choice, user(), task_id(), "[a-zA-Z0-9._-]{0,8}", query(), bodies).prop_map(
        |((route, pick, other), u, id, session, q, bodies)| {
            let (kind, methods) = route;
            let (task, conversation, garbage, which) = bodies;
            let own_kind =
                if matches!(kind, "conversation" | "messages") { conversation.clone() } else { task.clone() };
            let body = match which {
                0 => Some(own_kind),
                1 => Some(if own_kind == task { conversation } else { task }),
                2 => Some(garbage),
                _ => None,
            };
            let method = other.unwrap_or_else(|| pick.get(&methods).clone());
            let path = match kind {
                "tasks" => format!("/api/{u}/tasks"),
                "task" => format!("/api/{u}/tasks/{id}"),
                "complete" => format!("/api/{u}/tasks/{id}/complete"),
                "conversation" => format!("/api/{u}/conversations/{session}"),
                "messages" => format!("/api/{u}/conversations/{session}/messages"),
                "audit" => format!("/api/{u}/audit"),
                _ => format!("//api//{u}//tasks//{id}"),
            };
            let path = if q.is_empty() || method != Method::GET { path } else { format!("{path}?{q}") };
            Probe { method, path, body }
        },
    )
}

/// What the users the probes aim at own: their tasks and one conversation.
async fn snapshot(app: &App) -> Vec<(StatusCode, Value)> {
    let mut state = Vec::new();
    for user in ["ada", "bob"] {
        state.push(app.get(&format!("/api/{user}/tasks?limit=200")).await);
        state.push(app.get(&format!("/api/{user}/conversations/s1")).await);
    }
    state
}

async fn check(app: &App, probe: &Probe) -> Result<(), TestCaseError> {
    let before = snapshot(app).await;
    let answer = app.send(probe.method.clone(), &probe.path, probe.body.clone(), &[]).await;
    prop_assert!(answer.status.as_u16() < 500, "{probe:?} -> {} {}", answer.status, answer.body);
    if answer.status.is_client_error() && probe.method != Method::HEAD {
        let code = answer.body["error"]["code"].as_str().unwrap_or_default();
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        prop_assert!(!code.is_empty() && !message.is_empty(), "{probe:?} -> {} {}", answer.status, answer.body);
        let after = snapshot(app).await;
        prop_assert_eq!(&before, &after, "a refused request changed the state: {:?} -> {}", probe, answer.body);
    }
    Ok(())
}

fn run_hostile_suite(store: Store) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Only the backend role: nothing changes the state but the requests themselves.
    let app = runtime.block_on(store.app("backend", None));
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let mut runner = TestRunner::new(ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() });
    let result = runner.run(&probe(), |p| runtime.block_on(check(&app, &p)));
    runtime.block_on(app.stop());
    if let Err(e) = result {
        panic!("{}: {e}", store.name());
    }
}

/// Random and adversarial requests against the in-memory store: no panic, no 5xx, every
/// refusal a JSON error, and no refusal changes anything.
#[test]
fn hostile_requests_on_memory_never_fail_the_server_or_change_state() {
    run_hostile_suite(Store::Memory);
}

/// The same against PostgreSQL.
#[test]
fn hostile_requests_on_postgres_never_fail_the_server_or_change_state() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(store) =
        runtime.block_on(async { stores("property suite").await.pop().filter(|s| matches!(s, Store::Postgres(_))) })
    else {
        return;
    };
    drop(runtime);
    run_hostile_suite(store);
}

/// One step of a sequence the two stores must answer alike.
#[derive(Debug, Clone)]
enum Step {
    Create(Value),
    Update(usize, Value),
    Complete(usize),
    Delete(usize),
    Get(usize),
    List(String),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => task_body().prop_map(Step::Create),
        2 => (0usize..6, task_body()).prop_map(|(i, b)| Step::Update(i, b)),
        1 => (0usize..6).prop_map(Step::Complete),
        1 => (0usize..6).prop_map(Step::Delete),
        1 => (0usize..6).prop_map(Step::Get),
        2 => query().prop_map(Step::List),
    ]
}

/// Replaces each store-assigned task id by its position among the ids the store created.
fn normalised(mut value: Value, ids: &[i64]) -> Value {
    fn walk(v: &mut Value, ids: &[i64]) {
        match v {
            Value::Object(map) => {
                if let Some(id) = map.get("id").and_then(Value::as_i64) {
                    let position = ids.iter().position(|i| *i == id).map_or(-1, |p| p as i64);
                    map.insert("id".into(), json!(format!("task#{position}")));
                }
                map.values_mut().for_each(|v| walk(v, ids));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| walk(v, ids)),
            _ => {}
        }
    }
    walk(&mut value, ids);
    value
}

/// Runs `steps` for `user` on `app`; what it answered, ids normalised.
async fn replay(app: &App, user: &str, steps: &[Step]) -> Vec<(StatusCode, Value)> {
    let mut ids: Vec<i64> = Vec::new();
    let mut answers = Vec::new();
    for step in steps {
        let id = |i: &usize| ids.get(*i).copied().unwrap_or(999_999);
        let (status, body) = match step {
            Step::Create(b) => app.json(Method::POST, &format!("/api/{user}/tasks"), b.clone()).await,
            Step::Update(i, b) => app.json(Method::PUT, &format!("/api/{user}/tasks/{}", id(i)), b.clone()).await,
            Step::Complete(i) => app.call(Method::PATCH, &format!("/api/{user}/tasks/{}/complete", id(i)), None).await,
            Step::Delete(i) => app.call(Method::DELETE, &format!("/api/{user}/tasks/{}", id(i)), None).await,
            Step::Get(i) => app.get(&format!("/api/{user}/tasks/{}", id(i))).await,
            Step::List(q) => app.get(&format!("/api/{user}/tasks?{q}")).await,
        };
        if let (Step::Create(_), StatusCode::CREATED) = (step, status) {
            ids.push(body["id"].as_i64().unwrap_or_default());
        }
        answers.push((status, normalised(body, &ids)));
    }
    answers
}

/// The in-memory store and PostgreSQL give the same answer to the same sequence of requests
/// (on the same clock, ids compared by the order they were created in).
#[test]
fn both_stores_answer_the_same_sequence_alike() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let Some(db) =
        runtime.block_on(async { stores("stores alike").await.pop().filter(|s| matches!(s, Store::Postgres(_))) })
    else {
        return;
    };
    let now = time::macros::datetime!(2026-06-01 12:00 UTC);
    let (memory, postgres) = runtime.block_on(async {
        (
            Store::Memory.app("backend", Some(Arc::new(ManualClock::new(now)))).await,
            db.app("backend", Some(Arc::new(ManualClock::new(now)))).await,
        )
    });
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse::<u32>().ok()).map_or(64, |n| n.min(64));
    let mut runner = TestRunner::new(ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() });
    let case = std::sync::atomic::AtomicUsize::new(0);
    let result = runner.run(&prop::collection::vec(step(), 1..16), |steps| {
        let user = format!("alike{}", case.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let (a, b) =
            runtime.block_on(async { (replay(&memory, &user, &steps).await, replay(&postgres, &user, &steps).await) });
        for (i, (m, p)) in a.iter().zip(&b).enumerate() {
            prop_assert_eq!(m, p, "step {} of {:?}: memory and postgres differ", i, steps);
        }
        Ok(())
    });
    runtime.block_on(async {
        memory.stop().await;
        postgres.stop().await;
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
