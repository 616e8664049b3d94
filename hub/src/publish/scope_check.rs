//! The scope check of a head's content: every object against the scope of the delegation that
//! decides the channel (`cairn_state_format::Scope::check`), each refusal named by where the
//! object was read (file, document, list item) or, for content already in the store, by its
//! identity. Pure: the gate (`admit`) reads what it checks.
//!
//! Where an object lives is decided as the API server will: built-in kinds from the Kubernetes
//! API's data, custom kinds from the CustomResourceDefinitions of the same content. A kind
//! neither knows is taken as namespaced when the object names a namespace (the agent re-checks
//! with discovery) and as cluster-scoped otherwise, so the scope must allow cluster-scoped
//! objects for it. An object of a namespaced kind that names no namespace is `Unplaced`: where
//! it lands is the target's choice, never within a scope (`--namespace` places it).

use cairn_state_format::{Placement, ResourceId, Scope, ScopedObject};
use serde_json::Value;

use super::kinds::{self, CustomKind, Kinds, crd};
use super::records::{FileObjects, IdView};
use crate::error::{RefusedObject, Result};

/// Where the object `id` lives, as the API server will place it.
pub fn placement<'a>(id: IdView<'a>, kinds: &Kinds) -> Placement<'a> {
    match (kinds.scope(id.group, id.kind), id.namespace) {
        (Some(kinds::Scope::Cluster), _) => Placement::Cluster,
        (Some(kinds::Scope::Namespaced), "") => Placement::Unplaced,
        (None, "") => Placement::Cluster,
        (_, namespace) => Placement::Namespaced(namespace),
    }
}

/// The refusal of `id` by `scope` for `channel`, if it breaks a rule.
fn check_one(
    scope: &Scope,
    channel: &str,
    kinds: &Kinds,
    id: IdView<'_>,
) -> Option<cairn_state_format::ScopeViolation> {
    let object = ScopedObject::new(id.group, id.kind, placement(id, kinds), id.name);
    scope.check(channel, &object).err()
}

/// Every object of the scanned `files` that `scope` refuses for `channel`, named by file,
/// document and list item, in file order.
pub fn check_files<'a>(
    scope: &Scope,
    channel: &str,
    kinds: &Kinds,
    files: impl IntoIterator<Item = Result<FileObjects<'a>>>,
) -> Result<Vec<RefusedObject>> {
    let mut refused = Vec::new();
    for file in files {
        let FileObjects { source, objects } = file?;
        for o in &objects {
            let id = o.published(kinds.scope(o.id.group, o.id.kind));
            if let Some(violation) = check_one(scope, channel, kinds, id) {
                refused.push(RefusedObject {
                    origin: Some(o.origin(source).to_string()),
                    violation,
                });
            }
        }
    }
    Ok(refused)
}

/// Every identity of `ids` that `scope` refuses for `channel`, named by identity alone.
pub fn check_ids<'a>(
    scope: &Scope,
    channel: &str,
    kinds: &Kinds,
    ids: impl IntoIterator<Item = &'a ResourceId>,
) -> Vec<RefusedObject> {
    ids.into_iter()
        .filter_map(|id| check_one(scope, channel, kinds, IdView::of(id)))
        .map(|violation| RefusedObject {
            origin: None,
            violation,
        })
        .collect()
}

/// Whether placing `ids` needs the CustomResourceDefinitions among them: an object of a kind
/// that is not built in and names no namespace is cluster-scoped or unplaced, as its CRD says.
pub fn needs_definitions<'a>(ids: impl IntoIterator<Item = &'a ResourceId>) -> bool {
    ids.into_iter()
        .any(|id| id.namespace.is_empty() && kinds::builtin::lookup(&id.group, &id.kind).is_none())
}

/// Whether `id` is a CustomResourceDefinition.
pub fn is_definition(id: &ResourceId) -> bool {
    id.group == crd::GROUP && id.kind == crd::KIND
}

/// The kinds the CustomResourceDefinitions whose canonical bytes are `definitions` define, with
/// the built-in ones. One that does not read (content published before cairn checked CRDs)
/// defines nothing: its objects are placed as kinds cairn does not know.
pub fn kinds_defined_by<'a>(definitions: impl IntoIterator<Item = &'a [u8]>) -> Kinds {
    let defined: Vec<CustomKind> = definitions
        .into_iter()
        .filter_map(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        .filter_map(|object| crd::read(&object).ok())
        .collect();
    Kinds::with_custom(&defined).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::manifests::{ReadOptions, parse_file};
    use crate::publish::records::ObjectView;

    fn team() -> Scope {
        serde_json::from_str(
            r#"{"cluster_scoped":false,"deny_kinds":["*.rbac.authorization.k8s.io"],"kinds":["*.*"],"namespaces":["$channel"]}"#,
        )
        .unwrap()
    }

    fn id(group: &str, kind: &str, namespace: &str) -> ResourceId {
        ResourceId {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: "x".into(),
        }
    }

    #[test]
    fn objects_are_placed_as_the_api_server_places_them() {
        let kinds = Kinds::builtin_only();
        let cases = [
            (id("", "ConfigMap", "a"), Placement::Namespaced("a")),
            (id("", "ConfigMap", ""), Placement::Unplaced),
            (
                id("rbac.authorization.k8s.io", "ClusterRole", ""),
                Placement::Cluster,
            ),
            (id("example.com", "Widget", "a"), Placement::Namespaced("a")),
            (id("example.com", "Widget", ""), Placement::Cluster),
        ];
        for (id, expected) in &cases {
            assert_eq!(placement(IdView::of(id), &kinds), *expected, "{id}");
        }
        let crd = br#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"widgets.example.com"},"spec":{"group":"example.com","scope":"Namespaced","names":{"kind":"Widget","plural":"widgets"}}}"#;
        let defined = kinds_defined_by([&crd[..], b"not json"]);
        let widget = id("example.com", "Widget", "");
        assert_eq!(
            placement(IdView::of(&widget), &defined),
            Placement::Unplaced
        );
        assert!(needs_definitions([&widget]));
        assert!(!needs_definitions([&id("", "Namespace", "")]));
    }

    #[test]
    fn files_are_checked_as_published_and_named_by_origin() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok, namespace: team-a-web}\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b, namespace: team-b}}\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRoleBinding, metadata: {name: c}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: placed}\n";
        let options = ReadOptions {
            namespace: Some("team-a-web".into()),
        };
        let parsed = parse_file("m.yaml", text, &options).ok().unwrap();
        let objects = parsed.file.manifests.iter().map(ObjectView::of).collect();
        let files = [Ok(FileObjects {
            source: "m.yaml",
            objects,
        })];
        let refused = check_files(&team(), "team-a-web", &Kinds::builtin_only(), files).unwrap();
        let lines: Vec<String> = refused.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "m.yaml, document 2, item 1: ConfigMap team-b/b: namespace team-b is outside the scope's namespaces (team-a-web)",
                "m.yaml, document 2, item 2: ClusterRoleBinding.rbac.authorization.k8s.io c: kind ClusterRoleBinding.rbac.authorization.k8s.io is denied by the scope's deny_kinds pattern *.rbac.authorization.k8s.io",
            ]
        );
    }

    #[test]
    fn stored_content_is_named_by_identity() {
        let ids = [id("", "ConfigMap", "team-a-web"), id("", "ConfigMap", "")];
        let refused = check_ids(&team(), "team-a-web", &Kinds::builtin_only(), &ids);
        assert_eq!(refused.len(), 1);
        assert!(refused[0].origin.is_none());
        assert!(
            refused[0]
                .to_string()
                .starts_with("ConfigMap x: names no namespace"),
            "{}",
            refused[0]
        );
    }
}
