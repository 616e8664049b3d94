//! Everything read from the store, and the caches in front of it: the snapshot's entries (the
//! delta pack from the applied snapshot when the hub wrote one, else a walk of the new index that
//! fetches only nodes the agent does not have) and the blobs a plan needs. Either way the result
//! is exactly the signed snapshot digest, or it is refused. Results are shared through
//! [`Trees`]: a snapshot another channel (or agent) already holds is not built again.
//!
//! - [`source`]: the store as read (object stores, read-only HTTP); [`remote`]: metered reads.
//! - [`delta`], [`walk`]: the two paths to a new snapshot; [`checked`]: packs checked once per
//!   process.
//! - [`tree`]: verified snapshots in memory; [`cache`], [`blobs`]: blobs by digest.
//! - [`shared`]: what several agents of one process may share.

pub(crate) mod blobs;
pub(crate) mod cache;
mod checked;
mod delta;
pub(crate) mod remote;
pub(crate) mod shared;
pub(crate) mod source;
pub(crate) mod tree;
mod walk;

use std::sync::Arc;

use cairn_state_format::{Change, Digest};

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
    /// The changes from the base, when known without comparing every entry.
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

/// Fetches snapshot `to`, starting from `base` (the applied one).
pub async fn fetch_entries(
    at: Fetcher<'_>,
    base: Option<&Arc<Tree>>,
    to: &Digest,
) -> Result<Fetched> {
    let mut fallback = None;
    if let Some(base) = base {
        if base.digest() == to {
            return Ok(Fetched {
                tree: base.clone(),
                changes: Some(Vec::new()),
                path: FetchPath::Same,
                fallback: None,
            });
        }
        match delta::fetch(at, base, to).await {
            Ok(Some((tree, changes))) => {
                return Ok(Fetched {
                    tree,
                    changes: Some(changes),
                    path: FetchPath::Delta,
                    fallback: None,
                });
            }
            Ok(None) => {}
            Err(e) if e.class() == ErrorClass::Fetch => {
                tracing::warn!(error = %e, channel = at.channel, "delta pack unusable; walking the index");
                fallback = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    let (tree, changes, nodes) = walk::fetch(at, base, to).await?;
    Ok(Fetched {
        tree,
        changes: Some(changes),
        path: FetchPath::Walk { nodes },
        fallback,
    })
}
