//! Writing objects with server-side apply, one request each. An object the target does not know
//! to be the channel's is looked for first ([`super::claims`]); the answer to the apply is the
//! live object, whose resourceVersion, fingerprint and health are recorded, so nothing is read
//! back. Fields named by `cairn.dev/ignore-fields` are left to whoever else owns them.

use std::collections::HashMap;
use std::sync::Arc;

use cairn_state_format::ResourceId;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::Value;

use super::claims;
use super::discovery::{Resolved, Unresolved};
use super::health;
use super::ledger::Claim;
use super::ledger::Health;
use super::ledger::{Live, Mark};
use super::ownership::{GENERATION, Marks};
use super::policy::ObjectPolicy;
use super::{Inner, KubeTarget, crd, fields};
use crate::targets::{BatchReport, ObjectFailure, TargetError, Write};

type Outcome<T> = std::result::Result<T, TargetError>;

const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRD_KIND: &str = "CustomResourceDefinition";

pub fn unresolved(e: Unresolved) -> TargetError {
    match e {
        Unresolved::Unknown(message) => TargetError::Unserved(message),
        Unresolved::Failed(e) => TargetError::Discovery(e),
    }
}

pub fn parse(bytes: &[u8]) -> Outcome<Value> {
    serde_json::from_slice(bytes).map_err(|e| TargetError::Malformed(e.to_string()))
}

/// One write, ready to send.
#[derive(Clone)]
struct Ready {
    write: Write,
    resolved: Resolved,
    /// The object as the API server names it.
    id: ResourceId,
    /// Whether it exists (as the channel's), as far as the target knows.
    exists: bool,
}

/// Applies `writes` for `channel`; each fails or succeeds on its own.
pub async fn batch(
    target: &KubeTarget,
    client: &Client,
    channel: &str,
    writes: Vec<Write>,
) -> BatchReport {
    let inner = &target.inner;
    let mut report = BatchReport::default();
    let mut ready = Vec::new();
    for write in writes {
        match resolve(inner, client, &write).await {
            Ok((resolved, id)) => {
                let exists = inner
                    .ledger
                    .with(channel, |book| book.live.contains_key(&id));
                ready.push(Ready {
                    write,
                    resolved,
                    id,
                    exists,
                });
            }
            Err(error) => report.failed.push(ObjectFailure {
                id: write.id,
                error,
            }),
        }
    }
    let unknown: Vec<(ResourceId, Resolved)> = ready
        .iter()
        .filter(|r| !r.exists)
        .map(|r| (r.id.clone(), r.resolved.clone()))
        .collect();
    let claims = claims::look(inner, client, channel, &unknown).await;
    let sendable = admit(inner.options.adopt, ready, claims, &mut report);
    let applyset = target.applyset(channel);
    let hints: HashMap<ResourceId, Value> = inner.ledger.with(channel, |book| {
        sendable
            .iter()
            .filter_map(|r| Some((r.id.clone(), book.suspects.get(&r.id)?.clone()?)))
            .collect()
    });
    let results = target
        .each(sendable, |r| {
            let (inner, client, channel, applyset) = (
                target.inner.clone(),
                client.clone(),
                channel.to_owned(),
                applyset.clone(),
            );
            let hint = hints.get(&r.id).cloned();
            Box::pin(async move { apply_one(&inner, &client, &channel, &applyset, &r, hint).await })
        })
        .await;
    for (r, result) in results {
        record(inner, channel, r, result, &mut report);
    }
    report
}

/// The writes whose live object is the channel's, absent, or foreign but adopted (`--adopt`);
/// the others fail, each with why.
fn admit(
    adopt: bool,
    ready: Vec<Ready>,
    mut claims: HashMap<ResourceId, Result<Claim, TargetError>>,
    report: &mut BatchReport,
) -> Vec<Ready> {
    let mut sendable = Vec::new();
    for mut r in ready {
        match claims.remove(&r.id).unwrap_or(Ok(Claim::Ours)) {
            Ok(Claim::Ours) => {
                r.exists = true;
                sendable.push(r);
            }
            Ok(Claim::Absent) => sendable.push(r),
            Ok(Claim::Foreign) if adopt => {
                r.exists = true;
                sendable.push(r);
            }
            Ok(refused) => report.failed.push(ObjectFailure {
                id: r.write.id,
                error: refusal(&refused),
            }),
            Err(error) => report.failed.push(ObjectFailure {
                id: r.write.id,
                error,
            }),
        }
    }
    sendable
}

fn refusal(claim: &Claim) -> TargetError {
    match claim {
        Claim::Other(other) => TargetError::NotOwned(format!(
            "the live object belongs to cairn channel {other}; refusing to take it over"
        )),
        _ => TargetError::NotOwned(
            "the object exists and cairn did not create it; refusing to take it over \
             (--kube-adopt allows adopting existing objects)"
                .to_owned(),
        ),
    }
}

async fn resolve(inner: &Inner, client: &Client, write: &Write) -> Outcome<(Resolved, ResourceId)> {
    let object = parse(&write.bytes)?;
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let resolved = inner
        .kinds
        .for_object(client, api_version, kind)
        .await
        .map_err(unresolved)?;
    let id = super::scope::effective(&write.id, resolved.namespaced);
    Ok((resolved, id))
}

/// What a sent apply came to.
type Sent = Result<Value, (TargetError, bool)>;

/// Records one apply's outcome in the ledger and the report.
fn record(inner: &Inner, channel: &str, r: Ready, result: Sent, report: &mut BatchReport) {
    let Ready {
        write, id, exists, ..
    } = r;
    match result {
        Ok(live) => {
            let seen = Live {
                uid: text(&live, "/metadata/uid"),
                resource_version: text(&live, "/metadata/resourceVersion"),
                fingerprint: fields::fingerprint(&live),
            };
            let health = health::assess(&live);
            let changed = inner.ledger.with(channel, |book| {
                let before = book.live.get(&id).map(|l| l.resource_version.clone());
                if !exists && id.group.is_empty() && id.kind == "Namespace" {
                    book.fresh.insert(id.name.clone());
                }
                book.marks
                    .insert(write.id.clone(), Mark::Written(write.blob));
                book.orphans.remove(&id);
                let changed = before.as_ref() != Some(&seen.resource_version);
                book.saw_written(&id, seen, health);
                changed
            });
            if !changed {
                report.unchanged.push(write.id.clone());
            }
            report.done.push(write.id);
        }
        Err((error, sent)) => {
            if error.status() == Some(403) {
                // Permissions changed since they were checked: check them again next pass.
                inner.access.forget();
            }
            if sent {
                inner.ledger.with(channel, |book| {
                    book.marks.insert(write.id.clone(), Mark::Unconfirmed);
                });
            }
            report.failed.push(ObjectFailure {
                id: write.id,
                error,
            });
        }
    }
}

fn text(object: &Value, pointer: &str) -> String {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

impl Inner {
    pub fn api(&self, client: &Client, resolved: &Resolved, namespace: &str) -> Api<DynamicObject> {
        if resolved.namespaced {
            Api::namespaced_with(client.clone(), namespace, &resolved.resource)
        } else {
            Api::all_with(client.clone(), &resolved.resource)
        }
    }

    pub fn patch_params(&self, dry_run: bool) -> PatchParams {
        let mut params = PatchParams::apply(&self.options.field_manager);
        params.force = self.options.force_conflicts;
        params.dry_run = dry_run;
        params
    }

    /// The object as cairn applies it: marked, and with its namespace as the kind's scope wants.
    pub fn desired(&self, resolved: &Resolved, bytes: &[u8], marks: &Marks<'_>) -> Outcome<Value> {
        let mut object = parse(bytes)?;
        let metadata = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .ok_or_else(|| TargetError::Malformed("the object has no metadata".to_owned()))?;
        if resolved.namespaced {
            if metadata
                .get("namespace")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                metadata.insert("namespace".into(), "default".into());
            }
        } else {
            metadata.remove("namespace");
        }
        marks.stamp(&mut object);
        Ok(object)
    }

    /// The policy of an object as published.
    pub fn policy(&self, channel: &str, object: &Value) -> Outcome<ObjectPolicy> {
        ObjectPolicy::of(object, self.options.drift.of(channel)).map_err(TargetError::Policy)
    }
}

/// Leaves the ignored fields of `desired` to whoever else owns them on `live`: a field cairn
/// alone owns keeps its live value (dropping it would make server-side apply remove it);
/// any other is not sent, so its owner keeps it.
fn leave_ignored(desired: &mut Value, live: &Value, policy: &ObjectPolicy, manager: &str) {
    for pointer in &policy.ignore {
        let owners = fields::owners(live, pointer);
        match pointer.get(live) {
            Some(value) if owners.len() == 1 && owners.contains(manager) => {
                pointer.set(desired, value.clone());
            }
            _ => pointer.remove(desired),
        }
    }
}

/// The generation that last wrote `live`, as its annotation says.
pub fn written_at(live: &Value) -> Option<u64> {
    live.pointer(&format!(
        "/metadata/annotations/{}",
        GENERATION.replace('/', "~1")
    ))
    .and_then(Value::as_str)
    .and_then(|g| g.parse().ok())
}

/// Applies one object; waits for a CRD to be Established. The error says whether the apply was
/// sent (and may have landed).
async fn apply_one(
    inner: &Arc<Inner>,
    client: &Client,
    channel: &str,
    applyset: &str,
    r: &Ready,
    hint: Option<Value>,
) -> Sent {
    let unsent = |e| (e, false);
    let object = parse(&r.write.bytes).map_err(unsent)?;
    let policy = inner.policy(channel, &object).map_err(unsent)?;
    // Correcting drift is not a new write of the object: keep the generation it was written at.
    let generation = hint
        .as_ref()
        .and_then(written_at)
        .unwrap_or(r.write.generation);
    let marks = Marks {
        channel,
        generation,
        applyset,
    };
    let mut desired = inner
        .desired(&r.resolved, &r.write.bytes, &marks)
        .map_err(unsent)?;
    let api = inner.api(client, &r.resolved, &r.id.namespace);
    if !policy.ignore.is_empty() && r.exists {
        let live = match hint {
            Some(live) => Some(live),
            None => api
                .get_opt(&r.id.name)
                .await
                .map_err(|e| (TargetError::Api(e), false))?
                .map(|o| serde_json::to_value(o).unwrap_or(Value::Null)),
        };
        if let Some(live) = live {
            leave_ignored(&mut desired, &live, &policy, &inner.options.field_manager);
        }
    }
    let applied = api
        .patch(
            &r.id.name,
            &inner.patch_params(false),
            &Patch::Apply(&desired),
        )
        .await
        .map_err(|e| (TargetError::Api(e), true))?;
    let mut live = serde_json::to_value(&applied)
        .map_err(|e| (TargetError::Malformed(e.to_string()), true))?;
    live["apiVersion"] = r.resolved.resource.api_version.clone().into();
    live["kind"] = r.resolved.resource.kind.clone().into();
    if r.resolved.resource.group == CRD_GROUP && r.resolved.resource.kind == CRD_KIND {
        if health::assess(&live) != Health::Healthy {
            live = crd::established(client, &r.id.name, inner.options.crd_timeout)
                .await
                .map_err(|e| (e, true))?;
        }
        inner.kinds.mark_stale();
    }
    Ok(live)
}
