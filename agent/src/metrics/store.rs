//! What the agent asked of the store: head polls (and how many were answered 304), requests by
//! kind, bytes fetched, and the trust root heads are verified under.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{ChannelLabel, Metrics, count};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabel {
    kind: String,
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
    fn label(self) -> RequestLabel {
        let kind = match self {
            RequestKind::Head => "head",
            RequestKind::Delta => "delta",
            RequestKind::SnapshotPack => "snapshot_pack",
            RequestKind::Snapshot => "snapshot",
            RequestKind::Node => "node",
            RequestKind::Blob => "blob",
            RequestKind::List => "list",
            RequestKind::Status => "status",
            RequestKind::TrustRoot => "trust_root",
        };
        RequestLabel {
            kind: kind.to_owned(),
        }
    }
}

/// The store's metric families.
#[derive(Debug, Default)]
pub(super) struct StoreFamilies {
    polls: Family<ChannelLabel, Counter>,
    not_modified: Family<ChannelLabel, Counter>,
    requests: Family<RequestLabel, Counter>,
    fetched_bytes: Family<ChannelLabel, Counter>,
    trust_root_version: Gauge,
    trust_root_refusals: Counter,
}

impl StoreFamilies {
    /// Drops `channel`'s label sets.
    pub fn forget(&self, channel: &str) {
        let label = ChannelLabel::of(channel);
        for family in [&self.polls, &self.not_modified, &self.fetched_bytes] {
            family.remove(&label);
        }
    }

    /// Registers the families in `r`.
    pub fn register(&self, r: &mut Registry) {
        r.register("polls", "Head polls", self.polls.clone());
        let not_modified = "Head polls answered 304 Not Modified";
        r.register("not_modified", not_modified, self.not_modified.clone());
        r.register("requests", "Store requests by kind", self.requests.clone());
        let fetched = "Bytes fetched from the store";
        r.register("fetched_bytes", fetched, self.fetched_bytes.clone());
        r.register(
            "trust_root_version",
            "Version of the store's trust root heads are verified under (0: keys given by --trust)",
            self.trust_root_version.clone(),
        );
        r.register(
            "trust_root_refusals",
            "Versions of the store's trust root refused (below threshold, skipped, replayed, another chain)",
            self.trust_root_refusals.clone(),
        );
    }
}

impl Metrics {
    pub(crate) fn set_trust_root_version(&self, version: u64) {
        let version = i64::try_from(version).unwrap_or(i64::MAX);
        self.store.trust_root_version.set(version);
    }

    pub(crate) fn trust_root_refused(&self) {
        self.store.trust_root_refusals.inc();
    }

    pub(crate) fn poll(&self, channel: &str, not_modified: bool) {
        self.store
            .polls
            .get_or_create(&ChannelLabel::of(channel))
            .inc();
        if not_modified {
            let label = ChannelLabel::of(channel);
            self.store.not_modified.get_or_create(&label).inc();
        }
    }

    pub(crate) fn request(&self, kind: RequestKind, channel: &str, bytes: usize) {
        self.store.requests.get_or_create(&kind.label()).inc();
        self.fetched(channel, bytes);
    }

    /// Bytes of a body read as it streams in (its request was counted when it was sent).
    pub(crate) fn fetched(&self, channel: &str, bytes: usize) {
        if bytes > 0 {
            let label = ChannelLabel::of(channel);
            let fetched = self.store.fetched_bytes.get_or_create(&label);
            fetched.inc_by(bytes as u64);
        }
    }

    /// The version of the store's trust root heads are verified under (0 with `--trust` keys, or
    /// before the first look).
    pub fn trust_root_version(&self) -> u64 {
        u64::try_from(self.store.trust_root_version.get()).unwrap_or(0)
    }

    /// Versions of the store's trust root refused so far.
    pub fn trust_root_refusals(&self) -> u64 {
        self.store.trust_root_refusals.get()
    }

    /// Head polls of `channel` so far.
    pub fn polls(&self, channel: &str) -> u64 {
        count(&self.store.polls, channel)
    }

    /// Head polls of `channel` answered 304 Not Modified.
    pub fn not_modified(&self, channel: &str) -> u64 {
        count(&self.store.not_modified, channel)
    }

    /// Store requests of one kind so far.
    pub fn requests(&self, kind: RequestKind) -> u64 {
        self.store.requests.get_or_create(&kind.label()).get()
    }

    /// Bytes fetched for `channel` so far.
    pub fn fetched_bytes(&self, channel: &str) -> u64 {
        count(&self.store.fetched_bytes, channel)
    }
}
