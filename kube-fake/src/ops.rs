//! The API verbs on objects: get, list (selectors, pagination, metadata only), create, replace,
//! server-side apply and merge patch (with field ownership), delete (preconditions).

use serde_json::{Value, json};

use crate::controllers;
use crate::select::{FieldSelector, LabelSelector};
use crate::ssa::{self, Conflict, Writer};
use crate::world::{Kind, World, key};

/// An answer: status code and JSON body.
pub type Answer = (u16, Value);

/// What a resource path names.
#[derive(Clone, Debug)]
pub struct Target {
    pub kind: Kind,
    pub namespace: String,
    pub name: Option<String>,
}

impl Target {
    fn key(&self, name: &str) -> String {
        key(&self.kind.group, &self.kind.plural, &self.namespace, name)
    }
}

/// A `Status` failure.
pub fn status(code: u16, reason: &str, message: &str) -> Answer {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

/// A 404 naming what is missing in its details, as the API server does.
fn not_found_in(group: &str, plural: &str, name: &str) -> Answer {
    let (code, mut body) = status(404, "NotFound", &format!("{plural} \"{name}\" not found"));
    body["details"] = json!({"name": name, "group": group, "kind": plural});
    (code, body)
}

fn not_found(kind: &Kind, name: &str) -> Answer {
    not_found_in(&kind.group, &kind.plural, name)
}

fn missing_namespace(world: &World, target: &Target) -> Option<Answer> {
    (target.kind.namespaced && !world.has_namespace(&target.namespace))
        .then(|| not_found_in("", "namespaces", &target.namespace))
}

/// Only the metadata of `object`, as a `PartialObjectMetadata`.
pub fn metadata_only(object: &Value) -> Value {
    json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": object["metadata"]})
}

pub fn get(world: &mut World, target: &Target, name: &str) -> Answer {
    if target.kind.kind == "CustomResourceDefinition" {
        world.read_crd(name);
    }
    match world.objects.get(&target.key(name)) {
        Some(object) => (200, object.clone()),
        None => not_found(&target.kind, name),
    }
}

/// Query parameters of a list or watch.
pub struct ListQuery {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_after: Option<String>,
}

/// The objects of `target`'s kind (and namespace, if any) that match, in key order.
pub fn matching<'w>(
    world: &'w World,
    target: &Target,
    q: &ListQuery,
) -> Vec<(&'w String, &'w Value)> {
    let prefix = if target.namespace.is_empty() {
        format!("{}/{}/", target.kind.group, target.kind.plural)
    } else {
        format!(
            "{}/{}/{}/",
            target.kind.group, target.kind.plural, target.namespace
        )
    };
    world
        .objects
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(_, v)| q.labels.matches(v) && q.fields.matches(v))
        .collect()
}

pub fn list(world: &mut World, target: &Target, q: &ListQuery, metadata: bool) -> Answer {
    if target.kind.kind == "CustomResourceDefinition" {
        let names: Vec<String> = matching(world, target, q)
            .iter()
            .filter_map(|(_, v)| v["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        for name in names {
            world.read_crd(&name);
        }
    }
    let all = matching(world, target, q);
    let start = q.continue_after.as_ref().map_or(0, |after| {
        all.iter().take_while(|(k, _)| *k <= after).count()
    });
    let limit = q.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
    let page: Vec<&(&String, &Value)> = all.iter().skip(start).take(limit).collect();
    let more = start + page.len() < all.len();
    let items: Vec<Value> = page
        .iter()
        .map(|(_, v)| {
            if metadata {
                metadata_only(v)
            } else {
                (*v).clone()
            }
        })
        .collect();
    let mut meta = json!({"resourceVersion": world.rv.to_string()});
    if more && let Some((last, _)) = page.last() {
        meta["continue"] = (*last).clone().into();
        meta["remainingItemCount"] = (all.len() - start - page.len()).into();
    }
    let (api_version, kind) = if metadata {
        (
            "meta.k8s.io/v1".to_owned(),
            "PartialObjectMetadataList".to_owned(),
        )
    } else {
        (
            target.kind.api_version(),
            format!("{}List", target.kind.kind),
        )
    };
    (
        200,
        json!({"kind": kind, "apiVersion": api_version, "metadata": meta, "items": items}),
    )
}

/// Generation bookkeeping after a write of `object`, and what its controller has written by the
/// time the write is answered ([`crate::controllers::at_write`]).
pub fn settle(world: &mut World, kind: &Kind, object: &mut Value, previous: Option<&Value>) {
    if object.get("spec").is_some() {
        let before = previous
            .and_then(|p| p["metadata"]["generation"].as_i64())
            .unwrap_or(0);
        let changed = previous.is_none_or(|p| p["spec"] != object["spec"]);
        object["metadata"]["generation"] = (before + i64::from(changed)).into();
    }
    controllers::at_write(world, kind, object);
}

/// Stores a write's result: stamps, settles, commits. `dry_run` only answers.
fn store(
    world: &mut World,
    target: &Target,
    name: &str,
    mut next: Value,
    live: Option<&Value>,
    dry_run: bool,
) -> Answer {
    settle(world, &target.kind, &mut next, live);
    if let Some(live) = live {
        for field in ["resourceVersion", "uid", "creationTimestamp"] {
            next["metadata"][field] = live["metadata"][field].clone();
        }
        if next.get("status").is_none() && live.get("status").is_some() {
            next["status"] = live["status"].clone();
        }
        if *live == next {
            return (200, next);
        }
    }
    if dry_run {
        return (if live.is_some() { 200 } else { 201 }, next);
    }
    world.stamp(&mut next, live);
    if target.kind.kind == "CustomResourceDefinition" && live.is_none() {
        let after = world.establish_after;
        world.establishing.insert(name.to_owned(), after);
    }
    world.commit(&target.kind, target.key(name), Some(next.clone()));
    controllers::after_commit(world, &target.kind, &target.key(name), live);
    (if live.is_some() { 200 } else { 201 }, next)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
}

fn invalid_name(name: &str) -> Answer {
    status(
        422,
        "Invalid",
        &format!(
            "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
        ),
    )
}

/// Options of a write, from its query.
pub struct WriteQuery<'a> {
    pub field_manager: Option<&'a str>,
    pub force: bool,
    pub dry_run: bool,
}

pub fn create(world: &mut World, target: &Target, body: Value, q: &WriteQuery<'_>) -> Answer {
    let name = body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !valid_name(&name) {
        return invalid_name(&name);
    }
    if let Some(answer) = missing_namespace(world, target) {
        return answer;
    }
    if world.objects.contains_key(&target.key(&name)) {
        return status(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", target.kind.plural),
        );
    }
    let time = world.tick();
    let writer = Writer {
        manager: q.field_manager.unwrap_or("unknown"),
        api_version: &target.kind.api_version(),
        time: &time,
    };
    let next = ssa::update(None, body, &writer);
    store(world, target, &name, next, None, q.dry_run)
}

pub fn replace(
    world: &mut World,
    target: &Target,
    name: &str,
    body: Value,
    q: &WriteQuery<'_>,
) -> Answer {
    let Some(live) = world.objects.get(&target.key(name)).cloned() else {
        return not_found(&target.kind, name);
    };
    if body["metadata"]["resourceVersion"] != live["metadata"]["resourceVersion"] {
        return status(
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version and try again",
        );
    }
    let time = world.tick();
    let writer = Writer {
        manager: q.field_manager.unwrap_or("unknown"),
        api_version: &target.kind.api_version(),
        time: &time,
    };
    let next = ssa::update(Some(&live), body, &writer);
    store(world, target, name, next, Some(&live), q.dry_run)
}

/// `PATCH` with `application/apply-patch+yaml` (server-side apply) or
/// `application/merge-patch+json`.
pub fn patch(
    world: &mut World,
    target: &Target,
    name: &str,
    content_type: &str,
    body: Value,
    q: &WriteQuery<'_>,
) -> Answer {
    let live = world.objects.get(&target.key(name)).cloned();
    if live.is_none()
        && let Some(answer) = missing_namespace(world, target)
    {
        return answer;
    }
    let time = world.tick();
    let api_version = target.kind.api_version();
    match content_type {
        "application/apply-patch+yaml" => {
            let Some(manager) = q.field_manager.filter(|m| !m.is_empty()) else {
                return status(
                    422,
                    "Invalid",
                    "fieldManager is required for apply requests",
                );
            };
            if !valid_name(name) {
                return invalid_name(name);
            }
            let writer = Writer {
                manager,
                api_version: &api_version,
                time: &time,
            };
            match ssa::apply(live.as_ref(), &body, &writer, q.force) {
                Ok(next) => store(world, target, name, next, live.as_ref(), q.dry_run),
                Err(conflicts) => status(409, "Conflict", &Conflict::describe(&conflicts)),
            }
        }
        "application/merge-patch+json" => {
            let Some(live) = live else {
                return not_found(&target.kind, name);
            };
            let mut next = live.clone();
            ssa::merge_patch(&mut next, &body);
            let writer = Writer {
                manager: q.field_manager.unwrap_or("unknown"),
                api_version: &api_version,
                time: &time,
            };
            let next = ssa::update(Some(&live), next, &writer);
            store(world, target, name, next, Some(&live), q.dry_run)
        }
        other => status(415, "UnsupportedMediaType", other),
    }
}

pub fn delete(world: &mut World, target: &Target, name: &str, body: &Value) -> Answer {
    let k = target.key(name);
    let Some(live) = world.objects.get(&k).cloned() else {
        return not_found(&target.kind, name);
    };
    let preconditions = &body["preconditions"];
    if let Some(uid) = preconditions["uid"].as_str()
        && live["metadata"]["uid"] != uid
    {
        return status(
            409,
            "Conflict",
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                live["metadata"]["uid"].as_str().unwrap_or_default()
            ),
        );
    }
    if let Some(rv) = preconditions["resourceVersion"].as_str()
        && live["metadata"]["resourceVersion"] != rv
    {
        return status(
            409,
            "Conflict",
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                live["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default()
            ),
        );
    }
    if target.kind.kind == "Namespace" {
        let inside: Vec<String> = world
            .objects
            .iter()
            .filter(|(_, v)| v["metadata"]["namespace"] == name)
            .map(|(k, _)| k.clone())
            .collect();
        for k in inside {
            world.objects.remove(&k);
        }
    }
    world.commit(&target.kind, k, None);
    if target.kind.kind == "CustomResourceDefinition" {
        world.crd_deleted(&live);
    }
    (
        200,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 200}),
    )
}
