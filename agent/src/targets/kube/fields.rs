//! What a live object's `metadata.managedFields` tells: who owns a field (for
//! `cairn.dev/ignore-fields`), and a fingerprint of everything written outside the status, so
//! that a resync can tell "someone changed this object" from a listing alone.

use std::collections::BTreeSet;

use cairn_state_format::to_canonical_bytes;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::policy::Pointer;

/// The managers that own the field `pointer` of `live` (status writes aside).
pub fn owners(live: &Value, pointer: &Pointer) -> BTreeSet<String> {
    entries(live)
        .filter(|e| owns(&e["fieldsV1"], live, &pointer.0))
        .filter_map(|e| e["manager"].as_str().map(str::to_owned))
        .collect()
}

/// The `managedFields` entries that are not status writes.
fn entries(live: &Value) -> impl Iterator<Item = &Value> {
    live.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| e["subresource"].as_str().unwrap_or_default() != "status")
}

/// Whether a `FieldsV1` node owns the field at `tokens` below `at` (the live value there).
fn owns(node: &Value, at: &Value, tokens: &[String]) -> bool {
    let Some(map) = node.as_object() else {
        return false;
    };
    let Some((token, rest)) = tokens.split_first() else {
        // The field itself: present in the set.
        return true;
    };
    if map.is_empty() {
        // A leaf owned whole (an atomic list or map) covers everything below it.
        return true;
    }
    match at {
        Value::Array(items) => {
            let Some(item) = token.parse::<usize>().ok().and_then(|i| items.get(i)) else {
                return false;
            };
            map.iter()
                .find(|(key, _)| element_key_matches(key, item))
                .is_some_and(|(_, child)| owns(child, item, rest))
        }
        _ => match map.get(&format!("f:{token}")) {
            Some(child) => owns(child, at.get(token).unwrap_or(&Value::Null), rest),
            None => false,
        },
    }
}

/// Whether a `FieldsV1` list-element key (`k:{"name":"web"}` or `v:"x"`) names `item`.
fn element_key_matches(key: &str, item: &Value) -> bool {
    if let Some(fields) = key.strip_prefix("k:") {
        let Ok(Value::Object(wanted)) = serde_json::from_str::<Value>(fields) else {
            return false;
        };
        wanted.iter().all(|(k, v)| item.get(k) == Some(v))
    } else if let Some(value) = key.strip_prefix("v:") {
        serde_json::from_str::<Value>(value).is_ok_and(|v| &v == item)
    } else {
        false
    }
}

/// A fingerprint of who wrote what to `live` outside its status: its uid and every other
/// `managedFields` entry (manager, operation, API version, fields), without their times. An edit
/// by hand, a field taken over or released, a recreated object all change it; status updates by
/// controllers do not.
pub fn fingerprint(live: &Value) -> u64 {
    let mut writers: Vec<Value> = entries(live)
        .map(|e| {
            json!([
                e["manager"],
                e["operation"],
                e["subresource"],
                e["apiVersion"],
                e["fieldsV1"]
            ])
        })
        .collect();
    writers.sort_by_cached_key(to_canonical_bytes);
    let bytes = to_canonical_bytes(&json!([live.pointer("/metadata/uid"), writers]));
    let digest = Sha256::digest(&bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The parts of an object that applying decides, for comparing live and desired state: no
/// status, no system fields, no ignored fields.
pub fn comparable(mut object: Value, ignored: &[Pointer]) -> Value {
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for volatile in ["managedFields", "resourceVersion", "generation"] {
            metadata.remove(volatile);
        }
    }
    for pointer in ignored {
        pointer.remove(&mut object);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> Value {
        json!({"metadata": {"uid": "u1", "managedFields": [
            {"manager": "cairn", "operation": "Apply", "apiVersion": "apps/v1", "time": "t1",
             "fieldsV1": {"f:spec": {"f:template": {"f:spec": {"f:containers": {
                 "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}},
            {"manager": "hpa", "operation": "Update", "subresource": "scale", "apiVersion": "autoscaling/v1", "time": "t2",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status", "time": "t3",
             "fieldsV1": {"f:status": {"f:replicas": {}}}}]},
            "spec": {"replicas": 4, "template": {"spec": {"containers": [{"name": "web", "image": "x"}]}}}})
    }

    #[test]
    fn owners_follow_map_keys_and_list_element_keys() {
        let live = live();
        let owners_of = |p: &str| owners(&live, &Pointer::parse(p).unwrap());
        assert_eq!(
            owners_of("/spec/replicas"),
            BTreeSet::from(["hpa".to_owned()])
        );
        assert_eq!(
            owners_of("/spec/template/spec/containers/0/image"),
            BTreeSet::from(["cairn".to_owned()])
        );
        assert!(
            owners_of("/status/replicas").is_empty(),
            "status writes are not owners"
        );
        assert!(owners_of("/spec/paused").is_empty());
    }

    #[test]
    fn fingerprints_ignore_times_and_status_but_not_writers() {
        let a = live();
        let mut later = a.clone();
        later["metadata"]["managedFields"][0]["time"] = json!("t9");
        later["metadata"]["managedFields"][2]["fieldsV1"] = json!({"f:status": {"f:ready": {}}});
        assert_eq!(fingerprint(&a), fingerprint(&later));
        let mut edited = a.clone();
        edited["metadata"]["managedFields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"manager": "kubectl-edit", "operation": "Update", "fieldsV1": {"f:spec": {"f:paused": {}}}}));
        assert_ne!(fingerprint(&a), fingerprint(&edited));
        let mut recreated = a.clone();
        recreated["metadata"]["uid"] = json!("u2");
        assert_ne!(fingerprint(&a), fingerprint(&recreated));
    }
}
