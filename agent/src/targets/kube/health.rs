//! Health of live objects, following kstatus conventions: a kind-specific check for the
//! built-in workload kinds, then generic `status.conditions`.

use serde_json::Value;

/// How a live object is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// Reconciled and available.
    Healthy,
    /// Still rolling out; the reason says what is awaited.
    Progressing(String),
    /// Failed or stuck; the reason says why.
    Degraded(String),
}

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
