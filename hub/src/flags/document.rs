//! Feature flags in the flagd flag-definition format (what OpenFeature's flagd provider reads),
//! kept in one ConfigMap under the key `flags.flagd.json`, with lifecycle metadata (owner,
//! expiry, last change) so stale flags can be found and removed.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// The ConfigMap key holding the flag document.
pub const DATA_KEY: &str = "flags.flagd.json";
const SCHEMA: &str = "https://flagd.dev/schema/v0/flags.json";

/// The kinds of value a flag can hold.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagType {
    /// `true` or `false` (variants `on` and `off`).
    Boolean,
    /// Text.
    String,
    /// A number.
    Number,
    /// A JSON object.
    Object,
}

impl FlagType {
    fn of(value: &Value) -> Option<FlagType> {
        match value {
            Value::Bool(_) => Some(FlagType::Boolean),
            Value::String(_) => Some(FlagType::String),
            Value::Number(_) => Some(FlagType::Number),
            Value::Object(_) => Some(FlagType::Object),
            _ => None,
        }
    }

    /// Reads `text` as a value of this type.
    pub fn parse(self, flag: &str, text: &str) -> Result<Value> {
        let bad = |what: &str| {
            Error::Input(format!(
                "flag {flag} is {what}; {text:?} is not a valid value for it"
            ))
        };
        match self {
            FlagType::Boolean => match text {
                "true" | "on" => Ok(Value::Bool(true)),
                "false" | "off" => Ok(Value::Bool(false)),
                _ => Err(bad("a boolean (true or false)")),
            },
            FlagType::Number => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(|n| text.parse::<i64>().map_or(Value::Number(n), Value::from))
                .ok_or_else(|| bad("a number")),
            FlagType::Object => match serde_json::from_str::<Value>(text) {
                Ok(v @ Value::Object(_)) => Ok(v),
                _ => Err(bad("a JSON object")),
            },
            FlagType::String => Ok(Value::String(text.to_owned())),
        }
    }

    /// The type a value written on the command line most likely has.
    pub fn infer(text: &str) -> FlagType {
        match text {
            "true" | "false" => FlagType::Boolean,
            _ if text.parse::<f64>().is_ok() => FlagType::Number,
            _ if text.starts_with('{') => FlagType::Object,
            _ => FlagType::String,
        }
    }
}

/// One flag as listed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FlagInfo {
    /// Flag name.
    pub name: String,
    /// Its current (default-variant) value.
    pub value: Value,
    /// Who owns it.
    pub owner: Option<String>,
    /// When it should be gone.
    pub expires: Option<String>,
    /// When it last changed.
    pub updated: Option<String>,
}

/// A flag document.
#[derive(Debug, Clone)]
pub struct FlagDocument(Value);

impl Default for FlagDocument {
    fn default() -> Self {
        FlagDocument(json!({ "$schema": SCHEMA, "flags": {} }))
    }
}

impl FlagDocument {
    /// Reads the document out of a flags ConfigMap object.
    pub fn from_configmap(configmap: &Value, what: &str) -> Result<FlagDocument> {
        let Some(text) = configmap.pointer(&format!(
            "/data/{}",
            DATA_KEY.replace('~', "~0").replace('/', "~1")
        )) else {
            return Ok(FlagDocument::default());
        };
        let doc: Value = text
            .as_str()
            .and_then(|t| serde_json::from_str(t).ok())
            .filter(|d: &Value| d.get("flags").is_some_and(Value::is_object))
            .ok_or_else(|| {
                Error::Input(format!(
                    "{what}: data.{DATA_KEY} is not a flagd flag document"
                ))
            })?;
        Ok(FlagDocument(doc))
    }

    fn flags(&self) -> &Map<String, Value> {
        // Invariant: every constructor ensures `flags` is an object.
        self.0["flags"].as_object().expect("flags is an object")
    }

    /// The flag's type, if it exists.
    pub fn flag_type(&self, name: &str) -> Option<FlagType> {
        let flag = self.flags().get(name)?;
        let default = flag.get("defaultVariant")?.as_str()?;
        FlagType::of(flag.get("variants")?.get(default)?)
    }

    /// Sets a flag: enabled, with `value` as its default variant, and lifecycle metadata.
    pub fn set(
        &mut self,
        name: &str,
        value: Value,
        owner: &str,
        expires: &str,
        now: DateTime<Utc>,
    ) {
        let (variants, default) = match &value {
            Value::Bool(on) => (
                json!({ "on": true, "off": false }),
                if *on { "on" } else { "off" },
            ),
            other => (json!({ "value": other }), "value"),
        };
        let flag = json!({
            "state": "ENABLED",
            "variants": variants,
            "defaultVariant": default,
            "metadata": { "owner": owner, "expires": expires, "updated": now.to_rfc3339() },
        });
        // Invariant: `flags` is an object (see `flags`).
        self.0["flags"]
            .as_object_mut()
            .expect("flags is an object")
            .insert(name.to_owned(), flag);
    }

    /// Every flag, by name.
    pub fn list(&self) -> Vec<FlagInfo> {
        self.flags()
            .iter()
            .map(|(name, flag)| {
                let meta = |key: &str| {
                    flag.pointer(&format!("/metadata/{key}"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                let value = flag
                    .get("defaultVariant")
                    .and_then(Value::as_str)
                    .and_then(|d| flag.get("variants").and_then(|v| v.get(d)))
                    .cloned()
                    .unwrap_or(Value::Null);
                FlagInfo {
                    name: name.clone(),
                    value,
                    owner: meta("owner"),
                    expires: meta("expires"),
                    updated: meta("updated"),
                }
            })
            .collect()
    }

    /// The flags ConfigMap holding this document.
    pub fn to_configmap(&self, namespace: &str, name: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": name, "namespace": namespace, "labels": { "app.kubernetes.io/managed-by": "cairn" } },
            "data": { DATA_KEY: serde_json::to_string_pretty(&self.0).unwrap_or_default() },
        })
    }
}

/// Checks an expiry date given as YYYY-MM-DD.
pub fn parse_expiry(text: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        Error::Input(format!(
            "--expires {text:?} is not a date such as 2027-03-31"
        ))
    })
}

/// Whether a flag is stale at `now`: past its expiry, or unchanged since before `unchanged_since`.
pub fn is_stale(
    flag: &FlagInfo,
    now: DateTime<Utc>,
    unchanged_since: DateTime<Utc>,
) -> Option<String> {
    if let Some(expiry) = flag.expires.as_deref().and_then(|e| parse_expiry(e).ok())
        && expiry < now.date_naive()
    {
        return Some(format!("expired on {expiry}"));
    }
    match flag
        .updated
        .as_deref()
        .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
    {
        Some(updated) if updated < unchanged_since => {
            Some(format!("unchanged since {}", updated.date_naive()))
        }
        None => Some("no record of its last change".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_against_the_flag_type() {
        assert_eq!(
            FlagType::Boolean.parse("f", "true").unwrap(),
            Value::Bool(true)
        );
        assert!(
            FlagType::Boolean
                .parse("f", "maybe")
                .unwrap_err()
                .to_string()
                .contains("boolean")
        );
        assert_eq!(FlagType::Number.parse("f", "42").unwrap(), json!(42));
        assert!(FlagType::Number.parse("f", "lots").is_err());
        assert!(
            FlagType::Object
                .parse("f", "[1]")
                .unwrap_err()
                .to_string()
                .contains("JSON object")
        );
        assert_eq!(FlagType::infer("false"), FlagType::Boolean);
        assert_eq!(FlagType::infer("blue"), FlagType::String);
    }

    #[test]
    fn documents_round_trip_through_the_configmap() {
        let now = Utc::now();
        let mut doc = FlagDocument::default();
        doc.set(
            "new-checkout",
            Value::Bool(false),
            "team-shop",
            "2027-01-31",
            now,
        );
        doc.set("banner", json!("hello"), "team-web", "2027-01-31", now);
        let cm = doc.to_configmap("default", "feature-flags");
        let again = FlagDocument::from_configmap(&cm, "cm").unwrap();
        assert_eq!(again.flag_type("new-checkout"), Some(FlagType::Boolean));
        let listed = again.list();
        assert_eq!(listed.len(), 2);
        assert_eq!(
            listed
                .iter()
                .find(|f| f.name == "new-checkout")
                .unwrap()
                .value,
            Value::Bool(false)
        );
        let flagd: Value = serde_json::from_str(cm["data"][DATA_KEY].as_str().unwrap()).unwrap();
        assert_eq!(flagd["flags"]["new-checkout"]["defaultVariant"], "off");
        assert_eq!(flagd["flags"]["new-checkout"]["state"], "ENABLED");
    }

    #[test]
    fn stale_flags_are_found() {
        let now = Utc::now();
        let mut doc = FlagDocument::default();
        doc.set("old", Value::Bool(true), "x", "2020-01-01", now);
        doc.set("fresh", Value::Bool(true), "x", "2999-01-01", now);
        let stale: Vec<_> = doc
            .list()
            .into_iter()
            .filter(|f| is_stale(f, now, now - chrono::Duration::days(30)).is_some())
            .collect();
        assert_eq!(stale.len(), 1);
        assert_eq!(stale[0].name, "old");
    }
}
