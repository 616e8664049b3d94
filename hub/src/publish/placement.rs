//! `--namespace`: placing namespace-less objects of namespaced kinds, as `kubectl apply -n` does.
//!
//! An object that names a namespace keeps it, even another one (as `helm -n` does; `kubectl`
//! refuses the mismatch instead): install manifests put a few objects in `kube-system` on
//! purpose. Cluster-scoped objects stay without one, and a built-in cluster-scoped object that
//! names a namespace loses it, as the API server drops it (and `kubectl apply` accepts such a
//! file), so that cairn tracks the object under the identity it really has. Whether a kind is
//! namespaced is known
//! while reading a file for built-in kinds; for other kinds only once every file is read (their
//! CustomResourceDefinitions may be anywhere), so such an object is read both ways and the
//! choice is made then (`Manifest::published`).

use serde_json::Value;

use super::kinds::{Scope, builtin};

/// What reading with `--namespace` did with an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Left as written: it names a namespace, its kind is cluster-scoped, or no `--namespace`.
    AsWritten,
    /// Put in the namespace: a built-in namespaced kind.
    Placed,
    /// Namespace-less, of a kind that is not built-in: placed once the snapshot's kinds are known.
    Deferred,
    /// Its kind is built-in and cluster-scoped: the namespace it named was dropped.
    Cleared,
}

/// Places `object` in `namespace` if it has none and its kind is a namespaced built-in one;
/// drops the namespace of a built-in cluster-scoped object.
pub fn place(object: &mut Value, namespace: Option<&str>) -> Placement {
    let (Some(api_version), Some(kind)) = (text(object, "apiVersion"), text(object, "kind")) else {
        return Placement::AsWritten;
    };
    let group = api_version.split_once('/').map_or("", |(group, _)| group);
    let scope = builtin::lookup(group, kind).map(|k| k.scope);
    if has_namespace(object) {
        if scope == Some(Scope::Cluster)
            && let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.remove("namespace");
            return Placement::Cleared;
        }
        return Placement::AsWritten;
    }
    let Some(namespace) = namespace else {
        return Placement::AsWritten;
    };
    match scope {
        Some(Scope::Namespaced) => {
            set_namespace(object, namespace);
            Placement::Placed
        }
        Some(Scope::Cluster) => Placement::AsWritten,
        None => Placement::Deferred,
    }
}

/// A copy of `object` in `namespace`.
pub fn placed_copy(object: &Value, namespace: &str) -> Value {
    let mut copy = object.clone();
    set_namespace(&mut copy, namespace);
    copy
}

/// Whether `object` names a namespace (an empty one counts as none, as for `kubectl`).
fn has_namespace(object: &Value) -> bool {
    object
        .pointer("/metadata/namespace")
        .is_some_and(|ns| !ns.is_null() && ns.as_str() != Some(""))
}

fn set_namespace(object: &mut Value, namespace: &str) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("namespace".to_owned(), Value::String(namespace.to_owned()));
    }
}

fn text<'a>(object: &'a Value, field: &str) -> Option<&'a str> {
    object.get(field).and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(api_version: &str, kind: &str, namespace: Option<&str>) -> Value {
        let mut meta = json!({"name": "x"});
        if let Some(ns) = namespace {
            meta["namespace"] = json!(ns);
        }
        json!({"apiVersion": api_version, "kind": kind, "metadata": meta})
    }

    #[test]
    fn only_namespace_less_objects_of_namespaced_kinds_are_placed() {
        let mut cm = object("v1", "ConfigMap", None);
        assert_eq!(place(&mut cm, Some("shop")), Placement::Placed);
        assert_eq!(cm["metadata"]["namespace"], "shop");

        let mut empty = object("apps/v1", "Deployment", Some(""));
        assert_eq!(place(&mut empty, Some("shop")), Placement::Placed);

        let mut elsewhere = object("rbac.authorization.k8s.io/v1", "Role", Some("kube-system"));
        assert_eq!(place(&mut elsewhere, Some("shop")), Placement::AsWritten);
        assert_eq!(elsewhere["metadata"]["namespace"], "kube-system");

        let mut role = object("rbac.authorization.k8s.io/v1", "ClusterRole", None);
        assert_eq!(place(&mut role, Some("shop")), Placement::AsWritten);
        assert!(role["metadata"].get("namespace").is_none());

        let mut widget = object("example.com/v1", "Widget", None);
        assert_eq!(place(&mut widget, Some("shop")), Placement::Deferred);
        assert!(widget["metadata"].get("namespace").is_none());
        assert_eq!(
            placed_copy(&widget, "shop")["metadata"]["namespace"],
            "shop"
        );

        let mut untouched = object("v1", "ConfigMap", None);
        assert_eq!(place(&mut untouched, None), Placement::AsWritten);
    }

    #[test]
    fn a_built_in_cluster_scoped_object_loses_its_namespace_as_on_the_api_server() {
        for flag in [None, Some("shop")] {
            let mut role = object("rbac.authorization.k8s.io/v1", "ClusterRole", Some("x"));
            assert_eq!(place(&mut role, flag), Placement::Cleared);
            assert!(role["metadata"].get("namespace").is_none(), "{role}");
        }
        // A custom kind's scope is not known here: it is left for the checks across files.
        let mut widget = object("example.com/v1", "Widget", Some("x"));
        assert_eq!(place(&mut widget, None), Placement::AsWritten);
    }
}
