//! Channel patterns: a channel name in which `*` stands for any run of characters.
//!
//! ```
//! use cairn_state_format::ChannelPattern;
//!
//! let team_a: ChannelPattern = "team-a-*".parse()?;
//! assert!(team_a.matches("team-a-web"));
//! assert!(!team_a.matches("team-b-web"));
//! // `team-*` covers every channel `team-a-*` matches, so a delegation of `team-*` listed
//! // first would decide for all of them.
//! assert!("team-*".parse::<ChannelPattern>()?.covers(&team_a));
//! # Ok::<(), cairn_state_format::PatternError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::channel_name::{InvalidChannelName, validate_channel_name};

/// A channel name, or a pattern where `*` matches any run of characters (including none).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChannelPattern(String);

impl ChannelPattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the pattern has no `*`: it names exactly one channel.
    pub fn is_exact(&self) -> bool {
        !self.0.contains('*')
    }

    /// Whether `channel` matches.
    pub fn matches(&self, channel: &str) -> bool {
        glob_matches(&self.0, channel)
    }

    /// Whether every channel `other` matches, this pattern matches too. Sound (never says yes
    /// wrongly): `other`'s stars are matched as characters that only this pattern's stars absorb.
    pub fn covers(&self, other: &ChannelPattern) -> bool {
        glob_matches(&self.0, &other.0)
    }
}

/// Why text is not a channel pattern.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `**`, which means what `*` means.
    #[error("channel pattern {pattern:?}: `**` is the same as `*`; write one")]
    DoubleStar {
        /// The pattern.
        pattern: String,
    },
    /// Not a channel name, with each `*` read as a letter.
    #[error("channel pattern {pattern:?}: {reason}")]
    NotAName {
        /// The pattern.
        pattern: String,
        /// Why the name it stands for is not one.
        #[source]
        reason: InvalidChannelName,
    },
}

impl FromStr for ChannelPattern {
    type Err = PatternError;

    /// A valid channel name once each `*` is read as a letter; no `**`.
    fn from_str(text: &str) -> Result<Self, PatternError> {
        if text.contains("**") {
            return Err(PatternError::DoubleStar {
                pattern: text.to_owned(),
            });
        }
        validate_channel_name(&text.replace('*', "x")).map_err(|reason| {
            PatternError::NotAName {
                pattern: text.to_owned(),
                reason,
            }
        })?;
        Ok(ChannelPattern(text.to_owned()))
    }
}

impl fmt::Display for ChannelPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for ChannelPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ChannelPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
pub(crate) fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    // Invariant: `split` always yields at least one item.
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> ChannelPattern {
        text.parse().unwrap()
    }

    #[test]
    fn stars_match_any_run() {
        assert!(p("*").matches("prod"));
        assert!(p("prod").matches("prod") && !p("prod").matches("prod-2"));
        assert!(p("team-a-*").matches("team-a-web"));
        assert!(!p("team-a-*").matches("team-ab"));
        assert!(p("*-prod").matches("eu-prod") && !p("*-prod").matches("eu-prod-2"));
        assert!(p("a*b*c").matches("abc") && p("a*b*c").matches("axxbyyc"));
        assert!(!p("a*b*c").matches("acb"));
        assert!(!p("ab*ba").matches("aba"), "the two ends may not overlap");
    }

    #[test]
    fn covering_is_sound() {
        assert!(p("*").covers(&p("team-a-*")));
        assert!(p("team-*").covers(&p("team-a-*")));
        assert!(p("team-a-*").covers(&p("team-a-web")));
        assert!(!p("team-a-*").covers(&p("team-*")));
        assert!(!p("team-a-web").covers(&p("team-a-*")));
        assert!(!p("*-prod").covers(&p("team-*")));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_pattern() {
        for bad in ["", "Prod", "a/b", "-*", "*-", "a**b"] {
            let err = bad.parse::<ChannelPattern>().unwrap_err().to_string();
            assert!(err.contains(&format!("{bad:?}")), "{err}");
        }
        assert!(!p("*").is_exact() && p("prod").is_exact());
    }
}
