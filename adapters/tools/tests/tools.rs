//! The task tools over the in-memory adapters, each beside the REST request of the same meaning
//! on a twin system: same results, same refusals (field and message), same events.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::macros::datetime;
use todo_adapter_memory::{InMemoryEventBus, InMemoryScheduler, InMemoryStateStore, InMemoryStore, ManualClock};
use todo_adapter_tools::TaskTools;
use todo_ports::model::{Task, Topic, UserId};
use todo_ports::{MockTaskService, ServiceError, ToolBox, ToolError};
use todo_tasks::{Ports, RelayStep, Todo};
use tower::ServiceExt;

/// The use cases on memory at a fixed instant, with a recording bus the relay publishes to on
/// demand, and the tools over them.
struct System {
    todo: Todo,
    bus: Arc<InMemoryEventBus>,
    tools: TaskTools,
}

impl System {
    fn new() -> Self {
        let bus = InMemoryEventBus::recording();
        let clock = Arc::new(ManualClock::new(datetime!(2026-03-01 12:00 UTC)));
        let todo = Todo::new(Ports::over_store(
            InMemoryStore::new(),
            bus.clone(),
            InMemoryStateStore::new(),
            InMemoryScheduler::new(),
            clock,
        ));
        let tools = TaskTools::new(todo.tasks.clone());
        Self { todo, bus, tools }
    }

    async fn call(&self, user: &str, tool: &str, args: Value) -> Result<Value, ToolError> {
        self.tools.call(&UserId::parse(user).unwrap(), tool, args).await
    }

    async fn ok(&self, user: &str, tool: &str, args: Value) -> Value {
        match self.call(user, tool, args.clone()).await {
            Ok(v) => v,
            Err(e) => panic!("{tool} {args}: {e}"),
        }
    }

    /// The REST API's answer to `method uri` with `body`.
    async fn rest(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
        let routes = todo_adapter_rest::routes::tasks::routes(self.todo.tasks.clone());
        let response = routes.oneshot(request.body(body).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() })
    }

    /// Every event the use cases wrote so far, as published: topic, type and the task as the API
    /// shows it (not its series' random id).
    async fn events(&self) -> Vec<(Topic, &'static str, Value)> {
        while let RelayStep::Published(_) = self.todo.relay.step().await.unwrap() {}
        self.bus
            .published()
            .into_iter()
            .map(|(topic, event)| match event {
                todo_ports::model::Event::Task(e) => (topic, e.event_type.as_str(), view(&e.data)),
                other => panic!("not a task event: {other:?}"),
            })
            .collect()
    }
}

fn view(task: &Task) -> Value {
    serde_json::to_value(todo_adapter_rest::wire::task::TaskView::from(task)).unwrap()
}

/// One step done both ways: a tool call and the REST request of the same meaning.
struct Step {
    tool: &'static str,
    args: Value,
    method: Method,
    uri: &'static str,
    body: Option<Value>,
}

fn step(tool: &'static str, args: Value, method: Method, uri: &'static str, body: Option<Value>) -> Step {
    Step { tool, args, method, uri, body }
}

fn rent() -> Value {
    json!({
        "title": "Pay rent",
        "description": "to the landlord",
        "priority_id": 1,
        "due_date": "2028-01-31T09:00:00+01:00",
        "tags": ["home"],
        "recurrence": {"frequency": "monthly"},
        "reminder_offset_minutes": 30,
    })
}

#[tokio::test]
async fn each_tool_answers_what_the_rest_api_answers_and_publishes_the_same_events() {
    let (tools, rest) = (System::new(), System::new());
    let steps = [
        step("add_task", rent(), Method::POST, "/api/ada/tasks", Some(rent())),
        step(
            "add_task",
            json!({"title": "Buy milk"}),
            Method::POST,
            "/api/ada/tasks",
            Some(json!({"title": "Buy milk"})),
        ),
        step("list_tasks", json!({}), Method::GET, "/api/ada/tasks", None),
        step(
            "list_tasks",
            json!({"completed": false, "sort": "due_date", "order": "desc", "limit": 1, "offset": 1}),
            Method::GET,
            "/api/ada/tasks?completed=false&sort=due_date&order=desc&limit=1&offset=1",
            None,
        ),
        step(
            "list_tasks",
            json!({"tag": "home", "priority_id": 1}),
            Method::GET,
            "/api/ada/tasks?tag=home&priority_id=1",
            None,
        ),
        step("search_tasks", json!({"q": "MILK"}), Method::GET, "/api/ada/tasks?q=MILK", None),
        step("get_task", json!({"task_id": 1}), Method::GET, "/api/ada/tasks/1", None),
        step(
            "update_task",
            json!({"task_id": 2, "title": "Buy oat milk", "description": null, "tags": ["errands", "shop"]}),
            Method::PATCH,
            "/api/ada/tasks/2",
            Some(json!({"title": "Buy oat milk", "description": null, "tags": ["errands", "shop"]})),
        ),
        step("update_task", json!({"task_id": 2}), Method::PATCH, "/api/ada/tasks/2", Some(json!({}))),
        step("complete_task", json!({"task_id": 2}), Method::PATCH, "/api/ada/tasks/2/complete", None),
        step("complete_task", json!({"task_id": 2}), Method::PATCH, "/api/ada/tasks/2/complete", None),
        step(
            "update_task",
            json!({"task_id": 2, "completed": false}),
            Method::PATCH,
            "/api/ada/tasks/2",
            Some(json!({"completed": false})),
        ),
        step("delete_task", json!({"task_id": 1}), Method::DELETE, "/api/ada/tasks/1", None),
        step("list_tasks", json!({}), Method::GET, "/api/ada/tasks", None),
    ];
    for Step { tool, args, method, uri, body } in steps {
        let by_tool = tools.ok("ada", tool, args.clone()).await;
        let (status, by_rest) = rest.rest(method, uri, body).await;
        assert!(status.is_success(), "{uri}: {status} {by_rest}");
        if tool == "delete_task" {
            assert_eq!((status, by_rest), (StatusCode::NO_CONTENT, Value::Null));
            assert_eq!(by_tool, json!({"task_id": args["task_id"], "deleted": true}));
        } else {
            assert_eq!(by_tool, by_rest, "{tool} {args}");
        }
    }
    let events = tools.events().await;
    let types: Vec<&str> = events.iter().filter(|(t, ..)| *t == Topic::TaskEvents).map(|(_, ty, _)| *ty).collect();
    assert_eq!(
        types,
        ["task.created", "task.created", "task.updated", "task.completed", "task.updated", "task.deleted"],
        "an update that changes nothing and a second completion publish nothing"
    );
    assert_eq!(events, rest.events().await, "the same events on the same topics, with the same tasks");
}

/// Asserts that `tool` refuses `args` as REST refuses its request: the same field, and, when
/// REST's message starts with that field, the same message.
async fn refused_alike(system: &System, tool: &str, args: Value, method: Method, uri: &str, body: Option<Value>) {
    let refusal = system.call("ada", tool, args.clone()).await.expect_err(&format!("{tool} {args} is refused"));
    let (status, rest) = system.rest(method, uri, body).await;
    assert!(status.is_client_error(), "{uri}: {status}");
    let (rest_field, rest_message) =
        (rest["error"]["field"].as_str().unwrap(), rest["error"]["message"].as_str().unwrap());
    let ToolError::Invalid { field, message } = &refusal else { panic!("{tool} {args}: {refusal:?}") };
    assert_eq!(field.as_deref(), Some(rest_field), "{tool} {args}");
    assert!(!message.starts_with(&format!("{rest_field}: ")), "the field is not said twice: {message}");
    if rest_message.starts_with(&format!("{rest_field}: ")) {
        assert_eq!(refusal.to_string(), rest_message, "{tool} {args}");
    } else {
        assert!(rest_message.ends_with(message.as_str()), "{rest_message} ~ {message}");
    }
}

#[tokio::test]
async fn invalid_arguments_are_refused_naming_the_field_as_rest_names_it_and_change_nothing() {
    let system = System::new();
    system.ok("ada", "add_task", json!({"title": "Pay rent"})).await;
    let before = (system.rest(Method::GET, "/api/ada/tasks", None).await, system.events().await.len());
    let create = |args: Value| (args.clone(), Method::POST, "/api/ada/tasks", Some(args));
    let patch = |args: Value| {
        let mut body = args.clone();
        body.as_object_mut().unwrap().remove("task_id");
        (args, Method::PATCH, "/api/ada/tasks/1", Some(body))
    };
    let list = |args: Value, uri: &'static str| (args, Method::GET, uri, None);
    let cases = [
        ("add_task", create(json!({}))),
        ("add_task", create(json!({"title": "   "}))),
        ("add_task", create(json!({"title": "two\nlines"}))),
        ("add_task", create(json!({"title": "x".repeat(201)}))),
        ("add_task", create(json!({"title": 5}))),
        ("add_task", create(json!({"title": "x", "priority_id": 9}))),
        ("add_task", create(json!({"title": "x", "priority_id": "high"}))),
        ("add_task", create(json!({"title": "x", "due_date": "next week"}))),
        ("add_task", create(json!({"title": "x", "due_date": "9999-12-31T23:59:59-00:01"}))),
        ("add_task", create(json!({"title": "x", "tags": [1]}))),
        ("add_task", create(json!({"title": "x", "tags": ["ok", ""]}))),
        ("add_task", create(json!({"title": "x", "recurrence": {"frequency": "daily"}}))),
        (
            "add_task",
            create(json!({"title": "x", "due_date": "2028-01-01T00:00:00Z", "recurrence": {"frequency": "yearly"}})),
        ),
        ("add_task", create(json!({"title": "x", "due_date": "2028-01-01T00:00:00Z", "recurrence": {"interval": 2}}))),
        (
            "add_task",
            create(
                json!({"title": "x", "due_date": "2028-01-01T00:00:00Z", "recurrence": {"frequency": "daily", "interval": 366}}),
            ),
        ),
        ("add_task", create(json!({"title": "x", "reminder_offset_minutes": 10081}))),
        ("update_task", patch(json!({"task_id": 1, "title": ""}))),
        ("update_task", patch(json!({"task_id": 1, "recurrence": {"frequency": "daily", "every": 1}}))),
        ("update_task", patch(json!({"task_id": 1, "description": "a\u{0}b"}))),
        ("list_tasks", list(json!({"completed": "yes"}), "/api/ada/tasks?completed=yes")),
        ("list_tasks", list(json!({"completed": 1}), "/api/ada/tasks?completed=1")),
        ("list_tasks", list(json!({"priority_id": 5}), "/api/ada/tasks?priority_id=5")),
        ("list_tasks", list(json!({"limit": 0}), "/api/ada/tasks?limit=0")),
        ("list_tasks", list(json!({"limit": 201}), "/api/ada/tasks?limit=201")),
        ("list_tasks", list(json!({"limit": 1.5}), "/api/ada/tasks?limit=1.5")),
        ("list_tasks", list(json!({"offset": -1}), "/api/ada/tasks?offset=-1")),
        ("list_tasks", list(json!({"sort": "title"}), "/api/ada/tasks?sort=title")),
        ("list_tasks", list(json!({"order": "up"}), "/api/ada/tasks?order=up")),
        ("list_tasks", list(json!({"due_before": "tomorrow"}), "/api/ada/tasks?due_before=tomorrow")),
        (
            "list_tasks",
            list(
                json!({"due_after": "0000-01-01T00:00:00+00:01"}),
                "/api/ada/tasks?due_after=0000-01-01T00:00:00%2B00:01",
            ),
        ),
        ("list_tasks", list(json!({"q": "two\nlines"}), "/api/ada/tasks?q=two%0Alines")),
        ("search_tasks", list(json!({"q": "milk", "tag": "a\u{0}b"}), "/api/ada/tasks?q=milk&tag=a%00b")),
    ];
    for (tool, (args, method, uri, body)) in cases {
        refused_alike(&system, tool, args, method, uri, body).await;
    }
    let after = (system.rest(Method::GET, "/api/ada/tasks", None).await, system.events().await.len());
    assert_eq!(after, before, "a refused call changes nothing and publishes nothing");
}

fn invalid(result: Result<Value, ToolError>) -> (Option<String>, String) {
    match result {
        Err(ToolError::Invalid { field, message }) => (field, message),
        other => panic!("not refused as invalid: {other:?}"),
    }
}

#[tokio::test]
async fn a_tool_takes_only_the_arguments_its_schema_lists_and_never_a_user_id() {
    let system = System::new();
    let (field, message) = invalid(system.call("ada", "add_task", json!({"title": "x", "colour": "red"})).await);
    assert_eq!(field.as_deref(), Some("colour"));
    assert!(message.starts_with("unknown field `colour`, expected one of `title`, `description`"), "{message}");
    let (field, message) = invalid(system.call("ada", "add_task", json!({"title": "x", "user_id": "bob"})).await);
    assert_eq!(field.as_deref(), Some("user_id"));
    assert!(message.ends_with("a tool acts for the signed-in user and takes no user id"), "{message}");
    let (field, message) = invalid(system.call("ada", "get_task", json!({"id": 1})).await);
    assert_eq!(field.as_deref(), Some("id"));
    assert!(message.ends_with("the task's id is `task_id`"), "{message}");
    for tool in ["list_tasks", "search_tasks", "get_task", "update_task", "complete_task", "delete_task"] {
        let args =
            if tool.ends_with("_tasks") { json!({"user_id": "bob"}) } else { json!({"task_id": 1, "user_id": "bob"}) };
        let (field, _) = invalid(system.call("ada", tool, args).await);
        assert_eq!(field.as_deref(), Some("user_id"), "{tool}");
    }
    // A field REST would ignore when a client sends a task back is no tool argument either.
    let (field, _) = invalid(system.call("ada", "update_task", json!({"task_id": 1, "created_at": "x"})).await);
    assert_eq!(field.as_deref(), Some("created_at"));
    for args in [json!([1]), json!("add"), json!(7)] {
        assert_eq!(
            invalid(system.call("ada", "list_tasks", args).await),
            (None, "the arguments must be a JSON object".into())
        );
    }
    assert!(system.ok("ada", "list_tasks", Value::Null).await["items"].is_array(), "no arguments at all is none");
    assert!(system.events().await.is_empty());
}

#[tokio::test]
async fn a_task_id_is_a_positive_integer_or_its_canonical_decimal_text() {
    let system = System::new();
    let id = system.ok("ada", "add_task", json!({"title": "Pay rent"})).await["id"].clone();
    assert_eq!(id, json!(1));
    assert_eq!(system.ok("ada", "get_task", json!({"task_id": "1"})).await["id"], id);
    for tool in ["get_task", "update_task", "complete_task", "delete_task"] {
        assert_eq!(invalid(system.call("ada", tool, json!({})).await), (Some("task_id".into()), "is required".into()));
        assert_eq!(invalid(system.call("ada", tool, json!({"task_id": null})).await).1, "is required");
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("01"),
            json!("+1"),
            json!(""),
            json!(true),
            json!([1]),
            json!(9_223_372_036_854_775_808_u64),
        ] {
            assert_eq!(
                invalid(system.call("ada", tool, json!({"task_id": bad})).await),
                (Some("task_id".into()), "must be a task id, a positive integer such as 7".into()),
                "{tool} {bad}"
            );
        }
    }
}

#[tokio::test]
async fn another_users_task_is_not_found_and_stays_as_it_was() {
    let system = System::new();
    let task = system.ok("ada", "add_task", json!({"title": "Ada's"})).await;
    for (tool, args) in [
        ("get_task", json!({"task_id": 1})),
        ("update_task", json!({"task_id": 1, "title": "mine now"})),
        ("complete_task", json!({"task_id": 1})),
        ("delete_task", json!({"task_id": 1})),
        ("get_task", json!({"task_id": 99})),
    ] {
        let refusal = system.call("bob", tool, args).await.unwrap_err();
        assert!(matches!(&refusal, ToolError::NotFound(what) if what == "task"), "{tool}: {refusal:?}");
        assert_eq!(refusal.to_string(), "task not found");
    }
    assert_eq!(system.ok("bob", "list_tasks", json!({})).await["total"], 0);
    assert_eq!(system.ok("bob", "search_tasks", json!({"q": "Ada"})).await["items"], json!([]));
    assert_eq!(system.ok("ada", "get_task", json!({"task_id": 1})).await, task);
    let events = system.events().await;
    assert_eq!(
        events.iter().map(|(_, ty, _)| *ty).collect::<Vec<_>>(),
        ["task.created", "task.created"],
        "one per topic"
    );
}

#[tokio::test]
async fn search_finds_text_folded_and_needs_something_to_find() {
    let system = System::new();
    system.ok("ada", "add_task", json!({"title": "Fly to İstanbul"})).await;
    system.ok("ada", "add_task", json!({"title": "Book", "description": "Café near the ÉTÉ hotel"})).await;
    system.ok("ada", "add_task", json!({"title": "Something else"})).await;
    let titles = |page: Value| -> Vec<String> {
        page["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(titles(system.ok("ada", "search_tasks", json!({"q": "istanbul"})).await), ["Fly to İstanbul"]);
    assert_eq!(titles(system.ok("ada", "search_tasks", json!({"q": "café near the été"})).await), ["Book"]);
    let page =
        system.ok("ada", "search_tasks", json!({"q": "o", "sort": "created_at", "order": "desc", "limit": 2})).await;
    assert_eq!(
        (titles(page.clone()), &page["total"]),
        (vec!["Something else".to_owned(), "Book".to_owned()], &json!(3))
    );
    for args in [json!({}), json!({"q": ""}), json!({"q": null}), json!({"completed": true})] {
        assert_eq!(
            invalid(system.call("ada", "search_tasks", args).await),
            (Some("q".into()), "is required: the text to find".into())
        );
    }
}

#[tokio::test]
async fn an_unknown_tool_is_unknown() {
    let system = System::new();
    let refusal = system.call("ada", "drop_all_tasks", json!({})).await.unwrap_err();
    assert!(matches!(&refusal, ToolError::Unknown(name) if name == "drop_all_tasks"), "{refusal:?}");
}

#[tokio::test]
async fn a_dependency_down_or_a_storm_of_writers_is_unavailable_and_a_bug_internal() {
    let mut tasks = MockTaskService::new();
    tasks.expect_list().returning(|_, _| Err(ServiceError::Unavailable("database down".into())));
    tasks.expect_complete().returning(|_, _| Err(ServiceError::Conflict("the task kept changing concurrently".into())));
    tasks.expect_get().returning(|_, _| Err(ServiceError::Internal("bug".into())));
    let tools = TaskTools::new(Arc::new(tasks));
    let user = UserId::parse("ada").unwrap();
    let listed = tools.call(&user, "list_tasks", json!({})).await.unwrap_err();
    assert!(matches!(&listed, ToolError::Unavailable(e) if e.to_string() == "database down"), "{listed:?}");
    let completed = tools.call(&user, "complete_task", json!({"task_id": 1})).await.unwrap_err();
    assert!(matches!(completed, ToolError::Unavailable(_)), "{completed:?}");
    let read = tools.call(&user, "get_task", json!({"task_id": 1})).await.unwrap_err();
    assert!(matches!(read, ToolError::Internal(_)), "{read:?}");
}

#[test]
fn each_tool_has_a_description_and_a_strict_object_schema_with_every_property_described() {
    let system = System::new();
    let specs = system.tools.specs();
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["add_task", "list_tasks", "search_tasks", "get_task", "update_task", "complete_task", "delete_task"]
    );
    for spec in &specs {
        assert!(spec.description.len() > 80, "{}: say what it does and when", spec.name);
        let schema = &spec.input_schema;
        assert!(jsonschema::draft202012::meta::is_valid(schema), "{}: not a valid JSON Schema", spec.name);
        assert_eq!(
            (&schema["type"], &schema["additionalProperties"]),
            (&json!("object"), &json!(false)),
            "{}",
            spec.name
        );
        let properties = schema["properties"].as_object().unwrap();
        for (name, property) in properties {
            assert!(property["description"].as_str().is_some_and(|d| !d.is_empty()), "{}.{name}", spec.name);
            assert_ne!(name, "user_id", "{}: the user is the caller, never an argument", spec.name);
        }
        for required in schema["required"].as_array().unwrap() {
            assert!(properties.contains_key(required.as_str().unwrap()), "{}: {required}", spec.name);
        }
    }
    let required = |name: &str| specs.iter().find(|s| s.name == name).unwrap().input_schema["required"].clone();
    assert_eq!(required("add_task"), json!(["title"]));
    assert_eq!(required("search_tasks"), json!(["q"]));
    assert_eq!(required("list_tasks"), json!([]));
    for name in ["get_task", "update_task", "complete_task", "delete_task"] {
        assert_eq!(required(name), json!(["task_id"]), "{name}");
    }
}

#[tokio::test]
async fn the_schemas_accept_what_the_tools_accept_and_refuse_the_plain_mistakes() {
    let system = System::new();
    let schema = |name: &str| {
        let spec = system.tools.specs().into_iter().find(|s| s.name == name).unwrap();
        jsonschema::draft202012::options().should_validate_formats(true).build(&spec.input_schema).unwrap()
    };
    let accepted = [
        ("add_task", rent()),
        (
            "update_task",
            json!({"task_id": 1, "description": null, "due_date": null, "recurrence": null, "priority_id": null, "completed": true}),
        ),
        (
            "list_tasks",
            json!({"completed": true, "priority_id": 2, "tag": "home", "due_before": "2028-01-01T00:00:00Z", "sort": "priority", "order": "desc", "limit": 200, "offset": 0}),
        ),
        ("search_tasks", json!({"q": "rent", "limit": 5})),
        ("get_task", json!({"task_id": 1})),
        ("complete_task", json!({"task_id": 1})),
        ("delete_task", json!({"task_id": 1})),
    ];
    for (name, args) in accepted {
        assert!(schema(name).is_valid(&args), "{name} {args}");
        system.ok("ada", "add_task", json!({"title": "Pay rent", "due_date": "2028-01-01T00:00:00Z"})).await;
        system.ok("ada", name, args).await;
    }
    for (name, args) in [
        ("add_task", json!({})),
        ("add_task", json!({"title": "x", "user_id": "bob"})),
        ("add_task", json!({"title": "x", "priority_id": 5})),
        ("add_task", json!({"title": "x", "description": null})),
        ("add_task", json!({"title": "x", "due_date": "next week"})),
        ("add_task", json!({"title": "x", "recurrence": {"frequency": "yearly"}})),
        ("add_task", json!({"title": "x", "tags": ["ok", ""]})),
        ("update_task", json!({"title": "no id"})),
        ("list_tasks", json!({"limit": 0})),
        ("list_tasks", json!({"sort": "title"})),
        ("search_tasks", json!({"q": ""})),
        ("get_task", json!({"task_id": 0})),
    ] {
        assert!(!schema(name).is_valid(&args), "{name} {args} passes its schema");
    }
}
