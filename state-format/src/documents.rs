//! Manifest streams: YAML (or JSON) text into documents, with list documents read as `kubectl`
//! reads them.

use serde::Deserialize;
use serde_json::Value;

use crate::canonical::yaml_to_json;
use crate::error::{Error, Result};
use crate::resource::{Origin, Resource};

/// One object of a manifest stream (a document, or an item of a list document) and where it was.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// File, document and (for a list's item) item.
    pub origin: Origin,
    /// The object, converted to JSON.
    pub object: Value,
}

/// Parses a YAML stream (documents separated by `---`; JSON is accepted too, being YAML) into
/// objects. Empty documents are skipped. A list document is replaced by its items, as `kubectl`
/// does: any document whose kind ends in `List` and that has an `items` sequence, whatever its
/// apiVersion (`v1 List`, `ConfigMapList`, `rbac.authorization.k8s.io/v1 RoleList`, a custom
/// resource's list). `source` names the input in errors.
pub fn parse_objects(source: &str, text: &str) -> Result<Vec<Document>> {
    let mut objects = Vec::new();
    for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let origin = Origin::new(source, i + 1);
        let yaml = serde_yaml_ng::Value::deserialize(document).map_err(|e| Error::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let mut object = yaml_to_json(yaml, &origin.to_string())?;
        if object.is_null() {
            continue;
        }
        let Some(items) = list_items(&mut object, &origin)? else {
            objects.push(Document { origin, object });
            continue;
        };
        for (j, mut item) in items.into_iter().enumerate() {
            let origin = origin.item(j + 1);
            if list_items(&mut item, &origin)?.is_some() {
                return Err(Error::InvalidField {
                    origin: origin.to_string(),
                    field: "items".to_owned(),
                    reason: "a list inside a list is not supported: list its items directly"
                        .to_owned(),
                });
            }
            objects.push(Document {
                origin,
                object: item,
            });
        }
    }
    Ok(objects)
}

/// Parses a YAML stream into resources: [`parse_objects`], then [`Resource::from_value`] on each
/// object. The first invalid object ends the parse.
pub fn parse_documents(source: &str, text: &str) -> Result<Vec<Resource>> {
    parse_objects(source, text)?
        .into_iter()
        .map(|d| Resource::from_value(d.object, d.origin))
        .collect()
}

/// The items of a list document (taken out of it), or `None` for any other object. A kind that
/// merely ends in `List` without `items` is an ordinary object; `kind: List` must have them.
fn list_items(object: &mut Value, origin: &Origin) -> Result<Option<Vec<Value>>> {
    let Some(kind) = object.get("kind").and_then(Value::as_str) else {
        return Ok(None);
    };
    if !kind.ends_with("List") {
        return Ok(None);
    }
    let kind = kind.to_owned();
    let exactly_list = kind == "List";
    match object.get_mut("items") {
        Some(Value::Array(items)) => Ok(Some(std::mem::take(items))),
        None | Some(Value::Null) if !exactly_list => Ok(None),
        _ => Err(Error::InvalidField {
            origin: origin.to_string(),
            field: "items".to_owned(),
            reason: format!("a {kind} must have an items sequence"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(source: &str, text: &str) -> Vec<String> {
        parse_documents(source, text)
            .unwrap()
            .into_iter()
            .map(|r| r.id.to_string())
            .collect()
    }

    #[test]
    fn empty_documents_are_skipped_and_lists_expanded() {
        let text = "---\n# only a comment\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n";
        assert_eq!(names("l.yaml", text), ["ConfigMap a", "ConfigMap b"]);
    }

    #[test]
    fn typed_lists_of_any_group_are_expanded() {
        let text = "apiVersion: v1\nkind: ConfigMapList\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a, namespace: x}}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBindingList\nmetadata: {resourceVersion: ''}\nitems:\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: RoleBinding\n  metadata: {name: rb, namespace: x}\n---\napiVersion: example.com/v1\nkind: WidgetList\nitems: []\n";
        assert_eq!(
            names("l.yaml", text),
            [
                "ConfigMap x/a",
                "RoleBinding.rbac.authorization.k8s.io x/rb"
            ]
        );
    }

    #[test]
    fn an_item_missing_a_field_is_named_by_file_document_and_item() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: first}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleList\nitems:\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {name: a}}\n- {apiVersion: rbac.authorization.k8s.io/v1, kind: Role, metadata: {}}\n";
        let err = parse_documents("r.yaml", text).unwrap_err().to_string();
        assert_eq!(
            err,
            "r.yaml, document 2, item 2: field metadata.name: is missing"
        );
    }

    #[test]
    fn a_kind_ending_in_list_without_items_is_an_ordinary_object() {
        let text = "apiVersion: example.com/v1\nkind: AllowList\nmetadata: {name: a}\nspec: {}\n";
        assert_eq!(names("a.yaml", text), ["AllowList.example.com a"]);
        let bad = "apiVersion: v1\nkind: List\nmetadata: {}\n";
        let err = parse_documents("b.yaml", bad).unwrap_err().to_string();
        assert!(err.contains("b.yaml, document 1: field items"), "{err}");
        let bad = "apiVersion: v1\nkind: ConfigMapList\nitems: {a: 1}\n";
        assert!(parse_documents("c.yaml", bad).is_err());
    }

    #[test]
    fn items_must_be_mappings_and_lists_do_not_nest() {
        let text = "apiVersion: v1\nkind: List\nitems: [3]\n";
        let err = parse_documents("n.yaml", text).unwrap_err().to_string();
        assert!(err.starts_with("n.yaml, document 1, item 1:"), "{err}");
        let nested =
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: List, items: []}\n";
        let err = parse_documents("n.yaml", nested).unwrap_err().to_string();
        assert!(
            err.contains("item 1") && err.contains("list inside a list"),
            "{err}"
        );
    }
}
