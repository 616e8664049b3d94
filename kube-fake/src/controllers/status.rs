//! The status a workload's controller writes at each step of a rollout, with the fields and
//! conditions the real controllers set (zero counts left out, as the API's `omitempty` does).
//! The fake's cluster has one node, so a DaemonSet wants one pod.

use serde_json::{Map, Value, json};

use super::Step;
use crate::world::Kind;

/// The status of `object` (of `kind`) at `step`, written at `time`.
pub fn of(kind: &Kind, object: &Value, step: Step, time: &str) -> Value {
    let generation = object["metadata"]["generation"].as_i64().unwrap_or(0);
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let want = object["spec"]["replicas"].as_i64().unwrap_or(1);
    let ready = if step == Step::Available { want } else { 0 };
    match kind.kind.as_str() {
        "Deployment" => deployment(generation, name, want, ready, step, time),
        "StatefulSet" => stateful_set(generation, name, want, ready),
        _ => daemon_set(generation, if step == Step::Available { 1 } else { 0 }),
    }
}

/// `status` with the conditions `previous` already had (same type, status and reason) kept as
/// they were, times included: as `SetDeploymentCondition` leaves an unchanged condition alone,
/// so writing the same step again changes nothing.
pub fn keep_unchanged_conditions(mut status: Value, previous: &Value) -> Value {
    let before = previous["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(conditions) = status["conditions"].as_array_mut() {
        for condition in conditions.iter_mut() {
            let same = |c: &&Value| {
                ["type", "status", "reason"]
                    .iter()
                    .all(|field| c[field] == condition[field])
            };
            if let Some(kept) = before.iter().find(same) {
                *condition = kept.clone();
            }
        }
    }
    status
}

/// `fields` without its zero counts.
fn counts(fields: &[(&str, i64)]) -> Map<String, Value> {
    fields
        .iter()
        .filter(|(_, n)| *n != 0)
        .map(|(k, n)| ((*k).to_owned(), json!(n)))
        .collect()
}

fn condition(kind: &str, status: &str, reason: &str, message: String, time: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
           "lastUpdateTime": time, "lastTransitionTime": time})
}

/// As `calculateStatus` and `syncRolloutStatus` write it, for a new ReplicaSet `<name>-<g>`.
fn deployment(g: i64, name: &str, want: i64, ready: i64, step: Step, time: &str) -> Value {
    let replica_set = format!("{name}-{g}");
    let mut status = counts(&[
        ("replicas", want),
        ("updatedReplicas", want),
        ("readyReplicas", ready),
        ("availableReplicas", ready),
        ("unavailableReplicas", want - ready),
    ]);
    status.insert("observedGeneration".into(), json!(g));
    let available = if ready >= want {
        let message = "Deployment has minimum availability.".to_owned();
        condition(
            "Available",
            "True",
            "MinimumReplicasAvailable",
            message,
            time,
        )
    } else {
        let message = "Deployment does not have minimum availability.".to_owned();
        condition(
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            message,
            time,
        )
    };
    let progressing = match step {
        Step::Observed => {
            let message = format!("ReplicaSet \"{replica_set}\" is progressing.");
            condition("Progressing", "True", "ReplicaSetUpdated", message, time)
        }
        Step::Available => {
            let message = format!("ReplicaSet \"{replica_set}\" has successfully progressed.");
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                message,
                time,
            )
        }
        Step::DeadlineExceeded => {
            let message = format!("ReplicaSet \"{replica_set}\" has timed out progressing.");
            condition(
                "Progressing",
                "False",
                "ProgressDeadlineExceeded",
                message,
                time,
            )
        }
    };
    status.insert("conditions".into(), json!([available, progressing]));
    Value::Object(status)
}

/// As the StatefulSet controller writes it: the update revision `<name>-<g>` becomes the
/// current one once every pod of it is ready.
fn stateful_set(g: i64, name: &str, want: i64, ready: i64) -> Value {
    let mut status = counts(&[
        ("replicas", want),
        ("readyReplicas", ready),
        ("availableReplicas", ready),
        ("currentReplicas", ready),
        ("updatedReplicas", want),
    ]);
    let revision = format!("{name}-{g}");
    // A new StatefulSet's first revision is current from the start.
    let current = if ready >= want || g <= 1 {
        revision.clone()
    } else {
        format!("{name}-{}", g - 1)
    };
    status.insert("observedGeneration".into(), json!(g));
    status.insert("updateRevision".into(), json!(revision));
    status.insert("currentRevision".into(), json!(current));
    Value::Object(status)
}

/// As the DaemonSet controller writes it, on a cluster of one node.
fn daemon_set(g: i64, ready: i64) -> Value {
    let mut status = counts(&[
        ("desiredNumberScheduled", 1),
        ("currentNumberScheduled", 1),
        ("updatedNumberScheduled", 1),
        ("numberReady", ready),
        ("numberAvailable", ready),
        ("numberUnavailable", 1 - ready),
    ]);
    status.insert("observedGeneration".into(), json!(g));
    Value::Object(status)
}
