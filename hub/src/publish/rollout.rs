//! A new head's rollout: steps relative to the publish (from the command line,
//! `1%:0s,10%:10m,50%:30m,100%:1h`, or the name of a policy in a YAML file of `name: spec`
//! pairs), or the fixed steps of a rollout being advanced, paused or resumed.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use cairn_state_format::{Rollout, RolloutStep};
use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// Steps as (percent of clusters, delay after publishing).
pub type Steps = Vec<(u32, Duration)>;

/// A rollout for a new head.
#[derive(Clone, Debug)]
pub enum RolloutPlan {
    /// Steps as (percent, delay after publishing): a new rollout.
    Relative(Steps),
    /// Steps at fixed times: a rollout being advanced, paused or resumed.
    Absolute(Rollout),
}

impl RolloutPlan {
    /// The rollout of a head published at `published_at`.
    pub fn at(&self, published_at: DateTime<Utc>) -> Rollout {
        match self {
            RolloutPlan::Absolute(rollout) => rollout.clone(),
            RolloutPlan::Relative(steps) => Rollout {
                steps: steps
                    .iter()
                    .map(|(percent, delay)| RolloutStep {
                        percent: *percent,
                        not_before: chrono::Duration::from_std(*delay)
                            .ok()
                            .and_then(|d| published_at.checked_add_signed(d))
                            .unwrap_or(DateTime::<Utc>::MAX_UTC),
                    })
                    .collect(),
                paused_at: None,
            },
        }
    }
}

/// Parses a spec, or looks a policy name up in `policies` (a YAML map of name → spec).
pub fn resolve(spec: &str, policies: Option<&Path>) -> Result<Steps> {
    if spec.contains(':') {
        return parse(spec);
    }
    let Some(path) = policies else {
        return Err(Error::Input(format!(
            "rollout {spec:?} is neither steps like 1%:0s,10%:10m,100%:1h nor a policy name \
             (give the policies file with --rollout-policies)"
        )));
    };
    let text = std::fs::read_to_string(path).map_err(Error::io(path.display()))?;
    let named: BTreeMap<String, String> = serde_yaml_ng::from_str(&text).map_err(|e| {
        Error::Input(format!(
            "{}: expected a map of policy name to steps: {e}",
            path.display()
        ))
    })?;
    let found = named.get(spec).ok_or_else(|| {
        let known: Vec<&str> = named.keys().map(String::as_str).collect();
        Error::Input(format!(
            "{}: no rollout policy named {spec:?} (it has: {})",
            path.display(),
            known.join(", ")
        ))
    })?;
    parse(found).map_err(|e| Error::Input(format!("{}: policy {spec:?}: {e}", path.display())))
}

/// Parses `percent%:delay,…`: percentages rising to exactly 100, delays never decreasing.
pub fn parse(spec: &str) -> Result<Steps> {
    let fail = |message: String| Error::Input(format!("rollout {spec:?}: {message}"));
    let mut steps: Steps = Vec::new();
    for (i, part) in spec.split(',').map(str::trim).enumerate() {
        let n = i + 1;
        let (percent, delay) = part.split_once(':').ok_or_else(|| {
            fail(format!(
                "step {n} {part:?} is not PERCENT%:DELAY (e.g. 10%:30m)"
            ))
        })?;
        let percent = percent
            .trim()
            .strip_suffix('%')
            .and_then(|p| p.trim().parse::<u32>().ok())
            .ok_or_else(|| {
                fail(format!(
                    "step {n}: {percent:?} is not a whole percentage such as 10%"
                ))
            })?;
        if !(1..=100).contains(&percent) {
            return Err(fail(format!(
                "step {n}: {percent}% is not between 1% and 100%"
            )));
        }
        let delay = humantime::parse_duration(delay.trim()).map_err(|e| {
            fail(format!(
                "step {n}: {:?} is not a duration such as 0s, 10m or 1h: {e}",
                delay.trim()
            ))
        })?;
        if let Some(&(prev_percent, prev_delay)) = steps.last() {
            if percent <= prev_percent {
                return Err(fail(format!(
                    "step {n}: {percent}% does not rise above {prev_percent}%"
                )));
            }
            if delay < prev_delay {
                return Err(fail(format!("step {n} opens before step {}", n - 1)));
            }
        }
        steps.push((percent, delay));
    }
    match steps.last() {
        Some((100, _)) => Ok(steps),
        Some((last, _)) => Err(fail(format!("the last step is {last}%; it must be 100%"))),
        None => Err(fail("no steps".to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_steps() {
        let steps = parse("1%:0s, 10%:10m,50%:30m,100%:1h").unwrap();
        assert_eq!(steps[1], (10, Duration::from_secs(600)));
        assert_eq!(steps.len(), 4);
    }

    #[test]
    fn refuses_malformed_specs_saying_why() {
        for (spec, says) in [
            ("10%:0s,5%:1m,100%:2m", "does not rise"),
            ("10%:0s,150%:1m", "between 1% and 100%"),
            ("10%:0s,50%:1m", "must be 100%"),
            ("10%:soon,100%:1m", "not a duration"),
            ("10%:5m,100%:1m", "opens before"),
            ("ten:0s,100%:1m", "whole percentage"),
            ("10%,100%:1m", "PERCENT%:DELAY"),
        ] {
            let err = parse(spec).unwrap_err().to_string();
            assert!(err.contains(says), "{spec}: {err}");
        }
    }

    #[test]
    fn named_policies_come_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policies.yaml");
        std::fs::write(&file, "canary: 1%:0s,100%:1h\nbroken: 50%:0s\n").unwrap();
        assert_eq!(resolve("canary", Some(&file)).unwrap().len(), 2);
        assert!(
            resolve("broken", Some(&file))
                .unwrap_err()
                .to_string()
                .contains("must be 100%")
        );
        assert!(
            resolve("nope", Some(&file))
                .unwrap_err()
                .to_string()
                .contains("no rollout policy named")
        );
        assert!(
            resolve("canary", None)
                .unwrap_err()
                .to_string()
                .contains("--rollout-policies")
        );
    }
}
