//! The delta path: one object from the applied snapshot to the new one.

use std::sync::Arc;

use bytes::Bytes;
use cairn_state_format::{Change, Digest, apply_delta_to_index, layout};

use super::Fetcher;
use super::checked::CheckedPack;
use crate::error::{Error, HttpProblem, Result};
use crate::fetch::tree::Tree;
use crate::serve::metrics::RequestKind;

/// The new snapshot and the changes from `base` by the pack `base → to`; `None` when the hub
/// wrote no such pack. Blobs the pack carries go to the cache. The pack is checked against the
/// signed digest through the base's index nodes: O(changes × depth), not a rebuild; a pack
/// with the same bytes from the same base already checked in this process is not checked again.
pub async fn fetch(
    at: Fetcher<'_>,
    base: &Arc<Tree>,
    to: &Digest,
) -> Result<Option<(Arc<Tree>, Vec<Change>)>> {
    let key = layout::delta_key(base.digest(), to);
    let pack = match at.remote.get(RequestKind::Delta, at.channel, &key).await {
        Ok(Some(pack)) => pack,
        Ok(None) => return Ok(None),
        // A CDN in front of a private bucket answers 403 for objects that do not exist; a missing
        // pack is expected, so that answer means "walk the index" rather than "fail".
        Err(Error::Http {
            problem: HttpProblem::Status { status: 403, .. },
            ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let what = format!("delta pack {key}");
    let digest = Digest::of(&pack);
    let checked = match at.packs.get(base.digest(), &digest) {
        Some(checked) => checked,
        None => {
            let checked = check(at, base, &what, &pack)?;
            at.packs.remember(base.digest(), &digest, &checked);
            checked
        }
    };
    // Checked against its own `to`; it must also lead to the snapshot the signed head names.
    if checked.tree.digest() != to {
        return Err(Error::Corrupt {
            what,
            source: cairn_state_format::Error::DigestMismatch {
                what: "snapshot produced by the pack".to_owned(),
                expected: *to,
                actual: *checked.tree.digest(),
            },
        });
    }
    at.cache.insert_all(checked.blobs).await;
    Ok(Some((checked.tree, checked.changes)))
}

/// Checks `pack` against the base's index nodes and builds (or finds) the snapshot it leads to:
/// a function of the base and the pack's bytes alone, which is what lets the result be shared.
fn check(at: Fetcher<'_>, base: &Arc<Tree>, what: &str, pack: &Bytes) -> Result<CheckedPack> {
    let mut applied = apply_delta_to_index(&**base, base.snapshot(), base.digest(), &pack[..])
        .map_err(|source| Error::Corrupt {
            what: what.to_owned(),
            source,
        })?;
    let produced = applied.snapshot.digest();
    let blobs = std::mem::take(&mut applied.blobs)
        .into_iter()
        .map(|(digest, blob)| (digest, Bytes::from(blob)))
        .collect();
    let tree = match at.trees.get(&produced) {
        Some(tree) => tree,
        None => at.trees.share(base.after(&applied)),
    };
    Ok(CheckedPack {
        tree,
        changes: applied.updated.changes,
        blobs,
    })
}
