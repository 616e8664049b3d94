//! CustomResourceDefinitions: the kind each defines, and the name the API server requires of it.

use serde_json::Value;

use super::{CustomKind, Scope};
use crate::publish::object_meta::FieldProblem;

/// The API group of CustomResourceDefinitions.
pub const GROUP: &str = "apiextensions.k8s.io";
/// Their kind.
pub const KIND: &str = "CustomResourceDefinition";

/// The kind `crd` defines. Its name must be `<spec.names.plural>.<spec.group>`, as the API
/// server requires; every missing or wrong field is reported.
pub fn read(crd: &Value) -> Result<CustomKind, Vec<FieldProblem>> {
    let mut problems = Vec::new();
    let mut text = |field: &str| {
        let found = crd.pointer(&format!("/{}", field.replace('.', "/")));
        match found.and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(s) => Some(s.to_owned()),
            None => {
                problems.push(FieldProblem::new(field, "must be a non-empty string"));
                None
            }
        }
    };
    let (group, kind, plural) = (
        text("spec.group"),
        text("spec.names.kind"),
        text("spec.names.plural"),
    );
    let scope = match text("spec.scope").as_deref() {
        Some("Namespaced") => Some(Scope::Namespaced),
        Some("Cluster") => Some(Scope::Cluster),
        Some(other) => {
            problems.push(FieldProblem::new(
                "spec.scope",
                format!("{other:?} must be Namespaced or Cluster"),
            ));
            None
        }
        None => None,
    };
    let name = crd.pointer("/metadata/name").and_then(Value::as_str);
    if let (Some(name), Some(plural), Some(group)) = (name, &plural, &group) {
        let required = format!("{plural}.{group}");
        if name != required {
            problems.push(FieldProblem::new(
                "metadata.name",
                format!("{name:?} must be spec.names.plural + \".\" + spec.group: {required:?}"),
            ));
        }
    }
    match (group, kind, scope) {
        (Some(group), Some(kind), Some(scope)) if problems.is_empty() => {
            Ok(CustomKind { group, kind, scope })
        }
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(name: &str, scope: &str) -> Value {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name},
            "spec": {"group": "example.com", "scope": scope,
                     "names": {"kind": "Widget", "plural": "widgets"}}
        })
    }

    #[test]
    fn a_crd_defines_its_kind_and_scope() {
        let kind = read(&crd("widgets.example.com", "Cluster")).unwrap();
        assert_eq!((kind.kind.as_str(), kind.scope), ("Widget", Scope::Cluster));
    }

    #[test]
    fn every_wrong_field_is_reported() {
        let problems = read(&crd("widget", "Global")).unwrap_err();
        let fields: Vec<_> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["spec.scope", "metadata.name"]);
        let problems = read(&json!({"metadata": {"name": "x"}, "spec": {}})).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}
