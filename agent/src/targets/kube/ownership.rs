//! How cairn marks what it applied, and how it recognises what it owns.
//!
//! Every applied object carries
//! - label `app.kubernetes.io/managed-by: cairn`,
//! - label `cairn.dev/channel: <channel>`,
//! - label `applyset.kubernetes.io/part-of: <applyset id>`, the ApplySet (KEP-3659) whose parent
//!   is the channel's state ConfigMap, so `kubectl get -l applyset.kubernetes.io/part-of=…`
//!   lists a channel's objects,
//! - annotation `cairn.dev/generation: <n>`, the generation that last wrote the object.
//!
//! An object is owned by a channel when both labels say so; prune and apply check this on the
//! live object, so nothing another tool (or another channel) created is ever changed or deleted.

use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

/// Label naming the tool that manages an object.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Its value on cairn's objects.
pub const CAIRN: &str = "cairn";
/// Label naming the owning channel.
pub const CHANNEL: &str = "cairn.dev/channel";
/// Annotation naming the generation that last wrote an object.
pub const GENERATION: &str = "cairn.dev/generation";
/// ApplySet membership label.
pub const PART_OF: &str = "applyset.kubernetes.io/part-of";
/// ApplySet id label of the parent.
pub const APPLYSET_ID: &str = "applyset.kubernetes.io/id";
/// ApplySet tooling annotation of the parent.
pub const APPLYSET_TOOLING: &str = "applyset.kubernetes.io/tooling";
/// ApplySet group-kinds annotation of the parent.
pub const APPLYSET_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";
/// ApplySet additional-namespaces annotation of the parent.
pub const APPLYSET_NAMESPACES: &str = "applyset.kubernetes.io/additional-namespaces";

/// The ApplySet id of a parent ConfigMap, as KEP-3659 computes it:
/// `applyset-<base64url(sha256(<name>.<namespace>.<kind>.<group>))>-v1`.
pub fn applyset_id(name: &str, namespace: &str) -> String {
    let digest = Sha256::digest(format!("{name}.{namespace}.ConfigMap."));
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    format!("applyset-{encoded}-v1")
}

/// The labels and annotations cairn puts on one object.
#[derive(Clone, Debug)]
pub struct Marks<'a> {
    /// The channel.
    pub channel: &'a str,
    /// The generation writing it.
    pub generation: u64,
    /// The channel's ApplySet id.
    pub applyset: &'a str,
}

fn object_at<'v>(value: &'v mut Value, key: &str) -> Option<&'v mut Map<String, Value>> {
    let map = value.as_object_mut()?;
    let slot = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

impl Marks<'_> {
    /// Adds the marks to `object` (a JSON object with `metadata`).
    pub fn stamp(&self, object: &mut Value) {
        let Some(metadata) = object_at(object, "metadata") else {
            return;
        };
        let mut metadata = Value::Object(std::mem::take(metadata));
        if let Some(labels) = object_at(&mut metadata, "labels") {
            labels.insert(MANAGED_BY.into(), CAIRN.into());
            labels.insert(CHANNEL.into(), self.channel.into());
            labels.insert(PART_OF.into(), self.applyset.into());
        }
        if let Some(annotations) = object_at(&mut metadata, "annotations") {
            annotations.insert(GENERATION.into(), self.generation.to_string().into());
        }
        object["metadata"] = metadata;
    }
}

/// Label of the channels' state ConfigMaps (the ApplySet parents), which carry the channel's
/// labels too but are not its objects.
pub const STATE: &str = "cairn.dev/state";

/// The label selector of the objects `channel` owns (its state ConfigMap aside).
pub fn selector(channel: &str) -> String {
    format!("{MANAGED_BY}={CAIRN},{CHANNEL}={channel},!{STATE}")
}

/// Who owns a live object, as its labels say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// This channel.
    Channel,
    /// Another cairn channel.
    OtherChannel(String),
    /// Not cairn.
    Foreign,
}

/// Reads the ownership labels of `labels` for `channel`.
pub fn owner(labels: Option<&std::collections::BTreeMap<String, String>>, channel: &str) -> Owner {
    let Some(labels) = labels else {
        return Owner::Foreign;
    };
    if labels.get(MANAGED_BY).map(String::as_str) != Some(CAIRN) {
        return Owner::Foreign;
    }
    match labels.get(CHANNEL) {
        Some(c) if c == channel => Owner::Channel,
        Some(c) => Owner::OtherChannel(c.clone()),
        None => Owner::Foreign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applyset_ids_follow_the_kep() {
        // The KEP's own example: a Secret parent would hash "<name>.<ns>.Secret."; ours is a
        // ConfigMap. The shape is fixed: prefix, 43 base64url characters, suffix.
        let id = applyset_id("cairn-state-prod", "cairn-system");
        assert!(id.starts_with("applyset-") && id.ends_with("-v1"), "{id}");
        assert_eq!(id.len(), "applyset-".len() + 43 + "-v1".len());
        assert_ne!(id, applyset_id("cairn-state-prod", "other"));
    }

    #[test]
    fn marks_are_added_without_losing_labels() {
        let mut object = serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "a", "labels": {"app": "shop"}}
        });
        Marks {
            channel: "prod",
            generation: 7,
            applyset: "applyset-x-v1",
        }
        .stamp(&mut object);
        let labels = &object["metadata"]["labels"];
        assert_eq!(labels["app"], "shop");
        assert_eq!(labels[CHANNEL], "prod");
        assert_eq!(labels[MANAGED_BY], "cairn");
        assert_eq!(object["metadata"]["annotations"][GENERATION], "7");
        let parsed: std::collections::BTreeMap<String, String> =
            serde_json::from_value(labels.clone()).unwrap();
        assert_eq!(owner(Some(&parsed), "prod"), Owner::Channel);
        assert_eq!(
            owner(Some(&parsed), "dev"),
            Owner::OtherChannel("prod".into())
        );
        assert_eq!(owner(None, "prod"), Owner::Foreign);
    }
}
