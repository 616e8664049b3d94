//! Label and field selectors, as the API server reads them from a query string.

use serde_json::Value;

/// One requirement of a label selector.
#[derive(Clone, Debug, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector (`a=b,c!=d,e in (f,g),!h`); empty matches everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LabelSelector(Vec<Requirement>);

/// Splits on commas outside parentheses.
fn terms(text: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn set_of(text: &str) -> Vec<String> {
    text.trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(|v| v.trim().to_owned())
        .collect()
}

impl LabelSelector {
    /// Parses a selector; `None` when it is malformed.
    pub fn parse(text: &str) -> Option<LabelSelector> {
        let mut out = Vec::new();
        for term in terms(text) {
            let requirement = if let Some((k, v)) = term.split_once("!=") {
                Requirement::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Requirement::Equals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once(" notin ") {
                Requirement::NotIn(k.trim().into(), set_of(v))
            } else if let Some((k, v)) = term.split_once(" in ") {
                Requirement::In(k.trim().into(), set_of(v))
            } else if let Some(k) = term.strip_prefix('!') {
                Requirement::DoesNotExist(k.trim().into())
            } else if !term.contains(' ') {
                Requirement::Exists(term.into())
            } else {
                return None;
            };
            out.push(requirement);
        }
        Some(LabelSelector(out))
    }

    /// Whether `object`'s labels match.
    pub fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let label = |k: &str| labels.get(k).and_then(Value::as_str);
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => label(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => label(k) != Some(v.as_str()),
            Requirement::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            Requirement::NotIn(k, vs) => label(k).is_none_or(|l| vs.iter().all(|v| v != l)),
            Requirement::Exists(k) => label(k).is_some(),
            Requirement::DoesNotExist(k) => label(k).is_none(),
        })
    }
}

/// A field selector: equality on `metadata.name` and `metadata.namespace`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FieldSelector(Vec<(String, String, bool)>);

impl FieldSelector {
    /// Parses `metadata.name=x,metadata.namespace!=y`; `None` for other fields.
    pub fn parse(text: &str) -> Option<FieldSelector> {
        let mut out = Vec::new();
        for term in terms(text) {
            let (field, value, equal) = match term.split_once("!=") {
                Some((f, v)) => (f, v, false),
                None => {
                    let (f, v) = term.split_once("==").or_else(|| term.split_once('='))?;
                    (f, v, true)
                }
            };
            if !matches!(field.trim(), "metadata.name" | "metadata.namespace") {
                return None;
            }
            out.push((field.trim().to_owned(), value.trim().to_owned(), equal));
        }
        Some(FieldSelector(out))
    }

    /// Whether `object` matches.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, value, equal)| {
            let pointer = format!("/{}", field.replace('.', "/"));
            let actual = object
                .pointer(&pointer)
                .and_then(Value::as_str)
                .unwrap_or_default();
            (actual == value) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let object = json!({"metadata": {"labels": {"a": "1", "b": "x"}}});
        for (selector, expected) in [
            ("a=1", true),
            ("a==1,b=x", true),
            ("a!=1", false),
            ("c!=1", true),
            ("b in (x, y)", true),
            ("b notin (x)", false),
            ("a,!c", true),
            ("!a", false),
            ("", true),
        ] {
            let parsed = LabelSelector::parse(selector).unwrap();
            assert_eq!(parsed.matches(&object), expected, "{selector}");
        }
        let named = json!({"metadata": {"name": "w", "namespace": "n"}});
        assert!(
            FieldSelector::parse("metadata.name=w")
                .unwrap()
                .matches(&named)
        );
        assert!(
            !FieldSelector::parse("metadata.namespace!=n")
                .unwrap()
                .matches(&named)
        );
        assert!(FieldSelector::parse("spec.x=1").is_none());
    }
}
