//! Kind patterns: `Kind.group` as kubectl spells a kind (`Deployment.apps`), `Kind` alone for the
//! core group (`ConfigMap`), each part a pattern in which `*` is any run of characters.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ScopeError;
use crate::pattern::glob_matches;

/// A pattern over (API group, kind). `*.*` matches every kind of every group, the core group
/// included; `*` alone every kind of the core group; `*.rbac.authorization.k8s.io` every RBAC
/// kind; `Ingress.networking.k8s.io` one kind.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KindPattern(String);

impl KindPattern {
    /// The kind part and the group part (empty for the core group).
    fn parts(&self) -> (&str, &str) {
        self.0.split_once('.').unwrap_or((&self.0, ""))
    }

    /// Whether the pattern matches kind `kind` of API group `group` (empty: core).
    pub fn matches(&self, group: &str, kind: &str) -> bool {
        let (kind_pattern, group_pattern) = self.parts();
        glob_matches(kind_pattern, kind) && glob_matches(group_pattern, group)
    }
}

impl FromStr for KindPattern {
    type Err = ScopeError;

    /// A kind of letters and digits, an optional group of `a-z 0-9 - .`; `*` anywhere; no `**`.
    fn from_str(text: &str) -> Result<Self, ScopeError> {
        let bad = |reason: &str| ScopeError {
            field: "kinds".into(),
            reason: format!("{text:?}: {reason}"),
        };
        if text.contains("**") {
            return Err(bad("`**` is the same as `*`; write one"));
        }
        let (kind, group) = text.split_once('.').unwrap_or((text, ""));
        if kind.is_empty() || !kind.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'*') {
            return Err(bad(
                "the kind is letters and digits (or `*`), as in Deployment.apps or ConfigMap",
            ));
        }
        let group_ok = group
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.*".contains(&b))
            && !group.starts_with('.')
            && !group.ends_with('.');
        if text.contains('.') && (group.is_empty() || !group_ok) {
            return Err(bad(
                "the group after the first '.' is a lowercase DNS name (or `*`), as in Deployment.apps",
            ));
        }
        Ok(KindPattern(text.to_owned()))
    }
}

impl fmt::Display for KindPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for KindPattern {
    type Error = ScopeError;

    fn try_from(text: String) -> Result<Self, ScopeError> {
        text.parse()
    }
}

impl From<KindPattern> for String {
    fn from(pattern: KindPattern) -> String {
        pattern.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(text: &str) -> KindPattern {
        text.parse().unwrap()
    }

    #[test]
    fn kinds_match_by_kind_and_group() {
        assert!(k("Deployment.apps").matches("apps", "Deployment"));
        assert!(!k("Deployment.apps").matches("extensions", "Deployment"));
        assert!(k("ConfigMap").matches("", "ConfigMap"));
        assert!(
            !k("ConfigMap").matches("example.com", "ConfigMap"),
            "no dot is the core group only"
        );
        assert!(k("*").matches("", "Secret") && !k("*").matches("apps", "Deployment"));
        assert!(k("*.*").matches("", "Secret") && k("*.*").matches("apps", "Deployment"));
        let rbac = k("*.rbac.authorization.k8s.io");
        assert!(rbac.matches("rbac.authorization.k8s.io", "ClusterRoleBinding"));
        assert!(!rbac.matches("evil.rbac.authorization.k8s.io.example", "Role"));
        assert!(k("*Webhook*.admissionregistration.k8s.io").matches(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration"
        ));
        assert!(k("*.*.example.com").matches("widgets.example.com", "Widget"));
        assert!(!k("*.*.example.com").matches("example.com", "Widget"));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_pattern() {
        for bad in [
            "",
            ".apps",
            "Deploy ment",
            "Deployment.",
            "Deployment.Apps",
            "a**",
            "Kind..x",
            "Kind.x.",
        ] {
            let err = bad.parse::<KindPattern>().unwrap_err().to_string();
            assert!(
                err.starts_with("kinds:") && err.contains(&format!("{bad:?}")),
                "{bad}: {err}"
            );
        }
    }
}
