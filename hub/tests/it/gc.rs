//! Garbage collection never deletes what a kept generation reaches, over random histories, and
//! a publish racing a collection stays readable.

use crate::support;

use std::time::Duration;

use cairn_hub::collect_at;
use cairn_state_format::layout;
use proptest::prelude::*;

fn history() -> impl Strategy<Value = (Vec<(u8, u32)>, usize)> {
    // (channel 0..3, content variant) per publish, and how many generations to keep.
    (prop::collection::vec((0u8..3, 0u32..6), 1..12), 1usize..4)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn gc_keeps_everything_kept_generations_reach((publishes, keep) in history()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let store = cairn_store::Store::open("memory://", &Default::default()).unwrap();
            let keys = [support::key()];
            for (channel, variant) in &publishes {
                let yaml = support::configmaps(30, (*variant as usize) * 3, *variant);
                support::publish_yaml(&store, &format!("c{channel}"), &yaml, &keys, false).await;
            }
            // Collect as if a day had passed, so only reachability protects anything.
            let later = cairn_hub::now() + chrono::Duration::days(1);
            let collected = collect_at(&store, keep, Duration::from_secs(3600), false, later).await.unwrap();
            for channel in 0..3u8 {
                let log = support::log(&store, &format!("c{channel}")).await;
                for (_, snapshot) in log.iter().rev().take(keep) {
                    support::assert_readable(&store, snapshot).await;
                }
            }
            let distinct: std::collections::HashSet<u32> = publishes.iter().map(|(_, v)| *v).collect();
            if distinct.len() > keep * 3 {
                prop_assert!(!collected.deleted.is_empty(), "something unreachable was collected");
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_publish_racing_a_collection_stays_readable() {
    let store = cairn_store::Store::open("memory://", &Default::default()).unwrap();
    let keys = [support::key()];
    let grace = Duration::from_secs(1);
    support::publish_yaml(
        &store,
        "prod",
        &support::configmaps(200, 0, 0),
        &keys,
        false,
    )
    .await;
    let mut deleted = 0;
    for variant in 1..=4u32 {
        // Let what earlier rounds wrote age past the grace period, so collections delete for real.
        tokio::time::sleep(grace + Duration::from_millis(100)).await;
        let yaml = support::configmaps(200, 20, variant);
        let publish = support::publish_yaml(&store, "prod", &yaml, &keys, false);
        let gc = async {
            let mut deleted = 0;
            for _ in 0..3 {
                deleted += collect_at(&store, 1, grace, false, cairn_hub::now())
                    .await
                    .unwrap()
                    .deleted
                    .len();
                tokio::task::yield_now().await;
            }
            deleted
        };
        let (published, collected) = tokio::join!(publish, gc);
        deleted += collected;
        support::assert_readable(&store, &published.snapshot).await;
    }
    assert!(deleted > 0, "the collections ran for real");
}

#[tokio::test]
async fn the_source_maps_of_kept_generations_and_their_base_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (tree, cache) = (dir.path().join("m"), dir.path().join("cache"));
    std::fs::create_dir_all(&tree).unwrap();
    let store = cairn_store::Store::open("memory://", &Default::default()).unwrap();
    let mut snapshots = Vec::new();
    for generation in 0..4 {
        for f in 0..10 {
            let value = if f == generation { generation + 1 } else { 0 };
            let yaml = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{f}, namespace: ns}}\ndata: {{v: '{value}'}}\n"
            );
            std::fs::write(tree.join(format!("f{f}.yaml")), yaml).unwrap();
        }
        let (published, _) = support::publish_dir(&store, "prod", &tree, &cache).await;
        assert!(published.source_map_bytes > 0);
        snapshots.push(published.snapshot);
    }
    // The first map is full; the others are patches of it.
    let later = cairn_hub::now() + chrono::Duration::days(1);
    collect_at(&store, 1, Duration::from_secs(3600), false, later)
        .await
        .unwrap();
    let mut left: Vec<String> = store
        .list("sources/prod/")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.key)
        .collect();
    left.sort();
    let mut expected = vec![
        layout::source_map_key("prod", &snapshots[0]),
        layout::source_map_key("prod", &snapshots[3]),
    ];
    expected.sort();
    assert_eq!(
        left, expected,
        "the head's patch and the full map it applies to"
    );
}
