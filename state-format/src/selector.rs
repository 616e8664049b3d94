//! Cluster selectors: Kubernetes label-selector semantics over an agent's own cluster labels.
//!
//! Written in manifests as the string form (`env=prod,region in (eu,us),!canary`) and stored in
//! index entries in the structured form of a Kubernetes `LabelSelector`, so the wire carries no
//! grammar an agent must re-parse.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, SelectorError};
use crate::names;

/// A label selector: every `match_labels` pair and every expression must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterSelector {
    /// Labels that must be present with exactly these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Requirement>,
}

/// One set-based requirement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// How the key's value is tested.
    pub operator: Operator,
    /// Values for `In` and `NotIn`; empty for `Exists` and `DoesNotExist`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// The operators of Kubernetes label selectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operator {
    /// The label is present with one of the values.
    In,
    /// The label is absent, or present with none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl ClusterSelector {
    /// Whether a cluster with `labels` is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.key);
        match self.operator {
            Operator::In => value.is_some_and(|v| self.values.contains(v)),
            Operator::NotIn => value.is_none_or(|v| !self.values.contains(v)),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl FromStr for ClusterSelector {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Error> {
        let fail = |reason: SelectorError| Error::Selector {
            input: input.to_owned(),
            reason,
        };
        let mut selector = ClusterSelector::default();
        for part in split_top_level(input).map_err(fail)? {
            let part = part.trim();
            if part.is_empty() {
                return Err(fail(SelectorError::EmptyRequirement));
            }
            parse_requirement(part, &mut selector).map_err(fail)?;
        }
        Ok(selector)
    }
}

fn split_top_level(input: &str) -> Result<Vec<&str>, SelectorError> {
    if input.trim().is_empty() {
        return Ok(Vec::new());
    }
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err(SelectorError::UnbalancedParentheses);
        }
    }
    if depth != 0 {
        return Err(SelectorError::UnbalancedParentheses);
    }
    parts.push(&input[start..]);
    Ok(parts)
}

fn parse_requirement(part: &str, selector: &mut ClusterSelector) -> Result<(), SelectorError> {
    let push = |selector: &mut ClusterSelector, key: &str, operator, values: Vec<String>| {
        check_label(key)?;
        for v in &values {
            check_value(v)?;
        }
        selector.match_expressions.push(Requirement {
            key: key.to_owned(),
            operator,
            values,
        });
        Ok(())
    };
    if let Some(key) = part.strip_prefix('!') {
        return push(selector, key.trim(), Operator::DoesNotExist, Vec::new());
    }
    if let Some((key, value)) = part.split_once("!=") {
        return push(
            selector,
            key.trim(),
            Operator::NotIn,
            vec![value.trim().to_owned()],
        );
    }
    if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
        let (key, value) = (key.trim(), value.trim());
        check_label(key)?;
        check_value(value)?;
        if selector
            .match_labels
            .insert(key.to_owned(), value.to_owned())
            .is_some()
        {
            return Err(SelectorError::LabelTwice {
                key: key.to_owned(),
            });
        }
        return Ok(());
    }
    let words: Vec<&str> = part.splitn(2, char::is_whitespace).collect();
    if let [key, rest] = words[..] {
        let rest = rest.trim();
        let (operator, list) = if let Some(list) = rest.strip_prefix("notin") {
            (Operator::NotIn, list)
        } else if let Some(list) = rest.strip_prefix("in") {
            (Operator::In, list)
        } else {
            return Err(SelectorError::ExpectedSetOperator {
                part: part.to_owned(),
            });
        };
        let list = list.trim();
        let Some(inner) = list.strip_prefix('(').and_then(|l| l.strip_suffix(')')) else {
            return Err(SelectorError::ValuesNotInParentheses {
                part: part.to_owned(),
            });
        };
        let values: BTreeSet<String> = inner.split(',').map(|v| v.trim().to_owned()).collect();
        if values.iter().any(String::is_empty) {
            return Err(SelectorError::EmptyValue {
                part: part.to_owned(),
            });
        }
        return push(selector, key, operator, values.into_iter().collect());
    }
    push(selector, part, Operator::Exists, Vec::new())
}

/// Label keys: an optional DNS-subdomain prefix and `/`, then a name ([`names::qualified_name`]).
fn check_label(key: &str) -> Result<(), SelectorError> {
    names::qualified_name(key).map_err(|reason| SelectorError::LabelKey {
        key: key.to_owned(),
        reason,
    })
}

/// Label values: empty, or a name. Unlike keys they have no prefix, so no `/`.
fn check_value(value: &str) -> Result<(), SelectorError> {
    names::label_value(value).map_err(|reason| SelectorError::LabelValue {
        value: value.to_owned(),
        reason,
    })
}

impl fmt::Display for ClusterSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for r in &self.match_expressions {
            parts.push(match r.operator {
                Operator::In => format!("{} in ({})", r.key, r.values.join(",")),
                // One value as `k!=v`: `notin ()` would not parse back when that value is empty.
                Operator::NotIn if r.values.len() == 1 => format!("{}!={}", r.key, r.values[0]),
                Operator::NotIn => format!("{} notin ({})", r.key, r.values.join(",")),
                Operator::Exists => r.key.clone(),
                Operator::DoesNotExist => format!("!{}", r.key),
            });
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn matches_like_kubernetes() {
        let s: ClusterSelector = "env=prod, region in (eu, us), !canary, tier, zone!=z1"
            .parse()
            .unwrap();
        assert!(s.matches(&labels(&[("env", "prod"), ("region", "eu"), ("tier", "1")])));
        assert!(!s.matches(&labels(&[("env", "prod"), ("region", "ap"), ("tier", "1")])));
        assert!(!s.matches(&labels(&[
            ("env", "prod"),
            ("region", "eu"),
            ("tier", "1"),
            ("canary", "")
        ])));
        assert!(!s.matches(&labels(&[
            ("env", "prod"),
            ("region", "eu"),
            ("tier", "1"),
            ("zone", "z1")
        ])));
        assert!(!s.matches(&labels(&[("env", "prod"), ("region", "eu")])));
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s: ClusterSelector = "".parse().unwrap();
        assert!(s.matches(&BTreeMap::new()));
    }

    #[test]
    fn display_round_trips() {
        // `zone!=` (found by the selector_parse fuzz target) once displayed as `zone notin ()`.
        for text in [
            "env=prod,region notin (us,eu),!canary",
            "zone!=",
            "zone!=z1,tier notin (a)",
            "env=",
            "cairn.dev/env=prod,!example.com/canary",
        ] {
            let s: ClusterSelector = text.parse().unwrap();
            assert_eq!(
                s.to_string().parse::<ClusterSelector>().unwrap(),
                s,
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_malformed_selectors() {
        for bad in [
            "env=prod,,x",
            "region in eu",
            "region in (eu",
            "-bad=1",
            "a=b,a=c",
            "k in ()",
            // Found by the selector_parse fuzz target: values could hold `/` (and anything before
            // it), so `k===x/v` (value `=x/v`) displayed as `k==x/v`, which parses to `x/v`.
            "k===x/v",
            "k=a/b",
            "k in (a/b)",
            "Example.com/k",
            "-x.io/k",
            "a=b/k",
        ] {
            assert!(
                bad.parse::<ClusterSelector>().is_err(),
                "{bad:?} was accepted"
            );
        }
    }
}
