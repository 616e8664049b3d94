//! From an HTTP request to an answer: record it, inject faults, authorize, then dispatch to
//! discovery, the reviews, or a verb on objects.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::ops::{self, ListQuery, Target, WriteQuery, status};
use crate::rbac::impersonation::{self, Impersonation};
use crate::rbac::{self, Attributes, Requester};
use crate::select::{FieldSelector, LabelSelector};
use crate::world::{Seen, Watcher, World};

/// A request, read whole.
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub accept: String,
    pub body: Bytes,
    /// `Impersonate-User` / `Impersonate-Group`.
    pub impersonation: Impersonation,
}

/// What to send back.
pub enum Reply {
    /// A JSON answer, with a `Retry-After` when throttled.
    Json {
        code: u16,
        body: Value,
        retry_after: Option<u64>,
    },
    /// A watch: lines as they come, ended after the timeout.
    Stream {
        lines: mpsc::UnboundedReceiver<Bytes>,
        timeout: Duration,
    },
    /// Never answered.
    Hang,
}

fn json(code: u16, body: Value) -> Reply {
    Reply::Json {
        code,
        body,
        retry_after: None,
    }
}

/// The query string's parameters, decoded.
fn params(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Parses a resource path into what it names.
fn parse(world: &World, path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural, name] => (*ns, *plural, Some(*name)),
        ["namespaces", ns, plural] => (*ns, *plural, None),
        [plural, name] => ("", *plural, Some(*name)),
        [plural] => ("", *plural, None),
        _ => return None,
    };
    Some(Target {
        kind: world.kind(group, version, plural)?,
        namespace: namespace.to_owned(),
        name: name.map(str::to_owned),
    })
}

/// The API verb of a request on `target`.
fn verb(method: &str, target: &Target, watch: bool) -> &'static str {
    match (method, target.name.is_some()) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

/// Handles one request against the world.
pub fn handle(world: &mut World, call: &Call, door: &str) -> Reply {
    let params = params(&call.query);
    let watch = matches!(param(&params, "watch"), Some("true" | "1"));
    let dry_run = param(&params, "dryRun") == Some("All");
    let target = parse(world, &call.path);
    let review = call.method == "POST" && call.path.starts_with("/apis/authorization.k8s.io/");
    let discovery =
        call.method == "GET" && crate::discovery::answer(world, &call.path, &call.accept).is_some();
    let verb = match &target {
        _ if discovery => "discovery",
        _ if review => "review",
        Some(t) => verb(&call.method, t, watch),
        None => "unknown",
    };
    world.seen.push(Seen {
        method: call.method.clone(),
        path: call.path.clone(),
        query: call.query.clone(),
        content_type: call.content_type.clone(),
        verb: verb.to_owned(),
        dry_run,
        door: door.to_owned(),
        code: 0,
        at: chrono::Utc::now(),
        impersonated: call.impersonation.user.clone(),
    });
    if let Some(reply) = fault(world, call) {
        return reply;
    }
    let who = match impersonation::requester(world, &call.impersonation) {
        Ok(who) => who,
        Err(refused) => return reply(refused),
    };
    if discovery {
        return json(
            200,
            crate::discovery::answer(world, &call.path, &call.accept).unwrap_or_default(),
        );
    }
    let body: Value = serde_json::from_slice(&call.body).unwrap_or(Value::Null);
    if review {
        return reviews(world, &who, &call.path, &body);
    }
    let Some(target) = target else {
        return reply(status(
            404,
            "NotFound",
            &format!(
                "the server could not find the requested resource {}",
                call.path
            ),
        ));
    };
    if let Some(denied) = authorize(world, &who, &target, verb, call) {
        return denied;
    }
    if matches!(verb, "create" | "update" | "patch")
        && let Some(refused) = rbac::escalation::check(world, &who, &target, &body)
    {
        return reply(refused);
    }
    objects(world, call, &params, &target, body)
}

/// A verb on objects, authorized.
fn objects(
    world: &mut World,
    call: &Call,
    params: &[(String, String)],
    target: &Target,
    body: Value,
) -> Reply {
    let watch = matches!(param(params, "watch"), Some("true" | "1"));
    let write = WriteQuery {
        field_manager: param(params, "fieldManager"),
        force: param(params, "force") == Some("true"),
        dry_run: param(params, "dryRun") == Some("All"),
    };
    let metadata = call.accept.contains("as=PartialObjectMetadata");
    let answer = match (call.method.as_str(), target.name.clone()) {
        ("GET", Some(name)) => {
            let (code, object) = ops::get(world, target, &name);
            (
                code,
                if metadata && code == 200 {
                    ops::metadata_only(&object)
                } else {
                    object
                },
            )
        }
        ("GET", None) => {
            let Some(query) = list_query(params) else {
                return reply(status(400, "BadRequest", "unable to parse the selector"));
            };
            if watch {
                return start_watch(world, target, query, params);
            }
            ops::list(world, target, &query, metadata)
        }
        ("POST", None) => ops::create(world, target, body, &write),
        ("PUT", Some(name)) => ops::replace(world, target, &name, body, &write),
        ("PATCH", Some(name)) => ops::patch(world, target, &name, &call.content_type, body, &write),
        ("DELETE", Some(name)) => ops::delete(world, target, &name, &body),
        _ => status(405, "MethodNotAllowed", &call.method),
    };
    reply(answer)
}

fn reply((code, body): (u16, Value)) -> Reply {
    json(code, body)
}

/// An injected failure or hang matching the request, used up once.
fn fault(world: &mut World, call: &Call) -> Option<Reply> {
    let name = call.path.rsplit('/').next().unwrap_or_default();
    let fault = world
        .faults
        .iter_mut()
        .find(|f| f.times > 0 && f.method == call.method && f.name == name)?;
    fault.times -= 1;
    Some(match fault.code {
        None => Reply::Hang,
        Some(code) => Reply::Json {
            code,
            body: status(code, "Injected", &format!("injected failure {code}")).1,
            retry_after: fault.retry_after,
        },
    })
}

/// A 403 when the grants do not allow the request (server-side apply of a missing object also
/// needs `create`).
fn authorize(
    world: &World,
    who: &Requester,
    target: &Target,
    verb: &str,
    call: &Call,
) -> Option<Reply> {
    let attributes = |verb: &str| Attributes {
        verb: verb.to_owned(),
        group: target.kind.group.clone(),
        resource: target.kind.plural.clone(),
        namespace: if target.kind.namespaced {
            target.namespace.clone()
        } else {
            String::new()
        },
        name: target.name.clone().unwrap_or_default(),
        path: None,
    };
    let mut needed = vec![attributes(verb)];
    if call.method == "PATCH"
        && let Some(name) = &target.name
        && !world.objects.contains_key(&crate::world::key(
            &target.kind.group,
            &target.kind.plural,
            &target.namespace,
            name,
        ))
    {
        needed.push(attributes("create"));
    }
    let denied = needed.into_iter().find(|a| !rbac::allows(world, who, a))?;
    Some(reply(rbac::forbidden(who, &denied)))
}

fn list_query(params: &[(String, String)]) -> Option<ListQuery> {
    Some(ListQuery {
        labels: LabelSelector::parse(param(params, "labelSelector").unwrap_or_default())?,
        fields: FieldSelector::parse(param(params, "fieldSelector").unwrap_or_default())?,
        limit: param(params, "limit").and_then(|l| l.parse().ok()),
        continue_after: param(params, "continue").map(str::to_owned),
    })
}

/// Starts a watch: the events after the requested version, then every new one.
fn start_watch(
    world: &mut World,
    target: &Target,
    query: ListQuery,
    params: &[(String, String)],
) -> Reply {
    if target.kind.kind == "CustomResourceDefinition" {
        let names: Vec<String> = ops::matching(world, target, &query)
            .iter()
            .filter_map(|(_, v)| v["metadata"]["name"].as_str().map(str::to_owned))
            .collect();
        for name in names {
            world.read_crd(&name);
        }
    }
    let (tx, lines) = mpsc::unbounded_channel();
    let since: u64 = param(params, "resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for event in world.events.iter().filter(|e| {
        e.rv > since
            && e.group == target.kind.group
            && e.plural == target.kind.plural
            && (target.namespace.is_empty()
                || e.object["metadata"]["namespace"] == target.namespace.as_str())
            && query.labels.matches(&e.object)
            && query.fields.matches(&e.object)
    }) {
        let line = json!({"type": event.kind, "object": event.object});
        let _ = tx.send(Bytes::from(format!("{line}\n")));
    }
    world.watchers.push(Watcher {
        group: target.kind.group.clone(),
        plural: target.kind.plural.clone(),
        namespace: target.namespace.clone(),
        labels: query.labels,
        fields: query.fields,
        tx,
    });
    let timeout = param(params, "timeoutSeconds")
        .and_then(|t| t.parse().ok())
        .unwrap_or(300);
    Reply::Stream {
        lines,
        timeout: Duration::from_secs(timeout),
    }
}

/// `SelfSubjectRulesReview` and `SelfSubjectAccessReview`.
fn reviews(world: &World, who: &Requester, path: &str, body: &Value) -> Reply {
    let (kind, status) = if path.ends_with("/selfsubjectrulesreviews") {
        let namespace = body["spec"]["namespace"].as_str().unwrap_or_default();
        (
            "SelfSubjectRulesReview",
            rbac::reviews::rules_review(world, who, namespace),
        )
    } else if path.ends_with("/selfsubjectaccessreviews") {
        (
            "SelfSubjectAccessReview",
            rbac::reviews::access_review(world, who, &body["spec"]),
        )
    } else {
        return reply(status(404, "NotFound", path));
    };
    json(
        201,
        json!({"kind": kind, "apiVersion": "authorization.k8s.io/v1", "metadata": {},
                     "spec": body["spec"], "status": status}),
    )
}
