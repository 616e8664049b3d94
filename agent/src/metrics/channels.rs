//! How each channel is doing: objects applied, pruned and failed, the generation applied and the
//! age of the newest head, its phase and current error, its follower's restarts, the heads refused
//! for their scope, and the status records that could not be written.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{ChannelLabel, Metrics, count};
use crate::error::ErrorClass;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabel {
    channel: String,
    class: String,
}

impl ErrorLabel {
    fn of(channel: &str, class: ErrorClass) -> ErrorLabel {
        ErrorLabel {
            channel: channel.to_owned(),
            class: class.as_str().to_owned(),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    channel: String,
    phase: String,
}

/// The phases as status records spell them.
const PHASES: [&str; 7] = [
    "pending",
    "progressing",
    "converged",
    "degraded",
    "failed",
    "frozen",
    "waiting",
];

/// The channels' metric families.
#[derive(Debug, Default)]
pub(super) struct ChannelFamilies {
    applied: Family<ChannelLabel, Counter>,
    pruned: Family<ChannelLabel, Counter>,
    failed: Family<ChannelLabel, Counter>,
    generation: Family<ChannelLabel, Gauge>,
    head_age: Family<ChannelLabel, Gauge<f64, AtomicU64>>,
    last_error: Family<ErrorLabel, Gauge>,
    errors: Family<ErrorLabel, Counter>,
    phase: Family<PhaseLabel, Gauge>,
    status_failures: Counter,
    follower_restarts: Family<ChannelLabel, Counter>,
    scope_refusals: Family<ChannelLabel, Counter>,
}

impl ChannelFamilies {
    /// Drops `channel`'s label sets.
    pub fn forget(&self, channel: &str) {
        let label = ChannelLabel::of(channel);
        for family in [
            &self.applied,
            &self.pruned,
            &self.failed,
            &self.follower_restarts,
            &self.scope_refusals,
        ] {
            family.remove(&label);
        }
        self.generation.remove(&label);
        self.head_age.remove(&label);
        for class in ErrorClass::ALL {
            let label = ErrorLabel::of(channel, class);
            self.last_error.remove(&label);
            self.errors.remove(&label);
        }
        for phase in PHASES {
            self.phase.remove(&PhaseLabel {
                channel: channel.to_owned(),
                phase: phase.to_owned(),
            });
        }
    }

    /// Registers the families in `r`.
    pub fn register(&self, r: &mut Registry) {
        let failed = "Objects that failed to apply or prune";
        r.register(
            "objects_applied",
            "Objects created or updated",
            self.applied.clone(),
        );
        r.register("objects_pruned", "Objects removed", self.pruned.clone());
        r.register("objects_failed", failed, self.failed.clone());
        r.register(
            "applied_generation",
            "Generation applied",
            self.generation.clone(),
        );
        let head_age = "Age of the newest verified head";
        r.register("head_age_seconds", head_age, self.head_age.clone());
        let last_error = "1 for the class of the channel's current error";
        r.register("last_error", last_error, self.last_error.clone());
        r.register("errors", "Errors by class", self.errors.clone());
        r.register(
            "phase",
            "1 for the channel's current phase",
            self.phase.clone(),
        );
        let status = "Status records that could not be written";
        r.register(
            "status_write_failures",
            status,
            self.status_failures.clone(),
        );
        let restarts = "Times a channel's follower failed and was restarted";
        r.register(
            "follower_restarts",
            restarts,
            self.follower_restarts.clone(),
        );
        let refusals = "Heads refused because their content reaches beyond the channel's scope";
        r.register("scope_refusals", refusals, self.scope_refusals.clone());
    }
}

impl Metrics {
    pub(crate) fn objects(&self, channel: &str, applied: u64, pruned: u64, failed: u64) {
        let (label, families) = (ChannelLabel::of(channel), &self.channels);
        families.applied.get_or_create(&label).inc_by(applied);
        families.pruned.get_or_create(&label).inc_by(pruned);
        families.failed.get_or_create(&label).inc_by(failed);
        // At 0 from the first pass on, so that `increase()` in an alert sees the first refusal.
        families.scope_refusals.get_or_create(&label).inc_by(0);
    }

    pub(crate) fn set_generation(&self, channel: &str, generation: u64) {
        let generation = i64::try_from(generation).unwrap_or(i64::MAX);
        let label = ChannelLabel::of(channel);
        self.channels
            .generation
            .get_or_create(&label)
            .set(generation);
    }

    pub(crate) fn set_head_age(&self, channel: &str, seconds: f64) {
        let label = ChannelLabel::of(channel);
        self.channels.head_age.get_or_create(&label).set(seconds);
    }

    /// Sets `channel`'s current error class (`None`: no error), and counts it.
    pub(crate) fn error(&self, channel: &str, class: Option<ErrorClass>) {
        for c in ErrorClass::ALL {
            let label = ErrorLabel::of(channel, c);
            let on = class == Some(c);
            if on || self.channels.last_error.get(&label).is_some() {
                self.channels
                    .last_error
                    .get_or_create(&label)
                    .set(i64::from(on));
            }
        }
        if let Some(c) = class {
            let label = ErrorLabel::of(channel, c);
            self.channels.errors.get_or_create(&label).inc();
        }
    }

    pub(crate) fn set_phase(&self, channel: &str, phase: &str) {
        for p in PHASES {
            let label = PhaseLabel {
                channel: channel.to_owned(),
                phase: p.to_owned(),
            };
            let on = p == phase;
            if on || self.channels.phase.get(&label).is_some() {
                self.channels.phase.get_or_create(&label).set(i64::from(on));
            }
        }
    }

    pub(crate) fn follower_restarted(&self, channel: &str) {
        let label = ChannelLabel::of(channel);
        self.channels.follower_restarts.get_or_create(&label).inc();
    }

    /// Times `channel`'s follower failed and was restarted.
    pub fn follower_restarts(&self, channel: &str) -> u64 {
        count(&self.channels.follower_restarts, channel)
    }

    pub(crate) fn scope_refused(&self, channel: &str) {
        let label = ChannelLabel::of(channel);
        self.channels.scope_refusals.get_or_create(&label).inc();
    }

    /// Heads of `channel` refused so far for content outside its scope.
    pub fn scope_refusals(&self, channel: &str) -> u64 {
        let label = ChannelLabel::of(channel);
        self.channels.scope_refusals.get_or_create(&label).get()
    }

    pub(crate) fn status_failed(&self) {
        self.channels.status_failures.inc();
    }

    /// Status records that could not be written so far.
    pub fn status_failures(&self) -> u64 {
        self.channels.status_failures.get()
    }

    /// Objects applied, pruned and failed for `channel` so far.
    pub fn object_counts(&self, channel: &str) -> (u64, u64, u64) {
        let families = &self.channels;
        (
            count(&families.applied, channel),
            count(&families.pruned, channel),
            count(&families.failed, channel),
        )
    }

    /// The generation applied for `channel` (0 if none).
    pub fn applied_generation(&self, channel: &str) -> u64 {
        let label = ChannelLabel::of(channel);
        self.channels
            .generation
            .get(&label)
            .map_or(0, |g| u64::try_from(g.get()).unwrap_or(0))
    }

    /// The class of `channel`'s current error, if any.
    pub fn last_error(&self, channel: &str) -> Option<String> {
        ErrorClass::ALL
            .into_iter()
            .find(|class| {
                let label = ErrorLabel::of(channel, *class);
                self.channels
                    .last_error
                    .get(&label)
                    .is_some_and(|g| g.get() == 1)
            })
            .map(|class| class.as_str().to_owned())
    }
}
