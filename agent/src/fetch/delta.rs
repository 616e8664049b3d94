//! The delta path: one pack from the applied snapshot to the new one (and, on a cold start, the
//! bridge from the snapshot pack's snapshot to a recent one).
//!
//! A format 2 head names the pack from each recent snapshot with its exact length and digest:
//! the agent asks for exactly that many bytes and checks the digest over what it decoded. A
//! format 1 head names none: the agent reads `deltas/<from>/<to>` bounded by the limit of its
//! kind, and with the record lines it keeps bounded too, since no signature vouches for them.
//! Either way the pack is decoded as it streams in, and blobs beyond a few megabytes go to the
//! cache, never held whole.

use std::sync::Arc;

use cairn_state_format::{
    BridgeRef, Change, Digest, Head, MAX_UNNAMED_DELTA_BYTES, apply_delta_to_index_streaming,
    layout,
};

use super::Fetcher;
use super::body::{BodyReader, blocking, check_digest, decoded};
use super::checked::CheckedPack;
use super::sink::BlobSink;
use super::source::{Body, Bound};
use crate::error::{Error, HttpProblem, Result};
use crate::fetch::tree::Tree;
use crate::metrics::RequestKind;

/// Record bytes (entries, removals) kept of a pack no signature vouches for.
const UNNAMED_RECORD_BUDGET: u64 = 8 * 1024 * 1024;

/// Where the pack from `base` is, and what vouches for it.
struct Located {
    key: String,
    bound: Bound,
    /// The digest a signed head named, if any.
    named: Option<Digest>,
}

fn locate(base: &Digest, head: &Head) -> Option<Located> {
    match head.packs.delta_from(base) {
        Some(delta) => Some(Located {
            key: layout::pack_key(&delta.digest),
            bound: Bound::Exactly(delta.bytes),
            named: Some(delta.digest),
        }),
        None if head.format < 2 => Some(Located {
            key: layout::delta_key(base, &head.snapshot),
            bound: Bound::AtMost(MAX_UNNAMED_DELTA_BYTES),
            named: None,
        }),
        // A format 2 hub offers what it wrote: no pack named, none to look for.
        None => None,
    }
}

/// The new snapshot and the changes from `base` by the pack `base → head.snapshot`; `None` when
/// the hub wrote no such pack. Blobs the pack carries go to the cache. The pack is checked
/// against the signed digest through the base's index nodes: O(changes × depth), not a
/// rebuild; a pack with the same bytes from the same base already checked in this process is
/// not checked again.
pub async fn fetch(
    at: Fetcher<'_>,
    base: &Arc<Tree>,
    head: &Head,
) -> Result<Option<(Arc<Tree>, Vec<Change>)>> {
    match locate(base.digest(), head) {
        Some(located) => fetch_located(at, base, located, &head.snapshot).await,
        None => Ok(None),
    }
}

/// The snapshot `bridge` leads to from `base`, the snapshot pack's snapshot: a delta pack like
/// any other, named by the signed head with its length and digest, whose result must be the
/// snapshot the head says it leads to.
pub async fn bridge(at: Fetcher<'_>, base: &Arc<Tree>, bridge: &BridgeRef) -> Result<Arc<Tree>> {
    let key = layout::pack_key(&bridge.digest);
    let located = Located {
        key: key.clone(),
        bound: Bound::Exactly(bridge.bytes),
        named: Some(bridge.digest),
    };
    match fetch_located(at, base, located, &bridge.to).await? {
        Some((tree, _)) => Ok(tree),
        None => Err(Error::Missing {
            key,
            referrer: format!("the head of channel {}", at.channel),
        }),
    }
}

/// The pack at `located`, applied to `base`, which must lead to `to`; `None` when a pack no
/// head names is not there.
async fn fetch_located(
    at: Fetcher<'_>,
    base: &Arc<Tree>,
    located: Located,
    to: &Digest,
) -> Result<Option<(Arc<Tree>, Vec<Change>)>> {
    let what = format!("delta pack {}", located.key);
    let body = match at
        .remote
        .open(RequestKind::Delta, at.channel, &located.key, located.bound)
        .await
    {
        Ok(Some(body)) => body,
        Ok(None) if located.named.is_some() => {
            return Err(Error::Missing {
                key: located.key,
                referrer: format!("the head of channel {}", at.channel),
            });
        }
        Ok(None) => return Ok(None),
        // A CDN in front of a private bucket answers 403 for objects that do not exist; a missing
        // pack is expected, so that answer means "walk the index" rather than "fail".
        Err(Error::Http {
            problem: HttpProblem::Status { status: 403, .. },
            ..
        }) if located.named.is_none() => return Ok(None),
        Err(e) => return Err(e.in_pack(&what)),
    };
    let checked = check(at, base, &located, body).await?;
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

/// Checks the pack in `body` against the base's index nodes and builds (or finds) the snapshot
/// it leads to: a function of the base and the pack's bytes alone, which is what lets the
/// result be shared.
async fn check(
    at: Fetcher<'_>,
    base: &Arc<Tree>,
    located: &Located,
    body: Body,
) -> Result<CheckedPack> {
    let reader = BodyReader::new(body);
    let what = format!("delta pack {}", located.key);
    if let Some(named) = located.named
        && let Some(checked) = at.packs.get(base.digest(), &named)
    {
        // Checked here before: hash what was downloaded and take the result.
        let name = what.clone();
        let got = blocking("hashing a delta pack", move || reader.finish(&name)).await?;
        check_digest(&what, &named, got)?;
        return Ok(checked);
    }
    let name = what.clone();
    let budget = located.named.is_none().then_some(UNNAMED_RECORD_BUDGET);
    let (tree, sink) = (base.clone(), BlobSink::new(at.cache.clone()));
    let (applied, blobs, digest) = blocking("checking a delta pack", move || {
        let (mut reader, mut sink) = (reader, sink);
        let result = apply_delta_to_index_streaming(
            &*tree,
            tree.snapshot(),
            tree.digest(),
            &mut reader,
            budget,
            &mut |digest, blob| {
                sink.take(digest, blob);
                Ok(())
            },
        );
        let applied = decoded(&reader, result, &name)?;
        let digest = reader.finish(&name)?;
        Ok((applied, sink.finish(), digest))
    })
    .await?;
    if let Some(named) = located.named {
        check_digest(&what, &named, digest)?;
    }
    let produced = applied.snapshot.digest();
    let tree = match at.trees.get(&produced) {
        Some(tree) => tree,
        None => at.trees.share(base.after(&applied)),
    };
    let remembered = blobs.is_some();
    let checked = CheckedPack {
        tree,
        changes: applied.updated.changes,
        blobs: blobs.unwrap_or_default(),
    };
    // A pack whose blobs went to this agent's cache is not shared: another agent would lack them.
    if remembered {
        at.packs.remember(base.digest(), &digest, &checked);
    }
    Ok(checked)
}
