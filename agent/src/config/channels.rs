//! Which channels an agent follows: names, and patterns such as `pr-*`.

use cairn_state_format::{ChannelPattern, validate_channel_name};

use crate::error::ConfigError;

/// A channel to follow: by name, or every channel whose name matches a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelSpec {
    /// One named channel.
    Name(String),
    /// Channels matching a pattern where `*` stands for any run of characters (`pr-*`): picked up
    /// as they appear, torn down when they go away.
    Pattern(ChannelPattern),
}

impl ChannelSpec {
    /// Parses a `--channel` value: a name, or a pattern when it contains `*`.
    pub fn parse(text: &str) -> Result<ChannelSpec, ConfigError> {
        if text.contains('*') {
            let pattern = text
                .parse::<ChannelPattern>()
                .map_err(|reason| ConfigError::invalid("--channel", reason.to_string()))?;
            Ok(ChannelSpec::Pattern(pattern))
        } else {
            validate_channel_name(text)
                .map_err(|reason| ConfigError::invalid("--channel", reason.to_string()))?;
            Ok(ChannelSpec::Name(text.to_owned()))
        }
    }

    /// Whether `channel` is this name or matches this pattern.
    pub fn matches(&self, channel: &str) -> bool {
        match self {
            ChannelSpec::Name(name) => name == channel,
            ChannelSpec::Pattern(pattern) => pattern.matches(channel),
        }
    }
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
        assert_eq!(
            ChannelSpec::parse("prod").unwrap(),
            ChannelSpec::Name("prod".into())
        );
        assert!(ChannelSpec::parse("Bad/Name").is_err());
    }
}
