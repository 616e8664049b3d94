//! Verified snapshots in memory: entries and index nodes, immutable, shared by digest.
//!
//! A [`Tree`] is a pure function of its snapshot digest, so every channel (and every agent given
//! the same [`crate::Shared`]) that applied the same snapshot holds one copy through [`Trees`].
//! Its index nodes let a delta pack be checked against the signed digest by rewriting only the
//! changed paths ([`cairn_state_format::apply_delta_to_index`]), not by rebuilding the index.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use cairn_state_format::{Change, Digest, EntrySet, Index, IndexDelta, Node, NodeSource, Snapshot};

/// One verified snapshot: its root, its entries, and its index nodes.
#[derive(Debug)]
pub struct Tree {
    digest: Digest,
    snapshot: Snapshot,
    entries: EntrySet,
    nodes: HashMap<Digest, Arc<Node>>,
}

impl NodeSource for Tree {
    fn get_node(&self, digest: &Digest) -> Option<&Node> {
        self.nodes.get(digest).map(|n| &**n)
    }
}

impl Tree {
    /// The tree of `entries`, built in full (O(M)); also returns the index, whose nodes' canonical
    /// bytes a caller may persist.
    pub fn build(entries: EntrySet) -> (Tree, Index) {
        let (snapshot, index) = Snapshot::build(&entries);
        (Tree::from_parts(snapshot, &index, entries), index)
    }

    /// The tree of a snapshot built (and checked) elsewhere from `entries`, with its index.
    pub fn from_parts(snapshot: Snapshot, index: &Index, entries: EntrySet) -> Tree {
        let nodes = index
            .digests()
            .filter_map(|d| index.node(d).map(|(n, _)| (*d, Arc::new(n.clone()))))
            .collect();
        Tree {
            digest: snapshot.digest(),
            snapshot,
            entries,
            nodes,
        }
    }

    /// The snapshot `delta` leads to from `self` (checked by `apply_delta_to_index`): the entries
    /// updated by its changes, the nodes of the new index (those of `self` it still reaches,
    /// shared, and the new ones).
    pub fn after(&self, delta: &IndexDelta) -> Tree {
        let mut entries = self.entries.clone();
        apply_changes(&mut entries, &delta.updated.changes);
        let mut all: HashMap<Digest, Arc<Node>> = delta
            .updated
            .nodes
            .iter()
            .map(|(d, n, _)| (*d, Arc::new(n.clone())))
            .collect();
        // Keep only what the new root reaches: the old nodes off the changed paths.
        let mut pending = vec![delta.updated.root];
        let mut nodes = HashMap::with_capacity(self.nodes.len());
        while let Some(digest) = pending.pop() {
            let Some(node) = all
                .remove(&digest)
                .or_else(|| self.nodes.get(&digest).cloned())
            else {
                continue;
            };
            if let Node::Branch(children) = &*node {
                pending.extend(children.iter().flatten().map(|c| c.node));
            }
            nodes.insert(digest, node);
        }
        Tree {
            digest: delta.snapshot.digest(),
            snapshot: delta.snapshot.clone(),
            entries,
            nodes,
        }
    }

    /// The snapshot's digest.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The snapshot root.
    pub fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Every entry (before cluster selectors).
    pub fn entries(&self) -> &EntrySet {
        &self.entries
    }
}

/// Applies `changes` to `entries`.
pub fn apply_changes(entries: &mut EntrySet, changes: &[Change]) {
    for change in changes {
        match change {
            Change::Added(e) | Change::Changed { new: e, .. } => {
                entries.insert(e.id.clone(), e.clone());
            }
            Change::Removed(e) => {
                entries.remove(&e.id);
            }
        }
    }
}

/// The trees in use, by snapshot digest: a tree lives as long as something holds it.
#[derive(Debug, Default)]
pub struct Trees {
    live: Mutex<HashMap<Digest, Weak<Tree>>>,
}

impl Trees {
    /// The tree of `digest`, if one is in use.
    pub fn get(&self, digest: &Digest) -> Option<Arc<Tree>> {
        self.lock().get(digest).and_then(Weak::upgrade)
    }

    /// The tree in use for `tree`'s digest, or `tree` itself, now in use.
    pub fn share(&self, tree: Tree) -> Arc<Tree> {
        let mut live = self.lock();
        if let Some(existing) = live.get(&tree.digest).and_then(Weak::upgrade) {
            return existing;
        }
        live.retain(|_, weak| weak.strong_count() > 0);
        let tree = Arc::new(tree);
        live.insert(tree.digest, Arc::downgrade(&tree));
        tree
    }

    /// The blob digests of every tree in use.
    pub fn blobs(&self) -> Vec<Digest> {
        let live: Vec<Arc<Tree>> = self.lock().values().filter_map(Weak::upgrade).collect();
        live.iter()
            .flat_map(|t| t.entries.values().map(|e| e.blob))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, Weak<Tree>>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts and
        // removals), so a poisoned lock is used as is.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::parse_documents;

    fn entries(names: &[&str]) -> EntrySet {
        let yaml: String = names
            .iter()
            .map(|n| format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}}}\n"))
            .collect();
        parse_documents("t.yaml", &yaml)
            .unwrap()
            .iter()
            .map(|r| (r.id.clone(), r.entry()))
            .collect()
    }

    #[test]
    fn equal_content_is_held_once() {
        let trees = Trees::default();
        let a = trees.share(Tree::build(entries(&["a", "b"])).0);
        let b = trees.share(Tree::build(entries(&["b", "a"])).0);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(
            trees.get(a.digest()).map(|t| *t.digest()),
            Some(*a.digest())
        );
        let digest = *a.digest();
        drop((a, b));
        assert!(trees.get(&digest).is_none(), "unused trees are dropped");
    }
}
