//! The packs a head offers, each named with its exact length and the digest of its stored bytes,
//! so that an agent asks for at most that many bytes and checks them before decoding anything
//! (TUF's defence against endless data: nothing is fetched without a known length).
//!
//! Packs are stored at `packs/sha256/<hex[0..2]>/<hex>`, named by the digest of their stored
//! (compressed) bytes: the bytes an agent downloads are what the signature covers.

use serde::{Deserialize, Serialize};

use crate::MAX_PACK_BYTES;
use crate::digest::Digest;

/// Most delta packs a head may name.
pub const MAX_NAMED_DELTAS: usize = 32;
/// Most shards a snapshot pack may have.
pub const MAX_SHARDS: usize = 256;

/// One stored pack object: its length and the digest of its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackRef {
    /// Exact length of the stored object, in bytes.
    pub bytes: u64,
    /// sha256 of the stored bytes (also its key, [`crate::layout::pack_key`]).
    pub digest: Digest,
}

/// A delta pack into the head's snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaRef {
    /// The snapshot the pack applies to.
    pub from: Digest,
    /// Exact length of the stored pack.
    pub bytes: u64,
    /// sha256 of the stored pack.
    pub digest: Digest,
}

impl DeltaRef {
    /// The stored object.
    pub fn pack(&self) -> PackRef {
        PackRef {
            bytes: self.bytes,
            digest: self.digest,
        }
    }
}

/// A bridge: a delta pack from the snapshot pack's snapshot to a snapshot the head offers a delta
/// pack from (format 3). Written once every few publishes and named again, not rewritten, by the
/// heads in between, so a publish does not pay for the changes since the snapshot pack each time
/// (see ARCHITECTURE.md, "Snapshot packs").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BridgeRef {
    /// The snapshot the pack leads to (its source is the snapshot pack's snapshot).
    pub to: Digest,
    /// Exact length of the stored pack.
    pub bytes: u64,
    /// sha256 of the stored pack.
    pub digest: Digest,
}

impl BridgeRef {
    /// The stored object.
    pub fn pack(&self) -> PackRef {
        PackRef {
            bytes: self.bytes,
            digest: self.digest,
        }
    }
}

/// A snapshot pack: one snapshot whole, in shards read in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotPackRef {
    /// The snapshot the pack holds.
    pub snapshot: Digest,
    /// Its shards, in order.
    pub shards: Vec<PackRef>,
}

impl SnapshotPackRef {
    /// Sum of the shards' lengths.
    pub fn bytes(&self) -> u64 {
        self.shards.iter().map(|s| s.bytes).sum()
    }
}

/// What a head offers: delta packs into its snapshot from recent ones, and the newest snapshot
/// pack (from which a new agent starts; when it holds an older snapshot, either a delta pack from
/// it is among `deltas`, or `bridge` leads from it to the source of one of `deltas`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Packs {
    /// Delta packs into the head's snapshot, newest source first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deltas: Vec<DeltaRef>,
    /// The newest snapshot pack of the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<SnapshotPackRef>,
    /// The bridge from the snapshot pack's snapshot (format 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeRef>,
}

impl Packs {
    /// Whether nothing is offered.
    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty() && self.snapshot.is_none() && self.bridge.is_none()
    }

    /// The delta pack from `from`, if offered.
    pub fn delta_from(&self, from: &Digest) -> Option<&DeltaRef> {
        self.deltas.iter().find(|d| d.from == *from)
    }

    /// Every stored object named: delta packs, the bridge, then the snapshot pack's shards.
    pub fn objects(&self) -> impl Iterator<Item = PackRef> + '_ {
        let shards = self.snapshot.iter().flat_map(|s| s.shards.iter().copied());
        let bridge = self.bridge.iter().map(BridgeRef::pack);
        self.deltas
            .iter()
            .map(DeltaRef::pack)
            .chain(bridge)
            .chain(shards)
    }

    /// Checks the list against the limits and against the head's own snapshot `to`.
    pub(crate) fn validate(&self, to: &Digest) -> Result<(), PacksInvalid> {
        if self.deltas.len() > MAX_NAMED_DELTAS {
            return Err(PacksInvalid::TooManyDeltas {
                count: self.deltas.len(),
            });
        }
        for (i, delta) in self.deltas.iter().enumerate() {
            if delta.from == *to || self.deltas[..i].iter().any(|d| d.from == delta.from) {
                return Err(PacksInvalid::DeltaTwiceOrNowhere { from: delta.from });
            }
        }
        if let Some(pack) = &self.snapshot
            && !(1..=MAX_SHARDS).contains(&pack.shards.len())
        {
            return Err(PacksInvalid::ShardCount {
                count: pack.shards.len(),
            });
        }
        self.validate_bridge(to)?;
        match self
            .objects()
            .find(|p| !(1..=MAX_PACK_BYTES).contains(&p.bytes))
        {
            Some(p) => Err(PacksInvalid::PackSize {
                digest: p.digest,
                bytes: p.bytes,
            }),
            None => Ok(()),
        }
    }

    /// A bridge leaves the snapshot pack's snapshot for one the head offers a delta pack from.
    fn validate_bridge(&self, to: &Digest) -> Result<(), PacksInvalid> {
        let Some(bridge) = &self.bridge else {
            return Ok(());
        };
        let Some(pack) = &self.snapshot else {
            return Err(PacksInvalid::BridgeWithoutSnapshotPack);
        };
        if bridge.to == pack.snapshot || bridge.to == *to {
            return Err(PacksInvalid::BridgeNowhere { to: bridge.to });
        }
        if self.delta_from(&bridge.to).is_none() {
            return Err(PacksInvalid::BridgeToNoDelta { to: bridge.to });
        }
        Ok(())
    }
}

/// Why the packs a head names are refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PacksInvalid {
    #[error("{count} delta packs named, at most {MAX_NAMED_DELTAS}")]
    TooManyDeltas { count: usize },
    #[error("delta pack from {from} is named twice or leads nowhere")]
    DeltaTwiceOrNowhere { from: Digest },
    #[error("a snapshot pack has {count} shards, expected 1 to {MAX_SHARDS}")]
    ShardCount { count: usize },
    #[error("pack {digest} is {bytes} bytes, expected 1 to {MAX_PACK_BYTES}")]
    PackSize { digest: Digest, bytes: u64 },
    #[error("a bridge is named without a snapshot pack")]
    BridgeWithoutSnapshotPack,
    #[error(
        "the bridge to {to} leads nowhere (from the snapshot pack's snapshot, or into the head's: a delta pack)"
    )]
    BridgeNowhere { to: Digest },
    #[error("the bridge leads to {to}, from which the head offers no delta pack")]
    BridgeToNoDelta { to: Digest },
}
