//! What a channel's passes work with. `run` builds one [`Ctx`] per agent and hands it to each
//! channel's entry points ([`super::Channel::load`], [`super::Channel::pass`], standing by);
//! inside a pass each step takes only the view it needs: [`Polling`] (steps 1 and 2: the store's
//! heads and the trust root), the cluster id (step 3), [`Converging`] (steps 4 to 7: fetch,
//! plan, apply, persist), the metrics (recording the outcome).

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_state_format::Epoch;
use chrono::{DateTime, Utc};

use crate::election::Leadership;
use crate::error::Result;
use crate::fetch::cache::BlobCache;
use crate::fetch::remote::Remote;
use crate::fetch::{Fetcher, Shared};
use crate::metrics::Metrics;
use crate::state::StateDir;
use crate::targets::Target;
use crate::trust::{Current, Io, TrustChain};

/// Who this agent is: what its status records and cluster selectors name.
#[derive(Debug)]
pub(crate) struct Identity {
    /// The cluster's id.
    pub cluster_id: String,
    /// The cluster's labels.
    pub labels: BTreeMap<String, String>,
    /// When the agent started (in every status record).
    pub started_at: DateTime<Utc>,
}

/// The store as the channels read it: heads and the root they are verified under, snapshots and
/// blobs, and the caches in front of it.
#[derive(Debug)]
pub(crate) struct Reader {
    /// The store, metered.
    pub remote: Remote,
    /// Blobs by digest.
    pub cache: BlobCache,
    /// What this agent shares with others in the process (or keeps to itself).
    pub shared: Arc<Shared>,
    /// The root heads are verified under.
    pub trust: TrustChain,
    /// Epochs of re-created channels the operator said to follow.
    pub accept_epochs: Vec<Epoch>,
}

/// What the channels of one agent share.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// Who the agent is.
    pub identity: Identity,
    /// Where it reads.
    pub reader: Reader,
    /// What it writes to.
    pub target: Arc<dyn Target>,
    /// Where it records what it applied.
    pub state: StateDir,
    /// What it reports.
    pub metrics: Arc<Metrics>,
    /// Whether it leads: only the leader reads the store, writes to the target and reports.
    pub leader: Leadership,
}

impl Ctx {
    /// What steps 1 and 2 read through.
    pub fn polling(&self) -> Polling<'_> {
        Polling {
            remote: &self.reader.remote,
            trust: &self.reader.trust,
            state: &self.state,
            accept_epochs: &self.reader.accept_epochs,
            metrics: &self.metrics,
        }
    }

    /// What steps 4 to 7 of `channel`'s pass fetch from and write to.
    pub fn converging<'a>(&'a self, channel: &'a str) -> Converging<'a> {
        Converging {
            fetch: Fetcher {
                remote: &self.reader.remote,
                cache: &self.reader.cache,
                trees: &self.reader.shared.trees,
                packs: &self.reader.shared.packs,
                channel,
            },
            labels: &self.identity.labels,
            target: self.target.as_ref(),
            state: &self.state,
            metrics: &self.metrics,
        }
    }

    /// Resumes the trust chain recorded in the state (no store read).
    pub async fn resume_trust(&self) {
        let polling = self.polling();
        self.reader.trust.resume(&polling.trust_io()).await;
    }

    /// Whether this agent leads now.
    pub fn leads(&self) -> bool {
        self.leader.term().is_some()
    }
}

/// Steps 1 and 2: the conditional GET of the head and its verification under the trust root.
#[derive(Clone, Copy)]
pub(crate) struct Polling<'a> {
    /// The store.
    pub remote: &'a Remote,
    trust: &'a TrustChain,
    state: &'a StateDir,
    /// Epochs of re-created channels the operator said to follow.
    pub accept_epochs: &'a [Epoch],
    /// Where polls and the trust root's version are counted.
    pub metrics: &'a Metrics,
}

impl Polling<'_> {
    /// The root to verify a head under; with `look`, after reading the store's newer versions.
    pub async fn trust_root(&self, look: bool) -> Result<Current> {
        self.trust.current(&self.trust_io(), look).await
    }

    fn trust_io(&self) -> Io<'_> {
        Io {
            remote: self.remote,
            state: self.state,
            metrics: self.metrics,
        }
    }
}

/// Steps 4 to 7 of one channel's pass: where it fetches from (the store and the caches, for
/// that channel), which entries are this cluster's (its labels), and where it writes (the target
/// and the state).
#[derive(Clone, Copy)]
pub(crate) struct Converging<'a> {
    /// Snapshots and blobs.
    pub fetch: Fetcher<'a>,
    /// The cluster's labels, which cluster selectors match.
    pub labels: &'a BTreeMap<String, String>,
    /// The target.
    pub target: &'a dyn Target,
    /// The state.
    pub state: &'a StateDir,
    /// Where objects applied, pruned and failed are counted.
    pub metrics: &'a Metrics,
}
