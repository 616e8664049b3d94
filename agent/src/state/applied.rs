//! What a channel applied, as one record: [`AppliedHead`] (generation, snapshot, the signed head
//! and its ETag) is written once here and embedded wherever an applied generation is kept: the
//! base file, each journal line and the head record on disk (`file.rs`), the in-cluster state
//! (which holds the base file), and [`Applied`] in memory beside the snapshot's entries.

use std::sync::Arc;

use bytes::Bytes;
use cairn_state_format::{AppliedRef, Change, Digest, EntrySet, Epoch, SignedHead};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::fetch::tree::Tree;

/// A signed head as fetched: its bytes, kept verbatim (they are what was verified; stored as
/// JSON text), and the channel epoch it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadBytes {
    bytes: Bytes,
    epoch: Option<Epoch>,
}

impl HeadBytes {
    /// The head `bytes` (heads are checked when fetched; bytes that no longer decode name no
    /// epoch).
    pub fn new(bytes: Bytes) -> HeadBytes {
        let epoch = SignedHead::decode(&bytes).ok().and_then(|s| s.head.epoch);
        HeadBytes { bytes, epoch }
    }

    /// Head `bytes` already decoded, which name `epoch`.
    pub(crate) fn decoded(bytes: Bytes, epoch: Option<Epoch>) -> HeadBytes {
        HeadBytes { bytes, epoch }
    }

    /// The signed head, as fetched.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The channel's epoch, as the head names it (`None` for a format 1 head).
    pub fn epoch(&self) -> Option<Epoch> {
        self.epoch
    }
}

impl Serialize for HeadBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(&self.bytes)
            .map_err(|_| serde::ser::Error::custom("the signed head is not UTF-8"))?;
        serializer.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for HeadBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(HeadBytes::new(Bytes::from(text.into_bytes())))
    }
}

/// What a channel applied, without its entries: enough to poll with after a restart. Its field
/// names are those of the state files (format 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedHead {
    /// The generation applied.
    pub generation: u64,
    /// Its snapshot.
    pub snapshot: Digest,
    /// The signed head, as fetched.
    #[serde(rename = "head")]
    pub signed: HeadBytes,
    /// The head's ETag when it was fetched, for the first conditional poll after a restart.
    #[serde(rename = "head_etag", default)]
    pub etag: Option<String>,
}

impl AppliedHead {
    /// The generation and snapshot, as a status record names them.
    pub fn reference(&self) -> AppliedRef {
        AppliedRef {
            generation: self.generation,
            snapshot: self.snapshot,
        }
    }
}

/// What a channel applied: a verified generation and its snapshot's entries.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The generation, snapshot and head.
    pub head: AppliedHead,
    /// The snapshot's entries and index, shared with whoever else holds the same snapshot.
    tree: Arc<Tree>,
}

impl PartialEq for Applied {
    fn eq(&self, other: &Applied) -> bool {
        // The snapshot digest names the entries.
        self.head == other.head
    }
}

impl Applied {
    /// What applying `head` (generation `generation`) with these entries amounts to; the
    /// snapshot digest is computed from the entries.
    pub fn new(
        generation: u64,
        head: Bytes,
        head_etag: Option<String>,
        entries: EntrySet,
    ) -> Applied {
        let tree = Arc::new(Tree::build(entries).0);
        let head = AppliedHead {
            generation,
            snapshot: *tree.digest(),
            signed: HeadBytes::new(head),
            etag: head_etag,
        };
        Applied::of(head, tree)
    }

    /// `head` with its snapshot's entries, `tree` (whose digest is `head.snapshot`).
    pub(crate) fn of(head: AppliedHead, tree: Arc<Tree>) -> Applied {
        debug_assert_eq!(&head.snapshot, tree.digest());
        Applied { head, tree }
    }

    /// Every entry of the snapshot (before cluster selectors are applied).
    pub fn entries(&self) -> &EntrySet {
        self.tree.entries()
    }

    /// The snapshot's entries and index nodes.
    pub(crate) fn tree(&self) -> &Arc<Tree> {
        &self.tree
    }
}

/// How the saved generation differs from the one saved before.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step<'a> {
    /// Unknown (first apply, or a rebuilt state): save in full.
    Full,
    /// These changes lead from `from`.
    From {
        /// The snapshot saved before.
        from: &'a Digest,
        /// The changes from it.
        changes: &'a [Change],
    },
}
