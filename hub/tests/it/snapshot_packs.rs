//! Which packs each head names: the snapshot pack, and the way from its snapshot to the head's
//! (a delta pack among the recent ones, or a bridge written once and named again by the heads
//! after it while its target stays among the last 8 snapshots).

use crate::support;

use std::time::Duration;

use cairn_hub::collect_at;
use cairn_state_format::{Head, SignedHead, layout};
use cairn_store::Store;

const OBJECTS: usize = 200;

/// Generation 1 of `OBJECTS` ConfigMaps, then one more changed object per publish up to
/// `generations`; returns each publish's count of delta packs uploaded, by generation.
async fn publish_one_change_each(store: &Store, generations: usize) -> Vec<usize> {
    let keys = [support::key()];
    let mut uploaded = vec![0];
    for changed in 0..generations {
        let yaml = support::configmaps(OBJECTS, changed, 1);
        let published = support::publish_yaml(store, "prod", &yaml, &keys, false).await;
        assert_eq!(published.generation as usize, changed + 1);
        uploaded.push(published.deltas_uploaded);
    }
    uploaded
}

/// Every head of the channel, by generation (index 0 unused).
async fn heads(store: &Store, generations: usize) -> Vec<Option<Head>> {
    let mut heads = vec![None];
    for generation in 1..=generations as u64 {
        let key = layout::log_key("prod", generation);
        let bytes = store.get(&key).await.unwrap().unwrap().bytes;
        heads.push(Some(SignedHead::decode(&bytes).unwrap().head));
    }
    heads
}

#[tokio::test]
async fn a_bridge_is_written_once_and_named_by_the_heads_after_it() {
    let store = Store::open("memory://", &Default::default()).unwrap();
    let uploaded = publish_one_change_each(&store, 20).await;
    let heads = heads(&store, 20).await;
    let head = |g: usize| heads[g].as_ref().unwrap();
    let packed = head(1).packs.snapshot.clone().unwrap();
    assert_eq!(
        packed.snapshot,
        head(1).snapshot,
        "the first head packs itself"
    );
    for (g, &written) in uploaded.iter().enumerate().skip(2) {
        let h = head(g);
        assert_eq!(h.packs.snapshot.as_ref(), Some(&packed), "generation {g}");
        // Deltas from the last 8 snapshots (fewer at first).
        let recent = (g - 1).min(8);
        let from_pack = h.packs.delta_from(&packed.snapshot);
        match g {
            // The pack's snapshot is one of the last 8: its delta pack is a recent one.
            2..=9 => assert!(from_pack.is_some() && h.packs.bridge.is_none(), "{g}"),
            // It fell out: generation 9's delta pack from it bridges to generation 9's snapshot,
            // which stays recent up to generation 17; nothing beyond the recent ones is written.
            10..=17 | 19..=20 => {
                let bridged = if g <= 17 { 9 } else { 18 };
                let bridge = h.packs.bridge.expect("a bridge");
                let reused = head(bridged).packs.delta_from(&packed.snapshot).unwrap();
                assert_eq!(bridge.to, head(bridged).snapshot, "{g}");
                assert_eq!((bridge.digest, bridge.bytes), (reused.digest, reused.bytes));
                assert!(from_pack.is_none(), "{g}");
                assert_eq!(h.format, 3, "a head naming a bridge has format 3");
                assert_eq!(written, recent, "generation {g} writes only recent deltas");
            }
            // Generation 9's snapshot left the window: a new delta pack from the pack's snapshot.
            18 => {
                assert!(h.packs.bridge.is_none() && from_pack.is_some());
                assert_eq!(h.format, 2, "no bridge: the lowest format");
                assert_eq!(written, recent + 1, "the recent deltas and a new bridge");
            }
            _ => unreachable!(),
        }
    }
}

#[tokio::test]
async fn the_snapshot_pack_is_rewritten_when_a_new_bridge_would_cost_more() {
    let store = Store::open("memory://", &Default::default()).unwrap();
    // 200 objects, one more changed per publish: the bridges from generation 1 (written at
    // generations 9, 18, 27, …) add up to the pack after a few dozen publishes.
    let generations = 80;
    publish_one_change_each(&store, generations).await;
    let heads = heads(&store, generations).await;
    let mut rewrites = 0;
    for g in 2..=generations {
        let (h, before) = (heads[g].as_ref().unwrap(), heads[g - 1].as_ref().unwrap());
        let pack = h.packs.snapshot.as_ref().unwrap();
        if Some(pack) != before.packs.snapshot.as_ref() {
            rewrites += 1;
            // Only when a new bridge would be written: a carried-over one never forces a pack.
            assert_eq!(g % 9, 0, "rewritten at generation {g}");
            assert_eq!(
                pack.snapshot, h.snapshot,
                "a new pack holds the head's snapshot"
            );
        }
        // Every head leads a new agent from its pack to its snapshot.
        let start = h.packs.bridge.map_or(pack.snapshot, |b| b.to);
        assert!(
            start == h.snapshot || h.packs.delta_from(&start).is_some(),
            "generation {g}"
        );
    }
    assert_eq!(rewrites, 1, "one rewrite in {generations} publishes");
}

#[tokio::test]
async fn gc_keeps_the_bridge_a_kept_head_names() {
    let store = Store::open("memory://", &Default::default()).unwrap();
    publish_one_change_each(&store, 12).await;
    let head = heads(&store, 12).await.pop().flatten().unwrap();
    let bridge = head.packs.bridge.expect("generation 12 names a bridge");
    let later = cairn_hub::now() + chrono::Duration::days(1);
    let collected = collect_at(&store, 1, Duration::from_secs(3600), false, later)
        .await
        .unwrap();
    assert!(!collected.deleted.is_empty(), "older packs were collected");
    for pack in head.packs.objects() {
        let key = layout::pack_key(&pack.digest);
        let kept = store.get(&key).await.unwrap();
        assert!(kept.is_some(), "{key} is named by the kept head");
    }
    assert!(
        !collected
            .deleted
            .contains(&layout::pack_key(&bridge.digest)),
        "the bridge was written by a collected generation but is kept"
    );
}

#[tokio::test]
async fn an_export_carries_the_bridge_and_rebuilds_the_newest_snapshot_through_it() {
    use cairn_hub::{Bundle, Cli};
    use clap::Parser;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", dir.path().join("store").display());
    let store = Store::open(&url, &Default::default()).unwrap();
    publish_one_change_each(&store, 12).await;
    let head = heads(&store, 12).await.pop().flatten().unwrap();
    let bridge = head.packs.bridge.expect("generation 12 names a bridge");
    let out = dir.path().join("prod.cairn");
    let out_arg = out.display().to_string();
    let argv = [
        "cairn",
        "export",
        "--store",
        &url,
        "--channel",
        "prod",
        "--since",
        "12",
        "--out",
        &out_arg,
        "--output",
        "json",
    ];
    cairn_hub::run(Cli::try_parse_from(argv).unwrap())
        .await
        .unwrap();
    let bundle = Bundle::read(std::fs::File::open(&out).unwrap(), "prod.cairn").unwrap();
    let bridge_key = layout::pack_key(&bridge.digest);
    assert!(bundle.manifest.objects.iter().any(|o| o.key == bridge_key));
    let verified = bundle.verify(&[support::key().public()]).unwrap();
    assert_eq!(
        verified.entries,
        support::assert_readable(&store, &head.snapshot).await
    );
}
