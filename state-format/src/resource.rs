//! Resources: manifest documents turned into an identity and canonical bytes.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::to_canonical_bytes;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::selector::ClusterSelector;
use crate::{MAX_BLOB_BYTES, index::Entry};

/// Annotation that limits a resource to clusters whose labels match a selector.
pub const SELECTOR_ANNOTATION: &str = "cairn.dev/cluster-selector";
/// Annotation that orders a resource into a wave (lower waves are applied first).
pub const WAVE_ANNOTATION: &str = "cairn.dev/wave";

/// The identity of a resource: group, kind, namespace, name. The API version is not part of it, so
/// moving a Deployment from `apps/v1beta2` to `apps/v1` is an update, not a delete and a create.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceId {
    /// API group; empty for the core group (`v1`).
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace; empty for cluster-scoped resources or where the manifest leaves it to the target.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
}

impl ResourceId {
    /// The bytes hashed to place this identity in the index: the four fields joined by NUL.
    pub fn index_key(&self) -> Digest {
        let key = [&self.group, &self.kind, &self.namespace, &self.name];
        Digest::of(key.map(String::as_str).join("\0").as_bytes())
    }
}

impl fmt::Display for ResourceId {
    /// `Kind.group namespace/name`, as `kubectl` users read it (`ConfigMap web/settings`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        if self.namespace.is_empty() {
            write!(f, " {}", self.name)
        } else {
            write!(f, " {}/{}", self.namespace, self.name)
        }
    }
}

/// Where a document came from, for error messages: a file (or `<stdin>`), a 1-based document
/// number within it, and for an item of a list document its 1-based position in `items`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// File path or `<stdin>`.
    pub source: String,
    /// 1-based position among the file's documents.
    pub document: usize,
    /// 1-based position in the document's `items`, when the document is a list.
    pub item: Option<usize>,
}

impl Origin {
    /// Document `document` (1-based) of `source`.
    pub fn new(source: &str, document: usize) -> Origin {
        Origin {
            source: source.to_owned(),
            document,
            item: None,
        }
    }

    /// Item `item` (1-based) of this list document.
    pub fn item(&self, item: usize) -> Origin {
        Origin {
            item: Some(item),
            ..self.clone()
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, document {}", self.source, self.document)?;
        match self.item {
            Some(item) => write!(f, ", item {item}"),
            None => Ok(()),
        }
    }
}

/// One manifest, parsed, validated and canonicalized.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// Its identity.
    pub id: ResourceId,
    /// `apiVersion` as written.
    pub api_version: String,
    /// The whole object as canonical JSON.
    pub canonical: Vec<u8>,
    /// sha256 of `canonical`.
    pub digest: Digest,
    /// From the `cairn.dev/cluster-selector` annotation.
    pub selector: Option<ClusterSelector>,
    /// From the `cairn.dev/wave` annotation.
    pub wave: Option<i32>,
    /// Where it was read.
    pub origin: Origin,
    /// The parsed object (kept so callers can run policy checks without re-parsing).
    pub object: Value,
}

impl Resource {
    /// The index entry describing this resource.
    pub fn entry(&self) -> Entry {
        Entry {
            id: self.id.clone(),
            blob: self.digest,
            size: self.canonical.len() as u64,
            selector: self.selector.clone(),
            wave: self.wave,
        }
    }

    /// Validates one parsed document and computes its identity and canonical bytes.
    pub fn from_value(object: Value, origin: Origin) -> Result<Resource> {
        let invalid = |Invalid { field, reason }| Error::InvalidField {
            origin: origin.to_string(),
            field,
            reason,
        };
        let (id, api_version) = identity(&object).map_err(invalid)?;
        let selector = selector_annotation(&object).map_err(invalid)?;
        let wave = wave_annotation(&object).map_err(invalid)?;
        let canonical = to_canonical_bytes(&object);
        if canonical.len() > MAX_BLOB_BYTES {
            return Err(Error::TooLarge {
                what: origin.to_string(),
                size: canonical.len() as u64,
                limit: MAX_BLOB_BYTES as u64,
            });
        }
        Ok(Resource {
            id,
            api_version,
            digest: Digest::of(&canonical),
            canonical,
            selector,
            wave,
            origin,
            object,
        })
    }
}

/// A field that fails, and why.
struct Invalid {
    field: String,
    reason: String,
}

impl Invalid {
    fn new(field: &str, reason: impl Into<String>) -> Invalid {
        Invalid {
            field: field.to_owned(),
            reason: reason.into(),
        }
    }
}

/// The identity and `apiVersion` of a document.
fn identity(object: &Value) -> Result<(ResourceId, String), Invalid> {
    if !object.is_object() {
        return Err(Invalid::new("(document)", "a resource must be a mapping"));
    }
    let api_version =
        required_str(object, &["apiVersion"]).map_err(|r| Invalid::new("apiVersion", r))?;
    let kind = required_str(object, &["kind"]).map_err(|r| Invalid::new("kind", r))?;
    let name = required_str(object, &["metadata", "name"]).map_err(|reason| {
        let generated = object
            .pointer("/metadata/generateName")
            .is_some_and(|g| g.as_str().is_some_and(|g| !g.is_empty()));
        match generated {
            true => Invalid::new("metadata.name", GENERATE_NAME_REFUSED),
            false => Invalid::new("metadata.name", reason),
        }
    })?;
    let namespace = match object.pointer("/metadata/namespace") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(ns)) => ns.clone(),
        Some(_) => return Err(Invalid::new("metadata.namespace", "must be a string")),
    };
    let group = match api_version.split_once('/') {
        Some((group, _version)) => group.to_owned(),
        None => String::new(),
    };
    let id = ResourceId {
        group,
        kind: kind.to_owned(),
        namespace,
        name: name.to_owned(),
    };
    Ok((id, api_version.to_owned()))
}

/// Why `generateName` without a name is refused.
const GENERATE_NAME_REFUSED: &str = "is missing, and metadata.generateName cannot stand in for it: \
    the API server would make up a new name on every create, but cairn updates and prunes objects \
    by name, so each needs a stable one. Set metadata.name";

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a Value> {
    object
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(key))
}

fn selector_annotation(object: &Value) -> Result<Option<ClusterSelector>, Invalid> {
    let field = format!("metadata.annotations.{SELECTOR_ANNOTATION}");
    match annotation(object, SELECTOR_ANNOTATION) {
        None => Ok(None),
        Some(Value::String(text)) => text
            .parse::<ClusterSelector>()
            .map(Some)
            .map_err(|e| Invalid::new(&field, e.to_string())),
        Some(_) => Err(Invalid::new(&field, "must be a string")),
    }
}

fn wave_annotation(object: &Value) -> Result<Option<i32>, Invalid> {
    let field = format!("metadata.annotations.{WAVE_ANNOTATION}");
    match annotation(object, WAVE_ANNOTATION) {
        None => Ok(None),
        Some(Value::String(text)) => text
            .trim()
            .parse::<i32>()
            .map(Some)
            .map_err(|_| Invalid::new(&field, "must be a whole number such as \"-1\" or \"2\"")),
        Some(_) => Err(Invalid::new(&field, "must be a string such as \"2\"")),
    }
}

fn required_str<'a>(
    object: &'a Value,
    path: &[&str],
) -> std::result::Result<&'a str, &'static str> {
    let mut at = object;
    for part in path {
        at = at.get(part).ok_or("is missing")?;
    }
    match at.as_str() {
        Some("") => Err("must not be empty"),
        Some(s) => Ok(s),
        None => Err("must be a string"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::parse_documents;

    #[test]
    fn identity_comes_from_api_version_kind_and_metadata() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n";
        let rs = parse_documents("app.yaml", text).unwrap();
        assert_eq!(rs[0].id.to_string(), "Deployment.apps shop/web");
        assert_eq!(rs[1].id.to_string(), "Namespace shop");
        assert_eq!(rs[1].origin.to_string(), "app.yaml, document 2");
    }

    #[test]
    fn missing_fields_name_file_document_and_field() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n";
        let err = parse_documents("cm.yaml", text).unwrap_err().to_string();
        assert_eq!(err, "cm.yaml, document 2: field metadata.name: is missing");
    }

    #[test]
    fn generate_name_without_a_name_is_refused_with_a_reason() {
        let text = "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-}\n";
        let err = parse_documents("j.yaml", text).unwrap_err().to_string();
        assert!(
            err.starts_with(
                "j.yaml, document 1: field metadata.name: is missing, and metadata.generateName"
            ),
            "{err}"
        );
        assert!(err.contains("stable"), "{err}");
    }

    #[test]
    fn duplicate_yaml_keys_are_refused() {
        let err = parse_documents(
            "d.yaml",
            "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: a}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("d.yaml, document 1"), "{err}");
        assert!(err.contains("duplicate"), "{err}");
    }

    #[test]
    fn selector_and_wave_annotations_are_read_and_checked() {
        let ok = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations: {cairn.dev/cluster-selector: 'env=prod', cairn.dev/wave: '-2'}\n";
        let r = &parse_documents("a.yaml", ok).unwrap()[0];
        assert_eq!(r.wave, Some(-2));
        assert!(r.selector.is_some());
        let bad = ok.replace("'-2'", "'soon'");
        let err = parse_documents("a.yaml", &bad).unwrap_err().to_string();
        assert!(err.contains("metadata.annotations.cairn.dev/wave"), "{err}");
    }

    #[test]
    fn oversize_documents_are_refused() {
        let big = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: a}}\ndata: {{x: '{}'}}\n",
            "a".repeat(MAX_BLOB_BYTES)
        );
        let err = parse_documents("big.yaml", &big).unwrap_err();
        assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    }
}
