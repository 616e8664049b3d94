//! Changing some entries of an index without rebuilding it: only the nodes on the changed
//! entries' paths are read and rewritten, so the cost is O(changes × depth) whatever the
//! snapshot's size, and the result is the index a full [`Index::build`] of the new entry set
//! would give (leaves split past [`LEAF_CAPACITY`] entries, branches collapse back into a leaf
//! at or below it).

use std::collections::{BTreeMap, HashMap};

use crate::digest::Digest;
use crate::index::{Change, Child, Entry, FANOUT, Index, LEAF_CAPACITY, Node, NodeSource};
use crate::resource::ResourceId;

/// Index nodes the update needed and the [`NodeSource`] did not have: every one that could be
/// known at this point (all of one level of the tree, typically). Fetch them, add them to the
/// source and call [`update_index`] again, about once per level: the update is a pure function
/// of its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingNodes(pub Vec<Digest>);

impl std::fmt::Display for MissingNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} index nodes are needed and not available",
            self.0.len()
        )
    }
}

impl std::error::Error for MissingNodes {}

/// Some node below this point was missing (recorded in `Updater::missing`).
struct Incomplete;

/// The result of [`update_index`].
#[derive(Clone, Debug)]
pub struct Updated {
    /// The new root.
    pub root: Digest,
    /// Nodes of the new index that the source did not have, with their canonical bytes.
    pub nodes: Vec<(Digest, Node, Vec<u8>)>,
    /// The changes that took effect (an upsert of an identical entry or the removal of an
    /// absent identity is none), in identity order.
    pub changes: Vec<Change>,
}

/// Applies `removals`, then `upserts`, to the index at `root`, reading nodes from `source`.
/// Only the nodes on the changed identities' paths are read (plus, where a branch collapses into
/// a leaf, the few nodes below it).
pub fn update_index(
    source: &dyn NodeSource,
    root: &Digest,
    upserts: Vec<Entry>,
    removals: Vec<ResourceId>,
) -> Result<Updated, MissingNodes> {
    let mut wanted: BTreeMap<ResourceId, Option<Entry>> = BTreeMap::new();
    wanted.extend(removals.into_iter().map(|id| (id, None)));
    wanted.extend(upserts.into_iter().map(|e| (e.id.clone(), Some(e))));
    let mut ops: Vec<Op> = wanted
        .into_iter()
        .map(|(id, entry)| Op {
            key: id.index_key(),
            id,
            entry,
        })
        .collect();
    ops.sort_by_key(|op| op.key);

    let mut updater = Updater {
        source,
        built: HashMap::new(),
        changes: Vec::new(),
        missing: Vec::new(),
    };
    let new_root = if ops.is_empty() {
        *root
    } else {
        match updater.update(Some(root), 0, &ops) {
            Ok(Some(child)) => child.node,
            // An empty index still has a root: an empty leaf, as `Index::build` makes it.
            Ok(None) => updater.adopt(Index::build_subtree([], 0)),
            Err(Incomplete) => {
                let mut missing = updater.missing;
                missing.sort();
                missing.dedup();
                return Err(MissingNodes(missing));
            }
        }
    };
    let mut changes = updater.changes;
    changes.sort_by(|a, b| a.id().cmp(b.id()));
    Ok(Updated {
        root: new_root,
        nodes: reachable_new_nodes(source, updater.built, new_root),
        changes,
    })
}

/// One identity to change: `entry` is its new entry, or `None` to remove it.
struct Op {
    key: Digest,
    id: ResourceId,
    entry: Option<Entry>,
}

struct Updater<'a> {
    source: &'a dyn NodeSource,
    /// Every node built so far (some are dropped again when a branch collapses).
    built: HashMap<Digest, (Node, Vec<u8>)>,
    changes: Vec<Change>,
    missing: Vec<Digest>,
}

impl Updater<'_> {
    /// The subtree at `depth` that `at` was, with `ops` (all under it, non-empty) applied;
    /// `None` when it ends up empty.
    fn update(
        &mut self,
        at: Option<&Digest>,
        depth: usize,
        ops: &[Op],
    ) -> Result<Option<Child>, Incomplete> {
        let node = at.map(|d| self.lookup(d).cloned()).transpose()?;
        let mut children = match node {
            Some(Node::Branch(children)) => children,
            Some(Node::Leaf(entries)) => return Ok(self.rebuild(entries, depth, ops)),
            None => return Ok(self.rebuild(Vec::new(), depth, ops)),
        };
        // `ops` is sorted by index key, so each slot's ops are one contiguous run. A missing child
        // does not stop the walk: its siblings' missing nodes are found in the same pass.
        let mut complete = true;
        let mut start = 0;
        while start < ops.len() {
            let slot = ops[start].key.nibble(depth);
            let len = ops[start..]
                .iter()
                .take_while(|op| op.key.nibble(depth) == slot)
                .count();
            let run = &ops[start..start + len];
            let child = children[slot].as_ref().map(|c| c.node);
            match self.update(child.as_ref(), depth + 1, run) {
                Ok(updated) => children[slot] = updated,
                Err(Incomplete) => complete = false,
            }
            start += len;
        }
        if !complete {
            return Err(Incomplete);
        }
        let total: u64 = children.iter().flatten().map(|c| c.entries).sum();
        if total as usize <= LEAF_CAPACITY {
            // Few enough entries left for one leaf: the shape a full build would give.
            let mut entries = Vec::new();
            for child in children.iter().flatten() {
                complete &= self.gather(&child.node, &mut entries).is_ok();
            }
            if !complete {
                return Err(Incomplete);
            }
            return Ok(self.rebuild(entries, depth, &[]));
        }
        debug_assert_eq!(children.len(), FANOUT);
        let node = Node::Branch(children);
        let canonical = node.canonical();
        let digest = Digest::of(&canonical);
        self.built.insert(digest, (node, canonical));
        Ok(Some(Child {
            node: digest,
            entries: total,
        }))
    }

    /// Builds the subtree holding `entries` with `ops` applied, recording the changes.
    fn rebuild(&mut self, entries: Vec<Entry>, depth: usize, ops: &[Op]) -> Option<Child> {
        let mut by_id: BTreeMap<ResourceId, Entry> =
            entries.into_iter().map(|e| (e.id.clone(), e)).collect();
        for op in ops {
            let old = match &op.entry {
                Some(new) => by_id.insert(op.id.clone(), new.clone()),
                None => by_id.remove(&op.id),
            };
            match (old, &op.entry) {
                (None, Some(new)) => self.changes.push(Change::Added(new.clone())),
                (Some(old), Some(new)) if old != *new => self.changes.push(Change::Changed {
                    old,
                    new: new.clone(),
                }),
                (Some(old), None) => self.changes.push(Change::Removed(old)),
                _ => {}
            }
        }
        if by_id.is_empty() && depth > 0 {
            return None;
        }
        let count = by_id.len() as u64;
        let root = self.adopt(Index::build_subtree(by_id.values(), depth));
        Some(Child {
            node: root,
            entries: count,
        })
    }

    /// Takes over the nodes of a freshly built subtree; returns its root.
    fn adopt(&mut self, subtree: Index) -> Digest {
        let root = subtree.root();
        self.built.extend(subtree.into_nodes());
        root
    }

    /// Appends every entry below `digest`.
    fn gather(&mut self, digest: &Digest, out: &mut Vec<Entry>) -> Result<(), Incomplete> {
        let children = match self.lookup(digest)? {
            Node::Leaf(entries) => {
                out.extend(entries.iter().cloned());
                return Ok(());
            }
            Node::Branch(children) => children.clone(),
        };
        let mut complete = true;
        for child in children.iter().flatten() {
            complete &= self.gather(&child.node, out).is_ok();
        }
        if complete { Ok(()) } else { Err(Incomplete) }
    }

    fn lookup(&mut self, digest: &Digest) -> Result<&Node, Incomplete> {
        if let Some((node, _)) = self.built.get(digest) {
            return Ok(node);
        }
        match self.source.get_node(digest) {
            Some(node) => Ok(node),
            None => {
                self.missing.push(*digest);
                Err(Incomplete)
            }
        }
    }
}

/// The built nodes the new index reaches and the source lacks: what a writer must store.
fn reachable_new_nodes(
    source: &dyn NodeSource,
    mut built: HashMap<Digest, (Node, Vec<u8>)>,
    root: Digest,
) -> Vec<(Digest, Node, Vec<u8>)> {
    let mut out = Vec::new();
    let mut pending = vec![root];
    while let Some(digest) = pending.pop() {
        let Some((node, canonical)) = built.remove(&digest) else {
            continue;
        };
        if let Node::Branch(children) = &node {
            pending.extend(children.iter().flatten().map(|c| c.node));
        }
        if source.get_node(&digest).is_none() {
            out.push((digest, node, canonical));
        }
    }
    out
}
