//! Uploading what the store lacks of a prepared snapshot: the blobs its changes add, its new
//! index nodes, then its root, concurrently and with a progress bar for people at a terminal.

use bytes::Bytes;
use cairn_state_format::{Node, layout};
use cairn_store::Store;
use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;

use super::prepare::Prepared;
use super::progress;
use super::published::Published;
use super::request::Settings;
use crate::error::{Error, Result};
use crate::failpoint;
use crate::objects::CONCURRENCY;

/// Objects uploaded before a progress bar is worth showing.
const PROGRESS_FROM: usize = 64;

/// Uploads what the store lacks of a prepared snapshot: the blobs its changes add (blobs the
/// previous snapshot has are in the store already), its new index nodes, then its root.
pub(super) async fn upload_content(
    store: &Store,
    prepared: &Prepared,
    settings: &Settings<'_>,
    published: &mut Published,
) -> Result<()> {
    let bar = progress_bar(
        settings.progress,
        prepared.blobs.len() + prepared.nodes.len() + 1,
    );
    let blob_items: Vec<(String, Bytes)> = prepared
        .blobs
        .iter()
        .map(|(d, bytes)| (layout::blob_key(d), bytes.clone()))
        .collect();
    published.changes = prepared.changes.len();
    published.blobs_uploaded = blob_items.len();
    published.bytes_uploaded += upload_all(store, blob_items, &bar).await?;
    failpoint::hit("after-blobs");

    let node_items: Vec<(String, Bytes)> = prepared
        .nodes
        .iter()
        .map(|(d, canonical)| (layout::index_key(d), Bytes::from(Node::encode(canonical))))
        .collect();
    published.nodes_uploaded = node_items.len();
    published.bytes_uploaded += upload_all(store, node_items, &bar).await?;
    failpoint::hit("after-index");

    let root = prepared.snapshot.encode();
    published.bytes_uploaded += root.len() as u64;
    store
        .put(&layout::snapshot_key(&prepared.snapshot.digest()), root)
        .await?;
    bar.inc(1);
    bar.finish_and_clear();
    failpoint::hit("after-snapshot");
    Ok(())
}

async fn upload_all(store: &Store, items: Vec<(String, Bytes)>, bar: &ProgressBar) -> Result<u64> {
    futures::stream::iter(items)
        .map(|(key, bytes)| async move {
            let len = bytes.len() as u64;
            store.put(&key, bytes).await?;
            bar.inc(1);
            Ok::<_, Error>(len)
        })
        .buffer_unordered(CONCURRENCY)
        .try_fold(0, |total, len| async move { Ok(total + len) })
        .await
}

fn progress_bar(enabled: bool, total: usize) -> ProgressBar {
    progress::bar(
        enabled,
        total,
        PROGRESS_FROM,
        "{spinner} uploading {pos}/{len} objects [{bar:30}] {per_sec} eta {eta}",
    )
}
