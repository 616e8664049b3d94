//! Checks of an object's `metadata` that do not depend on its kind's scope: label keys and
//! values, annotation keys and their total size, finalizers, as the API server's
//! `ValidateObjectMeta` checks them. Names and namespaces depend on the kind and are checked
//! across files (`validate`).

use std::fmt;

use cairn_state_format::names;
use serde_json::{Map, Value};

/// The API server's limit on all annotations of an object: keys and values, in bytes.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// A field that fails, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldProblem {
    /// Dotted path, e.g. `metadata.labels.app`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldProblem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> FieldProblem {
        FieldProblem {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// The message a user reads: `<file>, document <n>: field <field>: <reason>`.
    pub fn at(&self, origin: &impl fmt::Display) -> String {
        format!("{origin}: field {}: {}", self.field, self.reason)
    }
}

/// Every problem with `object`'s labels, annotations and finalizers.
pub fn check(object: &Value) -> Vec<FieldProblem> {
    let mut problems = Vec::new();
    let Some(meta) = object.get("metadata") else {
        return problems;
    };
    let Some(meta) = meta.as_object() else {
        problems.push(FieldProblem::new("metadata", "must be a mapping"));
        return problems;
    };
    if let Some(labels) = string_map(meta, "labels", &mut problems) {
        for (key, value) in labels {
            let field = format!("metadata.labels.{key}");
            if let Err(why) = names::qualified_name(key) {
                problems.push(FieldProblem::new(&field, format!("key {key:?} {why}")));
            }
            if let Err(why) = names::label_value(value) {
                problems.push(FieldProblem::new(&field, format!("value {value:?} {why}")));
            }
        }
    }
    if let Some(annotations) = string_map(meta, "annotations", &mut problems) {
        check_annotations(&annotations, &mut problems);
    }
    check_finalizers(meta, &mut problems);
    problems
}

fn check_annotations(annotations: &[(&String, &String)], problems: &mut Vec<FieldProblem>) {
    let mut total = 0;
    for (key, value) in annotations {
        total += key.len() + value.len();
        // Annotation keys are qualified names in any case.
        if let Err(why) = names::qualified_name(&key.to_lowercase()) {
            problems.push(FieldProblem::new(
                format!("metadata.annotations.{key}"),
                format!("key {key:?} {why}"),
            ));
        }
    }
    if total > ANNOTATIONS_MAX_BYTES {
        problems.push(FieldProblem::new(
            "metadata.annotations",
            format!(
                "keys and values add up to {total} bytes, over the API server's limit of \
                 {ANNOTATIONS_MAX_BYTES} (256 KiB)"
            ),
        ));
    }
}

fn check_finalizers(meta: &Map<String, Value>, problems: &mut Vec<FieldProblem>) {
    let Some(finalizers) = meta.get("finalizers").filter(|f| !f.is_null()) else {
        return;
    };
    let Some(finalizers) = finalizers.as_array() else {
        problems.push(FieldProblem::new(
            "metadata.finalizers",
            "must be a sequence",
        ));
        return;
    };
    for (i, finalizer) in finalizers.iter().enumerate() {
        let field = format!("metadata.finalizers[{i}]");
        match finalizer.as_str() {
            Some(name) => {
                if let Err(why) = names::qualified_name(name) {
                    problems.push(FieldProblem::new(field, format!("{name:?} {why}")));
                }
            }
            None => problems.push(FieldProblem::new(field, "must be a string")),
        }
    }
}

/// The entries of a `map[string]string` field (absent or null: none). A value that is not a
/// string (`port: 8080` unquoted) is a problem: the API server's types hold strings only.
fn string_map<'a>(
    meta: &'a Map<String, Value>,
    name: &str,
    problems: &mut Vec<FieldProblem>,
) -> Option<Vec<(&'a String, &'a String)>> {
    let field = meta.get(name).filter(|v| !v.is_null())?;
    let Some(map) = field.as_object() else {
        problems.push(FieldProblem::new(
            format!("metadata.{name}"),
            "must be a mapping",
        ));
        return None;
    };
    let mut entries = Vec::with_capacity(map.len());
    for (key, value) in map {
        match value {
            Value::String(text) => entries.push((key, text)),
            other => problems.push(FieldProblem::new(
                format!("metadata.{name}.{key}"),
                format!("must be a string, not {other}: quote it (\"{other}\")"),
            )),
        }
    }
    Some(entries)
}

/// Whether an APIService's name is `<spec.version>.<spec.group>`, as the aggregator requires.
pub fn check_api_service(object: &Value) -> Option<FieldProblem> {
    let spec = |field: &str| object.pointer(&format!("/spec/{field}"))?.as_str();
    let name = object.pointer("/metadata/name")?.as_str()?;
    let required = format!("{}.{}", spec("version")?, spec("group").unwrap_or(""));
    (name != required).then(|| {
        FieldProblem::new(
            "metadata.name",
            format!("{name:?} must be spec.version + \".\" + spec.group: {required:?}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(object: Value) -> Vec<String> {
        let mut fields: Vec<String> = check(&object).into_iter().map(|p| p.field).collect();
        fields.sort();
        fields
    }

    #[test]
    fn labels_are_checked_key_and_value() {
        let object = json!({"metadata": {"labels": {
            "app.kubernetes.io/name": "web", "bad key": "x", "tier": "front end",
            "version": 2, "ok": ""
        }}});
        assert_eq!(
            fields(object),
            [
                "metadata.labels.bad key",
                "metadata.labels.tier",
                "metadata.labels.version"
            ]
        );
    }

    #[test]
    fn annotations_are_checked_key_and_total_size() {
        let object = json!({"metadata": {"annotations": {
            "Example.COM/Mixed": "ok", "prometheus.io/port": 8080, "a/b/c": "x"
        }}});
        assert_eq!(
            fields(object),
            [
                "metadata.annotations.a/b/c",
                "metadata.annotations.prometheus.io/port"
            ]
        );
        let big = "x".repeat(ANNOTATIONS_MAX_BYTES);
        let object = json!({"metadata": {"annotations": {"a": big}}});
        let problems = check(&object);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].reason.contains("262145 bytes"), "{problems:?}");
    }

    #[test]
    fn finalizers_are_qualified_names() {
        let object =
            json!({"metadata": {"finalizers": ["kubernetes", "example.com/ok", "a b", 3]}});
        assert_eq!(
            fields(object),
            ["metadata.finalizers[2]", "metadata.finalizers[3]"]
        );
    }

    #[test]
    fn an_api_service_is_named_after_its_version_and_group() {
        let service = |name| json!({"metadata": {"name": name}, "spec": {"version": "v1beta1", "group": "metrics.k8s.io"}});
        assert!(check_api_service(&service("v1beta1.metrics.k8s.io")).is_none());
        assert!(check_api_service(&service("metrics")).is_some());
    }
}
