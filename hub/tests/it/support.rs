//! What the hub's tests share beyond `cairn-test-support`: publishing YAML in process, and
//! reading a channel's log, head and snapshots back from the store.

pub use cairn_test_support::{configmaps, counting_memory, key};

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use cairn_hub::{Content, Publication, Published, Settings, publish};
use cairn_state_format::{
    Digest, EntrySet, Node, SecretKey, SignedHead, Snapshot, layout, parse_documents,
};
use cairn_store::Store;

pub fn local_content(yaml: &str) -> Content<'static> {
    let resources = parse_documents("test.yaml", yaml).unwrap();
    let entries: EntrySet = resources
        .iter()
        .map(|r| (r.id.clone(), r.entry()))
        .collect();
    let blobs: HashMap<Digest, Bytes> = resources
        .into_iter()
        .map(|r| (r.digest, Bytes::from(r.canonical)))
        .collect();
    Content::Local { entries, blobs }
}

pub fn publication<'a>(channel: &str, content: Content<'a>) -> Publication<'a> {
    Publication {
        channel: channel.to_owned(),
        content,
        source: Default::default(),
        expires_in: Duration::from_secs(3600),
        rollout: None,
        retire_at: None,
        allow_unchanged: false,
    }
}

/// Settings of a test publisher: delta packs from 8 snapshots, no progress bar, no proposals.
pub fn settings(keys: &[SecretKey], single_publisher: bool) -> Settings<'_> {
    Settings {
        keys,
        delta_depth: 8,
        single_publisher,
        progress: false,
        propose: false,
    }
}

pub async fn publish_yaml(
    store: &Store,
    channel: &str,
    yaml: &str,
    keys: &[SecretKey],
    single_publisher: bool,
) -> Published {
    let settings = settings(keys, single_publisher);
    publish(store, publication(channel, local_content(yaml)), &settings)
        .await
        .unwrap()
}

/// Publishes `dir` to `channel` with the publish cache in `cache`, as `cairn publish` does
/// (source map included); what it did, and how many files it parsed and found unchanged.
pub async fn publish_dir(
    store: &Store,
    channel: &str,
    dir: &std::path::Path,
    cache: &std::path::Path,
) -> (Published, (usize, usize)) {
    use cairn_hub::{CacheFile, Content, Scan};

    let inputs = [dir.to_path_buf()];
    let cache_file = CacheFile::new(cache, store.url(), channel, &inputs, None);
    let known = cache_file.load(&Default::default());
    let mut scan = Scan::run(&inputs, Some(cache_file), known, false, Default::default()).unwrap();
    let keys = [key()];
    let settings = settings(&keys, false);
    let read = scan.parsed_and_reused();
    let published = publish(
        store,
        publication(channel, Content::Scanned(&mut scan)),
        &settings,
    )
    .await
    .unwrap();
    scan.save_cache(published.snapshot).unwrap();
    (published, read)
}

/// Reads a channel's log: every generation with its snapshot.
pub async fn log(store: &Store, channel: &str) -> Vec<(u64, Digest)> {
    let mut out = Vec::new();
    for listed in store.list(&layout::log_prefix(channel)).await.unwrap() {
        let bytes = store.get(&listed.key).await.unwrap().unwrap().bytes;
        let head = SignedHead::decode(&bytes).unwrap().head;
        assert_eq!(
            layout::generation_of_log_key(&listed.key),
            Some(head.generation),
            "{}",
            listed.key
        );
        out.push((head.generation, head.snapshot));
    }
    out.sort();
    out
}

pub async fn head_generation(store: &Store, channel: &str) -> Option<u64> {
    let bytes = store.get(&layout::head_key(channel)).await.unwrap()?.bytes;
    Some(SignedHead::decode(&bytes).unwrap().head.generation)
}

/// Checks that a snapshot is whole in the store: root, every index node, every blob.
pub async fn assert_readable(store: &Store, snapshot: &Digest) -> EntrySet {
    let root = store
        .get(&layout::snapshot_key(snapshot))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("snapshot {snapshot} missing"));
    let root = Snapshot::decode(&root.bytes, snapshot).unwrap();
    let mut entries = EntrySet::new();
    let mut pending = vec![root.index];
    while let Some(digest) = pending.pop() {
        let bytes = store
            .get(&layout::index_key(&digest))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("node {digest} missing"));
        match Node::decode(&bytes.bytes, &digest).unwrap() {
            Node::Leaf(leaf) => entries.extend(leaf.into_iter().map(|e| (e.id.clone(), e))),
            Node::Branch(children) => {
                pending.extend(children.into_iter().flatten().map(|c| c.node))
            }
        }
    }
    for entry in entries.values() {
        let blob = store
            .get(&layout::blob_key(&entry.blob))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("blob of {} missing", entry.id));
        entry.blob.verify("blob", &blob.bytes).unwrap();
    }
    assert_eq!(entries.len() as u64, root.entries);
    entries
}
