#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The Helm chart, rendered by helm for both values files, checked against the code: what each
//! service is (app id, port, roles), what its settings parser accepts, which topics the consumers
//! read, which Dapr components the code names and who uses them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;
use todo_adapter_dapr::{DEFAULT_PUBSUB, FANOUT_PUBSUB};
use todo_adapter_memory::{InMemoryEventBus, InMemoryScheduler, InMemoryStateStore, InMemoryStore};
use todo_auth::AuthConfig;
use todo_helm_check::{Manifests, RenderError, container_env, helm, str_at};
use todo_model::Topic;
use todo_ports::SystemClock;
use todo_runtime::{Config, REMINDER_CRON, Service};
use todo_tasks::{Ports, Role, Todo};

/// The services of the split.
const SERVICES: [Service; 5] =
    [Service::Backend, Service::RecurringTasks, Service::Notifications, Service::Audit, Service::Sync];

/// The frontend's app id and port, as its crate says.
const FRONTEND: (&str, u16) = (todo_frontend::APP_ID, todo_frontend::DEFAULT_PORT);

/// The roles that write events to an outbox their app's relay publishes (`publishes: true` in
/// apps/runtime/src/parts.rs, which is crate-private).
const PUBLISHERS: [Role; 3] = [Role::Backend, Role::RecurringTasks, Role::Notifications];
/// The role that keeps conversations in the Dapr state store (parts.rs: the conversation routes).
const STATE_USERS: [Role; 1] = [Role::Backend];
/// The role that answers the `reminder-cron` binding (parts.rs: `sweep`).
const CRON_USERS: [Role; 1] = [Role::RecurringTasks];
/// The services with a database of their own or shared (the README's table of the split).
const WITH_DATABASE: [Service; 4] = [Service::Backend, Service::RecurringTasks, Service::Notifications, Service::Audit];

const SEVEN_DAYS_MS: u64 = 7 * 24 * 3600 * 1000;

// ------------------------------------------------------------------ the renderings

/// helm; `None` by `or_skip` when there is none, a failure under TODO_REQUIRE_STACK=1.
fn helm_or_skip() -> Option<std::path::PathBuf> {
    let found = helm().ok_or_else(|| {
        "helm not found (TODO_HELM, the cache of infra/helm/validate, PATH); run infra/helm/validate tools".to_owned()
    });
    todo_contract_tests::stack::or_skip("the chart's render checks", found)
}

/// The chart rendered with values.yaml and with values-cloud.yaml.
fn renderings() -> Option<Vec<(&'static str, Manifests)>> {
    let helm = helm_or_skip()?;
    let render = |values: &[&str]| Manifests::render(&helm, values, &[]).expect("the chart renders");
    Some(vec![("values.yaml", render(&[])), ("values-cloud.yaml", render(&["values-cloud.yaml"]))])
}

// ------------------------------------------------------------------ what the code says

fn todo() -> Todo {
    Todo::new(Ports::over_store(
        InMemoryStore::new(),
        InMemoryEventBus::new(),
        InMemoryStateStore::new(),
        InMemoryScheduler::new(),
        Arc::new(SystemClock),
    ))
}

/// The topics a service reads: its roles' consumers' topics, `-dlq` for dead-letter consumers.
fn reads(todo: &Todo, service: Service) -> BTreeSet<String> {
    todo.consumers()
        .into_iter()
        .filter(|c| service.roles().contains(&c.role))
        .map(|c| {
            let topic = c.subscription.topic.name();
            if c.dead_letters { format!("{topic}-dlq") } else { topic.to_owned() }
        })
        .collect()
}

/// The settings of `service` behind a sidecar, as the app reads them.
fn code_config(service: Service) -> Config {
    Config::for_service(service, |key| match key {
        "DAPR_HTTP_PORT" => Some("3500".into()),
        "AUTH_JWT_SECRET" => Some("s".repeat(40)),
        _ => None,
    })
    .unwrap()
}

/// Each Dapr component the code names, with the app ids that use it.
fn component_users() -> BTreeMap<String, BTreeSet<String>> {
    let todo = todo();
    let mut users: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for service in SERVICES {
        let dapr = code_config(service).dapr.expect("a sidecar");
        let roles = service.roles();
        let app = service.app_id().to_owned();
        if !reads(&todo, service).is_empty() || roles.iter().any(|r| PUBLISHERS.contains(r)) {
            users.entry(dapr.pubsub_name.clone()).or_default().insert(app.clone());
        }
        if roles.iter().any(|r| STATE_USERS.contains(r)) {
            users.entry(dapr.state_store.clone()).or_default().insert(app.clone());
        }
        if roles.iter().any(|r| CRON_USERS.contains(r)) {
            users.entry(REMINDER_CRON.to_owned()).or_default().insert(app);
        }
    }
    users
}

/// Every app of the chart: the split's services and the frontend.
fn apps() -> Vec<(&'static str, u16)> {
    SERVICES.iter().map(|s| (s.app_id(), s.default_port())).chain([FRONTEND]).collect()
}

// ------------------------------------------------------------------ reading the renderings

fn annotation<'a>(deployment: &'a Value, key: &str) -> &'a str {
    str_at(deployment, &format!("/spec/template/metadata/annotations/{}", key.replace('/', "~1")))
}

fn deployment<'a>(m: &'a Manifests, app_id: &str) -> &'a Value {
    let mut found = m.of_kind("Deployment").filter(|d| annotation(d, "dapr.io/app-id") == app_id);
    let d = found.next().unwrap_or_else(|| panic!("no Deployment with dapr.io/app-id {app_id}"));
    assert!(found.next().is_none(), "two Deployments with dapr.io/app-id {app_id}");
    d
}

/// The app's container: the one listening on the app port.
fn app_container(d: &Value, port: u16) -> &Value {
    d["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["ports"].as_array().into_iter().flatten().any(|p| p["containerPort"] == port))
        .unwrap_or_else(|| panic!("{}: no container on port {port}", d["metadata"]["name"]))
}

/// What a test puts into the Secret key `name/key` that `var` reads: a connection string naming
/// that key (so that two services reading the same key get the same database), else a secret.
fn secret_placeholder(var: &str, name: &str, key: &str) -> String {
    match var {
        "DATABASE_URL" => format!("postgres://todo:pw@db.invalid:5432/{name}_{key}").replace('-', "_"),
        _ => "s".repeat(40),
    }
}

fn env_of(container: &Value) -> BTreeMap<String, String> {
    let by_var: BTreeMap<String, String> = container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v.pointer("/valueFrom/secretKeyRef").is_some())
        .map(|v| {
            let r = &v["valueFrom"]["secretKeyRef"];
            (format!("{}/{}", str_at(r, "/name"), str_at(r, "/key")), str_at(v, "/name").to_owned())
        })
        .collect();
    container_env(container, |name, key| secret_placeholder(&by_var[&format!("{name}/{key}")], name, key))
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("a selector");
    !selector.is_empty() && selector.iter().all(|(k, v)| &labels[k] == v)
}

fn duration_secs(s: &str) -> u64 {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().unwrap();
    match unit {
        "" | "s" => n,
        "m" => n * 60,
        other => panic!("unexpected duration unit {other} in {s}"),
    }
}

// ------------------------------------------------------------------ the tests

#[test]
fn every_service_runs_with_its_app_id_port_sidecar_probes_limits_and_a_locked_down_context() {
    let Some(renderings) = renderings() else { return };
    for (values, m) in &renderings {
        let configuration = m.of_kind("Configuration").map(|c| str_at(c, "/metadata/name")).collect::<Vec<_>>();
        assert_eq!(configuration.len(), 1, "{values}: one Dapr Configuration");
        for (app_id, port) in apps() {
            let d = deployment(m, app_id);
            let at = format!("{values}: {app_id}");
            assert_eq!(annotation(d, "dapr.io/enabled"), "true", "{at}");
            assert_eq!(annotation(d, "dapr.io/app-port"), port.to_string(), "{at}");
            assert_eq!(annotation(d, "dapr.io/app-protocol"), "http", "{at}");
            assert_eq!(annotation(d, "dapr.io/config"), configuration[0], "{at}");
            assert_eq!(annotation(d, "dapr.io/enable-api-logging"), "true", "{at}");
            assert!(!annotation(d, "dapr.io/app-token-secret").is_empty(), "{at}: the sidecar presents APP_API_TOKEN");
            for key in ["sidecar-cpu-limit", "sidecar-memory-limit", "sidecar-cpu-request", "sidecar-memory-request"] {
                assert!(!annotation(d, &format!("dapr.io/{key}")).is_empty(), "{at}: dapr.io/{key}");
            }
            let pod = &d["spec"]["template"]["spec"];
            assert!(
                labels_match(&d["spec"]["selector"]["matchLabels"], &d["spec"]["template"]["metadata"]["labels"]),
                "{at}: the selector matches the pod's labels"
            );

            let c = app_container(d, port);
            for (probe, path) in
                [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz"), ("startupProbe", "/healthz")]
            {
                assert_eq!(str_at(c, &format!("/{probe}/httpGet/path")), path, "{at}: {probe}");
                let probe_port = &c[probe]["httpGet"]["port"];
                let named = c["ports"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| &p["name"] == probe_port && p["containerPort"] == port);
                assert!(named || *probe_port == port, "{at}: {probe} on the app port");
            }
            for kind in ["limits", "requests"] {
                for resource in ["cpu", "memory"] {
                    assert!(!str_at(c, &format!("/resources/{kind}/{resource}")).is_empty(), "{at}: {kind}.{resource}");
                }
            }

            let psc = &pod["securityContext"];
            assert_eq!(psc["runAsNonRoot"], true, "{at}");
            assert!(psc["runAsUser"].as_u64().unwrap() > 0, "{at}: a non-root uid");
            assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault", "{at}");
            let sc = &c["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{at}");
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{at}");
            assert_ne!(sc["privileged"], true, "{at}");
            assert!(sc["capabilities"]["drop"].as_array().unwrap().iter().any(|c| c == "ALL"), "{at}: drops ALL");

            // The app drains (relay, sockets) while the sidecar still serves it, within the grace period.
            let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
            let sidecar = duration_secs(annotation(d, "dapr.io/block-shutdown-duration"))
                + annotation(d, "dapr.io/graceful-shutdown-seconds").parse::<u64>().unwrap();
            assert!(grace > sidecar, "{at}: grace {grace}s > the sidecar's {sidecar}s");
        }
    }
}

#[test]
fn the_rendered_environment_is_one_each_app_accepts_with_its_port_token_auth_database_and_pubsub() {
    let Some(renderings) = renderings() else { return };
    for (values, m) in &renderings {
        let mut urls = BTreeMap::new();
        for service in SERVICES {
            let at = format!("{values}: {}", service.app_id());
            let env = env_of(app_container(deployment(m, service.app_id()), service.default_port()));
            let config = Config::for_service(service, |k| env.get(k).cloned())
                .unwrap_or_else(|e| panic!("{at}: the app refuses the chart's environment: {e}"));
            assert_eq!(config.listen.to_string(), format!("0.0.0.0:{}", service.default_port()), "{at}");
            assert!(config.app_api_token.is_some(), "{at}: APP_API_TOKEN");
            assert!(matches!(config.auth, AuthConfig::Jwt(_)), "{at}: authentication on, got {:?}", config.auth);
            let dapr = config.dapr.unwrap_or_else(|| panic!("{at}: no sidecar settings"));
            assert_eq!(dapr.http_endpoint, "http://127.0.0.1:3500", "{at}");
            assert!(dapr.api_token.is_some(), "{at}: DAPR_API_TOKEN");
            let component =
                m.named("Component", &dapr.pubsub_name).unwrap_or_else(|| panic!("{at}: no {}", dapr.pubsub_name));
            let scopes = component["scopes"].as_array().unwrap();
            assert!(scopes.iter().any(|s| s == service.app_id()), "{at}: {} is scoped to it", dapr.pubsub_name);
            assert_eq!(config.postgres.is_some(), WITH_DATABASE.contains(&service), "{at}: DATABASE_URL");
            if let Some(url) = env.get("DATABASE_URL") {
                urls.insert(service.app_id(), url.clone());
            }
        }
        // The backend and the recurring-task service share the tasks database; the others have their own.
        assert_eq!(urls["backend"], urls["recurring-task-service"], "{values}");
        let distinct: BTreeSet<_> = urls.values().collect();
        assert_eq!(distinct.len(), 3, "{values}: tasks, audit and notification databases: {urls:?}");
    }
}

#[test]
fn every_topic_the_code_uses_has_a_kafka_topic_and_a_dead_letter_topic_kept_seven_days() {
    let Some(renderings) = renderings() else { return };
    let todo = todo();
    let mut wanted: BTreeSet<String> =
        Topic::ALL.iter().flat_map(|t| [t.name().to_owned(), format!("{}-dlq", t.name())]).collect();
    for service in SERVICES {
        wanted.extend(reads(&todo, service));
    }
    let (_, local) = &renderings[0];
    let kafka = local.of_kind("Kafka").collect::<Vec<_>>();
    assert_eq!(kafka.len(), 1, "one Strimzi Kafka");
    let cluster = str_at(kafka[0], "/metadata/name");
    assert!(kafka[0]["spec"]["entityOperator"]["topicOperator"].is_object(), "the Topic Operator runs");
    let pools = local.of_kind("KafkaNodePool").collect::<Vec<_>>();
    assert_eq!(pools.len(), 1);
    assert_eq!(str_at(pools[0], "/metadata/labels/strimzi.io~1cluster"), cluster);
    let roles: BTreeSet<_> = pools[0]["spec"]["roles"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(roles, BTreeSet::from(["broker", "controller"]), "KRaft: the pool's nodes are controllers and brokers");

    let topics: BTreeMap<&str, &Value> =
        local.of_kind("KafkaTopic").map(|t| (str_at(t, "/spec/topicName"), t)).collect();
    for name in &wanted {
        let t = topics.get(name.as_str()).unwrap_or_else(|| panic!("no KafkaTopic for {name}"));
        assert_eq!(str_at(t, "/metadata/labels/strimzi.io~1cluster"), cluster, "{name}");
        assert_eq!(t["spec"]["config"]["retention.ms"].as_u64(), Some(SEVEN_DAYS_MS), "{name}: 7 days");
        assert!(t["spec"]["partitions"].as_u64().unwrap() >= 1, "{name}");
    }
    assert_eq!(topics.len(), wanted.len(), "no KafkaTopic the code does not use: {:?}", topics.keys());

    // The cloud broker is Redpanda: no Strimzi resource; its address and credentials come from a Secret.
    let (_, cloud) = &renderings[1];
    for kind in ["Kafka", "KafkaNodePool", "KafkaTopic"] {
        assert_eq!(cloud.of_kind(kind).count(), 0, "values-cloud.yaml renders no {kind}");
    }
}

#[test]
fn every_component_the_code_names_exists_scoped_to_exactly_the_apps_that_use_it() {
    let Some(renderings) = renderings() else { return };
    let users = component_users();
    assert_eq!(
        users.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from([DEFAULT_PUBSUB, FANOUT_PUBSUB, "statestore", REMINDER_CRON]),
        "the components the code names"
    );
    for (values, m) in &renderings {
        let rendered: BTreeSet<_> = m.of_kind("Component").map(|c| str_at(c, "/metadata/name").to_owned()).collect();
        assert_eq!(rendered, users.keys().cloned().collect(), "{values}: exactly the components the code names");
        for (name, apps) in &users {
            let c = m.named("Component", name).unwrap();
            let scopes: BTreeSet<String> =
                c["scopes"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
            assert_eq!(&scopes, apps, "{values}: scopes of {name}");
        }
        let group = |name: &str| {
            let c = m.named("Component", name).unwrap();
            let meta = c["spec"]["metadata"].as_array().unwrap();
            meta.iter().find(|e| e["name"] == "consumerGroup").map(|e| str_at(e, "/value").to_owned()).unwrap()
        };
        assert_eq!(group(DEFAULT_PUBSUB), "todo-app-group.{appID}", "{values}: one group per app");
        assert!(group(FANOUT_PUBSUB).ends_with(".{podName}"), "{values}: a group per sync replica");
        // Both Kafka components get the bounded inbound retry before the dead-letter topic.
        let resiliency = m.of_kind("Resiliency").next().expect("a Resiliency");
        for name in [DEFAULT_PUBSUB, FANOUT_PUBSUB] {
            assert!(
                resiliency["spec"]["targets"]["components"][name]["inbound"]["retry"].is_string(),
                "{values}: {name}"
            );
        }
        assert!(resiliency["spec"]["targets"]["apps"]["backend"]["circuitBreaker"].is_string(), "{values}");
    }
}

#[test]
fn secrets_are_only_referenced_never_written() {
    let Some(renderings) = renderings() else { return };
    for (values, m) in &renderings {
        assert_eq!(m.of_kind("Secret").count(), 0, "{values}: the chart makes no Secret");
        for w in m.all().iter().filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet") {
            for c in w["spec"]["template"]["spec"]["containers"].as_array().unwrap() {
                for var in c["env"].as_array().into_iter().flatten() {
                    let name = str_at(var, "/name");
                    let secretive = ["TOKEN", "SECRET", "PASSWORD"].iter().any(|s| name.contains(s));
                    if secretive {
                        assert!(
                            var.pointer("/valueFrom/secretKeyRef").is_some(),
                            "{values}: {name} of {} from a Secret",
                            w["metadata"]["name"]
                        );
                    }
                    if name == "DATABASE_URL" {
                        let from_secret = var.pointer("/valueFrom/secretKeyRef").is_some();
                        let interpolated = str_at(var, "/value").contains(":$(DATABASE_PASSWORD)@");
                        assert!(from_secret || interpolated, "{values}: DATABASE_URL carries no password in clear");
                    }
                }
            }
        }
        for c in m.of_kind("Component") {
            for entry in c["spec"]["metadata"].as_array().unwrap() {
                let name = str_at(entry, "/name").to_lowercase();
                if ["password", "username", "connectionstring"].iter().any(|s| name.contains(s)) {
                    assert!(
                        entry.get("secretKeyRef").is_some(),
                        "{values}: {} of {} from a Secret",
                        name,
                        c["metadata"]["name"]
                    );
                }
            }
        }
    }
    // In the cloud the broker address and SASL credentials come from the kafka-secrets Secret.
    let (_, cloud) = &renderings[1];
    let pubsub = cloud.named("Component", DEFAULT_PUBSUB).unwrap();
    let meta = pubsub["spec"]["metadata"].as_array().unwrap();
    for key in ["brokers", "saslUsername", "saslPassword"] {
        let e = meta.iter().find(|e| e["name"] == key).unwrap_or_else(|| panic!("no {key}"));
        assert!(e.get("secretKeyRef").is_some(), "{key} from a Secret");
    }
    assert_eq!(cloud.named("Component", "statestore").unwrap()["spec"]["type"], "state.postgresql");
}

#[test]
fn each_app_has_its_service_account_service_disruption_budget_network_policy_and_in_the_cloud_an_autoscaler() {
    let Some(renderings) = renderings() else { return };
    for (values, m) in &renderings {
        for (app_id, port) in apps() {
            let d = deployment(m, app_id);
            let at = format!("{values}: {app_id}");
            let pod_labels = &d["spec"]["template"]["metadata"]["labels"];
            let sa = str_at(d, "/spec/template/spec/serviceAccountName");
            assert!(m.named("ServiceAccount", sa).is_some(), "{at}: ServiceAccount {sa}");
            assert!(
                m.of_kind("Service").any(|s| labels_match(&s["spec"]["selector"], pod_labels)
                    && s["spec"]["ports"].as_array().unwrap().iter().any(|p| p["port"] == port)),
                "{at}: a Service on port {port}"
            );
            assert!(
                m.of_kind("PodDisruptionBudget")
                    .any(|p| labels_match(&p["spec"]["selector"]["matchLabels"], pod_labels)),
                "{at}: a PodDisruptionBudget"
            );
            assert!(
                m.of_kind("NetworkPolicy").any(|p| labels_match(&p["spec"]["podSelector"]["matchLabels"], pod_labels)),
                "{at}: a NetworkPolicy"
            );
            let hpa = m
                .of_kind("HorizontalPodAutoscaler")
                .find(|h| h["spec"]["scaleTargetRef"]["name"] == d["metadata"]["name"]);
            if *values == "values-cloud.yaml" {
                let hpa = hpa.unwrap_or_else(|| panic!("{at}: an HPA"));
                assert!(hpa["spec"]["minReplicas"].as_u64().unwrap() >= 2, "{at}: at least 2 replicas");
                assert!(d["spec"].get("replicas").is_none(), "{at}: replicas left to the HPA");
            }
            assert!(!d["spec"]["template"]["spec"]["topologySpreadConstraints"].as_array().unwrap().is_empty(), "{at}");
        }
    }
}

#[test]
fn the_frontend_and_the_live_feed_are_reached_through_the_ingress() {
    let Some(renderings) = renderings() else { return };
    for (values, m) in &renderings {
        let ingress = m.of_kind("Ingress").next().unwrap_or_else(|| panic!("{values}: an Ingress"));
        let paths = ingress["spec"]["rules"][0]["http"]["paths"].as_array().unwrap();
        let backend_of = |path: &str| {
            let p = paths.iter().find(|p| p["path"] == path).unwrap_or_else(|| panic!("{values}: no path {path}"));
            let service = m.named("Service", str_at(p, "/backend/service/name")).unwrap();
            service["spec"]["selector"]["app.kubernetes.io/name"].as_str().unwrap().to_owned()
        };
        assert_eq!(backend_of("/"), FRONTEND.0, "{values}");
        assert_eq!(backend_of("/ws"), Service::Sync.app_id(), "{values}");
    }
}

#[test]
fn the_frontend_relays_the_live_feed_from_the_sync_service_and_signs_in_through_its_provider() {
    let Some(renderings) = renderings() else { return };
    let (sync_id, sync_port) = (Service::Sync.app_id(), Service::Sync.default_port());
    for (values, m) in &renderings {
        let c = app_container(deployment(m, FRONTEND.0), FRONTEND.1);
        let raw = |name: &str| {
            c["env"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == name)
                .unwrap_or_else(|| panic!("{values}: no {name}"))
        };
        for secret in ["SESSION_KEY", "OIDC_CLIENT_SECRET"] {
            assert!(raw(secret).pointer("/valueFrom/secretKeyRef").is_some(), "{values}: {secret} from a Secret");
        }
        // The services verify the ID tokens the sign-in gets: the provider's key set and issuer,
        // the frontend's client id as audience, the same claim naming the user.
        let backend = env_of(app_container(deployment(m, Service::Backend.app_id()), Service::Backend.default_port()));
        let frontend = env_of(c);
        assert!(backend.get("AUTH_JWKS_URL").is_some_and(|u| u.starts_with("https://")), "{values}: {backend:?}");
        assert_eq!(backend.get("AUTH_ISSUER"), frontend.get("OIDC_ISSUER_URL"), "{values}");
        assert_eq!(backend.get("AUTH_AUDIENCE"), frontend.get("OIDC_CLIENT_ID"), "{values}");
        assert_eq!(backend.get("AUTH_USER_CLAIM"), frontend.get("OIDC_USER_CLAIM"), "{values}");
        // SYNC_URL names the sync service's Service, on a port that Service has, in this namespace.
        let sync_url = str_at(raw("SYNC_URL"), "/value");
        let sync = m.of_kind("Service").find(|s| s["spec"]["selector"]["app.kubernetes.io/name"] == sync_id).unwrap();
        assert_eq!(sync_url, format!("http://{}.todo.svc:{sync_port}", str_at(sync, "/metadata/name")), "{values}");
        assert!(sync["spec"]["ports"].as_array().unwrap().iter().any(|p| p["port"] == sync_port), "{values}");
        // ...and the sync service's NetworkPolicy lets the frontend reach that port.
        let policy = m.named("NetworkPolicy", str_at(sync, "/metadata/name")).unwrap();
        let admits_frontend = policy["spec"]["ingress"].as_array().unwrap().iter().any(|rule| {
            rule["from"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|f| f["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == FRONTEND.0)
                && rule["ports"].as_array().unwrap().iter().any(|p| p["port"] == sync_port)
        });
        assert!(admits_frontend, "{values}: the sync service admits the frontend on {sync_port}");
        // The provider sends users back to the public URL, the Ingress host.
        let public = str_at(raw("PUBLIC_URL"), "/value");
        let host = str_at(m.of_kind("Ingress").next().unwrap(), "/spec/rules/0/host");
        assert!(public.ends_with(&format!("://{host}")), "{values}: PUBLIC_URL {public} on the Ingress host {host}");
        assert_eq!(str_at(raw("OIDC_REDIRECT_URL"), "/value"), format!("{public}/auth/callback"), "{values}");
        assert!(!str_at(raw("OIDC_ISSUER_URL"), "/value").is_empty(), "{values}");
    }
}

#[test]
fn the_chart_refuses_values_that_would_run_without_authentication_or_a_broker() {
    let Some(helm) = helm_or_skip() else { return };
    for (sets, why) in [
        (&["auth.jwksUrl=", "auth.jwtSecret.name="][..], "authentication must be on"),
        (&["kafka.strimzi.enabled=false"][..], "a Kafka is needed"),
        (&["secrets.appApiToken.name="][..], "secrets.appApiToken.name"),
        (&["services.frontend.oidc.issuerUrl="][..], "services.frontend.oidc.issuerUrl"),
        (&["services.frontend.sessionKeySecret.name="][..], "services.frontend.sessionKeySecret.name"),
        (&["ingress.tls.secretName="][..], "public URL must be https"),
        (&["services.frontend.oidc.issuerUrl=http://dex.example.com"][..], "issuerUrl must be https"),
    ] {
        match Manifests::render(&helm, &[], sets) {
            Err(RenderError::Refused { stderr }) => assert!(stderr.contains(why), "{sets:?}: {stderr}"),
            other => panic!("{sets:?} should be refused, got {other:?}"),
        }
    }
}
