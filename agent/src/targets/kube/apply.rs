//! One object at a time: apply, prune, drift check and health read. Errors come back per
//! object for the batch report; the batch goes on.

use std::time::Duration;

use cairn_state_format::ResourceId;
use kube::api::{
    Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions, PropagationPolicy,
};
use kube::{Client, ResourceExt};
use serde_json::Value;

use super::discovery::{Resolved, Unresolved};
use super::health::{self, Health};
use super::ownership::{GENERATION, Marks, Owner, owner};
use super::{Inner, Propagation};
use crate::targets::TargetError;

type Outcome<T> = std::result::Result<T, TargetError>;

const CRD_GROUP: &str = "apiextensions.k8s.io";
const CRD_KIND: &str = "CustomResourceDefinition";

fn unresolved(e: Unresolved) -> TargetError {
    match e {
        Unresolved::Unknown(message) => TargetError::Unserved(message),
        Unresolved::Failed(e) => TargetError::Discovery(e),
    }
}

fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

fn parse(bytes: &[u8]) -> Outcome<Value> {
    serde_json::from_slice(bytes).map_err(|e| TargetError::Malformed(e.to_string()))
}

impl Inner {
    fn api(&self, client: &Client, resolved: &Resolved, namespace: &str) -> Api<DynamicObject> {
        if resolved.namespaced {
            let namespace = if namespace.is_empty() {
                "default"
            } else {
                namespace
            };
            Api::namespaced_with(client.clone(), namespace, &resolved.resource)
        } else {
            Api::all_with(client.clone(), &resolved.resource)
        }
    }

    fn patch_params(&self, dry_run: bool) -> PatchParams {
        let mut params = PatchParams::apply(&self.options.field_manager);
        params.force = self.options.force_conflicts;
        params.dry_run = dry_run;
        params
    }

    async fn get(&self, api: &Api<DynamicObject>, name: &str) -> Outcome<Option<DynamicObject>> {
        api.get_opt(name).await.map_err(TargetError::Api)
    }

    async fn resolve_write(
        &self,
        client: &Client,
        object: &Value,
    ) -> Outcome<(Resolved, Api<DynamicObject>)> {
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let kind = object["kind"].as_str().unwrap_or_default();
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        let resolved = self
            .kinds
            .for_object(client, api_version, kind)
            .await
            .map_err(unresolved)?;
        let api = self.api(client, &resolved, namespace);
        Ok((resolved, api))
    }

    /// The object as cairn applies it: marked, and with its namespace as the kind's scope wants.
    fn desired(&self, resolved: &Resolved, bytes: &[u8], marks: &Marks<'_>) -> Outcome<Value> {
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
}

fn check_owner(inner: &Inner, live: &DynamicObject, channel: &str) -> Outcome<()> {
    match owner(live.metadata.labels.as_ref(), channel) {
        Owner::Channel => Ok(()),
        Owner::OtherChannel(other) => Err(TargetError::NotOwned(format!(
            "the live object belongs to cairn channel {other}; refusing to take it over"
        ))),
        Owner::Foreign if inner.options.adopt => Ok(()),
        Owner::Foreign => Err(TargetError::NotOwned(
            "the object exists and cairn did not create it; refusing to take it over \
             (--kube-adopt allows adopting existing objects)"
                .to_owned(),
        )),
    }
}

/// Applies one object for `channel` with server-side apply; waits for a CRD to be Established.
pub(super) async fn apply_one(
    inner: &Inner,
    client: &Client,
    channel: &str,
    applyset: &str,
    write: &super::Write,
) -> Outcome<()> {
    let object = parse(&write.bytes)?;
    let (resolved, api) = inner.resolve_write(client, &object).await?;
    let name = &write.id.name;
    if let Some(live) = inner.get(&api, name).await? {
        check_owner(inner, &live, channel)?;
    }
    let marks = Marks {
        channel,
        generation: write.generation,
        applyset,
    };
    let desired = inner.desired(&resolved, &write.bytes, &marks)?;
    let applied = api
        .patch(name, &inner.patch_params(false), &Patch::Apply(&desired))
        .await
        .map_err(TargetError::Api)?;
    if resolved.resource.group == CRD_GROUP && resolved.resource.kind == CRD_KIND {
        let group = applied
            .data
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        wait_established(inner, &api, name).await?;
        inner.kinds.forget_group(&group);
    }
    Ok(())
}

/// Polls a CRD until its `Established` condition is true, up to the configured timeout.
async fn wait_established(inner: &Inner, api: &Api<DynamicObject>, name: &str) -> Outcome<()> {
    let deadline = tokio::time::Instant::now() + inner.options.crd_timeout;
    let mut delay = Duration::from_millis(100);
    loop {
        if let Some(live) = inner.get(api, name).await?
            && health::assess(&serde_json::to_value(&live).unwrap_or_default()) == Health::Healthy
        {
            return Ok(());
        }
        if tokio::time::Instant::now() + delay > deadline {
            return Err(TargetError::NotEstablished(inner.options.crd_timeout));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Deletes one object `channel` owns. Objects already gone, of a kind no longer served, or not
/// owned by the channel (someone else's object of the same name) count as done and are left
/// alone.
pub(super) async fn delete_one(
    inner: &Inner,
    client: &Client,
    channel: &str,
    id: &ResourceId,
) -> Outcome<()> {
    let resolved = match inner
        .kinds
        .for_group_kind(client, &id.group, &id.kind)
        .await
    {
        Ok(resolved) => resolved,
        Err(Unresolved::Unknown(_)) => return Ok(()),
        Err(e) => return Err(unresolved(e)),
    };
    let api = inner.api(client, &resolved, &id.namespace);
    let Some(live) = inner.get(&api, &id.name).await? else {
        return Ok(());
    };
    if owner(live.metadata.labels.as_ref(), channel) != Owner::Channel {
        tracing::info!(object = %id, channel, "not pruned: the live object is not this channel's");
        return Ok(());
    }
    let params = DeleteParams {
        propagation_policy: Some(match inner.options.propagation {
            Propagation::Background => PropagationPolicy::Background,
            Propagation::Foreground => PropagationPolicy::Foreground,
            Propagation::Orphan => PropagationPolicy::Orphan,
        }),
        // Only the object we looked at: never one recreated under the same name since.
        preconditions: Some(Preconditions {
            uid: live.uid(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    match api.delete(&id.name, &params).await {
        Ok(_) => Ok(()),
        Err(e) if status_code(&e) == Some(404) => Ok(()),
        // 409: the object was replaced while being pruned (the UID precondition failed); the
        // next pass looks again.
        Err(e) => Err(TargetError::Api(e)),
    }
}

/// The parts of an object that apply decides, for comparing live and desired state.
fn comparable(mut object: Value) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for volatile in ["managedFields", "resourceVersion", "generation"] {
            metadata.remove(volatile);
        }
    }
    object
}

/// Whether the live object differs from what applying `write` would make of it (a server-side
/// dry run), or is gone. Objects the channel does not own are not its drift.
pub(super) async fn drifted_one(
    inner: &Inner,
    client: &Client,
    channel: &str,
    applyset: &str,
    write: &super::Write,
) -> Outcome<bool> {
    let object = parse(&write.bytes)?;
    let (resolved, api) = inner.resolve_write(client, &object).await?;
    let Some(live) = inner.get(&api, &write.id.name).await? else {
        return Ok(true);
    };
    if owner(live.metadata.labels.as_ref(), channel) != Owner::Channel {
        return Ok(false);
    }
    // Keep the generation the object was last written at: it is not drift.
    let generation = live
        .annotations()
        .get(GENERATION)
        .and_then(|g| g.parse().ok())
        .unwrap_or(write.generation);
    let marks = Marks {
        channel,
        generation,
        applyset,
    };
    let desired = inner.desired(&resolved, &write.bytes, &marks)?;
    let dry = api
        .patch(
            &write.id.name,
            &inner.patch_params(true),
            &Patch::Apply(&desired),
        )
        .await
        .map_err(TargetError::Api)?;
    let live = serde_json::to_value(&live).map_err(|e| TargetError::Malformed(e.to_string()))?;
    let dry = serde_json::to_value(&dry).map_err(|e| TargetError::Malformed(e.to_string()))?;
    Ok(comparable(live) != comparable(dry))
}

/// The health of one object (missing objects are degraded).
pub(super) async fn health_one(inner: &Inner, client: &Client, id: &ResourceId) -> Outcome<Health> {
    let resolved = match inner
        .kinds
        .for_group_kind(client, &id.group, &id.kind)
        .await
    {
        Ok(resolved) => resolved,
        Err(Unresolved::Unknown(message)) => return Ok(Health::Degraded(message)),
        Err(e) => return Err(unresolved(e)),
    };
    let api = inner.api(client, &resolved, &id.namespace);
    match inner.get(&api, &id.name).await? {
        None => Ok(Health::Degraded("the object is missing".to_owned())),
        Some(live) => Ok(health::assess(
            &serde_json::to_value(&live).map_err(|e| TargetError::Malformed(e.to_string()))?,
        )),
    }
}
