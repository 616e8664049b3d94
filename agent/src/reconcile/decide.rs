//! What a pass does once the head is known: a pure function of the channel's facts and the clock.

use cairn_state_format::{Head, Phase, cohort_position};
use chrono::{DateTime, Utc};

use super::phases::Rejection;

/// What the pass does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Apply the pending head.
    Apply,
    /// Remove everything the channel applied; the reason says why.
    Teardown(String),
    /// Keep serving what is applied (correcting drift if asked) and report this phase.
    Hold {
        /// The phase to report.
        phase: Phase,
        /// Why, when not converged.
        reason: Option<String>,
    },
}

/// What the decision depends on.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// The clock.
    pub now: DateTime<Utc>,
    /// The channel's name.
    pub channel: &'a str,
    /// This cluster's id.
    pub cluster_id: &'a str,
    /// Whether the channel was found by a pattern (and so goes away when its head does).
    pub discovered: bool,
    /// The store has no head for the channel.
    pub head_missing: bool,
    /// The generation applied, if any.
    pub applied: Option<u64>,
    /// The newest verified head.
    pub latest: Option<&'a Head>,
    /// A verified head newer than the applied generation, not applied yet.
    pub pending: Option<&'a Head>,
    /// The refusal of the current head, if it was refused.
    pub refusal: Option<&'a Rejection>,
    /// Whether the head to act on points at the empty snapshot.
    pub empty: bool,
}

pub(super) fn keeping(applied: Option<u64>) -> String {
    applied.map_or_else(
        || "nothing applied yet".to_owned(),
        |g| format!("keeping generation {g}"),
    )
}

/// Decides what a pass does.
pub fn decide(f: &Facts<'_>) -> Decision {
    if f.head_missing {
        if f.discovered {
            return Decision::Teardown("the channel's head is gone".to_owned());
        }
        let phase = if f.applied.is_some() {
            Phase::Failed
        } else {
            Phase::Pending
        };
        return Decision::Hold {
            phase,
            reason: Some(format!(
                "channel {} has no head in the store; {}",
                f.channel,
                keeping(f.applied)
            )),
        };
    }
    if let Some(refusal) = f.refusal {
        return Decision::Hold {
            phase: Phase::Frozen,
            reason: Some(format!("head refused: {refusal}; {}", keeping(f.applied))),
        };
    }
    let Some(head) = f.pending.or(f.latest) else {
        return Decision::Hold {
            phase: Phase::Pending,
            reason: Some("no head seen yet".to_owned()),
        };
    };
    if let Some(retire_at) = head.retire_at.filter(|at| *at <= f.now) {
        return Decision::Teardown(format!("the channel retired at {retire_at}"));
    }
    if f.discovered && f.empty {
        return Decision::Teardown(format!(
            "generation {} of the channel is empty",
            head.generation
        ));
    }
    if head.expires_at <= f.now {
        return Decision::Hold {
            phase: Phase::Frozen,
            reason: Some(format!(
                "the head of generation {} expired at {}; {}",
                head.generation,
                head.expires_at,
                keeping(f.applied)
            )),
        };
    }
    let Some(pending) = f.pending else {
        return Decision::Hold {
            phase: Phase::Converged,
            reason: None,
        };
    };
    if let Some(rollout) = &pending.rollout {
        let position = cohort_position(f.cluster_id, f.channel);
        if !rollout.admits(position, f.now) {
            return Decision::Hold {
                phase: Phase::Waiting,
                reason: Some(format!(
                    "generation {} waits for its rollout step: cohort position {position} of {}, {} open; {}",
                    pending.generation,
                    cairn_state_format::POSITIONS,
                    rollout.open_positions(f.now),
                    keeping(f.applied)
                )),
            };
        }
    }
    Decision::Apply
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::{Digest, Rollout, RolloutStep};
    use chrono::TimeZone;

    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap()
    }

    fn head(generation: u64) -> Head {
        Head::format_1("prod", generation, Digest::of(b"s"), at(0), at(100))
    }

    fn facts<'a>(latest: Option<&'a Head>, pending: Option<&'a Head>) -> Facts<'a> {
        Facts {
            now: at(10),
            channel: "prod",
            cluster_id: "c1",
            discovered: false,
            head_missing: false,
            applied: Some(1),
            latest,
            pending,
            refusal: None,
            empty: false,
        }
    }

    #[test]
    fn newer_heads_apply_and_current_ones_hold() {
        let (h1, h2) = (head(1), head(2));
        assert_eq!(decide(&facts(Some(&h2), Some(&h2))), Decision::Apply);
        assert_eq!(
            decide(&facts(Some(&h1), None)),
            Decision::Hold {
                phase: Phase::Converged,
                reason: None
            }
        );
    }

    #[test]
    fn expiry_freezes_and_retirement_tears_down() {
        let h = head(2);
        let late = Facts {
            now: at(100),
            ..facts(Some(&h), Some(&h))
        };
        assert!(matches!(
            decide(&late),
            Decision::Hold {
                phase: Phase::Frozen,
                ..
            }
        ));
        let mut retired = head(2);
        retired.retire_at = Some(at(5));
        assert!(matches!(
            decide(&facts(Some(&retired), None)),
            Decision::Teardown(_)
        ));
        let gone = Facts {
            head_missing: true,
            discovered: true,
            ..facts(None, None)
        };
        assert!(matches!(decide(&gone), Decision::Teardown(_)));
        let gone_static = Facts {
            discovered: false,
            ..gone
        };
        assert!(matches!(
            decide(&gone_static),
            Decision::Hold {
                phase: Phase::Failed,
                ..
            }
        ));
    }

    #[test]
    fn rollouts_wait_until_the_cohort_step_opens() {
        let mut h = head(2);
        h.rollout = Some(Rollout {
            steps: vec![RolloutStep {
                percent: 100,
                not_before: at(50),
            }],
            paused_at: None,
        });
        assert!(matches!(
            decide(&facts(Some(&h), Some(&h))),
            Decision::Hold {
                phase: Phase::Waiting,
                ..
            }
        ));
        let later = Facts {
            now: at(60),
            ..facts(Some(&h), Some(&h))
        };
        assert_eq!(decide(&later), Decision::Apply);
    }

    #[test]
    fn refusals_freeze() {
        let r = Rejection::Head(cairn_state_format::Refusal::Unsigned);
        let f = Facts {
            refusal: Some(&r),
            ..facts(None, None)
        };
        assert!(matches!(
            decide(&f),
            Decision::Hold {
                phase: Phase::Frozen,
                ..
            }
        ));
    }
}
