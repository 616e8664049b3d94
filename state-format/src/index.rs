//! The snapshot index: a Merkle hash trie over entries.
//!
//! Entries are placed by the sha256 of their identity ([`ResourceId::index_key`]), four bits per
//! level: a node holding at most [`LEAF_CAPACITY`] entries is a leaf, a larger one is a branch of
//! [`FANOUT`] children. The shape is a function of the entry set alone (the same entries always give
//! the same root, whatever the order they were added in), and changing one entry rewrites only the
//! nodes on its path: about log16(M) nodes, so a 1-object change in 20,000 touches 4 small nodes.
//!
//! Nodes are stored zstd-compressed; a node's digest is the sha256 of its canonical JSON before
//! compression, so compression settings never change identity.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::canonical::{canonical_bytes_of, write_scalar};
use crate::digest::Digest;
use crate::error::{Error, Result, malformed};
use crate::resource::ResourceId;
use crate::selector::ClusterSelector;
use crate::{CONTENT_FORMAT, MAX_NODE_BYTES, check_format};

/// The child slot an identity falls into in a branch at `depth`.
pub fn slot(id: &ResourceId, depth: usize) -> usize {
    id.index_key().nibble(depth)
}

/// Children per branch node (one hex digit of the identity hash per level).
pub const FANOUT: usize = 16;
/// Most entries a leaf holds before it splits into a branch.
pub const LEAF_CAPACITY: usize = 16;
/// Depth at which leaves stop splitting (the hash has 64 hex digits).
const MAX_DEPTH: usize = 64;
const ZSTD_LEVEL: i32 = 19;

/// One resource of a snapshot, as the index records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The resource's identity.
    pub id: ResourceId,
    /// Digest of the resource's canonical bytes (`blobs/sha256/…`).
    pub blob: Digest,
    /// Size of the canonical bytes.
    pub size: u64,
    /// Only clusters whose labels match apply this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<ClusterSelector>,
    /// Apply order: lower waves first (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wave: Option<i32>,
}

/// A snapshot's entries, keyed (and so kept unique and sorted) by identity.
pub type EntrySet = BTreeMap<ResourceId, Entry>;

/// A pointer from a branch to a child node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Child {
    /// Digest of the child node.
    pub node: Digest,
    /// Entries below the child.
    pub entries: u64,
}

/// An index node: a leaf with entries, or a branch with [`FANOUT`] child slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Entries sorted by identity.
    Leaf(Vec<Entry>),
    /// Exactly [`FANOUT`] slots; `None` where no entry hashes into that slot.
    Branch(Vec<Option<Child>>),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeWire {
    format: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entries: Option<Vec<Entry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    children: Option<Vec<Option<Child>>>,
}

impl Node {
    /// Canonical JSON of the node (what its digest is computed over). Written directly, keys in
    /// their sorted order, rather than through a `serde_json::Value`: every index build and
    /// every agent's delta check hashes nodes, and this is most of their cost. The test
    /// `direct_encoding_equals_the_generic_one` holds it to [`canonical_bytes_of`].
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + 160 * LEAF_CAPACITY);
        match self {
            Node::Leaf(entries) => {
                out.extend_from_slice(b"{\"entries\":[");
                for (i, entry) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_entry(&mut out, entry);
                }
                out.extend_from_slice(b"],\"format\":");
            }
            Node::Branch(children) => {
                out.extend_from_slice(b"{\"children\":[");
                for (i, child) in children.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    match child {
                        None => out.extend_from_slice(b"null"),
                        Some(c) => {
                            out.extend_from_slice(b"{\"entries\":");
                            write_scalar(&mut out, &c.entries);
                            out.extend_from_slice(b",\"node\":");
                            write_scalar(&mut out, &c.node);
                            out.push(b'}');
                        }
                    }
                }
                out.extend_from_slice(b"],\"format\":");
            }
        }
        write_scalar(&mut out, &CONTENT_FORMAT);
        out.push(b'}');
        out
    }

    /// The bytes stored at `index/sha256/…`: the canonical JSON, zstd-compressed.
    pub fn encode(canonical: &[u8]) -> Vec<u8> {
        // Invariant: compressing an in-memory buffer into a Vec cannot fail.
        zstd::bulk::compress(canonical, ZSTD_LEVEL).expect("in-memory zstd compression")
    }

    /// Decodes stored bytes, checking size, digest and shape.
    pub fn decode(stored: &[u8], expected: &Digest) -> Result<Node> {
        let what = format!("index node {expected}");
        let canonical =
            zstd::bulk::decompress(stored, MAX_NODE_BYTES).map_err(|e| Error::Malformed {
                what: what.clone(),
                message: format!("not a zstd frame of at most {MAX_NODE_BYTES} bytes: {e}"),
            })?;
        expected.verify(&what, &canonical)?;
        Node::from_canonical(&canonical, &what)
    }

    fn from_canonical(canonical: &[u8], what: &str) -> Result<Node> {
        let value: serde_json::Value =
            serde_json::from_slice(canonical).map_err(|e| malformed(what, e))?;
        check_format(&value, what, CONTENT_FORMAT, CONTENT_FORMAT)?;
        let wire: NodeWire = serde_json::from_value(value).map_err(|e| malformed(what, e))?;
        match (wire.entries, wire.children) {
            (Some(entries), None) => {
                if entries.windows(2).any(|w| w[0].id >= w[1].id) {
                    return Err(Error::Malformed {
                        what: what.to_owned(),
                        message: "leaf entries are not sorted and unique".to_owned(),
                    });
                }
                Ok(Node::Leaf(entries))
            }
            (None, Some(children)) if children.len() == FANOUT => Ok(Node::Branch(children)),
            (None, Some(children)) => Err(Error::Malformed {
                what: what.to_owned(),
                message: format!("branch has {} slots, expected {FANOUT}", children.len()),
            }),
            _ => Err(Error::Malformed {
                what: what.to_owned(),
                message: "a node has exactly one of `entries` and `children`".to_owned(),
            }),
        }
    }
}

/// An entry's canonical JSON: keys `blob`, `id` (`group`, `kind`, `name`, `namespace`),
/// `selector` (if any), `size`, `wave` (if any), in that (sorted) order.
fn write_entry(out: &mut Vec<u8>, entry: &Entry) {
    let id = &entry.id;
    out.extend_from_slice(b"{\"blob\":");
    write_scalar(out, &entry.blob);
    out.extend_from_slice(b",\"id\":{\"group\":");
    write_scalar(out, &id.group);
    out.extend_from_slice(b",\"kind\":");
    write_scalar(out, &id.kind);
    out.extend_from_slice(b",\"name\":");
    write_scalar(out, &id.name);
    out.extend_from_slice(b",\"namespace\":");
    write_scalar(out, &id.namespace);
    out.push(b'}');
    if let Some(selector) = &entry.selector {
        out.extend_from_slice(b",\"selector\":");
        out.extend_from_slice(&canonical_bytes_of(selector));
    }
    out.extend_from_slice(b",\"size\":");
    write_scalar(out, &entry.size);
    if let Some(wave) = entry.wave {
        out.extend_from_slice(b",\"wave\":");
        write_scalar(out, &wave);
    }
    out.push(b'}');
}

/// A whole index: its root and every node, with each node's canonical bytes.
#[derive(Clone, Debug, Default)]
pub struct Index {
    root: Option<Digest>,
    nodes: HashMap<Digest, (Node, Vec<u8>)>,
}

impl Index {
    /// Builds the index of `entries`. The empty set has a root too: an empty leaf.
    pub fn build(entries: &EntrySet) -> Index {
        Index::build_subtree(entries.values(), 0)
    }

    /// Builds the subtree that holds `entries` at `depth` of a larger index: all of them must
    /// share that node's position (the first `depth` hex digits of their index keys). Lets a
    /// writer change one entry by rebuilding only the node it lands in (see [`slot`]) and
    /// rehashing the branches above it, with the same result as a full [`Index::build`].
    pub fn build_subtree<'a>(entries: impl IntoIterator<Item = &'a Entry>, depth: usize) -> Index {
        let mut keyed: Vec<(Digest, &Entry)> =
            entries.into_iter().map(|e| (e.id.index_key(), e)).collect();
        keyed.sort_by_key(|a| a.0);
        let mut index = Index::default();
        let root = index.build_node(&keyed, depth.min(MAX_DEPTH));
        index.root = Some(root);
        index
    }

    fn build_node(&mut self, keyed: &[(Digest, &Entry)], depth: usize) -> Digest {
        let node = if keyed.len() <= LEAF_CAPACITY || depth == MAX_DEPTH {
            let mut entries: Vec<Entry> = keyed.iter().map(|(_, e)| (*e).clone()).collect();
            entries.sort_by(|a, b| a.id.cmp(&b.id));
            Node::Leaf(entries)
        } else {
            // `keyed` is sorted by hash, so each slot is one contiguous run.
            let mut children = vec![None; FANOUT];
            let mut start = 0;
            while start < keyed.len() {
                let slot = keyed[start].0.nibble(depth);
                let len = keyed[start..]
                    .iter()
                    .take_while(|(k, _)| k.nibble(depth) == slot)
                    .count();
                let run = &keyed[start..start + len];
                children[slot] = Some(Child {
                    node: self.build_node(run, depth + 1),
                    entries: len as u64,
                });
                start += len;
            }
            Node::Branch(children)
        };
        let canonical = node.canonical();
        let digest = Digest::of(&canonical);
        self.nodes.insert(digest, (node, canonical));
        digest
    }

    /// The root node's digest.
    pub fn root(&self) -> Digest {
        // Invariant: `build` is the only constructor that yields an Index to callers.
        self.root.expect("an index is always built with a root")
    }

    /// Every node digest in the index.
    pub fn digests(&self) -> impl Iterator<Item = &Digest> {
        self.nodes.keys()
    }

    /// A node and its canonical bytes.
    pub fn node(&self, digest: &Digest) -> Option<(&Node, &[u8])> {
        self.nodes.get(digest).map(|(n, c)| (n, c.as_slice()))
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The nodes, by digest, with their canonical bytes.
    pub(crate) fn into_nodes(self) -> HashMap<Digest, (Node, Vec<u8>)> {
        self.nodes
    }

    /// Whether the index has no nodes (never true for a built index).
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Something nodes can be looked up in: a built [`Index`], or nodes an agent fetched.
pub trait NodeSource {
    /// The node with this digest, if known.
    fn get_node(&self, digest: &Digest) -> Option<&Node>;
}

impl NodeSource for Index {
    fn get_node(&self, digest: &Digest) -> Option<&Node> {
        self.nodes.get(digest).map(|(n, _)| n)
    }
}

impl NodeSource for HashMap<Digest, Node> {
    fn get_node(&self, digest: &Digest) -> Option<&Node> {
        self.get(digest)
    }
}

/// One difference between two snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// In the new snapshot only.
    Added(Entry),
    /// In both, with a different entry.
    Changed {
        /// The old entry.
        old: Entry,
        /// The new entry.
        new: Entry,
    },
    /// In the old snapshot only.
    Removed(Entry),
}

impl Change {
    /// The identity the change is about.
    pub fn id(&self) -> &ResourceId {
        match self {
            Change::Added(e) | Change::Removed(e) | Change::Changed { new: e, .. } => &e.id,
        }
    }
}

/// The differences between two entry sets, in identity order.
pub fn diff_entries(old: &EntrySet, new: &EntrySet) -> Vec<Change> {
    let mut changes = Vec::new();
    for (id, new_entry) in new {
        match old.get(id) {
            None => changes.push(Change::Added(new_entry.clone())),
            Some(old_entry) if old_entry != new_entry => changes.push(Change::Changed {
                old: old_entry.clone(),
                new: new_entry.clone(),
            }),
            Some(_) => {}
        }
    }
    changes.extend(
        old.iter()
            .filter(|(id, _)| !new.contains_key(*id))
            .map(|(_, e)| Change::Removed(e.clone())),
    );
    changes.sort_by(|a, b| a.id().cmp(b.id()));
    changes
}

/// The differences between two indexes, visiting only subtrees whose digests differ: the cost is
/// proportional to the change, not to the snapshot. Fails if a node it must visit is missing.
pub fn diff_indexes(
    old: &dyn NodeSource,
    old_root: &Digest,
    new: &dyn NodeSource,
    new_root: &Digest,
) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    diff_nodes(old, Some(old_root), new, Some(new_root), &mut changes)?;
    changes.sort_by(|a, b| a.id().cmp(b.id()));
    Ok(changes)
}

fn diff_nodes(
    old: &dyn NodeSource,
    a: Option<&Digest>,
    new: &dyn NodeSource,
    b: Option<&Digest>,
    out: &mut Vec<Change>,
) -> Result<()> {
    if a == b {
        return Ok(());
    }
    let a_node = a.map(|d| lookup(old, d)).transpose()?;
    let b_node = b.map(|d| lookup(new, d)).transpose()?;
    if let (Some(Node::Branch(ac)), Some(Node::Branch(bc))) = (a_node, b_node) {
        for (x, y) in ac.iter().zip(bc) {
            diff_nodes(
                old,
                x.as_ref().map(|c| &c.node),
                new,
                y.as_ref().map(|c| &c.node),
                out,
            )?;
        }
        return Ok(());
    }
    let mut old_entries = EntrySet::new();
    if let Some(d) = a {
        collect_entries(old, d, &mut old_entries)?;
    }
    let mut new_entries = EntrySet::new();
    if let Some(d) = b {
        collect_entries(new, d, &mut new_entries)?;
    }
    out.extend(diff_entries(&old_entries, &new_entries));
    Ok(())
}

/// All entries below `root`. Fails if a node is missing.
pub fn collect_entries(source: &dyn NodeSource, root: &Digest, out: &mut EntrySet) -> Result<()> {
    match lookup(source, root)? {
        Node::Leaf(entries) => {
            for e in entries {
                out.insert(e.id.clone(), e.clone());
            }
        }
        Node::Branch(children) => {
            for child in children.iter().flatten() {
                collect_entries(source, &child.node, out)?;
            }
        }
    }
    Ok(())
}

fn lookup<'a>(source: &'a dyn NodeSource, digest: &Digest) -> Result<&'a Node> {
    source.get_node(digest).ok_or_else(|| Error::Truncated {
        what: "index".to_owned(),
        detail: format!("node {digest} is not available"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn entry(name: &str, content: &str) -> Entry {
        Entry {
            id: ResourceId {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: "ns".into(),
                name: name.into(),
            },
            blob: Digest::of(content.as_bytes()),
            size: content.len() as u64,
            selector: None,
            wave: None,
        }
    }

    fn set(n: usize) -> EntrySet {
        (0..n)
            .map(|i| entry(&format!("cm-{i}"), "x"))
            .map(|e| (e.id.clone(), e))
            .collect()
    }

    #[test]
    fn shape_depends_on_the_set_only() {
        let entries = set(500);
        let reversed: EntrySet = entries
            .iter()
            .rev()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(
            Index::build(&entries).root(),
            Index::build(&reversed).root()
        );
    }

    #[test]
    fn one_change_rewrites_one_path() {
        let old = set(20_000);
        let mut new = old.clone();
        let changed = entry("cm-77", "y");
        new.insert(changed.id.clone(), changed.clone());
        let (a, b) = (Index::build(&old), Index::build(&new));
        let fresh: Vec<_> = b.digests().filter(|d| a.get_node(d).is_none()).collect();
        assert!(fresh.len() <= 5, "{} nodes changed", fresh.len());
        let changes = diff_indexes(&a, &a.root(), &b, &b.root()).unwrap();
        assert_eq!(
            changes,
            vec![Change::Changed {
                old: old[&changed.id].clone(),
                new: changed
            }]
        );
    }

    #[test]
    fn direct_encoding_equals_the_generic_one() {
        let generic = |node: &Node| match node {
            Node::Leaf(entries) => canonical_bytes_of(&NodeWire {
                format: CONTENT_FORMAT.into(),
                entries: Some(entries.clone()),
                children: None,
            }),
            Node::Branch(children) => canonical_bytes_of(&NodeWire {
                format: CONTENT_FORMAT.into(),
                entries: None,
                children: Some(children.clone()),
            }),
        };
        let mut odd = entry("quote\"back\\slash\u{1}é🙂", "x");
        odd.id.group = "apps.example.io".into();
        odd.id.namespace = String::new();
        odd.selector = Some("env=prod,tier in (a,b),!legacy".parse().unwrap());
        odd.wave = Some(-3);
        let mut waved = entry("w", "y");
        waved.wave = Some(7);
        let nodes = [
            Node::Leaf(vec![]),
            Node::Leaf(vec![odd, waved, entry("plain", "z")]),
        ];
        for node in &nodes {
            assert_eq!(
                String::from_utf8(node.canonical()).unwrap(),
                String::from_utf8(generic(node)).unwrap()
            );
        }
        let index = Index::build(&set(500));
        for digest in index.digests() {
            let (node, canonical) = index.node(digest).unwrap();
            assert_eq!(canonical, generic(node).as_slice());
        }
    }

    #[test]
    fn nodes_round_trip_through_storage() {
        let index = Index::build(&set(100));
        for digest in index.digests() {
            let (node, canonical) = index.node(digest).unwrap();
            assert_eq!(
                &Node::decode(&Node::encode(canonical), digest).unwrap(),
                node
            );
        }
    }

    #[test]
    fn a_tampered_node_is_refused() {
        let index = Index::build(&set(3));
        let (_, canonical) = index.node(&index.root()).unwrap();
        let mut tampered = canonical.to_vec();
        let last = tampered.len() - 3;
        tampered[last] ^= 1;
        let err = Node::decode(&Node::encode(&tampered), &index.root()).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    }
}
