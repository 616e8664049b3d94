//! Canonical bytes: JSON with sorted keys and no insignificant whitespace.
//!
//! Every digest in cairn is the sha256 of canonical bytes, so this module decides identity. Keys are
//! sorted by their UTF-8 bytes here, explicitly, rather than relying on `serde_json`'s map type,
//! whose order changes if any crate in a build enables its `preserve_order` feature. Strings and
//! numbers are written by `serde_json`, which escapes control characters; canonical bytes therefore
//! never contain a raw newline, which lets delta packs frame them one per line.

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, NoJsonForm, Result};

/// Writes `value` in canonical form.
pub fn to_canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// Serializes any wire type to canonical bytes (through a [`Value`], so key order is canonical).
pub fn canonical_bytes_of<T: Serialize>(item: &T) -> Vec<u8> {
    to_canonical_bytes(&json_of(item))
}

/// Any wire type as a JSON value.
pub(crate) fn json_of<T: Serialize>(item: &T) -> Value {
    // Invariant: the wire types are plain structs of strings, numbers, maps with string keys and
    // sequences, which `serde_json` always represents.
    serde_json::to_value(item).expect("wire types always serialize to JSON")
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_scalar(out, key);
                out.push(b':');
                write_value(out, &map[key.as_str()]);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        scalar => write_scalar(out, scalar),
    }
}

pub(crate) fn write_scalar<T: Serialize + ?Sized>(out: &mut Vec<u8>, scalar: &T) {
    // Invariant: writing a string, number, bool or null into a Vec cannot fail.
    serde_json::to_writer(out, scalar).expect("scalars always serialize");
}

/// Converts one parsed YAML document to JSON, the way Kubernetes' YAML decoder does: merge keys
/// (`<<`) are applied, numeric and boolean mapping keys become strings. Tags, non-finite floats and
/// complex keys have no JSON form and are refused; `origin` names the document in the error.
pub fn yaml_to_json(mut doc: serde_yaml_ng::Value, origin: &str) -> Result<Value> {
    doc.apply_merge().map_err(|e| Error::Parse {
        origin: origin.to_owned(),
        message: e.to_string(),
    })?;
    let mut path = String::new();
    convert(doc, &mut path).map_err(|reason| Error::NoJsonForm {
        origin: origin.to_owned(),
        reason,
    })
}

fn convert(
    value: serde_yaml_ng::Value,
    path: &mut String,
) -> std::result::Result<Value, NoJsonForm> {
    use serde_yaml_ng::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => number(&n).ok_or_else(|| NoJsonForm::Number {
            path: path.clone(),
            number: n.to_string(),
        })?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                out.push(convert(item, path)?);
                path.truncate(len);
            }
            Value::Array(out)
        }
        Y::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (key, item) in map {
                let key = match key {
                    Y::String(s) => s,
                    Y::Bool(b) => b.to_string(),
                    Y::Number(n) => n.to_string(),
                    other => {
                        return Err(NoJsonForm::Key {
                            path: path.clone(),
                            key: format!("{other:?}"),
                        });
                    }
                };
                let len = path.len();
                path.push('.');
                path.push_str(&key);
                let converted = convert(item, path)?;
                path.truncate(len);
                out.insert(key, converted);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            return Err(NoJsonForm::Tag {
                path: path.clone(),
                tag: tagged.tag.to_string(),
            });
        }
    })
}

fn number(n: &serde_yaml_ng::Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        Some(Value::from(i))
    } else if let Some(u) = n.as_u64() {
        Some(Value::from(u))
    } else {
        n.as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let v = json!({"b": [1, {"z": null, "a": true}], "a": "x\ny"});
        assert_eq!(
            to_canonical_bytes(&v),
            br#"{"a":"x\ny","b":[1,{"a":true,"z":null}]}"#
        );
    }

    #[test]
    fn yaml_merge_keys_are_applied() {
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str("base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n").unwrap();
        let json = yaml_to_json(doc, "t").unwrap();
        assert_eq!(json["derived"], json!({"x": 1, "y": 2}));
    }

    #[test]
    fn yaml_tags_are_refused_with_their_path() {
        let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str("a:\n  b: !Ref x\n").unwrap();
        let err = yaml_to_json(doc, "f.yaml, document 1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("f.yaml, document 1") && err.contains("a.b"),
            "{err}"
        );
    }
}
