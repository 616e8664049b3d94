//! The snapshot pack a head offers: the previous one while the way from it stays small against
//! it ([`Pace`]), else a new one, merged from the previous pack and the delta pack since (two
//! streams read in identity order, one GET per shard) or, when there is none, written from the
//! snapshot's entries and blobs.

use std::collections::BTreeMap;

use cairn_state_format::{
    DeltaItem, DeltaReader, Entry, EntrySet, PackRef, ResourceId, Snapshot, SnapshotPackReader,
    SnapshotPackRef, SnapshotPackWriter,
};

use super::{Blobs, PackWriter};
use crate::error::{Error, Result};
use crate::objects::nodes::RemoteNodes;
use crate::objects::{fetch_blobs, local_blobs, read_pack};

/// A new snapshot pack is written at the latest once a new bridge from the newest one (checked
/// only when a bridge is written, every few publishes) would be larger than this share of it;
/// earlier when bridges grow slowly against the pack ([`Pace`]).
pub const SNAPSHOT_PACK_SHARE: f64 = 0.25;
/// A snapshot pack's shard is cut once it holds this many uncompressed bytes.
pub const SHARD_BYTES: u64 = 32 * 1024 * 1024;
/// Entries whose blobs are gathered at once when a snapshot pack is written from scratch.
const CHUNK: usize = 4096;

/// How fast bridges grow, which decides when a snapshot pack is rewritten.
///
/// Bridges are written every `interval` publishes and grow by about `change` bytes per publish,
/// so with a pack of P bytes, a rewrite once a new bridge reaches b costs per publish about
/// b / (2 · interval) in bridges plus change · P / b in rewrites: least at
/// b = √(2 · interval · change · P), the moment the bridges written since the pack add up to
/// the pack itself (see ARCHITECTURE.md). Capped at [`SNAPSHOT_PACK_SHARE`] of the pack, which
/// bounds what a new agent reads beyond the pack.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// Bytes of this publish's delta pack from the previous snapshot (`None`: not written).
    pub change: Option<u64>,
    /// Publishes between two bridges: the recent snapshots a head offers deltas from, plus one.
    pub interval: u64,
}

impl Pace {
    /// Whether a new bridge of `bridge` bytes from a pack of `pack` bytes calls for a new pack.
    pub fn rewrite_due(&self, bridge: u64, pack: u64) -> bool {
        let (bridge, pack) = (bridge as f64, pack as f64);
        let cap = SNAPSHOT_PACK_SHARE * pack;
        match self.change {
            Some(change) => {
                bridge > cap.min((2.0 * self.interval as f64 * change as f64 * pack).sqrt())
            }
            None => bridge > cap,
        }
    }
}

impl PackWriter<'_, '_> {
    /// The snapshot pack the head offers: `previous` while a bridge from it is carried over
    /// (`bridged`) or a new bridge from it is not yet due for a rewrite (`pace`), else a new one
    /// of the target.
    pub(super) async fn snapshot_pack(
        &mut self,
        nodes: &mut RemoteNodes<'_>,
        previous: Option<&SnapshotPackRef>,
        bridged: bool,
        pace: Pace,
        blobs: Blobs<'_>,
    ) -> Result<SnapshotPackRef> {
        if let Some(pack) = &self.snapshot_pack {
            return Ok(pack.clone());
        }
        let pack = match previous {
            Some(previous) if previous.snapshot == self.to || bridged => previous.clone(),
            Some(previous) => match self.delta(nodes, previous.snapshot).await {
                Ok(Some((bridge, _))) if !pace.rewrite_due(bridge.bytes, previous.bytes()) => {
                    previous.clone()
                }
                Ok(Some((_, bytes))) => {
                    let bytes = bytes.to_vec();
                    match self.merge(previous, &bytes).await {
                        Ok(pack) => pack,
                        Err(error) => {
                            tracing::warn!(%error, "the previous snapshot pack is unusable; writing a new one from the snapshot");
                            self.write_whole(nodes, blobs).await?
                        }
                    }
                }
                Ok(None) | Err(Error::Missing { .. }) => self.write_whole(nodes, blobs).await?,
                Err(e) => return Err(e),
            },
            None => self.write_whole(nodes, blobs).await?,
        };
        Ok(self.snapshot_pack.insert(pack).clone())
    }

    /// A snapshot pack of the target written from its entries and their blobs.
    async fn write_whole(
        &mut self,
        nodes: &mut RemoteNodes<'_>,
        mut blobs: Blobs<'_>,
    ) -> Result<SnapshotPackRef> {
        let root = self.target_root(nodes).await?;
        let entries: Vec<Entry> = nodes.entries(&root).await?.into_values().collect();
        let mut writer = SnapshotPackWriter::new(self.to, SHARD_BYTES);
        let mut shards = Vec::new();
        for chunk in entries.chunks(CHUNK) {
            let digests = chunk.iter().map(|e| e.blob);
            let chunk_blobs = match &mut blobs {
                Blobs::Local(held) => local_blobs(held, digests)?,
                Blobs::Scan(scan) => scan.blobs(digests)?,
                Blobs::Store => fetch_blobs(self.store, digests).await?,
            };
            for entry in chunk {
                let blob = chunk_blobs.get(&entry.blob).ok_or(Error::Missing {
                    what: "blob",
                    digest: entry.blob,
                })?;
                if let Some(shard) = writer.push(entry, blob)? {
                    shards.push(self.upload(&shard).await?);
                }
            }
        }
        self.finish(writer, shards).await
    }

    /// The pack `previous` with the changes of the delta pack `delta` (from its snapshot to the
    /// target) merged in, checked to be exactly the target.
    async fn merge(&mut self, previous: &SnapshotPackRef, delta: &[u8]) -> Result<SnapshotPackRef> {
        let mut changes = changes_of(delta)?;
        let mut writer = SnapshotPackWriter::new(self.to, SHARD_BYTES);
        let (mut shards, mut entries) = (Vec::new(), EntrySet::new());
        for shard in &previous.shards {
            let bytes = read_pack(self.store, shard).await?;
            let mut reader = SnapshotPackReader::new(&bytes[..])?;
            while let Some((entry, blob)) = reader.next_entry()? {
                let before: Vec<ResourceId> = changes
                    .range(..&entry.id)
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in before {
                    if let Some(Some((new, blob))) = changes.remove(&id) {
                        self.push(&mut writer, &mut shards, &mut entries, &new, &blob)
                            .await?;
                    }
                }
                match changes.remove(&entry.id) {
                    Some(Some((new, blob))) => {
                        self.push(&mut writer, &mut shards, &mut entries, &new, &blob)
                            .await?
                    }
                    Some(None) => {}
                    None => {
                        self.push(&mut writer, &mut shards, &mut entries, &entry, &blob)
                            .await?
                    }
                }
            }
        }
        for (_, change) in std::mem::take(&mut changes) {
            if let Some((new, blob)) = change {
                self.push(&mut writer, &mut shards, &mut entries, &new, &blob)
                    .await?;
            }
        }
        let actual = Snapshot::build(&entries).0.digest();
        if actual != self.to {
            return Err(Error::Format(cairn_state_format::Error::DigestMismatch {
                what: format!("snapshot pack merged from {}", previous.snapshot),
                expected: self.to,
                actual,
            }));
        }
        self.finish(writer, shards).await
    }

    async fn push(
        &mut self,
        writer: &mut SnapshotPackWriter,
        shards: &mut Vec<PackRef>,
        entries: &mut EntrySet,
        entry: &Entry,
        blob: &[u8],
    ) -> Result<()> {
        entries.insert(entry.id.clone(), entry.clone());
        if let Some(shard) = writer.push(entry, blob)? {
            shards.push(self.upload(&shard).await?);
        }
        Ok(())
    }

    async fn finish(
        &mut self,
        writer: SnapshotPackWriter,
        mut shards: Vec<PackRef>,
    ) -> Result<SnapshotPackRef> {
        if let Some(last) = writer.finish()? {
            shards.push(self.upload(&last).await?);
        }
        self.written.shards += shards.len();
        Ok(SnapshotPackRef {
            snapshot: self.to,
            shards,
        })
    }
}

/// A delta pack's changes by identity: the new entry and blob, or `None` for a removal.
type ChangesById = BTreeMap<ResourceId, Option<(Entry, Vec<u8>)>>;

fn changes_of(delta: &[u8]) -> Result<ChangesById> {
    let mut changes = BTreeMap::new();
    for item in DeltaReader::new(delta)? {
        match item? {
            DeltaItem::Put { entry, blob } => changes.insert(entry.id.clone(), Some((entry, blob))),
            DeltaItem::Remove(id) => changes.insert(id, None),
        };
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rewrite_is_due_when_the_bridges_would_add_up_to_the_pack() {
        let pace = Pace {
            change: Some(300),
            interval: 9,
        };
        // √(2 · 9 · 300 · 500,000) ≈ 51,962 bytes, under a quarter of the pack (125,000).
        assert!(!pace.rewrite_due(51_000, 500_000));
        assert!(pace.rewrite_due(53_000, 500_000));
        // Large changes against a small pack: the share caps the bridge.
        let fast = Pace {
            change: Some(20_000),
            interval: 9,
        };
        assert!(!fast.rewrite_due(24_000, 100_000));
        assert!(fast.rewrite_due(26_000, 100_000));
        // This publish wrote no delta pack from the previous snapshot: the share alone.
        let unknown = Pace {
            change: None,
            interval: 9,
        };
        assert!(!unknown.rewrite_due(124_000, 500_000));
        assert!(unknown.rewrite_due(126_000, 500_000));
    }
}
