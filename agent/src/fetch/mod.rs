//! Everything read from the store, and the caches in front of it: the snapshot's entries (the
//! delta pack from the applied snapshot when the hub wrote one; for an agent with nothing
//! applied, the snapshot pack the head offers and the delta pack from its snapshot; else a walk
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

pub(crate) mod blobs;
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
    /// A snapshot pack (nothing was applied), and the delta pack from its snapshot if it is an
    /// older one.
    SnapshotPack {
        /// Shards read.
        shards: usize,
        /// Whether a delta pack followed.
        delta: bool,
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

/// A start with nothing applied: the snapshot pack, then the delta pack from its snapshot (or a
/// walk from it, when the head names none).
async fn cold_start(at: Fetcher<'_>, head: &Head, pack: &SnapshotPackRef) -> Result<Fetched> {
    let packed = snapshot_pack::fetch(at, pack).await?;
    let shards = pack.shards.len();
    if packed.digest() == &head.snapshot {
        return Ok(Fetched {
            tree: packed,
            changes: None,
            path: FetchPath::SnapshotPack {
                shards,
                delta: false,
            },
            fallback: None,
        });
    }
    if let Some((tree, _)) = delta::fetch(at, &packed, head).await? {
        return Ok(Fetched {
            tree,
            changes: None,
            path: FetchPath::SnapshotPack {
                shards,
                delta: true,
            },
            fallback: None,
        });
    }
    let (tree, _, nodes) = walk::fetch(at, Some(&packed), &head.snapshot).await?;
    Ok(Fetched {
        tree,
        changes: None,
        path: FetchPath::Walk { nodes },
        fallback: None,
    })
}
