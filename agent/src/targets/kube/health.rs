//! Health of live objects, following kstatus conventions: a kind-specific check for the
//! built-in workload kinds, then generic `status.conditions`.
//!
//! The target assesses from what it last saw of each object (an apply's answer, a listing):
//! only objects not seen healthy are read again, with one label-selected list per kind when
//! there are several of it, else one get each.

use std::collections::{BTreeMap, HashMap, HashSet};

use cairn_state_format::ResourceId;
use kube::Client;
use kube::api::{DynamicObject, ListParams};
use serde_json::Value;

use super::KubeTarget;
use super::PAGE;
use super::discovery::{Resolved, Unresolved};
use super::fields::fingerprint;
use super::ledger::{Health, Live};
use super::ownership::{Owner, owner, selector};
use crate::targets::{HealthReport, TargetError};

fn int(object: &Value, pointer: &str) -> Option<i64> {
    object.pointer(pointer).and_then(Value::as_i64)
}

fn text<'v>(object: &'v Value, pointer: &str) -> Option<&'v str> {
    object.pointer(pointer).and_then(Value::as_str)
}

/// The `status` of condition `kind` (`"True"`, `"False"`, `"Unknown"`), with its reason.
fn condition<'v>(object: &'v Value, kind: &str) -> Option<(&'v str, &'v str)> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("Unknown"),
                c["reason"].as_str().unwrap_or_default(),
            )
        })
}

/// Assesses one live object (as JSON).
pub fn assess(object: &Value) -> Health {
    let generation = int(object, "/metadata/generation");
    let observed = int(object, "/status/observedGeneration");
    if let (Some(g), Some(o)) = (generation, observed)
        && o < g
    {
        return Health::Progressing(format!("generation {g} not observed yet (at {o})"));
    }
    let group = text(object, "/apiVersion")
        .and_then(|v| v.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or_default();
    let kind = text(object, "/kind").unwrap_or_default();
    let specific = match (group, kind) {
        ("apps", "Deployment") => deployment(object),
        ("apps", "StatefulSet") => stateful_set(object),
        ("apps", "DaemonSet") => daemon_set(object),
        ("batch", "Job") => job(object),
        ("", "PersistentVolumeClaim") => pvc(object),
        ("", "Service") => service(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(object),
        _ => None,
    };
    specific.unwrap_or_else(|| conditions(object))
}

fn replicas_short(what: &str, have: i64, want: i64) -> Option<Health> {
    (have < want).then(|| Health::Progressing(format!("{have} of {want} {what}")))
}

fn deployment(d: &Value) -> Option<Health> {
    if let Some(("False", "ProgressDeadlineExceeded")) = condition(d, "Progressing") {
        return Some(Health::Degraded("progress deadline exceeded".to_owned()));
    }
    let want = int(d, "/spec/replicas").unwrap_or(1);
    let updated = int(d, "/status/updatedReplicas").unwrap_or(0);
    let total = int(d, "/status/replicas").unwrap_or(0);
    let available = int(d, "/status/availableReplicas").unwrap_or(0);
    replicas_short("replicas updated", updated, want)
        .or_else(|| {
            (total > updated).then(|| {
                Health::Progressing(format!(
                    "{} old replicas pending termination",
                    total - updated
                ))
            })
        })
        .or_else(|| replicas_short("updated replicas available", available, updated))
        .or(Some(Health::Healthy))
}

fn stateful_set(s: &Value) -> Option<Health> {
    let want = int(s, "/spec/replicas").unwrap_or(1);
    let ready = int(s, "/status/readyReplicas").unwrap_or(0);
    let updated = int(s, "/status/updatedReplicas").unwrap_or(0);
    let rolling = text(s, "/spec/updateStrategy/type").is_none_or(|t| t == "RollingUpdate");
    let partition = int(s, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
    replicas_short("replicas ready", ready, want)
        .or_else(|| {
            (rolling && partition == 0)
                .then(|| replicas_short("replicas updated", updated, want))
                .flatten()
        })
        .or_else(|| {
            let (current, update) = (
                text(s, "/status/currentRevision"),
                text(s, "/status/updateRevision"),
            );
            (rolling && partition == 0 && update.is_some() && current != update).then(|| {
                Health::Progressing(format!(
                    "revision {} rolling out",
                    update.unwrap_or_default()
                ))
            })
        })
        .or(Some(Health::Healthy))
}

fn daemon_set(d: &Value) -> Option<Health> {
    let want = int(d, "/status/desiredNumberScheduled").unwrap_or(0);
    let scheduled = int(d, "/status/currentNumberScheduled").unwrap_or(0);
    let updated = int(d, "/status/updatedNumberScheduled").unwrap_or(0);
    let available = int(d, "/status/numberAvailable").unwrap_or(0);
    replicas_short("pods scheduled", scheduled, want)
        .or_else(|| replicas_short("pods updated", updated, want))
        .or_else(|| replicas_short("pods available", available, want))
        .or(Some(Health::Healthy))
}

fn job(j: &Value) -> Option<Health> {
    if let Some(("True", reason)) = condition(j, "Failed") {
        return Some(Health::Degraded(format!("job failed: {reason}")));
    }
    if let Some(("True", _)) = condition(j, "Complete") {
        return Some(Health::Healthy);
    }
    Some(Health::Progressing("job running".to_owned()))
}

fn pvc(p: &Value) -> Option<Health> {
    Some(match text(p, "/status/phase") {
        Some("Bound") => Health::Healthy,
        Some("Lost") => Health::Degraded("volume lost".to_owned()),
        phase => Health::Progressing(format!("phase {}", phase.unwrap_or("unknown"))),
    })
}

fn service(s: &Value) -> Option<Health> {
    if text(s, "/spec/type") != Some("LoadBalancer") {
        return Some(Health::Healthy);
    }
    let ingress = s
        .pointer("/status/loadBalancer/ingress")
        .and_then(Value::as_array)
        .is_some_and(|i| !i.is_empty());
    Some(if ingress {
        Health::Healthy
    } else {
        Health::Progressing("no load balancer address yet".to_owned())
    })
}

fn crd(c: &Value) -> Option<Health> {
    if let Some(("False", reason)) = condition(c, "NamesAccepted") {
        return Some(Health::Degraded(format!("names not accepted: {reason}")));
    }
    Some(match condition(c, "Established") {
        Some(("True", _)) => Health::Healthy,
        _ => Health::Progressing("not Established yet".to_owned()),
    })
}

/// kstatus's generic rules: `Stalled`/`Failed` true is degraded, `Reconciling` true or `Ready`
/// not true is progressing, anything else is healthy.
fn conditions(object: &Value) -> Health {
    for failed in ["Stalled", "Failed"] {
        if let Some(("True", reason)) = condition(object, failed) {
            return Health::Degraded(format!("{failed}: {reason}"));
        }
    }
    if let Some(("True", reason)) = condition(object, "Reconciling") {
        return Health::Progressing(format!("Reconciling: {reason}"));
    }
    match condition(object, "Ready") {
        Some(("True", _)) | None => Health::Healthy,
        Some((status, reason)) => Health::Progressing(format!("Ready is {status}: {reason}")),
    }
}

/// The health of each of `ids` (`None`: the object is missing), read again where needed.
pub async fn assess_all(
    target: &KubeTarget,
    client: &Client,
    channel: &str,
    ids: Vec<ResourceId>,
) -> Result<HealthReport, TargetError> {
    let inner = &target.inner;
    let mut located = Vec::with_capacity(ids.len());
    let mut unread: BTreeMap<(String, String), (Resolved, Vec<ResourceId>)> = BTreeMap::new();
    let round = inner.ledger.with(channel, |book| book.round);
    for id in ids {
        let (resolved, effective) = match inner.locate(client, &id).await {
            Ok(found) => found,
            Err(Unresolved::Unknown(message)) => {
                located.push((id, None, Some(Health::Degraded(message))));
                continue;
            }
            Err(Unresolved::Failed(e)) => return Err(TargetError::Discovery(e)),
        };
        let known = inner.ledger.with(channel, |book| {
            book.health
                .get(&effective)
                .filter(|(h, seen)| *seen == round || *h == Health::Healthy)
                .map(|(h, _)| h.clone())
        });
        if known.is_none() {
            let key = (id.group.clone(), id.kind.clone());
            let entry = unread.entry(key).or_insert_with(|| (resolved, Vec::new()));
            entry.1.push(effective.clone());
        }
        located.push((id, Some(effective), known));
    }
    let mut read: HashMap<ResourceId, Health> = HashMap::new();
    for (resolved, wanted) in unread.into_values() {
        read.extend(read_again(target, client, channel, &resolved, wanted).await?);
    }
    inner.ledger.with(channel, |book| book.round += 1);
    located.sort_by(|a, b| a.0.cmp(&b.0));
    let mut report = HealthReport::default();
    for (id, effective, known) in located {
        let health = known
            .or_else(|| effective.and_then(|e| read.remove(&e)))
            .unwrap_or_else(|| Health::Degraded("the object is missing".to_owned()));
        match health {
            Health::Healthy => report.healthy += 1,
            Health::Progressing(why) => {
                report.progressing += 1;
                report.unhealthy.push(format!("{id}: progressing: {why}"));
            }
            Health::Degraded(why) => {
                report.degraded += 1;
                report.unhealthy.push(format!("{id}: degraded: {why}"));
            }
        }
    }
    Ok(report)
}

/// Reads `wanted` (of one kind) again: a list of the channel's objects of the kind when there
/// are several, else a get each. Objects not found are left out.
async fn read_again(
    target: &KubeTarget,
    client: &Client,
    channel: &str,
    resolved: &Resolved,
    wanted: Vec<ResourceId>,
) -> Result<HashMap<ResourceId, Health>, TargetError> {
    let inner = &target.inner;
    let wanted: HashSet<ResourceId> = wanted.into_iter().collect();
    let mut found = Vec::new();
    if wanted.len() >= 3 {
        let api = kube::api::Api::<DynamicObject>::all_with(client.clone(), &resolved.resource);
        let mut params = ListParams::default().labels(&selector(channel)).limit(PAGE);
        loop {
            let page = api.list(&params).await.map_err(TargetError::Api)?;
            found.extend(page.items);
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => break,
            }
        }
    } else {
        for id in &wanted {
            let api = inner.api(client, resolved, &id.namespace);
            found.extend(api.get_opt(&id.name).await.map_err(TargetError::Api)?);
        }
    }
    let mut out = HashMap::new();
    inner.ledger.with(channel, |book| {
        for item in found {
            let r = &resolved.resource;
            let mut object = serde_json::to_value(&item).unwrap_or(Value::Null);
            object["apiVersion"] = r.api_version.clone().into();
            object["kind"] = r.kind.clone().into();
            let id = ResourceId {
                group: r.group.clone(),
                kind: r.kind.clone(),
                namespace: item.metadata.namespace.clone().unwrap_or_default(),
                name: item.metadata.name.clone().unwrap_or_default(),
            };
            let health = assess(&object);
            let live = Live {
                uid: item.metadata.uid.clone().unwrap_or_default(),
                resource_version: item.metadata.resource_version.clone().unwrap_or_default(),
                fingerprint: fingerprint(&object),
            };
            if wanted.contains(&id) {
                out.insert(id.clone(), health.clone());
            }
            if owner(item.metadata.labels.as_ref(), channel) == Owner::Channel {
                book.saw(&id, live, health);
            }
        }
    });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn progressing(h: Health) -> bool {
        matches!(h, Health::Progressing(_))
    }

    #[test]
    fn workloads() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"generation": 2}, "spec": {"replicas": 3},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3}});
        assert_eq!(assess(&d), Health::Healthy);
        d["status"]["availableReplicas"] = json!(1);
        assert!(progressing(assess(&d)));
        d["status"]["observedGeneration"] = json!(1);
        assert!(progressing(assess(&d)));
        d["status"]["observedGeneration"] = json!(2);
        d["status"]["conditions"] = json!([{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]);
        assert!(matches!(assess(&d), Health::Degraded(_)));

        let s = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "spec": {"replicas": 2},
            "status": {"readyReplicas": 2, "updatedReplicas": 2, "currentRevision": "a", "updateRevision": "b"}});
        assert!(progressing(assess(&s)));
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "status": {
            "desiredNumberScheduled": 2, "currentNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2}});
        assert_eq!(assess(&ds), Health::Healthy);
        let failed = json!({"apiVersion": "batch/v1", "kind": "Job",
            "status": {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
        assert!(matches!(assess(&failed), Health::Degraded(_)));
    }

    #[test]
    fn other_kinds_and_conditions() {
        let pvc = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}});
        assert!(progressing(assess(&pvc)));
        let lb = json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}, "status": {}});
        assert!(progressing(assess(&lb)));
        let ip = json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP"}});
        assert_eq!(assess(&ip), Health::Healthy);
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(assess(&crd), Health::Healthy);
        let stalled = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "status": {"conditions": [{"type": "Stalled", "status": "True", "reason": "BadSpec"}]}});
        assert!(matches!(assess(&stalled), Health::Degraded(_)));
        let not_ready = json!({"apiVersion": "example.com/v1", "kind": "Widget",
            "status": {"conditions": [{"type": "Ready", "status": "False"}]}});
        assert!(progressing(assess(&not_ready)));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert_eq!(assess(&cm), Health::Healthy);
    }
}
