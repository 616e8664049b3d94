//! Drift policy: what the agent does when a live object no longer matches what it applied.
//!
//! - `cairn.dev/drift: report` on an object (or `--drift report` for a channel) finds and reports
//!   its drift but never corrects it; `correct` (the default) re-applies it.
//! - `cairn.dev/ignore-fields` names fields by JSON pointer (RFC 6901), comma- or
//!   newline-separated or as a JSON array: `/spec/replicas` for a Deployment scaled by an HPA.
//!   Those fields are neither reported nor corrected, and cairn stops sending them once another
//!   manager owns them, so server-side apply leaves them (and their ownership) to that manager.

use std::fmt;

use serde_json::Value;

use crate::config::DriftMode;
use crate::error::PolicyError;

/// Annotation naming fields cairn leaves alone.
pub const IGNORE_FIELDS: &str = "cairn.dev/ignore-fields";
/// Annotation choosing the drift mode of one object.
pub const DRIFT: &str = "cairn.dev/drift";

/// A JSON pointer (RFC 6901), as its unescaped reference tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer(pub Vec<String>);

impl Pointer {
    /// Parses `/spec/replicas` (`~1` is `/`, `~0` is `~`).
    pub fn parse(text: &str) -> Result<Pointer, PolicyError> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(PolicyError::NotAPointer(text.to_owned()));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            if raw.contains('~') && raw.replace("~0", "").replace("~1", "").contains('~') {
                return Err(PolicyError::BadEscape(text.to_owned()));
            }
            tokens.push(raw.replace("~1", "/").replace("~0", "~"));
        }
        Ok(Pointer(tokens))
    }

    fn index(token: &str) -> Option<usize> {
        (token == "0" || !token.starts_with('0'))
            .then(|| token.parse().ok())
            .flatten()
    }

    /// The value it points at.
    pub fn get<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        self.0.iter().try_fold(value, |v, token| match v {
            Value::Object(map) => map.get(token),
            Value::Array(list) => list.get(Pointer::index(token)?),
            _ => None,
        })
    }

    fn parent_mut<'v>(&self, value: &'v mut Value) -> Option<(&'v mut Value, &str)> {
        let (last, parents) = self.0.split_last()?;
        let parent = parents.iter().try_fold(value, |v, token| match v {
            Value::Object(map) => map.get_mut(token),
            Value::Array(list) => list.get_mut(Pointer::index(token)?),
            _ => None,
        })?;
        Some((parent, last))
    }

    /// Removes what it points at (nothing when absent).
    pub fn remove(&self, value: &mut Value) {
        if let Some((parent, last)) = self.parent_mut(value) {
            match parent {
                Value::Object(map) => {
                    map.remove(last);
                }
                Value::Array(list) => {
                    if let Some(i) = Pointer::index(last).filter(|i| *i < list.len()) {
                        list.remove(i);
                    }
                }
                _ => {}
            }
        }
    }

    /// Replaces what it points at with `leaf`, when its parent exists.
    pub fn set(&self, value: &mut Value, leaf: Value) {
        if let Some((parent, last)) = self.parent_mut(value) {
            match parent {
                Value::Object(map) => {
                    map.insert(last.to_owned(), leaf);
                }
                Value::Array(list) => {
                    if let Some(slot) = Pointer::index(last).and_then(|i| list.get_mut(i)) {
                        *slot = leaf;
                    }
                }
                _ => {}
            }
        }
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for token in &self.0 {
            write!(f, "/{}", token.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

/// One object's drift policy, from its annotations and the channel's default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectPolicy {
    /// What to do about its drift.
    pub drift: DriftMode,
    /// Fields left to other managers.
    pub ignore: Vec<Pointer>,
}

impl ObjectPolicy {
    /// The policy of `object` (a JSON object as published). An annotation that does not parse
    /// is an error naming it.
    pub fn of(object: &Value, default: DriftMode) -> Result<ObjectPolicy, PolicyError> {
        let annotations = &object["metadata"]["annotations"];
        let drift = match annotations.get(DRIFT).and_then(Value::as_str) {
            Some(text) => DriftMode::parse(text).map_err(in_annotation(DRIFT))?,
            None => default,
        };
        let ignore = match annotations.get(IGNORE_FIELDS).and_then(Value::as_str) {
            Some(text) => pointers(text).map_err(in_annotation(IGNORE_FIELDS))?,
            None => Vec::new(),
        };
        Ok(ObjectPolicy { drift, ignore })
    }
}

/// An error about the value of `annotation`.
fn in_annotation(annotation: &'static str) -> impl FnOnce(PolicyError) -> PolicyError {
    move |source| PolicyError::Annotation {
        annotation,
        source: Box::new(source),
    }
}

/// The pointers of an `ignore-fields` annotation: a JSON array, or a comma/newline list.
pub fn pointers(text: &str) -> Result<Vec<Pointer>, PolicyError> {
    let items: Vec<String> = if text.trim_start().starts_with('[') {
        serde_json::from_str(text).map_err(PolicyError::NotAList)?
    } else {
        text.split([',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    };
    items.iter().map(|p| Pointer::parse(p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pointers_read_remove_and_set() {
        let mut object = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "a", "image": "x"}]}}},
            "metadata": {"annotations": {"example.com/a": "1"}}});
        let replicas = Pointer::parse("/spec/replicas").unwrap();
        let image = Pointer::parse("/spec/template/spec/containers/0/image").unwrap();
        let escaped = Pointer::parse("/metadata/annotations/example.com~1a").unwrap();
        assert_eq!(replicas.get(&object), Some(&json!(3)));
        assert_eq!(image.get(&object), Some(&json!("x")));
        assert_eq!(escaped.get(&object), Some(&json!("1")));
        assert_eq!(escaped.to_string(), "/metadata/annotations/example.com~1a");
        replicas.remove(&mut object);
        image.set(&mut object, json!("y"));
        assert_eq!(object["spec"].get("replicas"), None);
        assert_eq!(image.get(&object), Some(&json!("y")));
        assert!(Pointer::parse("spec").is_err());
        assert!(Pointer::parse("/a~2").is_err());
    }

    #[test]
    fn policies_from_annotations_and_flags() {
        let object = json!({"metadata": {"annotations": {
            IGNORE_FIELDS: "/spec/replicas, /spec/template/metadata/annotations",
            DRIFT: "report"}}});
        let policy = ObjectPolicy::of(&object, DriftMode::Correct).unwrap();
        assert_eq!(policy.drift, DriftMode::Report);
        assert_eq!(policy.ignore.len(), 2);
        let array = json!({"metadata": {"annotations": {IGNORE_FIELDS: "[\"/data/a,b\"]"}}});
        assert_eq!(
            ObjectPolicy::of(&array, DriftMode::Report).unwrap().ignore[0].0,
            ["data", "a,b"]
        );
        let bad = json!({"metadata": {"annotations": {DRIFT: "ignore"}}});
        assert!(
            ObjectPolicy::of(&bad, DriftMode::Correct)
                .unwrap_err()
                .to_string()
                .contains(DRIFT)
        );
    }
}
