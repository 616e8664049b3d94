//! Prometheus metrics of one agent, in a registry of its own (several agents may share a
//! process).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::api_requests::ApiRequests;
use crate::error::ErrorClass;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabel {
    channel: String,
    class: String,
}

/// The phases `cairn_agent_phase` has a label set for.
const PHASES: [&str; 7] = [
    "pending",
    "progressing",
    "converged",
    "degraded",
    "failed",
    "frozen",
    "waiting",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    channel: String,
    phase: String,
}

/// What kind of object a store request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// A channel head.
    Head,
    /// A delta pack.
    Delta,
    /// A shard of a snapshot pack.
    SnapshotPack,
    /// A snapshot root.
    Snapshot,
    /// An index node.
    Node,
    /// A blob.
    Blob,
    /// A listing of channels.
    List,
    /// A status record write.
    Status,
    /// A version of the store's trust root.
    TrustRoot,
}

impl RequestKind {
    fn as_str(self) -> &'static str {
        match self {
            RequestKind::Head => "head",
            RequestKind::Delta => "delta",
            RequestKind::SnapshotPack => "snapshot_pack",
            RequestKind::Snapshot => "snapshot",
            RequestKind::Node => "node",
            RequestKind::Blob => "blob",
            RequestKind::List => "list",
            RequestKind::Status => "status",
            RequestKind::TrustRoot => "trust_root",
        }
    }
}

/// The agent's metrics. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    polls: Family<ChannelLabel, Counter>,
    not_modified: Family<ChannelLabel, Counter>,
    requests: Family<RequestLabel, Counter>,
    fetched_bytes: Family<ChannelLabel, Counter>,
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
    trust_root_version: Gauge,
    trust_root_refusals: Counter,
    /// Kubernetes API requests.
    pub(crate) api: ApiRequests,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Fresh metrics in a new registry, named `cairn_agent_*`.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("cairn_agent");
        let m = Metrics {
            registry: Registry::default(),
            polls: Family::default(),
            not_modified: Family::default(),
            requests: Family::default(),
            fetched_bytes: Family::default(),
            applied: Family::default(),
            pruned: Family::default(),
            failed: Family::default(),
            generation: Family::default(),
            head_age: Family::default(),
            last_error: Family::default(),
            errors: Family::default(),
            phase: Family::default(),
            status_failures: Counter::default(),
            follower_restarts: Family::default(),
            trust_root_version: Gauge::default(),
            trust_root_refusals: Counter::default(),
            api: ApiRequests::default(),
        };
        let r = &mut registry;
        r.register("polls", "Head polls", m.polls.clone());
        r.register(
            "not_modified",
            "Head polls answered 304 Not Modified",
            m.not_modified.clone(),
        );
        r.register("requests", "Store requests by kind", m.requests.clone());
        r.register(
            "fetched_bytes",
            "Bytes fetched from the store",
            m.fetched_bytes.clone(),
        );
        r.register(
            "objects_applied",
            "Objects created or updated",
            m.applied.clone(),
        );
        r.register("objects_pruned", "Objects removed", m.pruned.clone());
        r.register(
            "objects_failed",
            "Objects that failed to apply or prune",
            m.failed.clone(),
        );
        r.register(
            "applied_generation",
            "Generation applied",
            m.generation.clone(),
        );
        r.register(
            "head_age_seconds",
            "Age of the newest verified head",
            m.head_age.clone(),
        );
        r.register(
            "last_error",
            "1 for the class of the channel's current error",
            m.last_error.clone(),
        );
        r.register("errors", "Errors by class", m.errors.clone());
        r.register(
            "phase",
            "1 for the channel's current phase",
            m.phase.clone(),
        );
        r.register(
            "status_write_failures",
            "Status records that could not be written",
            m.status_failures.clone(),
        );
        r.register(
            "follower_restarts",
            "Times a channel's follower failed and was restarted",
            m.follower_restarts.clone(),
        );
        r.register(
            "trust_root_version",
            "Version of the store's trust root heads are verified under (0: keys given by --trust)",
            m.trust_root_version.clone(),
        );
        r.register(
            "trust_root_refusals",
            "Versions of the store's trust root refused (below threshold, skipped, replayed, another chain)",
            m.trust_root_refusals.clone(),
        );
        m.api.register(r);
        Metrics { registry, ..m }
    }

    /// The metrics in the Prometheus/OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn ch(channel: &str) -> ChannelLabel {
        ChannelLabel {
            channel: channel.to_owned(),
        }
    }

    pub(crate) fn set_trust_root_version(&self, version: u64) {
        self.trust_root_version
            .set(i64::try_from(version).unwrap_or(i64::MAX));
    }

    pub(crate) fn trust_root_refused(&self) {
        self.trust_root_refusals.inc();
    }

    pub(crate) fn poll(&self, channel: &str, not_modified: bool) {
        self.polls.get_or_create(&Self::ch(channel)).inc();
        if not_modified {
            self.not_modified.get_or_create(&Self::ch(channel)).inc();
        }
    }

    pub(crate) fn request(&self, kind: RequestKind, channel: &str, bytes: usize) {
        self.requests
            .get_or_create(&RequestLabel {
                kind: kind.as_str().to_owned(),
            })
            .inc();
        self.fetched(channel, bytes);
    }

    /// Bytes of a body read as it streams in (its request was counted when it was sent).
    pub(crate) fn fetched(&self, channel: &str, bytes: usize) {
        if bytes > 0 {
            self.fetched_bytes
                .get_or_create(&Self::ch(channel))
                .inc_by(bytes as u64);
        }
    }

    pub(crate) fn objects(&self, channel: &str, applied: u64, pruned: u64, failed: u64) {
        self.applied
            .get_or_create(&Self::ch(channel))
            .inc_by(applied);
        self.pruned.get_or_create(&Self::ch(channel)).inc_by(pruned);
        self.failed.get_or_create(&Self::ch(channel)).inc_by(failed);
    }

    pub(crate) fn set_generation(&self, channel: &str, generation: u64) {
        self.generation
            .get_or_create(&Self::ch(channel))
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
    }

    pub(crate) fn set_head_age(&self, channel: &str, seconds: f64) {
        self.head_age.get_or_create(&Self::ch(channel)).set(seconds);
    }

    pub(crate) fn error(&self, channel: &str, class: Option<ErrorClass>) {
        for c in ErrorClass::ALL {
            let label = ErrorLabel {
                channel: channel.to_owned(),
                class: c.as_str().to_owned(),
            };
            let on = class == Some(c);
            if on || self.last_error.get(&label).is_some() {
                self.last_error.get_or_create(&label).set(i64::from(on));
            }
        }
        if let Some(c) = class {
            self.errors
                .get_or_create(&ErrorLabel {
                    channel: channel.to_owned(),
                    class: c.as_str().to_owned(),
                })
                .inc();
        }
    }

    pub(crate) fn set_phase(&self, channel: &str, phase: &str) {
        for p in PHASES {
            let label = PhaseLabel {
                channel: channel.to_owned(),
                phase: p.to_owned(),
            };
            let on = p == phase;
            if on || self.phase.get(&label).is_some() {
                self.phase.get_or_create(&label).set(i64::from(on));
            }
        }
    }

    /// Drops every label set of `channel` (torn down, no longer followed), so that channels
    /// coming and going (`--channel 'pr-*'`) do not grow the metrics without bound.
    pub(crate) fn forget(&self, channel: &str) {
        let ch = Self::ch(channel);
        for family in [
            &self.polls,
            &self.not_modified,
            &self.fetched_bytes,
            &self.applied,
            &self.pruned,
            &self.failed,
            &self.follower_restarts,
        ] {
            family.remove(&ch);
        }
        self.generation.remove(&ch);
        self.head_age.remove(&ch);
        for class in ErrorClass::ALL {
            let label = ErrorLabel {
                channel: channel.to_owned(),
                class: class.as_str().to_owned(),
            };
            self.last_error.remove(&label);
            self.errors.remove(&label);
        }
        for phase in PHASES {
            self.phase.remove(&PhaseLabel {
                channel: channel.to_owned(),
                phase: phase.to_owned(),
            });
        }
        self.api.forget(channel);
    }

    pub(crate) fn follower_restarted(&self, channel: &str) {
        self.follower_restarts
            .get_or_create(&Self::ch(channel))
            .inc();
    }

    /// Times `channel`'s follower failed and was restarted.
    pub fn follower_restarts(&self, channel: &str) -> u64 {
        count(&self.follower_restarts, channel)
    }

    pub(crate) fn status_failed(&self) {
        self.status_failures.inc();
    }

    /// Status records that could not be written so far.
    pub fn status_failures(&self) -> u64 {
        self.status_failures.get()
    }

    /// The version of the store's trust root heads are verified under (0 with `--trust` keys, or
    /// before the first look).
    pub fn trust_root_version(&self) -> u64 {
        u64::try_from(self.trust_root_version.get()).unwrap_or(0)
    }

    /// Versions of the store's trust root refused so far.
    pub fn trust_root_refusals(&self) -> u64 {
        self.trust_root_refusals.get()
    }

    /// Head polls of `channel` so far.
    pub fn polls(&self, channel: &str) -> u64 {
        count(&self.polls, channel)
    }

    /// Head polls of `channel` answered 304 Not Modified.
    pub fn not_modified(&self, channel: &str) -> u64 {
        count(&self.not_modified, channel)
    }

    /// Store requests of one kind so far.
    pub fn requests(&self, kind: RequestKind) -> u64 {
        self.requests
            .get_or_create(&RequestLabel {
                kind: kind.as_str().to_owned(),
            })
            .get()
    }

    /// Bytes fetched for `channel` so far.
    pub fn fetched_bytes(&self, channel: &str) -> u64 {
        count(&self.fetched_bytes, channel)
    }

    /// Objects applied, pruned and failed for `channel` so far.
    pub fn object_counts(&self, channel: &str) -> (u64, u64, u64) {
        (
            count(&self.applied, channel),
            count(&self.pruned, channel),
            count(&self.failed, channel),
        )
    }

    /// The generation applied for `channel` (0 if none).
    pub fn applied_generation(&self, channel: &str) -> u64 {
        self.generation
            .get(&Self::ch(channel))
            .map_or(0, |g| u64::try_from(g.get()).unwrap_or(0))
    }

    /// Kubernetes API requests of `verb` while `channel`'s last pass ran.
    pub fn kube_pass_requests(&self, channel: &str, verb: &str) -> u64 {
        self.api.last_pass(channel, verb)
    }

    /// The class of `channel`'s current error, if any.
    pub fn last_error(&self, channel: &str) -> Option<String> {
        ErrorClass::ALL
            .into_iter()
            .find(|class| {
                self.last_error
                    .get(&ErrorLabel {
                        channel: channel.to_owned(),
                        class: class.as_str().to_owned(),
                    })
                    .is_some_and(|g| g.get() == 1)
            })
            .map(|class| class.as_str().to_owned())
    }
}

/// A channel's counter, without creating its label set when there is none (a getter must not
/// bring back a channel [`Metrics::forget`] dropped).
fn count(family: &Family<ChannelLabel, Counter>, channel: &str) -> u64 {
    family.get(&Metrics::ch(channel)).map_or(0, |c| c.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_encode_with_prefix_and_track_current_error() {
        let m = Metrics::new();
        m.poll("prod", true);
        m.error("prod", Some(ErrorClass::Store));
        assert_eq!(m.last_error("prod").as_deref(), Some("store"));
        m.error("prod", None);
        assert_eq!(m.last_error("prod"), None);
        let text = m.encode();
        assert!(
            text.contains("cairn_agent_not_modified_total{channel=\"prod\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn a_forgotten_channel_leaves_no_label_set() {
        let m = Metrics::new();
        for channel in ["pr-1", "prod"] {
            m.poll(channel, true);
            m.fetched(channel, 10);
            m.objects(channel, 1, 1, 1);
            m.set_generation(channel, 3);
            m.set_head_age(channel, 1.0);
            m.error(channel, Some(ErrorClass::Store));
            m.set_phase(channel, "converged");
            m.follower_restarted(channel);
            let sent = crate::cluster::Tally::from([("patch", 2)]);
            m.api.pass(channel, &crate::cluster::Tally::new(), &sent);
        }
        m.forget("pr-1");
        assert_eq!(m.polls("pr-1"), 0);
        let text = m.encode();
        assert!(!text.contains("pr-1"), "{text}");
        assert!(
            text.contains("cairn_agent_applied_generation{channel=\"prod\"} 3"),
            "{text}"
        );
    }
}
