//! Prometheus metrics of one agent, in a registry of its own (several agents may share a
//! process), named `cairn_agent_*`.
//!
//! - [`store`]: what the agent asked of the store ([`RequestKind`]) and its trust root.
//! - [`channels`]: how each channel is doing.
//! - [`api_requests`]: the Kubernetes API requests, by verb and per pass.
//!
//! Low in the crate: the parts that count (fetch, trust, reconcile, run) import it; it imports
//! only the error classes and the API request tally.

mod api_requests;
mod channels;
mod store;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use api_requests::ApiRequests;
use channels::ChannelFamilies;
pub use store::RequestKind;
use store::StoreFamilies;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

impl ChannelLabel {
    fn of(channel: &str) -> ChannelLabel {
        ChannelLabel {
            channel: channel.to_owned(),
        }
    }
}

/// The agent's metrics. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    store: StoreFamilies,
    channels: ChannelFamilies,
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
        let (store, channels) = (StoreFamilies::default(), ChannelFamilies::default());
        let api = ApiRequests::default();
        store.register(&mut registry);
        channels.register(&mut registry);
        api.register(&mut registry);
        Metrics {
            registry,
            store,
            channels,
            api,
        }
    }

    /// The metrics in the Prometheus/OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Drops every label set of `channel` (torn down, no longer followed), so that channels
    /// coming and going (`--channel 'pr-*'`) do not grow the metrics without bound.
    pub(crate) fn forget(&self, channel: &str) {
        self.store.forget(channel);
        self.channels.forget(channel);
        self.api.forget(channel);
    }

    /// Kubernetes API requests of `verb` while `channel`'s last pass ran.
    pub fn kube_pass_requests(&self, channel: &str, verb: &str) -> u64 {
        self.api.last_pass(channel, verb)
    }
}

/// A channel's counter, without creating its label set when there is none (a getter must not
/// bring back a channel [`Metrics::forget`] dropped).
fn count(family: &Family<ChannelLabel, Counter>, channel: &str) -> u64 {
    family
        .get(&ChannelLabel::of(channel))
        .map_or(0, |c| c.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

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
