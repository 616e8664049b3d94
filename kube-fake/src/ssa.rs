//! Writes with field ownership: server-side apply (operation `Apply`) and every other write
//! (operation `Update`: create, replace, merge patch, an edit by hand).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::fields::{self, Entry, Path};

/// Who writes, and when (the entry's `time`).
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub time: &'a str,
}

/// A field another manager owns with another value.
#[derive(Debug)]
pub struct Conflict {
    pub manager: String,
    pub path: Path,
}

impl Conflict {
    /// As the API server words it: `conflict with "kubectl-edit": .data.k`.
    pub fn describe(conflicts: &[Conflict]) -> String {
        let list: Vec<String> = conflicts
            .iter()
            .map(|c| format!("conflict with \"{}\": .{}", c.manager, c.path.join(".")))
            .collect();
        format!(
            "Apply failed with {} conflict{}: {}",
            conflicts.len(),
            if conflicts.len() == 1 { "" } else { "s" },
            list.join(", ")
        )
    }
}

/// Server-side apply of `config` over `live` (or a new object): the applier owns exactly the
/// leaves it sends; leaves it stopped sending are released (and removed when nobody else owns
/// them); leaves others own with another value conflict unless `force` takes them over.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    writer: &Writer<'_>,
    force: bool,
) -> Result<Value, Vec<Conflict>> {
    let mut object = live.cloned().unwrap_or_else(|| serde_json::json!({}));
    let mut entries = fields::entries(&object);
    let sent = fields::leaves(config);
    let conflicts = take_over(&mut entries, &object, config, &sent, writer.manager, force);
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    let position = entries.iter().position(|e| e.is(writer.manager, "Apply"));
    let mine = position.map(|i| entries[i].clone());
    let sent_paths: BTreeSet<Path> = sent.keys().cloned().collect();
    for released in mine.iter().flat_map(|e| e.paths.difference(&sent_paths)) {
        let others = entries
            .iter()
            .enumerate()
            .filter(|(i, e)| Some(*i) != position && e.subresource.is_none());
        if !others.into_iter().any(|(_, e)| e.owns(released)) {
            fields::remove(&mut object, released);
        }
    }
    for key in ["apiVersion", "kind"] {
        object[key] = config[key].clone();
    }
    for key in ["name", "namespace"] {
        if let Some(v) = config["metadata"].get(key) {
            object["metadata"][key] = v.clone();
        }
    }
    let changed = sent
        .iter()
        .any(|(path, value)| fields::at(&object, path) != Some(value));
    for (path, value) in &sent {
        fields::set(&mut object, path, value.clone());
    }
    let time = match &mine {
        Some(e) if !changed && e.paths == sent_paths => e.time.clone(),
        _ => writer.time.to_owned(),
    };
    let entry = Entry {
        manager: writer.manager.to_owned(),
        operation: "Apply".into(),
        subresource: None,
        api_version: writer.api_version.to_owned(),
        time,
        paths: sent_paths,
    };
    // An existing entry keeps its place, as the API server keeps it.
    match position {
        Some(i) => entries[i] = entry,
        None => entries.push(entry),
    }
    fields::store(&mut object, &entries);
    Ok(object)
}

/// Checks the leaves `sent` (of `config`) against other managers' fields; with `force`, takes
/// conflicting ones over. Returns the conflicts left.
fn take_over(
    entries: &mut [Entry],
    live: &Value,
    config: &Value,
    sent: &BTreeMap<Path, Value>,
    manager: &str,
    force: bool,
) -> Vec<Conflict> {
    let mut conflicts = Vec::new();
    for entry in entries
        .iter_mut()
        .filter(|e| !e.is(manager, "Apply") && e.subresource.is_none())
    {
        let mut taken = Vec::new();
        for path in sent.keys() {
            for owned in entry.paths.iter().filter(|p| fields::overlaps(p, path)) {
                // Compare at the shorter of the two paths: a whole list they own, or a map we
                // now send as one value.
                let shorter = if owned.len() < path.len() {
                    owned
                } else {
                    path
                };
                if fields::at(live, shorter) != fields::at(config, shorter) {
                    taken.push(owned.clone());
                    conflicts.push(Conflict {
                        manager: entry.manager.clone(),
                        path: path.clone(),
                    });
                }
            }
        }
        if force {
            for path in taken {
                entry.release(&path);
            }
        }
    }
    if force { Vec::new() } else { conflicts }
}

/// Any write other than apply, by `writer`: `next` replaces `live`'s content; the leaves it
/// changed or added move to the writer's `Update` entry, those it removed leave every entry.
pub fn update(live: Option<&Value>, mut next: Value, writer: &Writer<'_>) -> Value {
    let before = live.map(fields::leaves).unwrap_or_default();
    let after = fields::leaves(&next);
    let changed: BTreeSet<Path> = after
        .iter()
        .filter(|(path, value)| before.get(*path) != Some(value))
        .map(|(path, _)| path.clone())
        .collect();
    let removed: Vec<&Path> = before.keys().filter(|p| !after.contains_key(*p)).collect();
    let mut entries = live.map(fields::entries).unwrap_or_default();
    for entry in entries.iter_mut().filter(|e| e.subresource.is_none()) {
        for path in changed.iter().chain(removed.iter().copied()) {
            entry.release(path);
        }
    }
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| e.is(writer.manager, "Update")) {
            Some(entry) => {
                entry.paths.extend(changed);
                entry.time = writer.time.to_owned();
            }
            None => entries.push(Entry {
                manager: writer.manager.to_owned(),
                operation: "Update".into(),
                subresource: None,
                api_version: writer.api_version.to_owned(),
                time: writer.time.to_owned(),
                paths: changed,
            }),
        }
    }
    fields::store(&mut next, &entries);
    next
}

/// A status write by a controller: `status` replaces the object's status, owned by `writer`
/// through the `status` subresource.
pub fn write_status(object: &mut Value, status: Value, writer: &Writer<'_>) {
    let paths: BTreeSet<Path> = fields::leaves(&serde_json::json!({"s": status.clone()}))
        .into_keys()
        .map(|mut p| {
            p[0] = "status".into();
            p
        })
        .collect();
    object["status"] = status;
    let mut entries = fields::entries(object);
    entries
        .retain(|e| !(e.manager == writer.manager && e.subresource.as_deref() == Some("status")));
    entries.push(Entry {
        manager: writer.manager.to_owned(),
        operation: "Update".into(),
        subresource: Some("status".into()),
        api_version: writer.api_version.to_owned(),
        time: writer.time.to_owned(),
        paths,
    });
    fields::store(object, &entries);
}

/// RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    let map = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "v1",
            time: "2026-01-01T00:00:00Z",
        }
    }

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": data})
    }

    #[test]
    fn an_edit_by_hand_takes_the_field_and_force_takes_it_back() {
        let applied = apply(
            None,
            &cm(json!({"k": "1", "j": "1"})),
            &writer("cairn"),
            false,
        )
        .unwrap();
        let mut edited = applied.clone();
        edited["data"]["k"] = json!("2");
        let edited = update(Some(&applied), edited, &writer("kubectl-edit"));
        let owners: Vec<(String, usize)> = fields::entries(&edited)
            .into_iter()
            .map(|e| (e.manager, e.paths.len()))
            .collect();
        assert_eq!(owners, [("cairn".into(), 1), ("kubectl-edit".into(), 1)]);
        let err = apply(
            Some(&edited),
            &cm(json!({"k": "1", "j": "1"})),
            &writer("cairn"),
            false,
        )
        .unwrap_err();
        assert!(Conflict::describe(&err).contains("kubectl-edit"), "{err:?}");
        let forced = apply(
            Some(&edited),
            &cm(json!({"k": "1", "j": "1"})),
            &writer("cairn"),
            true,
        )
        .unwrap();
        assert_eq!(forced["data"]["k"], "1");
        assert_eq!(fields::entries(&forced).len(), 1);
    }

    #[test]
    fn a_released_field_stays_only_while_someone_else_owns_it() {
        let applied = apply(
            None,
            &cm(json!({"k": "1", "r": "3"})),
            &writer("cairn"),
            false,
        )
        .unwrap();
        // Released while cairn alone owns it: removed.
        let released = apply(
            Some(&applied),
            &cm(json!({"k": "1"})),
            &writer("cairn"),
            false,
        )
        .unwrap();
        assert!(released["data"].get("r").is_none());
        // Taken over by another manager first: kept at their value.
        let mut scaled = applied.clone();
        scaled["data"]["r"] = json!("5");
        let scaled = update(Some(&applied), scaled, &writer("hpa"));
        let released = apply(
            Some(&scaled),
            &cm(json!({"k": "1"})),
            &writer("cairn"),
            false,
        )
        .unwrap();
        assert_eq!(released["data"]["r"], "5");
        // An unchanged apply changes nothing, time included.
        let again = apply(
            Some(&released),
            &cm(json!({"k": "1"})),
            &writer("cairn"),
            false,
        )
        .unwrap();
        assert_eq!(again, released);
    }
}
