//! Progressive rollouts: steps that open to a growing share of clusters over time.
//!
//! Every agent computes its own stable position from its cluster id and the channel
//! ([`cohort_position`]); the hub keeps no per-cluster state. A cluster applies a generation once
//! the latest open step's percentage is above its position.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

/// Positions are in basis points: 0..10,000.
pub const POSITIONS: u32 = 10_000;

/// The rollout carried by a head.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// Steps with strictly rising percentages, the last one 100.
    pub steps: Vec<RolloutStep>,
    /// While set, steps whose time is after this instant stay closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at: Option<DateTime<Utc>>,
}

/// One step: `percent` of clusters may apply from `not_before` on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutStep {
    /// Share of clusters, 1 to 100.
    pub percent: u32,
    /// When the step opens.
    pub not_before: DateTime<Utc>,
}

impl Rollout {
    /// Checks the rules a valid rollout follows.
    pub fn validate(&self) -> Result<()> {
        let Some(last) = self.steps.last() else {
            return Err(Error::Rollout(
                "a rollout needs at least one step".to_owned(),
            ));
        };
        for (i, step) in self.steps.iter().enumerate() {
            if !(1..=100).contains(&step.percent) {
                return Err(Error::Rollout(format!(
                    "step {}: {}% is not between 1% and 100%",
                    i + 1,
                    step.percent
                )));
            }
            if let Some(prev) = i.checked_sub(1).map(|p| &self.steps[p]) {
                if step.percent <= prev.percent {
                    return Err(Error::Rollout(format!(
                        "step {}: {}% does not rise above {}%",
                        i + 1,
                        step.percent,
                        prev.percent
                    )));
                }
                if step.not_before < prev.not_before {
                    return Err(Error::Rollout(format!(
                        "step {} opens before step {}",
                        i + 1,
                        i
                    )));
                }
            }
        }
        if last.percent != 100 {
            return Err(Error::Rollout(format!(
                "the last step is {}%, it must be 100%",
                last.percent
            )));
        }
        Ok(())
    }

    /// The share of clusters (in basis points) admitted at `now`.
    pub fn open_positions(&self, now: DateTime<Utc>) -> u32 {
        let clock = self.paused_at.map_or(now, |paused| paused.min(now));
        self.steps
            .iter()
            .filter(|s| s.not_before <= clock)
            .map(|s| s.percent * (POSITIONS / 100))
            .max()
            .unwrap_or(0)
    }

    /// Whether a cluster at `position` may apply at `now`.
    pub fn admits(&self, position: u32, now: DateTime<Utc>) -> bool {
        position < self.open_positions(now)
    }
}

/// A cluster's stable position in a channel's rollouts, in `0..POSITIONS`: the first 8 bytes of
/// sha256(`cluster id` NUL `channel`) as a big-endian integer, modulo [`POSITIONS`].
pub fn cohort_position(cluster_id: &str, channel: &str) -> u32 {
    let digest = Digest::of(format!("{cluster_id}\0{channel}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    (u64::from_be_bytes(first) % u64::from(POSITIONS)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn rollout() -> Rollout {
        Rollout {
            steps: vec![
                RolloutStep {
                    percent: 10,
                    not_before: at(0),
                },
                RolloutStep {
                    percent: 50,
                    not_before: at(60),
                },
                RolloutStep {
                    percent: 100,
                    not_before: at(120),
                },
            ],
            paused_at: None,
        }
    }

    #[test]
    fn steps_open_over_time_and_pause_freezes_them() {
        let mut r = rollout();
        r.validate().unwrap();
        assert_eq!(r.open_positions(at(-1)), 0);
        assert_eq!(r.open_positions(at(59)), 1_000);
        assert_eq!(r.open_positions(at(200)), 10_000);
        r.paused_at = Some(at(30));
        assert_eq!(r.open_positions(at(200)), 1_000);
    }

    #[test]
    fn cohorts_are_stable_and_spread() {
        assert_eq!(cohort_position("c1", "prod"), cohort_position("c1", "prod"));
        let admitted = (0..10_000)
            .filter(|i| rollout().admits(cohort_position(&format!("c{i}"), "prod"), at(0)))
            .count();
        assert!(
            (800..1_200).contains(&admitted),
            "{admitted} of 10,000 admitted at 10%"
        );
    }

    #[test]
    fn invalid_rollouts_say_why() {
        let mut r = rollout();
        r.steps[1].percent = 5;
        assert!(
            r.validate()
                .unwrap_err()
                .to_string()
                .contains("does not rise")
        );
        let mut r = rollout();
        r.steps[2].percent = 90;
        assert!(
            r.validate()
                .unwrap_err()
                .to_string()
                .contains("must be 100%")
        );
        let mut r = rollout();
        r.steps[0].percent = 0;
        assert!(
            r.validate()
                .unwrap_err()
                .to_string()
                .contains("between 1% and 100%")
        );
    }
}
