//! Which channels an agent follows: names, and patterns such as `pr-*`.

use cairn_state_format::validate_channel_name;

use super::ConfigError;

/// A channel to follow: by name, or every channel whose name matches a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelSpec {
    /// One named channel.
    Name(String),
    /// Channels matching a pattern where `*` stands for any run of characters (`pr-*`): picked up
    /// as they appear, torn down when they go away.
    Pattern(String),
}

impl ChannelSpec {
    /// Parses a `--channel` value: a name, or a pattern when it contains `*`.
    pub fn parse(text: &str) -> Result<ChannelSpec, ConfigError> {
        if text.contains('*') {
            let probe = text.replace('*', "x");
            validate_channel_name(&probe).map_err(|reason| {
                ConfigError::invalid("--channel", format!("pattern {text:?}: {reason}"))
            })?;
            Ok(ChannelSpec::Pattern(text.to_owned()))
        } else {
            validate_channel_name(text)
                .map_err(|reason| ConfigError::invalid("--channel", reason))?;
            Ok(ChannelSpec::Name(text.to_owned()))
        }
    }

    /// Whether `channel` is this name or matches this pattern.
    pub fn matches(&self, channel: &str) -> bool {
        match self {
            ChannelSpec::Name(name) => name == channel,
            ChannelSpec::Pattern(pattern) => glob_matches(pattern, channel),
        }
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
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

    #[test]
    fn patterns_match_with_stars() {
        let p = ChannelSpec::parse("pr-*").unwrap();
        assert!(p.matches("pr-123"));
        assert!(p.matches("pr-"));
        assert!(!p.matches("prod"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXcYYb"));
        assert!(glob_matches("*", "anything"));
        assert!(!glob_matches("ab*ba", "aba"));
        assert_eq!(
            ChannelSpec::parse("prod").unwrap(),
            ChannelSpec::Name("prod".into())
        );
        assert!(ChannelSpec::parse("Bad/Name").is_err());
    }
}
