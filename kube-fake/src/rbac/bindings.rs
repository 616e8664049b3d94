//! The rules a user holds from the RBAC objects stored in the fake, resolved as RBAC's
//! `DefaultRuleResolver` does: ClusterRoleBindings grant their ClusterRole everywhere, RoleBindings
//! grant their Role or ClusterRole in their own namespace. Aggregated ClusterRoles are not
//! expanded (their `rules` are read as stored).

use std::collections::BTreeMap;

use serde_json::Value;

use super::User;
use super::rule::Rule;
use crate::world::key;

pub const GROUP: &str = "rbac.authorization.k8s.io";

/// The rules `user` holds in `namespace` (`""`: only those bound cluster-wide).
pub fn rules_for(objects: &BTreeMap<String, Value>, user: &User, namespace: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    for binding in stored(objects, "clusterrolebindings", "") {
        if binds(binding, user, "") {
            rules.extend(role_rules(objects, &binding["roleRef"], "").unwrap_or_default());
        }
    }
    if !namespace.is_empty() {
        for binding in stored(objects, "rolebindings", namespace) {
            if binds(binding, user, namespace) {
                rules.extend(
                    role_rules(objects, &binding["roleRef"], namespace).unwrap_or_default(),
                );
            }
        }
    }
    rules
}

/// The rules of the Role (in `namespace`) or ClusterRole a `roleRef` names; `None` when it does
/// not exist.
pub fn role_rules(
    objects: &BTreeMap<String, Value>,
    role_ref: &Value,
    namespace: &str,
) -> Option<Vec<Rule>> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    let role = match role_ref["kind"].as_str() {
        Some("ClusterRole") => objects.get(&key(GROUP, "clusterroles", "", name)),
        Some("Role") => objects.get(&key(GROUP, "roles", namespace, name)),
        _ => None,
    }?;
    Some(Rule::all_of(role))
}

/// The plural of the kind a `roleRef` names.
pub fn role_plural(role_ref: &Value) -> &'static str {
    match role_ref["kind"].as_str() {
        Some("Role") => "roles",
        _ => "clusterroles",
    }
}

fn stored<'a>(
    objects: &'a BTreeMap<String, Value>,
    plural: &str,
    namespace: &str,
) -> impl Iterator<Item = &'a Value> {
    let prefix = format!("{GROUP}/{plural}/{namespace}/");
    objects
        .range(prefix.clone()..)
        .take_while(move |(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| v)
}

/// Whether a binding in `namespace` names `user` among its subjects (a ServiceAccount subject
/// without a namespace is in the binding's).
fn binds(binding: &Value, user: &User, namespace: &str) -> bool {
    let Some(subjects) = binding["subjects"].as_array() else {
        return false;
    };
    subjects.iter().any(|s| {
        let name = s["name"].as_str().unwrap_or_default();
        match s["kind"].as_str() {
            Some("User") => user.name == name,
            Some("Group") => user.groups.iter().any(|g| g == name),
            Some("ServiceAccount") => {
                let ns = s["namespace"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .unwrap_or(namespace);
                user.name == format!("system:serviceaccount:{ns}:{name}")
            }
            _ => false,
        }
    })
}
