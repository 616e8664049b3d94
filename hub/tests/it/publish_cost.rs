//! What a publish costs: PUTs counted through a counting store wrapper.

use crate::support;

use cairn_state_format::{FANOUT, LEAF_CAPACITY};

#[tokio::test]
async fn ten_changes_in_twenty_thousand_objects_cost_ten_blobs_and_a_few_nodes() {
    let (store, counter) = support::counting_memory();
    let keys = [support::key()];
    let first = support::publish_yaml(
        &store,
        "big",
        &support::configmaps(20_000, 0, 0),
        &keys,
        false,
    )
    .await;
    assert_eq!(first.blobs_uploaded, 20_000);

    let before = counter.counts();
    let second = support::publish_yaml(
        &store,
        "big",
        &support::configmaps(20_000, 10, 1),
        &keys,
        false,
    )
    .await;
    let puts = counter.counts().puts - before.puts;
    assert_eq!(second.changes, 10);
    assert_eq!(
        second.blobs_uploaded, 10,
        "only the changed blobs are uploaded"
    );
    assert_eq!(
        second.deltas_uploaded, 1,
        "one delta pack from the previous snapshot"
    );
    // Each change rewrites the index nodes on its path: at 20,000 objects the trie has 4 levels
    // (16-way branches, leaves of at most 16), and upper levels are shared between changes.
    assert_eq!(
        (FANOUT, LEAF_CAPACITY),
        (16, 16),
        "update this bound if the index shape changes"
    );
    assert!(
        second.nodes_uploaded <= 1 + 10 * 3,
        "{} index nodes",
        second.nodes_uploaded
    );
    // Blobs + nodes + snapshot root + delta + log + head, plus the probe's 4 test writes.
    let expected = second.blobs_uploaded + second.nodes_uploaded + 1 + 1 + 2 + 4;
    assert_eq!(puts as usize, expected, "PUTs of the second publish");
    let gets = counter.counts().gets - before.gets;
    assert!(gets < 100, "{gets} GETs: reads stay on the changed paths");
}

#[tokio::test]
async fn identical_content_publishes_nothing() {
    let (store, counter) = support::counting_memory();
    let keys = [support::key()];
    let yaml = support::configmaps(500, 0, 0);
    support::publish_yaml(&store, "same", &yaml, &keys, false).await;
    let before = counter.counts().puts;
    let again = support::publish_yaml(&store, "same", &yaml, &keys, false).await;
    assert!(again.unchanged);
    assert_eq!(again.generation, 1);
    assert_eq!(counter.counts().puts - before, 4, "only the probe writes");
}

#[tokio::test]
async fn with_the_publish_cache_ten_changes_read_ten_files_and_put_the_same_objects() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, cache) = (dir.path().join("m"), dir.path().join("cache"));
    std::fs::create_dir_all(&tree).unwrap();
    let one = |i: usize, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: ns}}\ndata: {{v: {value}}}\n"
        )
    };
    // 20,000 objects in 400 files of 50.
    for f in 0..400 {
        let text: Vec<String> = (f * 50..f * 50 + 50).map(|i| one(i, "a")).collect();
        std::fs::write(tree.join(format!("f{f:03}.yaml")), text.join("---\n")).unwrap();
    }
    // Back-date the files: files written moments before a scan are re-read by the next one.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for entry in std::fs::read_dir(&tree).unwrap() {
        let file = std::fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .unwrap();
        file.set_modified(old).unwrap();
    }
    let (store, counter) = support::counting_memory();
    let (first, read) = support::publish_dir(&store, "big", &tree, &cache).await;
    assert_eq!((first.entries, read), (20_000, (400, 0)));

    // One changed object in each of ten files.
    for f in 0..10 {
        let path = tree.join(format!("f{:03}.yaml", f * 37));
        let text = std::fs::read_to_string(&path).unwrap();
        let i = f * 37 * 50 + 7;
        std::fs::write(&path, text.replace(&one(i, "a"), &one(i, "b"))).unwrap();
    }
    let before = counter.counts();
    let (second, read) = support::publish_dir(&store, "big", &tree, &cache).await;
    assert_eq!(read, (10, 390), "only the changed files are read");
    assert!(second.incremental, "the cache describes the head");
    assert_eq!((second.changes, second.blobs_uploaded), (10, 10));
    assert!(
        second.nodes_uploaded <= 1 + 10 * 3,
        "{}",
        second.nodes_uploaded
    );
    let puts = counter.counts().puts - before.puts;
    // Blobs + nodes + snapshot root + delta + log + head + source map, plus the probe's 4.
    let expected = second.blobs_uploaded + second.nodes_uploaded + 1 + 1 + 2 + 1 + 4;
    assert_eq!(puts as usize, expected, "PUTs of the second publish");
    assert!(second.source_map_bytes > 0, "a source map was written");
    let gets = counter.counts().gets - before.gets;
    assert!(gets < 100, "{gets} GETs: reads stay on the changed paths");
    support::assert_readable(&store, &second.snapshot).await;
}
