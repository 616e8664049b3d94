//! The packs a new head offers: delta packs into its snapshot from the channel's recent
//! snapshots, and a snapshot pack from which a new agent starts, with the way from that pack's
//! snapshot when it is older than the head's: a delta pack from it among the recent ones, or a
//! bridge (a delta pack from it to one of the recent snapshots, written once and named by the
//! heads after it while that snapshot stays recent), so that a publish does not rewrite the
//! changes since the snapshot pack every time.
//!
//! Every pack is stored under the digest of its bytes (`packs/sha256/…`) and named in the head
//! with its exact length, so agents ask for exactly that many bytes and check them before
//! decoding. A snapshot pack is written when the channel has none, or when a new bridge (the
//! delta pack from the newest one) grows past the point where rewriting is cheaper ([`Pace`]):
//! then it is the old pack with the
//! delta's changes merged in (two streams read in identity order, one GET per shard), so a
//! publish costs O(changes) plus, now and then, one O(M) rewrite (see ARCHITECTURE.md for the
//! measurement behind the share).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use cairn_state_format::{
    BridgeRef, Change, DeltaItem, DeltaReader, DeltaRef, Digest, Entry, EntrySet, MAX_NAMED_DELTAS,
    PackRef, Packs, ResourceId, Snapshot, SnapshotPackReader, SnapshotPackRef, SnapshotPackWriter,
    encode_delta, layout,
};
use cairn_store::{Bound, Store};

use crate::error::{Error, Result};
use crate::remote::{RemoteNodes, fetch_blobs};
use crate::scan::Scan;

/// A new snapshot pack is written at the latest once a new bridge from the newest one (checked
/// only when a bridge is written, every few publishes) would be larger than this share of it;
/// earlier when bridges grow slowly against the pack ([`Pace`]).
pub const SNAPSHOT_PACK_SHARE: f64 = 0.25;
/// A snapshot pack's shard is cut once it holds this many uncompressed bytes.
pub const SHARD_BYTES: u64 = 32 * 1024 * 1024;
/// Entries whose blobs are gathered at once when a snapshot pack is written from scratch.
const CHUNK: usize = 4096;

/// Where the blobs of a snapshot come from when its pack is written from scratch.
pub enum Blobs<'a> {
    /// Every blob is in memory.
    Local(&'a HashMap<Digest, Bytes>),
    /// The scanned manifest files (re-read where the cache holds no bytes).
    Scan(&'a mut Scan),
    /// The store (content published before).
    Store,
}

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

/// The channel's newest head, as far as the packs of the next one are concerned.
#[derive(Clone, Copy, Debug)]
pub struct Latest<'a> {
    /// Its snapshot.
    pub snapshot: Digest,
    /// The packs it offers.
    pub packs: &'a Packs,
}

impl Latest<'_> {
    /// The delta pack it offers from its snapshot pack's snapshot to a newer one: the bridge it
    /// names, or its own delta pack from the pack's snapshot (which ends at its snapshot).
    fn bridge(&self) -> Option<BridgeRef> {
        let pack = self.packs.snapshot.as_ref()?;
        self.packs.bridge.or_else(|| {
            let delta = self.packs.delta_from(&pack.snapshot)?;
            Some(BridgeRef {
                to: self.snapshot,
                bytes: delta.bytes,
                digest: delta.digest,
            })
        })
    }
}

/// What the packs of one publish cost.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    /// Delta packs uploaded.
    pub deltas: usize,
    /// Snapshot pack shards uploaded.
    pub shards: usize,
    /// Bytes uploaded.
    pub bytes: u64,
}

/// Writes the packs into one target snapshot.
pub struct PackWriter<'s, 'l> {
    store: &'s Store,
    to: Digest,
    /// The target's index root: known when this publish built it, else read once.
    to_root: Option<Digest>,
    /// Blobs this publish has in memory (others are fetched from the store).
    local: &'l HashMap<Digest, Bytes>,
    known_changes: HashMap<Digest, Vec<Change>>,
    deltas: HashMap<Digest, (DeltaRef, Vec<u8>)>,
    snapshot_pack: Option<SnapshotPackRef>,
    /// What was uploaded.
    pub written: Written,
}

impl<'s, 'l> PackWriter<'s, 'l> {
    /// A writer of packs into snapshot `to` (whose index root is `to_root` when known).
    pub fn new(
        store: &'s Store,
        to: Digest,
        to_root: Option<Digest>,
        local: &'l HashMap<Digest, Bytes>,
    ) -> Self {
        PackWriter {
            store,
            to,
            to_root,
            local,
            known_changes: HashMap::new(),
            deltas: HashMap::new(),
            snapshot_pack: None,
            written: Written::default(),
        }
    }

    /// The changes from `from` are known (this publish computed them): no need to diff.
    pub fn remember(&mut self, from: Digest, changes: Vec<Change>) {
        self.known_changes.insert(from, changes);
    }

    /// The packs a head of snapshot `to` offers: delta packs from `recent` (newest first), a
    /// snapshot pack (the one `latest`, the channel's newest head, offers while the changes since
    /// stay small against it; else a new one), and the way from that pack's snapshot to one of
    /// `recent`: the bridge `latest` names (or its delta pack from the pack's snapshot) while it
    /// still leads to a snapshot this head offers a delta pack from, else a new delta pack from
    /// the pack's snapshot, which the next heads name as their bridge.
    pub async fn offer(
        &mut self,
        nodes: &mut RemoteNodes<'_>,
        recent: &[Digest],
        latest: Option<Latest<'_>>,
        blobs: Blobs<'_>,
    ) -> Result<Packs> {
        let mut packs = Packs::default();
        for from in recent.iter().take(MAX_NAMED_DELTAS - 1) {
            if let Some(delta) = self.delta_or_skip(nodes, *from).await? {
                packs.deltas.push(delta);
            }
        }
        let previous = latest.as_ref().and_then(|l| l.packs.snapshot.as_ref());
        let bridge = latest
            .as_ref()
            .and_then(Latest::bridge)
            .filter(|b| b.to == self.to || packs.delta_from(&b.to).is_some());
        let pace = Pace {
            change: recent
                .first()
                .and_then(|r| packs.delta_from(r))
                .map(|d| d.bytes),
            interval: packs.deltas.len() as u64 + 1,
        };
        let snapshot = self
            .snapshot_pack(nodes, previous, bridge.is_some(), pace, blobs)
            .await?;
        let from = snapshot.snapshot;
        if from != self.to && packs.delta_from(&from).is_none() {
            match bridge.filter(|_| previous == Some(&snapshot)) {
                Some(bridge) if bridge.to == self.to => packs.deltas.push(DeltaRef {
                    from,
                    bytes: bridge.bytes,
                    digest: bridge.digest,
                }),
                Some(bridge) => packs.bridge = Some(bridge),
                None => packs.deltas.extend(self.delta_or_skip(nodes, from).await?),
            }
        }
        packs.snapshot = Some(snapshot);
        Ok(packs)
    }

    /// The delta pack from `from`, or `None` when there is nothing to write or `from`'s content
    /// was garbage-collected (agents on it walk the index instead).
    async fn delta_or_skip(
        &mut self,
        nodes: &mut RemoteNodes<'_>,
        from: Digest,
    ) -> Result<Option<DeltaRef>> {
        match self.delta(nodes, from).await {
            Ok(delta) => Ok(delta.map(|(r, _)| r)),
            Err(Error::Missing { what, digest }) => {
                tracing::info!(%from, what, %digest, "no delta pack from a collected snapshot");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Writes (once) the pack `from → to`; returns it and its bytes, or `None` when `from` is
    /// the target itself.
    async fn delta(
        &mut self,
        nodes: &mut RemoteNodes<'_>,
        from: Digest,
    ) -> Result<Option<(DeltaRef, &[u8])>> {
        if from == self.to {
            return Ok(None);
        }
        if !self.deltas.contains_key(&from) {
            let pack = self.encode_delta(nodes, from).await?;
            let reference = self.upload(&pack).await?;
            self.written.deltas += 1;
            let delta = DeltaRef {
                from,
                bytes: reference.bytes,
                digest: reference.digest,
            };
            self.deltas.insert(from, (delta, pack));
        }
        Ok(self.deltas.get(&from).map(|(r, p)| (*r, p.as_slice())))
    }

    async fn encode_delta(&mut self, nodes: &mut RemoteNodes<'_>, from: Digest) -> Result<Vec<u8>> {
        let changes = match self.known_changes.remove(&from) {
            Some(changes) => changes,
            None => {
                // The new index's nodes are known to `nodes` (prepared or fetched).
                let from_root = nodes.snapshot(&from).await?.index;
                let to_root = match self.to_root {
                    Some(root) => root,
                    None => *self.to_root.insert(nodes.snapshot(&self.to).await?.index),
                };
                nodes.diff(&from_root, &to_root).await?
            }
        };
        let needed = changes.iter().filter_map(|c| match c {
            Change::Added(e) | Change::Changed { new: e, .. } => Some(e.blob),
            Change::Removed(_) => None,
        });
        let (mut blobs, mut missing) = (HashMap::new(), Vec::new());
        for digest in needed {
            match self.local.get(&digest) {
                Some(bytes) => {
                    blobs.insert(digest, bytes.clone());
                }
                None => missing.push(digest),
            }
        }
        blobs.extend(fetch_blobs(self.store, missing).await?);
        Ok(encode_delta(&from, &self.to, &changes, |d| {
            blobs.get(d).map(|b| b.to_vec())
        })?)
    }

    /// Stores a pack under the digest of its bytes.
    async fn upload(&mut self, pack: &[u8]) -> Result<PackRef> {
        let reference = PackRef {
            bytes: pack.len() as u64,
            digest: Digest::of(pack),
        };
        self.store
            .put(&layout::pack_key(&reference.digest), pack.to_vec())
            .await?;
        self.written.bytes += reference.bytes;
        Ok(reference)
    }

    /// The snapshot pack the head offers: `previous` while a bridge from it is carried over
    /// (`bridged`) or a new bridge from it is not yet due for a rewrite (`pace`), else a new one
    /// of the target.
    async fn snapshot_pack(
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
        let root = match self.to_root {
            Some(root) => root,
            None => *self.to_root.insert(nodes.snapshot(&self.to).await?.index),
        };
        let entries: Vec<Entry> = nodes.entries(&root).await?.into_values().collect();
        let mut writer = SnapshotPackWriter::new(self.to, SHARD_BYTES);
        let mut shards = Vec::new();
        for chunk in entries.chunks(CHUNK) {
            let digests = chunk.iter().map(|e| e.blob);
            let chunk_blobs = match &mut blobs {
                Blobs::Local(map) => digests
                    .map(|d| {
                        let bytes = map.get(&d).cloned().ok_or(Error::Missing {
                            what: "local blob",
                            digest: d,
                        })?;
                        Ok((d, bytes))
                    })
                    .collect::<Result<HashMap<_, _>>>()?,
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
