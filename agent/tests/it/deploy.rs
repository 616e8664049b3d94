//! deploy/: the plain manifests and the Helm chart are valid against the Kubernetes schemas
//! (offline, with `kubernetes-validate` from PyPI, installed by `scripts/test`), and the chart
//! with its default values renders the same objects as the manifests.
//!
//! No Helm binary is available from the package registries this project may use, so the chart is
//! rendered here by a deliberately tiny renderer that understands only the constructs the
//! templates use (`{{ .Values.x }}`, `| quote`, `{{ .Release.Namespace }}`, whole-line
//! `{{- if .Values.x }}` / `{{- end }}`) and fails on anything else, so the templates cannot
//! drift into constructs this check does not understand.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn lookup<'v>(values: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(values, |v, k| &v[k])
}

fn scalar(value: &Value, path: &str) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => panic!(".Values.{path} is not a scalar: {other:?}"),
    }
}

fn truthy(value: &Value) -> bool {
    !matches!(value, Value::Null | Value::Bool(false)) && value.as_str() != Some("")
}

fn expression(inner: &str, values: &Value, namespace: &str) -> String {
    let (expr, pipe) = match inner.split_once('|') {
        Some((e, p)) => (e.trim(), Some(p.trim())),
        None => (inner.trim(), None),
    };
    let text = if expr == ".Release.Namespace" {
        namespace.to_owned()
    } else if let Some(path) = expr.strip_prefix(".Values.") {
        scalar(lookup(values, path), path)
    } else {
        panic!("unsupported template expression {{{{ {inner} }}}}");
    };
    match pipe {
        None => text,
        Some("quote") => format!("{text:?}"),
        Some(other) => panic!("unsupported template function {other}"),
    }
}

/// Renders one template with `values` into the release `namespace`.
fn render(template: &str, values: &Value, namespace: &str) -> String {
    let mut out = String::new();
    let mut skipping: Vec<bool> = Vec::new();
    for line in template.lines() {
        let trimmed = line.trim();
        if let Some(cond) = trimmed
            .strip_prefix("{{- if .Values.")
            .and_then(|c| c.strip_suffix(" }}"))
        {
            skipping.push(!truthy(lookup(values, cond)));
            continue;
        }
        if trimmed == "{{- end }}" {
            skipping.pop().expect("an {{- end }} without its if");
            continue;
        }
        if skipping.iter().any(|s| *s) {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("unclosed {{") + start;
            out.push_str(&expression(&rest[start + 2..end], values, namespace));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out.push('\n');
    }
    assert!(skipping.is_empty(), "an if without its end");
    out
}

fn documents(text: &str) -> Vec<Value> {
    text.split("\n---")
        .filter_map(|doc| serde_yaml_ng::from_str::<Value>(doc).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(ext))
        .collect();
    files.sort();
    files
}

fn render_chart(values: &Value, out: &Path) -> Vec<PathBuf> {
    let templates = deploy().join("chart/cairn-agent/templates");
    files(&templates, ".yaml")
        .into_iter()
        .map(|template| {
            let text = render(
                &std::fs::read_to_string(&template).unwrap(),
                values,
                "cairn-system",
            );
            let path = out.join(template.file_name().unwrap());
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

fn chart_values() -> Value {
    serde_yaml_ng::from_str(
        &std::fs::read_to_string(deploy().join("chart/cairn-agent/values.yaml")).unwrap(),
    )
    .unwrap()
}

/// The validator command, or `None` (a failure under CI=true) when it is not installed.
fn validator() -> Option<Command> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if works("python3", &["-m", "kubernetes_validate"]) {
        let mut command = Command::new("python3");
        command.args(["-m", "kubernetes_validate"]);
        return Some(command);
    }
    if works("kubernetes-validate", &[]) {
        return Some(Command::new("kubernetes-validate"));
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "kubernetes-validate is missing; scripts/test installs it (pip install kubernetes-validate)"
        );
    }
    None
}

#[test]
fn the_chart_with_default_values_renders_the_plain_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let mut values = chart_values();
    values["createNamespace"] = Value::Bool(true);
    let rendered: Vec<Value> = render_chart(&values, tmp.path())
        .iter()
        .flat_map(|p| documents(&std::fs::read_to_string(p).unwrap()))
        .collect();
    let manifests: Vec<Value> = files(&deploy().join("manifests"), ".yaml")
        .iter()
        .flat_map(|p| documents(&std::fs::read_to_string(p).unwrap()))
        .collect();
    assert_eq!(rendered.len(), manifests.len());
    for object in &manifests {
        assert!(
            rendered.contains(object),
            "the chart does not render {object:?}"
        );
    }

    // The cluster-admin option adds exactly one binding, to cluster-admin.
    values["rbac"]["clusterAdmin"] = Value::Bool(true);
    let admin: Vec<Value> = render_chart(&values, tmp.path())
        .iter()
        .flat_map(|p| documents(&std::fs::read_to_string(p).unwrap()))
        .collect();
    assert_eq!(admin.len(), manifests.len() + 1);
    assert!(
        admin
            .iter()
            .any(|o| o["roleRef"]["name"] == "cluster-admin")
    );
}

#[test]
fn manifests_and_the_rendered_chart_are_valid_kubernetes_objects() {
    let Some(mut command) = validator() else {
        println!("skipped: kubernetes-validate is not installed (scripts/test installs it)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut values = chart_values();
    values["createNamespace"] = Value::Bool(true);
    values["rbac"]["clusterAdmin"] = Value::Bool(true);
    let mut inputs = render_chart(&values, tmp.path());
    inputs.extend(files(&deploy().join("manifests"), ".yaml"));
    let example = tmp.path().join("cluster-admin.yaml");
    std::fs::copy(
        deploy().join("manifests/31-rbac-cluster-admin.yaml.example"),
        &example,
    )
    .unwrap();
    inputs.push(example);
    let out = command
        .args(["--strict", "--kubernetes-version", "1.34.0"])
        .args(&inputs)
        .output()
        .unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    assert!(
        !report.contains("ERROR") && !report.to_lowercase().contains("invalid"),
        "{report}"
    );
}
