//! Reading snapshots and index nodes from the store, fetching only what a comparison needs.

use std::collections::{HashMap, HashSet};

use cairn_state_format::{
    Change, Digest, Entry, EntrySet, Index, MissingNodes, Node, ResourceId, Snapshot, Updated,
    collect_entries, diff_indexes, layout, update_index,
};
use cairn_store::Store;
use futures::{StreamExt, TryStreamExt};

use super::{CONCURRENCY, fetch};
use crate::error::{Error, Result};

/// Index nodes fetched from one store, cached for the life of a command.
pub struct RemoteNodes<'a> {
    store: &'a Store,
    nodes: HashMap<Digest, Node>,
}

/// The result of comparing a local index with one in the store.
#[derive(Debug, Default)]
pub struct Comparison {
    /// Changes from the remote snapshot to the local one.
    pub changes: Vec<Change>,
    /// Local nodes the remote index does not share (those to upload).
    pub new_nodes: Vec<Digest>,
}

impl<'a> RemoteNodes<'a> {
    /// An empty cache over `store`.
    pub fn new(store: &'a Store) -> RemoteNodes<'a> {
        RemoteNodes {
            store,
            nodes: HashMap::new(),
        }
    }

    /// Reads a snapshot root.
    pub async fn snapshot(&self, digest: &Digest) -> Result<Snapshot> {
        let bytes = fetch(self.store, "snapshot", layout::snapshot_key, digest).await?;
        Ok(Snapshot::decode(&bytes, digest)?)
    }

    async fn fetch_all(&mut self, digests: impl IntoIterator<Item = Digest>) -> Result<()> {
        let wanted: HashSet<Digest> = digests
            .into_iter()
            .filter(|d| !self.nodes.contains_key(d))
            .collect();
        let store = self.store;
        let fetched: Vec<(Digest, Node)> = futures::stream::iter(wanted)
            .map(|digest| async move {
                let bytes = fetch(store, "index node", layout::index_key, &digest).await?;
                Ok::<_, Error>((digest, Node::decode(&bytes, &digest)?))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        self.nodes.extend(fetched);
        Ok(())
    }

    /// One node, fetched if not cached.
    pub async fn node(&mut self, digest: &Digest) -> Result<Node> {
        self.fetch_all([*digest]).await?;
        Ok(self.nodes[digest].clone())
    }

    /// Makes nodes known without fetching them (ones this command built itself).
    pub fn insert(&mut self, nodes: impl IntoIterator<Item = (Digest, Node)>) {
        self.nodes.extend(nodes);
    }

    /// Applies `removals`, then `upserts`, to the remote index at `root` (see [`update_index`]),
    /// fetching the nodes it needs a level at a time: O(changes × depth) requests.
    pub async fn update(
        &mut self,
        root: &Digest,
        upserts: Vec<Entry>,
        removals: Vec<ResourceId>,
    ) -> Result<Updated> {
        loop {
            match update_index(&self.nodes, root, upserts.clone(), removals.clone()) {
                Ok(updated) => return Ok(updated),
                Err(MissingNodes(digests)) => self.fetch_all(digests).await?,
            }
        }
    }

    /// Fetches every node below `root` (level by level, concurrently).
    pub async fn load_tree(&mut self, root: &Digest) -> Result<()> {
        let mut frontier = vec![*root];
        while !frontier.is_empty() {
            self.fetch_all(frontier.iter().copied()).await?;
            frontier = frontier
                .iter()
                .flat_map(|d| children(&self.nodes[d]))
                .collect();
        }
        Ok(())
    }

    /// Digests of every node below `root` (loaded by [`RemoteNodes::load_tree`] or `entries`).
    pub fn tree_digests(&self, root: &Digest) -> Vec<Digest> {
        let mut out = Vec::new();
        let mut pending = vec![*root];
        while let Some(d) = pending.pop() {
            out.push(d);
            if let Some(node) = self.nodes.get(&d) {
                pending.extend(children(node));
            }
        }
        out
    }

    /// All entries of the index at `root`.
    pub async fn entries(&mut self, root: &Digest) -> Result<EntrySet> {
        self.load_tree(root).await?;
        let mut out = EntrySet::new();
        collect_entries(&self.nodes, root, &mut out)?;
        Ok(out)
    }

    /// Compares the local `index` with the remote index at `remote_root`, fetching only nodes on
    /// paths where the two differ: O(changes × depth) requests, whatever the snapshot's size.
    pub async fn compare(&mut self, remote_root: &Digest, local: &Index) -> Result<Comparison> {
        let mut new_nodes = Vec::new();
        let mut frontier: Vec<(Option<Digest>, Option<Digest>)> =
            vec![(Some(*remote_root), Some(local.root()))];
        while !frontier.is_empty() {
            frontier.retain(|(remote, ours)| remote != ours);
            self.fetch_all(frontier.iter().filter_map(|(r, _)| *r))
                .await?;
            let mut next = Vec::new();
            let mut whole_subtrees = Vec::new();
            for (remote, ours) in frontier {
                if remote == ours {
                    continue;
                }
                let remote_node = remote.map(|d| &self.nodes[&d]);
                let our_node = ours.and_then(|d| local.node(&d)).map(|(n, _)| n);
                if let Some(d) = ours {
                    new_nodes.push(d);
                }
                match (remote_node, our_node) {
                    (Some(Node::Branch(a)), Some(Node::Branch(b))) => {
                        next.extend(a.iter().zip(b).map(|(x, y)| {
                            (x.as_ref().map(|c| c.node), y.as_ref().map(|c| c.node))
                        }));
                    }
                    _ => {
                        // Shapes diverge here: the comparison needs every node below on both sides.
                        whole_subtrees.extend(remote);
                        if let Some(d) = ours {
                            new_nodes.extend(subtree(local, &d).into_iter().filter(|n| *n != d));
                        }
                    }
                }
            }
            for root in whole_subtrees {
                self.load_tree(&root).await?;
            }
            frontier = next;
        }
        let changes = diff_indexes(&self.nodes, remote_root, local, &local.root())?;
        Ok(Comparison { changes, new_nodes })
    }

    /// Changes between two remote indexes, fetching only differing paths.
    pub async fn diff(&mut self, old_root: &Digest, new_root: &Digest) -> Result<Vec<Change>> {
        let mut frontier = vec![(Some(*old_root), Some(*new_root))];
        while !frontier.is_empty() {
            frontier.retain(|(a, b)| a != b);
            // A Vec, not a borrowing iterator, so the future stays Send (the web view spawns it).
            let wanted: Vec<Digest> = frontier
                .iter()
                .flat_map(|(a, b)| [*a, *b])
                .flatten()
                .collect();
            self.fetch_all(wanted).await?;
            let mut next = Vec::new();
            for (a, b) in frontier {
                if a == b {
                    continue;
                }
                match (a.map(|d| &self.nodes[&d]), b.map(|d| &self.nodes[&d])) {
                    (Some(Node::Branch(x)), Some(Node::Branch(y))) => {
                        next.extend(x.iter().zip(y).map(|(p, q)| {
                            (p.as_ref().map(|c| c.node), q.as_ref().map(|c| c.node))
                        }));
                    }
                    _ => {
                        for root in [a, b].into_iter().flatten() {
                            self.load_tree(&root).await?;
                        }
                    }
                }
            }
            frontier = next;
        }
        Ok(diff_indexes(&self.nodes, old_root, &self.nodes, new_root)?)
    }
}

fn children(node: &Node) -> Vec<Digest> {
    match node {
        Node::Leaf(_) => Vec::new(),
        Node::Branch(slots) => slots.iter().flatten().map(|c| c.node).collect(),
    }
}

fn subtree(index: &Index, root: &Digest) -> Vec<Digest> {
    let mut out = Vec::new();
    let mut pending = vec![*root];
    while let Some(d) = pending.pop() {
        out.push(d);
        if let Some((node, _)) = index.node(&d) {
            pending.extend(children(node));
        }
    }
    out
}
