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
//! delta pack from the newest one) grows past the point where rewriting is cheaper
//! ([`snapshot_pack`]): then it is the old pack with the delta's changes merged in (two streams read in identity order, one GET per shard), so a
//! publish costs O(changes) plus, now and then, one O(M) rewrite (see ARCHITECTURE.md for the
//! measurement behind the share).

mod snapshot_pack;

use std::collections::HashMap;

use bytes::Bytes;
use cairn_state_format::{
    BridgeRef, Change, DeltaRef, Digest, MAX_NAMED_DELTAS, PackRef, Packs, SnapshotPackRef,
    encode_delta, layout,
};
use cairn_store::Store;

use self::snapshot_pack::Pace;
use super::prepare::Prepared;
use super::scan::Scan;
use crate::channel::{Channel, Logged};
use crate::error::{Error, Result};
use crate::objects::nodes::RemoteNodes;
use crate::objects::{added_blobs, fetch_blobs};

/// Where the blobs of a snapshot come from when its pack is written from scratch.
pub enum Blobs<'a> {
    /// Every blob is in memory.
    Local(&'a HashMap<Digest, Bytes>),
    /// The scanned manifest files (re-read where the cache holds no bytes).
    Scan(&'a mut Scan),
    /// The store (content published before).
    Store,
}

/// The channel's newest head, as far as the packs of the next one are concerned.
#[derive(Clone, Copy, Debug)]
struct Latest<'a> {
    /// Its snapshot.
    snapshot: Digest,
    /// The packs it offers.
    packs: &'a Packs,
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
    local: Option<&'l HashMap<Digest, Bytes>>,
    known_changes: HashMap<Digest, Vec<Change>>,
    deltas: HashMap<Digest, (DeltaRef, Vec<u8>)>,
    snapshot_pack: Option<SnapshotPackRef>,
    /// What was uploaded.
    pub written: Written,
}

impl<'s, 'l> PackWriter<'s, 'l> {
    /// A writer of packs into snapshot `to`, which this publish `prepared` (from `previous`, the
    /// channel's newest snapshot) unless it is content the store has.
    pub fn new(
        store: &'s Store,
        to: Digest,
        prepared: Option<&'l Prepared>,
        previous: Option<Digest>,
    ) -> Self {
        let mut known_changes = HashMap::new();
        if let (Some(prepared), Some(previous)) = (prepared, previous) {
            // The changes from the previous snapshot are known: no need to diff.
            known_changes.insert(previous, prepared.changes.clone());
        }
        PackWriter {
            store,
            to,
            to_root: prepared.map(|p| p.snapshot.index),
            local: prepared.map(|p| &p.blobs),
            known_changes,
            deltas: HashMap::new(),
            snapshot_pack: None,
            written: Written::default(),
        }
    }

    /// The packs a head of the target offers after `latest`, the channel's newest head: delta
    /// packs from the channel's newest `depth` snapshots, a snapshot pack and the way from it
    /// (see [`PackWriter::offer`]).
    pub async fn offer_after(
        &mut self,
        nodes: &mut RemoteNodes<'_>,
        channel: &Channel<'_>,
        latest: Option<&Logged>,
        depth: usize,
        blobs: Blobs<'_>,
    ) -> Result<Packs> {
        let recent = recent_snapshots(channel, latest, depth).await?;
        let latest = latest.map(|l| Latest {
            snapshot: l.head.snapshot,
            packs: &l.head.packs,
        });
        self.offer(nodes, &recent, latest, blobs).await
    }

    /// The packs a head of snapshot `to` offers: delta packs from `recent` (newest first), a
    /// snapshot pack (the one `latest`, the channel's newest head, offers while the changes since
    /// stay small against it; else a new one), and the way from that pack's snapshot to one of
    /// `recent`: the bridge `latest` names (or its delta pack from the pack's snapshot) while it
    /// still leads to a snapshot this head offers a delta pack from, else a new delta pack from
    /// the pack's snapshot, which the next heads name as their bridge.
    async fn offer(
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
                let to_root = self.target_root(nodes).await?;
                nodes.diff(&from_root, &to_root).await?
            }
        };
        let (mut blobs, mut missing) = (HashMap::new(), Vec::new());
        for digest in added_blobs(&changes) {
            match self.local.and_then(|local| local.get(&digest)) {
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

    /// The target's index root, read once when this publish did not build it.
    async fn target_root(&mut self, nodes: &RemoteNodes<'_>) -> Result<Digest> {
        match self.to_root {
            Some(root) => Ok(root),
            None => Ok(*self.to_root.insert(nodes.snapshot(&self.to).await?.index)),
        }
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
}

/// The distinct snapshots of the channel's newest `depth` generations, newest first.
async fn recent_snapshots(
    channel: &Channel<'_>,
    latest: Option<&Logged>,
    depth: usize,
) -> Result<Vec<Digest>> {
    let mut out: Vec<Digest> = Vec::new();
    let Some(latest) = latest else { return Ok(out) };
    out.push(latest.head.snapshot);
    let mut generation = latest.head.generation;
    while out.len() < depth && generation > 1 {
        generation -= 1;
        match channel.generation(generation).await? {
            Some(logged) if !out.contains(&logged.head.snapshot) => out.push(logged.head.snapshot),
            Some(_) => {}
            None => break,
        }
    }
    Ok(out)
}
