//! Fetching a new snapshot's entries: the delta pack from the applied snapshot when the hub wrote
//! one, else a walk of the new index that fetches only nodes the agent does not have. Either way
//! the result rebuilds to exactly the signed snapshot digest, or it is refused.

mod delta;
mod walk;

use cairn_state_format::{Digest, EntrySet};

use crate::cache::BlobCache;
use crate::error::{Error, ErrorClass, Result};
use crate::remote::Remote;

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

/// The entries of the new snapshot.
#[derive(Debug)]
pub struct Fetched {
    /// Every entry of the new snapshot, verified against its digest.
    pub entries: EntrySet,
    /// How they were obtained.
    pub path: FetchPath,
    /// A delta pack that was unusable (corrupt or truncated) before the walk succeeded.
    pub fallback: Option<Error>,
}

/// The applied snapshot to start from.
#[derive(Clone, Copy, Debug)]
pub struct Base<'a> {
    /// Its digest.
    pub snapshot: &'a Digest,
    /// Its entries.
    pub entries: &'a EntrySet,
}

/// Fetches the entries of snapshot `to` for `channel`, starting from `base`.
pub async fn fetch_entries(
    remote: &Remote,
    cache: &BlobCache,
    channel: &str,
    base: Option<Base<'_>>,
    to: &Digest,
) -> Result<Fetched> {
    let mut fallback = None;
    if let Some(base) = base {
        if base.snapshot == to {
            return Ok(Fetched {
                entries: base.entries.clone(),
                path: FetchPath::Same,
                fallback: None,
            });
        }
        match delta::fetch(remote, cache, channel, base, to).await {
            Ok(Some(entries)) => {
                return Ok(Fetched {
                    entries,
                    path: FetchPath::Delta,
                    fallback: None,
                });
            }
            Ok(None) => {}
            Err(e) if e.class() == ErrorClass::Fetch => {
                tracing::warn!(error = %e, channel, "delta pack unusable; walking the index");
                fallback = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    let (entries, nodes) = walk::fetch(remote, channel, base, to).await?;
    Ok(Fetched {
        entries,
        path: FetchPath::Walk { nodes },
        fallback,
    })
}
