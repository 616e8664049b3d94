//! Field ownership as server-side apply keeps it, simplified: an object is a set of leaf paths
//! (scalars, lists and empty maps are leaves; lists are atomic), and `metadata.managedFields`
//! records which manager owns which leaves, in the `FieldsV1` form (`{"f:data":{"f:k":{}}}`).
//!
//! Enough to tell the behaviours cairn relies on from each other: a field changed by hand moves
//! to the editor's entry; an applier that stops sending a field releases it (and the field goes
//! when nobody else owns it); forcing takes fields over; status writes are their own entries.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// A path of map keys from the object's root.
pub type Path = Vec<String>;

/// Whether the API server keeps `path` out of field ownership (identity, system fields, status).
fn stripped(path: &[String]) -> bool {
    match path {
        [] => true,
        [top, ..] if top == "apiVersion" || top == "kind" || top == "status" => true,
        [meta, field, ..] if meta == "metadata" => matches!(
            field.as_str(),
            "name"
                | "namespace"
                | "uid"
                | "resourceVersion"
                | "generation"
                | "creationTimestamp"
                | "managedFields"
                | "deletionTimestamp"
        ),
        [meta] if meta == "metadata" => true,
        _ => false,
    }
}

/// Every owned leaf of `value` with its value.
pub fn leaves(value: &Value) -> BTreeMap<Path, Value> {
    let mut out = BTreeMap::new();
    walk(value, &mut Vec::new(), &mut out);
    out
}

fn walk(value: &Value, path: &mut Path, out: &mut BTreeMap<Path, Value>) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (key, child) in map {
                path.push(key.clone());
                if !stripped_prefix(path) {
                    walk(child, path, out);
                }
                path.pop();
            }
        }
        leaf => {
            if !stripped(path) {
                out.insert(path.clone(), leaf.clone());
            }
        }
    }
}

/// Whether everything under `path` is stripped (so the walk need not go in).
fn stripped_prefix(path: &[String]) -> bool {
    stripped(path) && !(path.len() == 1 && path[0] == "metadata")
}

/// The value at `path`.
pub fn at<'v>(value: &'v Value, path: &[String]) -> Option<&'v Value> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// Sets the leaf at `path`, creating maps on the way.
pub fn set(value: &mut Value, path: &[String], leaf: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cursor = value;
    for key in parents {
        if !cursor.is_object() {
            *cursor = Value::Object(Map::new());
        }
        cursor = cursor
            .as_object_mut()
            .map(|m| m.entry(key.clone()).or_insert_with(|| json!({})))
            .expect("made an object above");
    }
    if !cursor.is_object() {
        *cursor = Value::Object(Map::new());
    }
    if let Some(map) = cursor.as_object_mut() {
        map.insert(last.clone(), leaf);
    }
}

/// Removes the leaf at `path`, and maps it leaves empty (below `metadata` and the root).
pub fn remove(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cursor = &mut *value;
    for key in parents {
        match cursor.get_mut(key) {
            Some(next) => cursor = next,
            None => return,
        }
    }
    if let Some(map) = cursor.as_object_mut() {
        map.remove(last);
    }
    if parents.len() > 1
        && at(value, parents).is_some_and(|v| v.as_object().is_some_and(Map::is_empty))
    {
        remove(value, parents);
    }
}

/// Whether two paths overlap (one is a prefix of the other).
pub fn overlaps(a: &[String], b: &[String]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// A `FieldsV1` map of `paths`.
pub fn to_fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = json!({});
    for path in paths {
        let keys: Vec<String> = path.iter().map(|k| format!("f:{k}")).collect();
        let mut cursor = &mut root;
        for key in keys {
            cursor = cursor
                .as_object_mut()
                .map(|m| m.entry(key).or_insert_with(|| json!({})))
                .expect("FieldsV1 nodes are objects");
        }
    }
    root
}

/// The leaf paths of a `FieldsV1` map.
pub fn from_fields_v1(fields: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    collect(fields, &mut Vec::new(), &mut out);
    out
}

fn collect(node: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    match node.as_object() {
        Some(map) if !map.is_empty() => {
            for (key, child) in map {
                let Some(name) = key.strip_prefix("f:") else {
                    continue;
                };
                path.push(name.to_owned());
                collect(child, path, out);
                path.pop();
            }
        }
        _ if !path.is_empty() => {
            out.insert(path.clone());
        }
        _ => {}
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub manager: String,
    pub operation: String,
    pub subresource: Option<String>,
    pub api_version: String,
    pub time: String,
    pub paths: BTreeSet<Path>,
}

impl Entry {
    /// Whether the entry is `manager`'s of `operation` on the main resource.
    pub fn is(&self, manager: &str, operation: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.is_none()
    }

    /// Whether it owns a path overlapping `path`.
    pub fn owns(&self, path: &[String]) -> bool {
        self.paths.iter().any(|p| overlaps(p, path))
    }

    /// Gives up every path overlapping `path`.
    pub fn release(&mut self, path: &[String]) {
        self.paths.retain(|p| !overlaps(p, path));
    }
}

/// The entries of `object`'s `metadata.managedFields`.
pub fn entries(object: &Value) -> Vec<Entry> {
    let Some(list) = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| Entry {
            manager: text(e, "manager"),
            operation: text(e, "operation"),
            subresource: e["subresource"].as_str().map(str::to_owned),
            api_version: text(e, "apiVersion"),
            time: text(e, "time"),
            paths: from_fields_v1(&e["fieldsV1"]),
        })
        .collect()
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_owned()
}

/// Writes `entries` (those owning anything) as `object`'s `metadata.managedFields`.
pub fn store(object: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.paths.is_empty())
        .map(|e| {
            let mut v = json!({"manager": e.manager, "operation": e.operation,
                "apiVersion": e.api_version, "time": e.time, "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(&e.paths)});
            if let Some(sub) = &e.subresource {
                v["subresource"] = sub.clone().into();
            }
            v
        })
        .collect();
    set(
        object,
        &["metadata".into(), "managedFields".into()],
        Value::Array(list),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_and_fields_v1_round_trip() {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"x": "1"}, "uid": "u"},
            "data": {"k": "v", "list": [1, 2]}, "status": {"s": 1}});
        let paths: BTreeSet<Path> = leaves(&object).into_keys().collect();
        let names: Vec<String> = paths.iter().map(|p| p.join(".")).collect();
        assert_eq!(names, ["data.k", "data.list", "metadata.labels.x"]);
        assert_eq!(from_fields_v1(&to_fields_v1(&paths)), paths);
    }

    #[test]
    fn removing_a_leaf_removes_maps_it_empties() {
        let mut object = json!({"metadata": {"annotations": {"a": "1"}}, "spec": {"x": {"y": 1}}});
        remove(&mut object, &["spec".into(), "x".into(), "y".into()]);
        remove(
            &mut object,
            &["metadata".into(), "annotations".into(), "a".into()],
        );
        assert_eq!(object, json!({"metadata": {}, "spec": {}}));
    }
}
