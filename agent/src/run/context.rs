//! What every channel of one agent shares.

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_state_format::Epoch;
use chrono::{DateTime, Utc};

use crate::config::Timing;
use crate::election::Leadership;
use crate::fetch::Fetcher;
use crate::fetch::Shared;
use crate::fetch::cache::BlobCache;
use crate::fetch::remote::Remote;
use crate::serve::metrics::Metrics;
use crate::state::StateDir;
use crate::targets::Target;
use crate::trust::{Current, Io, TrustChain};

/// Shared by the channels of one agent (between agents, only what [`Shared`] holds).
#[derive(Debug)]
pub(crate) struct Ctx {
    pub cluster_id: String,
    pub labels: BTreeMap<String, String>,
    /// The root heads are verified under.
    pub trust: TrustChain,
    /// Epochs of re-created channels the operator said to follow.
    pub accept_epochs: Vec<Epoch>,
    pub timing: Timing,
    pub remote: Remote,
    pub status: Option<cairn_store::Store>,
    pub cache: BlobCache,
    pub target: Arc<dyn Target>,
    pub state: StateDir,
    pub metrics: Arc<Metrics>,
    pub started_at: DateTime<Utc>,
    /// What this agent shares with others in the process (or keeps to itself).
    pub shared: Arc<Shared>,
    /// Whether this agent leads: only the leader reads the store, writes to the target and
    /// reports.
    pub leader: Leadership,
}

impl Ctx {
    /// Where `channel` fetches from.
    pub fn fetcher<'a>(&'a self, channel: &'a str) -> Fetcher<'a> {
        Fetcher {
            remote: &self.remote,
            cache: &self.cache,
            trees: &self.shared.trees,
            packs: &self.shared.packs,
            channel,
        }
    }

    /// The root to verify a head under; with `look`, after reading the store's newer versions.
    pub async fn trust_root(&self, look: bool) -> crate::error::Result<Current> {
        self.trust.current(&self.trust_io(), look).await
    }

    /// Resumes the trust chain recorded in the state (no store read).
    pub async fn resume_trust(&self) {
        self.trust.resume(&self.trust_io()).await;
    }

    fn trust_io(&self) -> Io<'_> {
        Io {
            remote: &self.remote,
            state: &self.state,
            metrics: &self.metrics,
        }
    }

    /// Whether this agent leads now.
    pub fn leads(&self) -> bool {
        self.leader.term().is_some()
    }
}

/// The agent's name and version, as written to status records.
pub(crate) const AGENT: &str = concat!("cairn-agent ", env!("CARGO_PKG_VERSION"));
