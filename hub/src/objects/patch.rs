//! Changing one entry of a stored snapshot without reading all of it: fetch the nodes on the
//! entry's path, rebuild the node it lands in, rehash the branches above. O(depth) requests,
//! whatever the snapshot's size; the result is the same index a full build would give.

use bytes::Bytes;
use cairn_state_format::{Child, Digest, Entry, Index, Node, Snapshot, layout, slot};
use cairn_store::Store;

use super::nodes::RemoteNodes;
use crate::error::{Error, Result};

/// A new snapshot made from an old one with one entry created or replaced.
pub struct Patched {
    /// The new snapshot root.
    pub snapshot: Snapshot,
    /// Index nodes the new snapshot has and the old one lacks, with their canonical bytes.
    pub nodes: Vec<(Digest, Vec<u8>)>,
    /// The entry it replaced, if any.
    pub replaced: Option<Entry>,
}

/// Computes the snapshot `base` with `entry` upserted.
pub async fn upsert(nodes: &mut RemoteNodes<'_>, base: &Snapshot, entry: Entry) -> Result<Patched> {
    // Walk down: the branches on the path, and where the walk ended.
    let mut path: Vec<(Vec<Option<Child>>, usize)> = Vec::new();
    let mut at = base.index;
    let (mut digest, mut count, replaced, mut new_nodes) = loop {
        let depth = path.len();
        match nodes.node(&at).await? {
            Node::Branch(children) => {
                let slot = slot(&entry.id, depth);
                match children[slot].clone() {
                    Some(child) => {
                        path.push((children, slot));
                        at = child.node;
                    }
                    None => {
                        path.push((children, slot));
                        let sub = Index::build_subtree([&entry], depth + 1);
                        break (sub.root(), 1, None, collect(&sub));
                    }
                }
            }
            Node::Leaf(entries) => {
                let replaced = entries.iter().find(|e| e.id == entry.id).cloned();
                let mut updated: Vec<Entry> =
                    entries.into_iter().filter(|e| e.id != entry.id).collect();
                updated.push(entry.clone());
                let sub = Index::build_subtree(&updated, depth);
                break (sub.root(), updated.len() as u64, replaced, collect(&sub));
            }
        }
    };
    let added = u64::from(replaced.is_none());
    // Walk up: every branch on the path gets the new child and, for a new entry, one more below.
    while let Some((mut children, slot)) = path.pop() {
        let entries = match &children[slot] {
            Some(old) => old.entries + added,
            None => count,
        };
        children[slot] = Some(Child {
            node: digest,
            entries,
        });
        let canonical = Node::Branch(children).canonical();
        digest = Digest::of(&canonical);
        count = entries;
        new_nodes.push((digest, canonical));
    }
    let snapshot = Snapshot {
        format: base.format,
        index: digest,
        entries: base.entries + added,
        bytes: base.bytes - replaced.as_ref().map_or(0, |e| e.size) + entry.size,
    };
    Ok(Patched {
        snapshot,
        nodes: new_nodes,
        replaced,
    })
}

fn collect(index: &Index) -> Vec<(Digest, Vec<u8>)> {
    index
        .digests()
        .filter_map(|d| index.node(d).map(|(_, c)| (*d, c.to_vec())))
        .collect()
}

/// Uploads a patched snapshot's new nodes and root, and the blob of the new entry.
pub async fn upload(
    store: &Store,
    patched: &Patched,
    blob: &Digest,
    blob_bytes: Bytes,
) -> Result<Digest> {
    store.put(&layout::blob_key(blob), blob_bytes).await?;
    for (digest, canonical) in &patched.nodes {
        store
            .put(&layout::index_key(digest), Node::encode(canonical))
            .await?;
    }
    let root = patched.snapshot.encode();
    let digest = patched.snapshot.digest();
    store
        .put(&layout::snapshot_key(&digest), root)
        .await
        .map_err(Error::from)?;
    Ok(digest)
}

/// Finds the entry with identity `id` in the index at `root`, following only its path.
pub async fn lookup(
    nodes: &mut RemoteNodes<'_>,
    root: &Digest,
    id: &cairn_state_format::ResourceId,
) -> Result<Option<Entry>> {
    let mut at = *root;
    let mut depth = 0;
    loop {
        match nodes.node(&at).await? {
            Node::Leaf(entries) => return Ok(entries.into_iter().find(|e| &e.id == id)),
            Node::Branch(children) => match &children[slot(id, depth)] {
                Some(child) => at = child.node,
                None => return Ok(None),
            },
        }
        depth += 1;
    }
}
