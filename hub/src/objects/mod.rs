//! The store's content-addressed objects as the hub reads them: snapshot roots and index nodes
//! fetched only where two indexes differ ([`nodes`]), one entry changed along its index path
//! ([`patch`]), the changes between two snapshots as people read them ([`compare`]), blobs and
//! packs. Everything read is checked against the digest that names it.

pub mod compare;
pub mod nodes;
pub mod patch;

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use cairn_state_format::{Change, Digest, PackRef, layout};
use cairn_store::{Bound, Store};
use futures::{StreamExt, TryStreamExt};

use crate::error::{Error, Result};

/// Requests in flight at once when fetching many objects.
pub const CONCURRENCY: usize = 16;

/// The object `key_of(digest)` (a snapshot root, an index node, a blob), or
/// [`Error::Missing`] naming `what` when the store lacks it.
async fn fetch(
    store: &Store,
    what: &'static str,
    key_of: fn(&Digest) -> String,
    digest: &Digest,
) -> Result<Bytes> {
    let fetched = store.get(&key_of(digest)).await?.ok_or(Error::Missing {
        what,
        digest: *digest,
    })?;
    Ok(fetched.bytes)
}

/// Fetches blobs by digest (verifying each), concurrently.
pub async fn fetch_blobs(
    store: &Store,
    digests: impl IntoIterator<Item = Digest>,
) -> Result<HashMap<Digest, Bytes>> {
    futures::stream::iter(digests.into_iter().collect::<HashSet<_>>())
        .map(|digest| async move {
            let bytes = fetch(store, "blob", layout::blob_key, &digest).await?;
            digest.verify(&format!("blob {digest}"), &bytes)?;
            Ok::<_, Error>((digest, bytes))
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await
}

/// The bytes of `digests` among blobs held in memory; one not held is [`Error::Missing`].
pub fn local_blobs(
    held: &HashMap<Digest, Bytes>,
    digests: impl IntoIterator<Item = Digest>,
) -> Result<HashMap<Digest, Bytes>> {
    digests
        .into_iter()
        .map(|digest| {
            let bytes = held.get(&digest).cloned().ok_or(Error::Missing {
                what: "local blob",
                digest,
            })?;
            Ok((digest, bytes))
        })
        .collect()
}

/// The blobs that `changes` add to a snapshot (added entries, and the new side of changed ones).
pub fn added_blobs(changes: &[Change]) -> impl Iterator<Item = Digest> + '_ {
    changes.iter().filter_map(|c| match c {
        Change::Added(e) | Change::Changed { new: e, .. } => Some(e.blob),
        Change::Removed(_) => None,
    })
}

/// A stored pack, exactly as long as named and with the digest named.
pub async fn read_pack(store: &Store, pack: &PackRef) -> Result<Bytes> {
    let key = layout::pack_key(&pack.digest);
    let fetched = store
        .get_bounded(&key, Bound::Exactly(pack.bytes))
        .await?
        .ok_or(Error::Missing {
            what: "pack",
            digest: pack.digest,
        })?;
    pack.digest.verify(&format!("pack {key}"), &fetched.bytes)?;
    Ok(fetched.bytes)
}
