//! What a publish costs: PUTs counted through a counting store wrapper.

mod common;

use cairn_state_format::{FANOUT, LEAF_CAPACITY};

#[tokio::test]
async fn ten_changes_in_twenty_thousand_objects_cost_ten_blobs_and_a_few_nodes() {
    let (store, counter) = common::counting_memory();
    let keys = [common::key()];
    let first = common::publish_yaml(
        &store,
        "big",
        &common::configmaps(20_000, 0, 0),
        &keys,
        false,
    )
    .await;
    assert_eq!(first.blobs_uploaded, 20_000);

    let before = counter.counts();
    let second = common::publish_yaml(
        &store,
        "big",
        &common::configmaps(20_000, 10, 1),
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
    let (store, counter) = common::counting_memory();
    let keys = [common::key()];
    let yaml = common::configmaps(500, 0, 0);
    common::publish_yaml(&store, "same", &yaml, &keys, false).await;
    let before = counter.counts().puts;
    let again = common::publish_yaml(&store, "same", &yaml, &keys, false).await;
    assert!(again.unchanged);
    assert_eq!(again.generation, 1);
    assert_eq!(counter.counts().puts - before, 4, "only the probe writes");
}
