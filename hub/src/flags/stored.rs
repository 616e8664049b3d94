//! The flag document of a stored snapshot: found along the flags ConfigMap's index path and read
//! from its one blob.

use cairn_state_format::{Digest, ResourceId};
use cairn_store::Store;

use super::document::{FlagDocument, FlagInfo};
use crate::error::{Error, Result};
use crate::objects::fetch_blobs;
use crate::objects::nodes::RemoteNodes;
use crate::objects::patch::lookup;

/// The identity of the flags ConfigMap `name` in `namespace`.
pub fn configmap_id(namespace: &str, name: &str) -> ResourceId {
    ResourceId {
        group: String::new(),
        kind: "ConfigMap".into(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

/// The flags in `snapshot`'s flag document `id` (none if it has no such document).
pub async fn snapshot_flags(
    store: &Store,
    snapshot: &Digest,
    id: &ResourceId,
) -> Result<Vec<FlagInfo>> {
    let mut nodes = RemoteNodes::new(store);
    let base = nodes.snapshot(snapshot).await?;
    Ok(read_document(store, &mut nodes, &base.index, id)
        .await?
        .list())
}

/// The flag document `id` in the index at `root` (empty if there is none yet).
pub async fn read_document(
    store: &Store,
    nodes: &mut RemoteNodes<'_>,
    root: &Digest,
    id: &ResourceId,
) -> Result<FlagDocument> {
    let Some(entry) = lookup(nodes, root, id).await? else {
        return Ok(FlagDocument::default());
    };
    let blobs = fetch_blobs(store, [entry.blob]).await?;
    let object: serde_json::Value = serde_json::from_slice(&blobs[&entry.blob])
        .map_err(|e| Error::Input(format!("{id}: not JSON: {e}")))?;
    FlagDocument::from_configmap(&object, &id.to_string())
}
