//! Discovery: the legacy documents (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`) and
//! aggregated discovery (`apidiscovery.k8s.io/v2`, asked for with the `Accept` header), both
//! listing only the kinds discovery has caught up with ([`World::discovered`]).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::world::{Kind, World};

const VERBS: [&str; 8] = [
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// The answer to a discovery `GET`, if `path` is a discovery path.
pub fn answer(world: &World, path: &str, accept: &str) -> Option<Value> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let aggregated = accept.contains("as=APIGroupDiscoveryList");
    match parts.as_slice() {
        ["api"] if aggregated => Some(aggregated_list(world, true)),
        ["apis"] if aggregated => Some(aggregated_list(world, false)),
        ["api"] => Some(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        ["api", "v1"] => Some(resources(world, "", "v1")),
        ["apis"] => Some(groups(world)),
        ["apis", g, v] if listed(world).any(|k| k.group == *g && k.version == *v) => {
            Some(resources(world, g, v))
        }
        _ => None,
    }
}

/// The kinds discovery lists.
fn listed(world: &World) -> impl Iterator<Item = &Kind> {
    world.kinds.iter().filter(|k| world.discovered(k))
}

/// Group → versions in the order they were first served (the first is preferred).
fn versions(world: &World, core: bool) -> BTreeMap<&str, Vec<&str>> {
    let mut out: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for k in listed(world).filter(|k| k.group.is_empty() == core) {
        let versions = out.entry(&k.group).or_default();
        if !versions.contains(&k.version.as_str()) {
            versions.push(&k.version);
        }
    }
    out
}

fn served<'w>(
    world: &'w World,
    group: &'w str,
    version: &'w str,
) -> impl Iterator<Item = &'w Kind> {
    listed(world).filter(move |k| k.group == group && k.version == version)
}

fn resources(world: &World, group: &str, version: &str) -> Value {
    let list: Vec<Value> = served(world, group, version)
        .map(|k| json!({"name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced,
                        "kind": k.kind, "verbs": VERBS}))
        .collect();
    let gv = Kind::new(group, version, "", "", false).api_version();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list})
}

fn groups(world: &World) -> Value {
    let groups: Vec<Value> = versions(world, false)
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                .collect();
            json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn aggregated_list(world: &World, core: bool) -> Value {
    let items: Vec<Value> = versions(world, core)
        .into_iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = served(world, g, v)
                        .map(|k| json!({"resource": k.plural,
                            "responseKind": {"group": k.group, "version": k.version, "kind": k.kind},
                            "scope": if k.namespaced { "Namespaced" } else { "Cluster" },
                            "singularResource": k.kind.to_lowercase(), "verbs": VERBS}))
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g}, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}
