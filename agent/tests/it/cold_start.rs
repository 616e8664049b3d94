//! A new agent's cold start through a bridge (head format 3): the head, the snapshot pack, the
//! bridge from the pack's snapshot to a recent one, the delta pack from there. Requests counted.

use crate::support::*;
use cairn_agent::{Agent, Outcome, RequestKind};
use cairn_state_format::{BridgeRef, Head, Packs, layout};

const OBJECTS: usize = 40;

fn objects(changed: usize) -> String {
    let body: String = (0..OBJECTS)
        .map(|i| cm(&format!("cm-{i}"), if i < changed { "new" } else { "old" }))
        .collect();
    format!("{NAMESPACE}{body}")
}

/// Generations 1 to 3, one more object changed in each; generation 3's head names, as the hub
/// does once the pack's snapshot is no longer recent, the bridge generation 2 wrote (its delta
/// pack from the pack's snapshot) and no delta pack from the pack's snapshot.
async fn bridged_channel(hub: &mut Publisher) -> Head {
    hub.publish(&objects(0)).await;
    let packed = hub.snapshot_pack.clone().unwrap();
    hub.publish(&objects(1)).await;
    let bridged = hub.last_packs.clone().unwrap();
    let bridge_to = hub.snapshot();
    let mut head = hub.publish(&objects(2)).await;
    let written = bridged.delta_from(&packed.snapshot).unwrap();
    let recent = head.packs.delta_from(&bridge_to).copied().unwrap();
    head.set_packs(Packs {
        deltas: vec![recent],
        snapshot: Some(packed),
        bridge: Some(BridgeRef {
            to: bridge_to,
            bytes: written.bytes,
            digest: written.digest,
        }),
    });
    assert_eq!(head.format, 3);
    hub.put_head(&head).await;
    head
}

#[tokio::test]
async fn a_new_agent_starts_through_a_bridge_in_four_requests() {
    let (store, counting) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    bridged_channel(&mut hub).await;
    let dirs = dirs();
    let agent = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    let before = counting.counts();
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    let used = since(before, counting.counts());
    // The head, the pack's one shard, the bridge, the delta pack: no node, no blob.
    assert_eq!(used.gets, 4, "{used:?}");
    let metrics = agent.metrics();
    assert_eq!(metrics.requests(RequestKind::SnapshotPack), 1);
    assert_eq!(metrics.requests(RequestKind::Delta), 2);
    assert_eq!(metrics.requests(RequestKind::Node), 0);
    assert_eq!(metrics.requests(RequestKind::Blob), 0);
    assert_eq!(report.channels[0].applied.as_ref().unwrap().generation, 3);
    for (name, value) in [("cm-0", "new"), ("cm-1", "new"), ("cm-2", "old")] {
        let file = read(&cm_path(&dirs, name)).unwrap();
        assert!(file.contains(&format!("v: {value}")), "{name}: {file}");
    }
}

#[tokio::test]
async fn a_damaged_bridge_is_refused_and_the_agent_walks_the_index() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    let head = bridged_channel(&mut hub).await;
    let bridge = head.packs.bridge.unwrap();
    // Same length, other bytes: the digest the signed head names does not match.
    let key = layout::pack_key(&bridge.digest);
    store
        .put(&key, vec![b'x'; bridge.bytes as usize])
        .await
        .unwrap();
    let dirs = dirs();
    let agent = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert!(agent.metrics().requests(RequestKind::Node) > 0, "walked");
    assert!(read(&cm_path(&dirs, "cm-1")).unwrap().contains("v: new"));
    let record = store.get("status/prod/cluster-1").await.unwrap().unwrap();
    let record = cairn_state_format::StatusRecord::decode(&record.bytes, "status").unwrap();
    assert!(
        record.errors.iter().any(|e| e.message.contains(&key)),
        "the refused bridge is reported: {:?}",
        record.errors
    );
}
