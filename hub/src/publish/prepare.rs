//! Computing a publish's new snapshot and what the store lacks of it, before anything is uploaded.
//!
//! Two ways, with the same result:
//! - incremental: when the publish cache describes the channel's newest snapshot, the new index
//!   is that snapshot's index with the changed files' entries applied ([`RemoteNodes::update`]):
//!   work and reads in proportion to the change, whatever the snapshot's size;
//! - full: build the whole index from every entry and compare it with the newest snapshot's,
//!   reading only the paths where they differ ([`RemoteNodes::compare`]).

use std::collections::HashMap;

use bytes::Bytes;
use cairn_state_format::{CONTENT_FORMAT, Change, Digest, EntrySet, Snapshot};

use super::scan::Scan;
use crate::error::Result;
use crate::objects::nodes::RemoteNodes;
use crate::objects::{added_blobs, local_blobs};

/// A new snapshot, ready to upload.
pub struct Prepared {
    /// The snapshot root.
    pub snapshot: Snapshot,
    /// Index nodes the store may lack, with their canonical bytes.
    pub nodes: Vec<(Digest, Vec<u8>)>,
    /// Changes from the channel's newest snapshot (every entry is added when there is none).
    pub changes: Vec<Change>,
    /// Canonical bytes of every blob the changes add.
    pub blobs: HashMap<Digest, Bytes>,
    /// Whether the incremental way was taken.
    pub incremental: bool,
}

impl Prepared {
    /// A snapshot prepared by a full build.
    fn full(
        snapshot: Snapshot,
        nodes: Vec<(Digest, Vec<u8>)>,
        changes: Vec<Change>,
        blobs: HashMap<Digest, Bytes>,
    ) -> Prepared {
        Prepared {
            snapshot,
            nodes,
            changes,
            blobs,
            incremental: false,
        }
    }
}

/// Prepares the snapshot of `entries` (with `blobs`, the bytes of every entry) against
/// `previous`, the channel's newest snapshot.
pub async fn from_entries(
    nodes: &mut RemoteNodes<'_>,
    entries: &EntrySet,
    blobs: &HashMap<Digest, Bytes>,
    previous: Option<&Digest>,
) -> Result<Prepared> {
    let (snapshot, changes, new_nodes) = full(nodes, entries, previous).await?;
    let blobs = local_blobs(blobs, added_blobs(&changes))?;
    Ok(Prepared::full(snapshot, new_nodes, changes, blobs))
}

/// Prepares the snapshot of a scan's manifests against `previous`, the channel's newest
/// snapshot: incrementally when the scan's cache describes `previous`.
pub async fn from_scan(
    nodes: &mut RemoteNodes<'_>,
    scan: &mut Scan,
    previous: Option<&Digest>,
) -> Result<Prepared> {
    let cached = scan
        .changes_since_cached()
        .filter(|c| Some(&c.base) == previous);
    if let Some(cached) = cached {
        let base = nodes.snapshot(&cached.base).await?;
        let updated = nodes
            .update(&base.index, cached.upserts, cached.removals)
            .await?;
        let (mut entries, mut bytes) = (base.entries, base.bytes);
        for change in &updated.changes {
            match change {
                Change::Added(e) => (entries, bytes) = (entries + 1, bytes + e.size),
                Change::Removed(e) => (entries, bytes) = (entries - 1, bytes - e.size),
                Change::Changed { old, new } => bytes = bytes - old.size + new.size,
            }
        }
        let snapshot = Snapshot {
            format: CONTENT_FORMAT.into(),
            index: updated.root,
            entries,
            bytes,
        };
        let blobs = scan.blobs(added_blobs(&updated.changes))?;
        nodes.insert(updated.nodes.iter().map(|(d, n, _)| (*d, n.clone())));
        return Ok(Prepared {
            snapshot,
            nodes: updated.nodes.into_iter().map(|(d, _, c)| (d, c)).collect(),
            changes: updated.changes,
            blobs,
            incremental: true,
        });
    }
    let entries = scan.entry_set()?;
    let (snapshot, changes, new_nodes) = full(nodes, &entries, previous).await?;
    let blobs = scan.blobs(added_blobs(&changes))?;
    Ok(Prepared::full(snapshot, new_nodes, changes, blobs))
}

/// Builds the whole index of `entries` and compares it with `previous`'s.
async fn full(
    nodes: &mut RemoteNodes<'_>,
    entries: &EntrySet,
    previous: Option<&Digest>,
) -> Result<(Snapshot, Vec<Change>, Vec<(Digest, Vec<u8>)>)> {
    let (snapshot, index) = Snapshot::build(entries);
    let (changes, new_digests) = match previous {
        Some(previous) => {
            let root = nodes.snapshot(previous).await?.index;
            let comparison = nodes.compare(&root, &index).await?;
            (comparison.changes, comparison.new_nodes)
        }
        None => (
            entries.values().cloned().map(Change::Added).collect(),
            index.digests().copied().collect(),
        ),
    };
    let new_nodes = new_digests
        .iter()
        .filter_map(|d| index.node(d).map(|(_, canonical)| (*d, canonical.to_vec())))
        .collect();
    // Later steps (delta packs) read the new index through `nodes`; it is all in memory here.
    nodes.insert(
        index
            .digests()
            .filter_map(|d| index.node(d).map(|(n, _)| (*d, n.clone()))),
    );
    Ok((snapshot, changes, new_nodes))
}
