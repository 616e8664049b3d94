//! The Kubernetes API requests the agent made, by verb: in total
//! (`cairn_agent_kube_requests_total`) and in each channel's last pass
//! (`cairn_agent_kube_pass_requests`). Counted under the client ([`crate::cluster`]), so nothing
//! goes uncounted; the last pass's figure is what was sent while it ran, which includes the
//! leader election's renewals and, when channels' passes overlap, each other's requests.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::cluster::Tally;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerbLabel {
    verb: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PassLabel {
    channel: String,
    verb: String,
}

/// The metrics of API requests.
#[derive(Debug, Default)]
pub struct ApiRequests {
    total: Family<VerbLabel, Counter>,
    pass: Family<PassLabel, Gauge>,
    /// The totals as last exported.
    exported: Mutex<Tally>,
}

impl ApiRequests {
    /// Registers the metrics in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "kube_requests",
            "Kubernetes API requests by verb",
            self.total.clone(),
        );
        registry.register(
            "kube_pass_requests",
            "Kubernetes API requests by verb while the channel's last pass ran",
            self.pass.clone(),
        );
    }

    /// Records a pass of `channel` that ran while the counts went from `before` to `after`.
    pub fn pass(&self, channel: &str, before: &Tally, after: &Tally) {
        for (verb, n) in after {
            let sent = n.saturating_sub(before.get(verb).copied().unwrap_or(0));
            let label = PassLabel {
                channel: channel.to_owned(),
                verb: (*verb).to_owned(),
            };
            if sent > 0 || self.pass.get(&label).is_some() {
                self.pass
                    .get_or_create(&label)
                    .set(i64::try_from(sent).unwrap_or(i64::MAX));
            }
        }
        let mut exported = self.exported.lock().unwrap_or_else(|p| p.into_inner());
        for (verb, n) in after {
            let new = n.saturating_sub(exported.get(verb).copied().unwrap_or(0));
            if new > 0 {
                self.total
                    .get_or_create(&VerbLabel {
                        verb: (*verb).to_owned(),
                    })
                    .inc_by(new);
            }
        }
        *exported = after.clone();
    }

    /// Drops `channel`'s label sets (every verb counted so far).
    pub fn forget(&self, channel: &str) {
        let exported = self.exported.lock().unwrap_or_else(|p| p.into_inner());
        for verb in exported.keys() {
            self.pass.remove(&PassLabel {
                channel: channel.to_owned(),
                verb: (*verb).to_owned(),
            });
        }
    }

    /// Requests of `verb` in `channel`'s last pass.
    pub fn last_pass(&self, channel: &str, verb: &str) -> u64 {
        let label = PassLabel {
            channel: channel.to_owned(),
            verb: verb.to_owned(),
        };
        self.pass
            .get(&label)
            .map_or(0, |g| u64::try_from(g.get()).unwrap_or(0))
    }
}
