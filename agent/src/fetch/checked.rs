//! Delta packs already checked in this process, by base snapshot and the pack's own digest.
//!
//! Checking a pack (`apply_delta_to_index`) is a pure function of the base snapshot and the
//! pack's bytes, so agents sharing a [`crate::Shared`] that download byte-identical packs from
//! the same base reach the same result: the first one checks it, the others hash what they
//! downloaded and take the result. Every agent still fetches its own pack; a pack whose bytes
//! differ in any way (a corrupt or tampered copy) has another digest and is checked in full.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use cairn_state_format::{Change, Digest};

use crate::fetch::tree::Tree;

/// What checking one pack gave.
#[derive(Debug)]
pub struct CheckedPack {
    /// The snapshot the pack leads to (verified against the pack's `to`).
    pub tree: Arc<Tree>,
    /// The changes from the base, in identity order.
    pub changes: Vec<Change>,
    /// The blobs the pack carries, digest-checked.
    pub blobs: Vec<(Digest, Bytes)>,
}

/// The packs checked in this process. An entry lives as long as the snapshot it leads to is in
/// use (the registry holds the tree weakly), so at most a few are kept.
#[derive(Debug, Default)]
pub struct CheckedPacks {
    checked: Mutex<HashMap<(Digest, Digest), Remembered>>,
}

#[derive(Debug)]
struct Remembered {
    tree: Weak<Tree>,
    changes: Arc<[Change]>,
    blobs: Arc<[(Digest, Bytes)]>,
}

impl CheckedPacks {
    /// The result of checking the pack with digest `pack` from snapshot `base`, if one was
    /// checked here and what it leads to is still in use.
    pub fn get(&self, base: &Digest, pack: &Digest) -> Option<CheckedPack> {
        let checked = self.lock();
        let remembered = checked.get(&(*base, *pack))?;
        Some(CheckedPack {
            tree: remembered.tree.upgrade()?,
            changes: remembered.changes.to_vec(),
            blobs: remembered.blobs.to_vec(),
        })
    }

    /// Remembers what checking the pack `pack` from `base` gave.
    pub fn remember(&self, base: &Digest, pack: &Digest, result: &CheckedPack) {
        let mut checked = self.lock();
        checked.retain(|_, r| r.tree.strong_count() > 0);
        checked.insert(
            (*base, *pack),
            Remembered {
                tree: Arc::downgrade(&result.tree),
                changes: result.changes.as_slice().into(),
                blobs: result.blobs.as_slice().into(),
            },
        );
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Digest, Digest), Remembered>> {
        // Single inserts and removals: a panic while holding the lock leaves the map consistent.
        self.checked.lock().unwrap_or_else(|e| e.into_inner())
    }
}
