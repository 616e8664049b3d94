//! RBAC's guard against privilege escalation through RBAC objects
//! (`registry/rbac/{role,clusterrole}/policybased` and `…binding/policybased`,
//! `validation/rule.go`'s `ConfirmNoEscalation`): a Role or ClusterRole may be written only with
//! rules its writer holds (in the role's namespace; cluster-wide for a ClusterRole) or with
//! `escalate` on it; a RoleBinding or ClusterRoleBinding only to a role whose rules its writer
//! holds where the binding applies, or with `bind` on that role.
//!
//! The rules checked are those in the request body (a server-side apply sends the whole intent).

use serde_json::Value;

use super::bindings::{GROUP, role_plural, role_rules};
use super::rule::Rule;
use super::{Attributes, Requester, allows, refused, rules};
use crate::ops::{Answer, Target};
use crate::world::World;

/// The 403 refusing a write of `body` to `target` by `who`, if RBAC refuses it.
pub fn check(world: &World, who: &Requester, target: &Target, body: &Value) -> Option<Answer> {
    if target.kind.group != GROUP {
        return None;
    }
    let plural = target.kind.plural.as_str();
    let namespace = if target.kind.namespaced {
        target.namespace.as_str()
    } else {
        ""
    };
    let name = target
        .name
        .clone()
        .or_else(|| body["metadata"]["name"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let bound = &body["roleRef"];
    let right = match plural {
        "roles" | "clusterroles" => attributes("escalate", plural, namespace, &name),
        "rolebindings" | "clusterrolebindings" => {
            let role_name = bound["name"].as_str().unwrap_or_default();
            attributes("bind", role_plural(bound), namespace, role_name)
        }
        _ => return None,
    };
    if allows(world, who, &right) {
        return None;
    }
    let granted = if plural.ends_with("bindings") {
        let Some(granted) = role_rules(&world.objects, bound, namespace) else {
            let missing = format!("{}.{GROUP} \"{}\" not found", right.resource, right.name);
            return Some(refused(GROUP, plural, &name, &missing));
        };
        granted
    } else {
        Rule::all_of(body)
    };
    let held = rules(world, who, namespace)?;
    let missing: Vec<String> = granted
        .iter()
        .flat_map(|rule| rule.uncovered_by(&held))
        .map(|rule| rule.describe())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let groups: Vec<String> = who.groups().iter().map(|g| format!("{g:?}")).collect();
    let reason = format!(
        "user \"{}\" (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        who.name(),
        groups.join(" "),
        missing.join("\n")
    );
    Some(refused(GROUP, plural, &name, &reason))
}

fn attributes(verb: &str, plural: &str, namespace: &str, name: &str) -> Attributes {
    Attributes {
        verb: verb.to_owned(),
        group: GROUP.to_owned(),
        resource: plural.to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        path: None,
    }
}
