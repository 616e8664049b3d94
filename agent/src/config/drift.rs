//! What the agent does about drift, per channel (`--drift`): correct it, or only report it. An
//! object's own annotations override it (read by the Kubernetes target,
//! `targets/kube/policy.rs`).

use std::collections::BTreeMap;

use crate::error::PolicyError;

/// What to do about an object's drift.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DriftMode {
    /// Re-apply it (the default).
    #[default]
    Correct,
    /// Report it in the status record; never write to correct it.
    Report,
}

impl DriftMode {
    /// Parses `correct` or `report`.
    pub fn parse(text: &str) -> Result<DriftMode, PolicyError> {
        match text.trim() {
            "correct" => Ok(DriftMode::Correct),
            "report" => Ok(DriftMode::Report),
            other => Err(PolicyError::DriftMode(other.to_owned())),
        }
    }
}

/// The drift mode per channel: a default, and exceptions by channel name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DriftPolicy {
    /// For channels not named below.
    pub default: DriftMode,
    /// Channel → its mode.
    pub channels: BTreeMap<String, DriftMode>,
}

impl DriftPolicy {
    /// Parses the values of `--drift`: `report` (every channel) or `<channel>=report`.
    pub fn parse<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<DriftPolicy, PolicyError> {
        let mut policy = DriftPolicy::default();
        for value in values.into_iter().flat_map(|v| v.split(',')) {
            match value.split_once('=') {
                Some((channel, mode)) if !channel.trim().is_empty() => {
                    policy
                        .channels
                        .insert(channel.trim().to_owned(), DriftMode::parse(mode)?);
                }
                Some(_) => return Err(PolicyError::NoChannel(value.to_owned())),
                None => policy.default = DriftMode::parse(value)?,
            }
        }
        Ok(policy)
    }

    /// The mode of `channel`.
    pub fn of(&self, channel: &str) -> DriftMode {
        self.channels.get(channel).copied().unwrap_or(self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_set_a_default_and_exceptions() {
        let flags = DriftPolicy::parse(["report", "prod=correct,dev=report"]).unwrap();
        assert_eq!(flags.of("prod"), DriftMode::Correct);
        assert_eq!(flags.of("other"), DriftMode::Report);
        assert!(DriftPolicy::parse(["=report"]).is_err());
    }
}
