//! Namespace patterns: a namespace name in which `*` is any run of characters and `$channel` is
//! the name of the channel being checked (`$channel`, `team-a-*`, `$channel-*`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ScopeError;
use crate::names;
use crate::pattern::glob_matches;

/// What `$channel` is written as.
pub const CHANNEL_VARIABLE: &str = "$channel";

/// Namespaces by name or pattern.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NamespacePattern(String);

impl NamespacePattern {
    /// Whether `namespace` matches, for channel `channel`. A channel whose name is no valid
    /// namespace (it has `_` or `.`) makes `$channel` match nothing.
    pub fn matches(&self, channel: &str, namespace: &str) -> bool {
        if self.0.contains(CHANNEL_VARIABLE) && names::dns1123_label(channel).is_err() {
            return false;
        }
        glob_matches(&self.0.replace(CHANNEL_VARIABLE, channel), namespace)
    }

    /// The pattern with `$channel` replaced, as people read it for one channel.
    pub fn for_channel(&self, channel: &str) -> String {
        self.0.replace(CHANNEL_VARIABLE, channel)
    }
}

impl FromStr for NamespacePattern {
    type Err = ScopeError;

    /// A namespace name (an RFC 1123 label) once `$channel` and each `*` are read as letters;
    /// no `**`; `$` only in `$channel`.
    fn from_str(text: &str) -> Result<Self, ScopeError> {
        let bad = |reason: String| ScopeError {
            field: "namespaces".into(),
            reason: format!("{text:?}: {reason}"),
        };
        if text.contains("**") {
            return Err(bad("`**` is the same as `*`; write one".into()));
        }
        let plain = text.replace(CHANNEL_VARIABLE, "x");
        if plain.contains('$') {
            return Err(bad(format!("`$` is only allowed in {CHANNEL_VARIABLE}")));
        }
        names::dns1123_label(&plain.replace('*', "x")).map_err(|e| bad(e.to_string()))?;
        Ok(NamespacePattern(text.to_owned()))
    }
}

impl fmt::Display for NamespacePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for NamespacePattern {
    type Error = ScopeError;

    fn try_from(text: String) -> Result<Self, ScopeError> {
        text.parse()
    }
}

impl From<NamespacePattern> for String {
    fn from(pattern: NamespacePattern) -> String {
        pattern.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> NamespacePattern {
        text.parse().unwrap()
    }

    #[test]
    fn patterns_match_with_the_channel_substituted() {
        assert!(n("team-a").matches("any", "team-a") && !n("team-a").matches("any", "team-ab"));
        assert!(n("team-a-*").matches("any", "team-a-web"));
        assert!(n("$channel").matches("team-a-web", "team-a-web"));
        assert!(!n("$channel").matches("team-a-web", "team-a"));
        assert!(
            n("$channel-*").matches("pr-1", "pr-1-db")
                && !n("$channel-*").matches("pr-1", "pr-2-db")
        );
        assert!(
            !n("$channel").matches("team_a", "team_a"),
            "no namespace is named like that"
        );
        assert!(!n("$channel").matches("a.b", "a.b"));
        assert_eq!(n("$channel-db").for_channel("pr-7"), "pr-7-db");
    }

    #[test]
    fn bad_patterns_are_refused_with_the_pattern() {
        for bad in ["", "Team", "a**", "$chan", "a_b", "a.b", "-x", "$channel$"] {
            let err = bad.parse::<NamespacePattern>().unwrap_err().to_string();
            assert!(
                err.starts_with("namespaces:") && err.contains(&format!("{bad:?}")),
                "{bad}: {err}"
            );
        }
    }
}
