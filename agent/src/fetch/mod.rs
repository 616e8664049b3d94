//! Everything read from the store, and the caches in front of it: the snapshot's entries (the
//! delta pack from the applied snapshot when the hub wrote one; for an agent with nothing
//! applied, the snapshot pack the head offers, the bridge it names and a delta pack; else a walk
//! of the new index that fetches only nodes the agent does not have) and the blobs a plan needs.
//! Either way the result is exactly the signed snapshot digest, or it is refused. Results are
//! shared through [`Trees`]: a snapshot another channel (or agent) already holds is not built
//! again. Every read is bounded before it is read (see [`source`]).
//!
//! - [`source`]: the store as read (object stores, read-only HTTP); [`remote`]: metered reads;
//!   [`body`], [`sink`]: packs decoded as they stream in.
//! - [`delta`], [`snapshot_pack`], [`walk`]: the paths to a new snapshot; [`checked`]: packs
//!   checked once per process.
//! - [`tree`]: verified snapshots in memory; [`cache`], [`blobs`]: blobs by digest.
//! - [`shared`]: what several agents of one process may share.

mod blobs;
mod body;
pub(crate) mod cache;
mod checked;
mod delta;
pub(crate) mod remote;
pub(crate) mod shared;
mod sink;
mod snapshot_pack;
pub(crate) mod source;
pub(crate) mod tree;
mod walk;

use std::sync::Arc;

use cairn_state_format::{Change, Head, SnapshotPackRef};

use crate::error::{Error, ErrorClass, Result};
use cache::BlobCache;
use remote::Remote;
use tree::{Tree, Trees};

pub use checked::CheckedPacks;
pub use shared::Shared;

/// How the entries were obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchPath {
    /// The snapshot is the one applied: nothing fetched.
    Same,
    /// One delta pack.
    Delta,
    /// A snapshot pack (nothing was applied), and when it holds an older snapshot, the bridge
    /// from it (when the head names one) and a delta pack.
    SnapshotPack {
        /// Shards read.
        shards: usize,
        /// Whether a delta pack followed.
        delta: bool,
        /// Whether a bridge led from the pack's snapshot to the delta pack's source.
        bridge: bool,
    },
    /// The index, walked from its root; `nodes` were fetched.
    Walk {
        /// Index nodes fetched.
        nodes: usize,
    },
}

/// The new snapshot.
#[derive(Debug)]
pub struct Fetched {
    /// The new snapshot's entries and index, verified against its digest.
    pub tree: Arc<Tree>,
    /// The changes from the base, when known without comparing every entry (`None` without a
    /// base).
    pub changes: Option<Vec<Change>>,
    /// How they were obtained.
    pub path: FetchPath,
    /// A delta pack that was unusable (corrupt or truncated) before the walk succeeded.
    pub fallback: Option<Error>,
}

/// Where a fetch happens: the store, the blob cache, the trees in use, the packs already
/// checked, and for which channel.
#[derive(Clone, Copy, Debug)]
pub struct Fetcher<'a> {
    /// The store.
    pub remote: &'a Remote,
    /// Blobs by digest.
    pub cache: &'a BlobCache,
    /// Snapshots in use.
    pub trees: &'a Trees,
    /// Delta packs already checked.
    pub packs: &'a CheckedPacks,
    /// The channel, for metrics and messages.
    pub channel: &'a str,
}

/// Fetches the snapshot `head` names, starting from `base` (the applied one).
pub async fn fetch_entries(
    at: Fetcher<'_>,
    base: Option<&Arc<Tree>>,
    head: &Head,
) -> Result<Fetched> {
    let to = &head.snapshot;
    let mut fallback = None;
    let usable = |e: Error, what: &str| {
        tracing::warn!(error = %e, channel = at.channel, "{what} unusable; walking the index");
        e
    };
    match (base, &head.packs.snapshot) {
        (Some(base), _) if base.digest() == to => {
            return Ok(Fetched {
                tree: base.clone(),
                changes: Some(Vec::new()),
                path: FetchPath::Same,
                fallback: None,
            });
        }
        (Some(base), _) => match delta::fetch(at, base, head).await {
            Ok(Some((tree, changes))) => {
                return Ok(Fetched {
                    tree,
                    changes: Some(changes),
                    path: FetchPath::Delta,
                    fallback: None,
                });
            }
            Ok(None) => {}
            Err(e) if e.class() == ErrorClass::Fetch => fallback = Some(usable(e, "delta pack")),
            Err(e) => return Err(e),
        },
        (None, Some(pack)) => match cold_start(at, head, pack).await {
            Ok(fetched) => return Ok(fetched),
            Err(e) if e.class() == ErrorClass::Fetch => {
                fallback = Some(usable(e, "snapshot pack"));
            }
            Err(e) => return Err(e),
        },
        (None, None) => {}
    }
    let (tree, changes, nodes) = walk::fetch(at, base, to).await?;
    Ok(Fetched {
        tree,
        changes: base.map(|_| changes),
        path: FetchPath::Walk { nodes },
        fallback,
    })
}

/// A start with nothing applied: the snapshot pack, the bridge from its snapshot when the head
/// names one, then the delta pack from there (or a walk from there, when the head names none).
async fn cold_start(at: Fetcher<'_>, head: &Head, pack: &SnapshotPackRef) -> Result<Fetched> {
    let packed = snapshot_pack::fetch(at, pack).await?;
    let shards = pack.shards.len();
    let done = |tree, delta, bridge| Fetched {
        tree,
        changes: None,
        path: FetchPath::SnapshotPack {
            shards,
            delta,
            bridge,
        },
        fallback: None,
    };
    if packed.digest() == &head.snapshot {
        return Ok(done(packed, false, false));
    }
    let (start, bridged) = match &head.packs.bridge {
        Some(bridge) => (delta::bridge(at, &packed, bridge).await?, true),
        None => (packed, false),
    };
    if let Some((tree, _)) = delta::fetch(at, &start, head).await? {
        return Ok(done(tree, true, bridged));
    }
    let (tree, _, nodes) = walk::fetch(at, Some(&start), &head.snapshot).await?;
    Ok(Fetched {
        tree,
        changes: None,
        path: FetchPath::Walk { nodes },
        fallback: None,
    })
}
