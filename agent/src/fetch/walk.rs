//! The walk path: fetch the snapshot root, then the index level by level, skipping every subtree
//! whose digest the agent already has (the applied snapshot's index nodes are in memory).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cairn_state_format::{
    Change, Digest, EntrySet, Node, NodeSource, Snapshot, diff_indexes, layout,
};
use futures::{StreamExt, TryStreamExt};

use super::Fetcher;
use crate::error::{Error, Result};
use crate::fetch::remote::Remote;
use crate::fetch::tree::{Tree, apply_changes};
use crate::metrics::RequestKind;

/// Index nodes fetched at once.
const CONCURRENCY: usize = 8;

/// Nodes the agent had, and nodes it fetched.
struct Both<'a> {
    local: &'a Tree,
    fetched: &'a HashMap<Digest, Node>,
}

impl NodeSource for Both<'_> {
    fn get_node(&self, digest: &Digest) -> Option<&Node> {
        self.fetched
            .get(digest)
            .or_else(|| self.local.get_node(digest))
    }
}

/// Snapshot `to`, the changes from `base`, and the number of index nodes fetched.
pub async fn fetch(
    at: Fetcher<'_>,
    base: Option<&Arc<Tree>>,
    to: &Digest,
) -> Result<(Arc<Tree>, Vec<Change>, usize)> {
    let (remote, channel) = (at.remote, at.channel);
    let key = layout::snapshot_key(to);
    let referrer = || format!("the head of channel {channel}");
    let bytes = remote
        .get_referenced(RequestKind::Snapshot, channel, &key, referrer)
        .await?;
    let snapshot = Snapshot::decode(&bytes, to).map_err(|source| Error::Corrupt {
        what: format!("snapshot {key}"),
        source,
    })?;

    let empty;
    let local: &Tree = match base {
        Some(base) => base,
        None => {
            empty = Tree::build(EntrySet::new()).0;
            &empty
        }
    };
    let fetched = fetch_nodes(remote, channel, local, snapshot.index).await?;
    let both = Both {
        local,
        fetched: &fetched,
    };
    let local_root = local.snapshot().index;
    let changes = diff_indexes(local, &local_root, &both, &snapshot.index).map_err(|source| {
        Error::Corrupt {
            what: format!("index of snapshot {to}"),
            source,
        }
    })?;
    let mut entries = local.entries().clone();
    apply_changes(&mut entries, &changes);
    // Every node was checked against its digest; a full rebuild also checks the shape (the walk
    // is the fallback path, so its O(M) is paid rarely).
    let tree = Tree::build(entries).0;
    if *tree.snapshot() != snapshot {
        return Err(Error::Corrupt {
            what: format!("index of snapshot {to}"),
            source: cairn_state_format::Error::DigestMismatch {
                what: "snapshot rebuilt from the fetched index".to_owned(),
                expected: *to,
                actual: *tree.digest(),
            },
        });
    }
    Ok((at.trees.share(tree), changes, fetched.len()))
}

/// Every node of the tree under `root` that `local` lacks, level by level.
async fn fetch_nodes(
    remote: &Remote,
    channel: &str,
    local: &Tree,
    root: Digest,
) -> Result<HashMap<Digest, Node>> {
    let mut fetched = HashMap::new();
    let mut frontier = vec![root];
    while !frontier.is_empty() {
        let wanted: HashSet<Digest> = frontier
            .drain(..)
            .filter(|d| local.get_node(d).is_none() && !fetched.contains_key(d))
            .collect();
        let nodes: Vec<(Digest, Node)> = futures::stream::iter(wanted)
            .map(|digest| fetch_node(remote, channel, digest))
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        for (digest, node) in nodes {
            if let Node::Branch(children) = &node {
                frontier.extend(children.iter().flatten().map(|c| c.node));
            }
            fetched.insert(digest, node);
        }
    }
    Ok(fetched)
}

async fn fetch_node(remote: &Remote, channel: &str, digest: Digest) -> Result<(Digest, Node)> {
    let key = layout::index_key(&digest);
    let referrer = || format!("the index of channel {channel}");
    let bytes = remote
        .get_referenced(RequestKind::Node, channel, &key, referrer)
        .await?;
    let node = Node::decode(&bytes, &digest).map_err(|source| Error::Corrupt {
        what: format!("index node {key}"),
        source,
    })?;
    Ok((digest, node))
}
