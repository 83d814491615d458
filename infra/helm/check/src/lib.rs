#![doc = include_str!("../README.md")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize as _;
use serde_json::Value;

/// Why a chart could not be rendered or read.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// helm could not be run at all.
    #[error("running {helm}: {source}")]
    Spawn {
        /// The helm binary.
        helm: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// helm ran and refused (a `fail`/`required` in the chart, a template error).
    #[error("helm template failed: {stderr}")]
    Refused {
        /// helm's error output.
        stderr: String,
    },
    /// The output is not YAML.
    #[error("helm's output is not YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
}

/// Where helm is: `TODO_HELM`, else what `infra/helm/validate` caches
/// (`${TODO_STACK_CACHE:-$HOME/.cache/todo-stack}/k8s/bin/helm`), else `helm` on `PATH`.
pub fn helm() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("TODO_HELM").map(PathBuf::from) {
        return path.is_file().then_some(path);
    }
    let cache = std::env::var_os("TODO_STACK_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/todo-stack")));
    if let Some(cached) = cache.map(|c| c.join("k8s/bin/helm")).filter(|p| p.is_file()) {
        return Some(cached);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("helm"))
        .find(|p| p.is_file())
}

/// The chart's directory (`infra/helm/todo`).
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../todo")
}

/// Everything one `helm template` rendered.
#[derive(Debug, Clone)]
pub struct Manifests {
    objects: Vec<Value>,
}

impl Manifests {
    /// Renders the chart as release `todo` in namespace `todo` with the defaults, then each of
    /// `values` (file names inside the chart), then each `--set` of `sets`.
    ///
    /// # Errors
    /// helm missing or refusing, or output that is not YAML.
    pub fn render(helm: &Path, values: &[&str], sets: &[&str]) -> Result<Self, RenderError> {
        let chart = chart_dir();
        let mut cmd = Command::new(helm);
        cmd.args(["template", "todo"]).arg(&chart).args(["--namespace", "todo"]);
        for v in values {
            cmd.arg("-f").arg(chart.join(v));
        }
        for s in sets {
            cmd.args(["--set", s]);
        }
        let out = cmd.output().map_err(|source| RenderError::Spawn { helm: helm.to_owned(), source })?;
        if !out.status.success() {
            return Err(RenderError::Refused { stderr: String::from_utf8_lossy(&out.stderr).into_owned() });
        }
        Self::parse(&String::from_utf8_lossy(&out.stdout))
    }

    /// The objects of a multi-document YAML text (empty documents skipped).
    ///
    /// # Errors
    /// Text that is not YAML.
    pub fn parse(yaml: &str) -> Result<Self, RenderError> {
        let mut objects = Vec::new();
        for doc in serde_norway::Deserializer::from_str(yaml) {
            let value = Value::deserialize(doc)?;
            if !value.is_null() {
                objects.push(value);
            }
        }
        Ok(Self { objects })
    }

    /// Every object.
    pub fn all(&self) -> &[Value] {
        &self.objects
    }

    /// The objects of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.objects.iter().filter(move |o| o["kind"] == kind)
    }

    /// The object of `kind` named `name`.
    pub fn named(&self, kind: &str, name: &str) -> Option<&Value> {
        self.objects.iter().find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
    }
}

/// A string field, or "" when absent or not a string.
pub fn str_at<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The environment a container would see, as Kubernetes builds it: literal values, `$(VAR)`
/// references to variables defined before expanded, and each value from a Secret replaced by
/// `secret(name, key)` (what a test would put into that Secret). Variables from ConfigMaps or
/// the downward API are left out.
pub fn container_env(container: &Value, secret: impl Fn(&str, &str) -> String) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let name = str_at(var, "/name").to_owned();
        let value = if let Some(v) = var.get("value").and_then(Value::as_str) {
            expand(v, &env)
        } else if let Some(r) = var.pointer("/valueFrom/secretKeyRef") {
            secret(str_at(r, "/name"), str_at(r, "/key"))
        } else {
            continue;
        };
        env.insert(name, value);
    }
    env
}

/// `$(NAME)` replaced by the value of NAME when defined (else kept, as Kubernetes does);
/// `$$(NAME)` is the literal `$(NAME)`.
fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(escaped) = tail.strip_prefix("$$") {
            out.push('$');
            rest = escaped;
        } else if let Some((name, after)) = tail.strip_prefix("$(").and_then(|t| t.split_once(')')) {
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = after;
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn env_references_expand_like_kubernetes_and_secrets_become_placeholders() {
        let container = json!({"env": [
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
            {"name": "URL", "value": "postgres://u:$(PW)@h/$(MISSING)/$$(PW)"},
            {"name": "FROM_CONFIG_MAP", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
        ]});
        let env = container_env(&container, |name, key| format!("<{name}/{key}>"));
        assert_eq!(env["PW"], "<db/password>");
        assert_eq!(env["URL"], "postgres://u:<db/password>@h/$(MISSING)/$(PW)");
        assert!(!env.contains_key("FROM_CONFIG_MAP"));
    }

    #[test]
    fn documents_are_split_and_empty_ones_skipped() {
        let m = Manifests::parse("---\n# only a comment\n---\nkind: A\nmetadata: {name: a}\n---\nkind: B\n").unwrap();
        assert_eq!(m.all().len(), 2);
        assert!(m.named("A", "a").is_some());
        assert_eq!(m.of_kind("B").count(), 1);
    }
}
