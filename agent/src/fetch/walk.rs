//! The walk path: fetch the snapshot root, then the index level by level, skipping every subtree
//! whose digest the agent already has (it rebuilds the applied snapshot's index locally).

use std::collections::{HashMap, HashSet};

use cairn_state_format::{
    Change, Digest, EntrySet, Index, Node, NodeSource, Snapshot, diff_indexes, layout,
};
use futures::{StreamExt, TryStreamExt};

use super::Base;
use crate::error::{Error, Result};
use crate::metrics::RequestKind;
use crate::remote::Remote;

/// Index nodes fetched at once.
const CONCURRENCY: usize = 8;

/// Nodes the agent had, and nodes it fetched.
struct Both<'a> {
    local: &'a Index,
    fetched: &'a HashMap<Digest, Node>,
}

impl NodeSource for Both<'_> {
    fn get_node(&self, digest: &Digest) -> Option<&Node> {
        self.fetched
            .get(digest)
            .or_else(|| self.local.get_node(digest))
    }
}

/// The entries of snapshot `to` and the number of index nodes fetched.
pub async fn fetch(
    remote: &Remote,
    channel: &str,
    base: Option<Base<'_>>,
    to: &Digest,
) -> Result<(EntrySet, usize)> {
    let key = layout::snapshot_key(to);
    let bytes = remote
        .get(RequestKind::Snapshot, channel, &key)
        .await?
        .ok_or_else(|| Error::Missing {
            key: key.clone(),
            referrer: format!("the head of channel {channel}"),
        })?;
    let snapshot = Snapshot::decode(&bytes, to).map_err(|source| Error::Corrupt {
        what: format!("snapshot {key}"),
        source,
    })?;

    let empty = EntrySet::new();
    let old_entries = base.map_or(&empty, |b| b.entries);
    let local = Index::build(old_entries);
    let fetched = fetch_nodes(remote, channel, &local, snapshot.index).await?;
    let both = Both {
        local: &local,
        fetched: &fetched,
    };
    let changes =
        diff_indexes(&local, &local.root(), &both, &snapshot.index).map_err(|source| {
            Error::Corrupt {
                what: format!("index of snapshot {to}"),
                source,
            }
        })?;
    let mut entries = old_entries.clone();
    for change in changes {
        match change {
            Change::Added(e) | Change::Changed { new: e, .. } => {
                entries.insert(e.id.clone(), e);
            }
            Change::Removed(e) => {
                entries.remove(&e.id);
            }
        }
    }
    let rebuilt = Snapshot::build(&entries).0;
    if rebuilt != snapshot {
        return Err(Error::Corrupt {
            what: format!("index of snapshot {to}"),
            source: cairn_state_format::Error::DigestMismatch {
                what: "snapshot rebuilt from the fetched index".to_owned(),
                expected: *to,
                actual: rebuilt.digest(),
            },
        });
    }
    Ok((entries, fetched.len()))
}

/// Every node of the tree under `root` that `local` lacks, level by level.
async fn fetch_nodes(
    remote: &Remote,
    channel: &str,
    local: &Index,
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
    let bytes = remote
        .get(RequestKind::Node, channel, &key)
        .await?
        .ok_or_else(|| Error::Missing {
            key: key.clone(),
            referrer: format!("the index of channel {channel}"),
        })?;
    let node = Node::decode(&bytes, &digest).map_err(|source| Error::Corrupt {
        what: format!("index node {key}"),
        source,
    })?;
    Ok((digest, node))
}
