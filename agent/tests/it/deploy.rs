//! deploy/: the plain manifests and the Helm chart are valid against the Kubernetes schemas
//! (offline, with `kubernetes-validate` from PyPI, installed by `scripts/test`), and the chart
//! with its default values renders the same objects as the manifests.
//!
//! No Helm binary is available from the package registries this project may use, so the chart is
//! rendered here by a deliberately tiny renderer that understands only the constructs the
//! templates use (`{{ .Values.x }}`, `| quote`, `{{ .Release.Namespace }}`, whole-line
//! `{{- if .Values.x }}` / `{{- with .Values.x }}` / `{{- end }}`, and a whole-line
//! `{{ toYaml . | indent N }}` inside a `with`) and fails on anything else, so the templates
//! cannot drift into constructs this check does not understand.

use cairn_env_vars::EnvVars;
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

/// `toYaml .` of the innermost `with`'s value, each line indented by `indent`.
fn to_yaml(value: &Value, indent: usize) -> String {
    let text = serde_yaml_ng::to_string(value).unwrap();
    text.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(indent)))
        .collect()
}

/// Renders one template with `values` into the release `namespace`.
fn render(template: &str, values: &Value, namespace: &str) -> String {
    let mut out = String::new();
    // Per open block: whether it is skipped, and the value a `with` binds to `.`.
    let mut blocks: Vec<(bool, Option<&Value>)> = Vec::new();
    for line in template.lines() {
        let trimmed = line.trim();
        if let Some(cond) = trimmed
            .strip_prefix("{{- if .Values.")
            .and_then(|c| c.strip_suffix(" }}"))
        {
            blocks.push((!truthy(lookup(values, cond)), None));
            continue;
        }
        if let Some(path) = trimmed
            .strip_prefix("{{- with .Values.")
            .and_then(|c| c.strip_suffix(" }}"))
        {
            let value = lookup(values, path);
            let empty = value.as_sequence().is_some_and(Vec::is_empty) || !truthy(value);
            blocks.push((empty, Some(value)));
            continue;
        }
        if trimmed == "{{- end }}" {
            blocks.pop().expect("an {{- end }} without its if or with");
            continue;
        }
        if blocks.iter().any(|(skip, _)| *skip) {
            continue;
        }
        if let Some(indent) = trimmed
            .strip_prefix("{{ toYaml . | indent ")
            .and_then(|c| c.strip_suffix(" }}"))
        {
            let bound = blocks
                .iter()
                .rev()
                .find_map(|(_, v)| *v)
                .expect("toYaml . outside a with");
            out.push_str(&to_yaml(bound, indent.parse().unwrap()));
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
    assert!(blocks.is_empty(), "an if or with without its end");
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

    // Tenancy: by default the agent itself holds no apply rights, only impersonation of the
    // accounts named; the platform channel's account holds them. applyAsAgent brings the old
    // shape back with exactly one binding more.
    values["rbac"]["clusterAdmin"] = Value::Bool(false);
    let binds = |objects: &[Value], role: &str, account: &str| {
        objects.iter().any(|o| {
            o["kind"] == "ClusterRoleBinding"
                && o["roleRef"]["name"] == role
                && o["subjects"][0]["name"] == account
        })
    };
    assert!(!binds(&rendered, "cairn-agent-apply", "cairn-agent"));
    assert!(binds(&rendered, "cairn-agent-apply", "cairn-platform"));
    assert!(binds(&rendered, "cairn-agent", "cairn-agent"));
    let own = (rendered.iter())
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "cairn-agent")
        .unwrap();
    let impersonate = &own["rules"][0];
    assert_eq!(impersonate["verbs"][0], "impersonate");
    assert_eq!(impersonate["resourceNames"], values["rbac"]["impersonate"]);
    // Channels whose scope names no account act as the platform channel's by default.
    let agent_config = |objects: &[Value]| {
        (objects.iter())
            .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "cairn-agent")
            .map(|o| o["data"][EnvVars::CAIRN_APPLY_AS].clone())
            .unwrap()
    };
    assert_eq!(agent_config(&rendered), "cairn-system/cairn-platform");
    values["rbac"]["applyAsAgent"] = Value::Bool(true);
    values["config"]["applyAs"] = Value::Null;
    let old: Vec<Value> = render_chart(&values, tmp.path())
        .iter()
        .flat_map(|p| documents(&std::fs::read_to_string(p).unwrap()))
        .collect();
    assert_eq!(old.len(), manifests.len() + 1);
    assert!(binds(&old, "cairn-agent-apply", "cairn-agent"));
    assert!(agent_config(&old).is_null());
    values["rbac"]["applyAsAgent"] = Value::Bool(false);
    values["config"]["applyAs"] = Value::from("cairn-system/cairn-platform");

    // Extra rules land in the apply ClusterRole.
    values["rbac"]["extraRules"] = serde_yaml_ng::from_str(
        "[{apiGroups: [cert-manager.io], resources: [certificates], verbs: [get, list, create, patch, delete]}]",
    )
    .unwrap();
    let extra: Vec<Value> = render_chart(&values, tmp.path())
        .iter()
        .flat_map(|p| documents(&std::fs::read_to_string(p).unwrap()))
        .collect();
    let role = extra
        .iter()
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == "cairn-agent-apply")
        .unwrap();
    let rules = role["rules"].as_sequence().unwrap();
    assert_eq!(rules.last().unwrap()["apiGroups"][0], "cert-manager.io");

    // Scopes for --trust keys: a ConfigMap of them, mounted, and CAIRN_SCOPES naming the file.
    let scopes = "[{channels: [team-a-*], scope: {cluster_scoped: false, deny_kinds: [], kinds: ['*.*'], namespaces: [$channel]}}]";
    values["config"]["scopes"] = serde_yaml_ng::from_str(scopes).unwrap();
    let scoped: Vec<Value> = render_chart(&values, tmp.path())
        .iter()
        .flat_map(|p| documents(&std::fs::read_to_string(p).unwrap()))
        .collect();
    let file = scoped
        .iter()
        .find(|o| o["metadata"]["name"] == "cairn-agent-scopes")
        .expect("the scopes ConfigMap");
    let listed: Value =
        serde_yaml_ng::from_str(file["data"]["scopes.yaml"].as_str().unwrap()).unwrap();
    assert_eq!(listed, values["config"]["scopes"]);
    let config = scoped
        .iter()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "cairn-agent")
        .unwrap();
    let path = config["data"][EnvVars::CAIRN_SCOPES].as_str().unwrap();
    let agent = scoped.iter().find(|o| o["kind"] == "DaemonSet").unwrap();
    let mounts = &agent["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
    assert!(
        mounts
            .as_sequence()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "scopes" && path.starts_with(m["mountPath"].as_str().unwrap())),
        "{mounts:?}"
    );
}

/// The kinds real install manifests use are in the default ClusterRole, with every verb the
/// agent needs on them (the pass is refused up front otherwise).
#[test]
fn the_default_cluster_role_covers_common_install_manifests() {
    let text = std::fs::read_to_string(deploy().join("manifests/30-rbac-apply.yaml")).unwrap();
    let role = &documents(&text)[0];
    let rules = role["rules"].as_sequence().unwrap();
    let grants = |group: &str, resource: &str, verb: &str| {
        rules.iter().any(|r| {
            let has = |key: &str, item: &str| {
                r[key]
                    .as_sequence()
                    .is_some_and(|l| l.iter().any(|x| x.as_str() == Some(item)))
            };
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
    };
    for (group, resource) in [
        ("", "namespaces"),
        ("", "serviceaccounts"),
        ("", "secrets"),
        ("apps", "deployments"),
        ("batch", "cronjobs"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "networkpolicies"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("autoscaling", "horizontalpodautoscalers"),
        ("policy", "poddisruptionbudgets"),
        (
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
        ),
        ("apiextensions.k8s.io", "customresourcedefinitions"),
    ] {
        for verb in ["get", "list", "create", "patch", "delete"] {
            assert!(grants(group, resource, verb), "{verb} {resource}.{group}");
        }
    }
    assert!(grants(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "watch"
    ));
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
