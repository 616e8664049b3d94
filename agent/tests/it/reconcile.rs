//! The verified reconcile path end to end, with `run_once`: files, pruning, selectors, waves,
//! delta and index-walk fetching, restart without refetch.

use std::sync::Arc;

use crate::support::*;
use cairn_agent::{Agent, Outcome, RequestKind, Shared};
use cairn_state_format::Phase;

#[tokio::test]
async fn first_pass_writes_every_object_and_an_idle_pass_is_one_304() {
    let (store, counting) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&format!("{NAMESPACE}{}{}", cm("a", "1"), cm("b", "2")))
        .await;
    let dirs = dirs();
    let agent = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();

    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    let status = &report.channels[0];
    assert_eq!(status.phase, Phase::Converged);
    assert_eq!(status.applied.as_ref().unwrap().generation, 1);
    assert_eq!(status.counts.objects, 3);
    assert_eq!(status.counts.applied, 3);
    assert!(read(&dirs.out.join("_cluster/Namespace/app.yaml")).is_some());
    let a = read(&cm_path(&dirs, "a")).unwrap();
    assert!(a.contains("name: a") && a.contains("v: '1'"), "{a}");
    assert_eq!(agent.metrics().applied_generation("prod"), 1);

    // The status record is in the store.
    let record = store.get("status/prod/cluster-1").await.unwrap().unwrap();
    let record = cairn_state_format::StatusRecord::decode(&record.bytes, "status").unwrap();
    assert_eq!(record.phase, Phase::Converged);

    // Nothing changed: one conditional GET, answered "not modified", nothing else.
    let before = counting.counts();
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged);
    let used = since(before, counting.counts());
    assert_eq!(used.gets, 1, "{used:?}");
    assert_eq!(
        used.puts, 0,
        "an unchanged status record is not rewritten: {used:?}"
    );
    assert_eq!(agent.metrics().not_modified("prod"), 1);
    assert_eq!(
        agent.metrics().object_counts("prod"),
        (3, 0, 0),
        "nothing re-applied"
    );
}

#[tokio::test]
async fn a_one_object_change_is_fetched_as_one_delta_pack() {
    let (store, counting) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    let many: String = (0..40).map(|i| cm(&format!("cm-{i}"), "x")).collect();
    hub.publish(&many).await;
    let dirs = dirs();
    let agent = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);

    hub.publish(&many.replace(
        "name: cm-7, namespace: app}\ndata: {v: 'x'}",
        "name: cm-7, namespace: app}\ndata: {v: 'y'}",
    ))
    .await;
    let before = counting.counts();
    let deltas = agent.metrics().requests(RequestKind::Delta);
    let blobs = agent.metrics().requests(RequestKind::Blob);
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    let used = since(before, counting.counts());
    // The head, the delta pack, and the status record.
    assert_eq!(used.gets, 2, "{used:?}");
    assert_eq!(agent.metrics().requests(RequestKind::Delta), deltas + 1);
    assert_eq!(agent.metrics().requests(RequestKind::Blob), blobs);
    assert_eq!(report.channels[0].counts.applied, 1);
    assert!(read(&cm_path(&dirs, "cm-7")).unwrap().contains("v: y"));
    assert!(read(&cm_path(&dirs, "cm-8")).unwrap().contains("v: x"));
}

#[tokio::test]
async fn without_a_pack_the_agent_walks_only_changed_index_nodes() {
    let (store, counting) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.deltas = false;
    let many: String = (0..200).map(|i| cm(&format!("cm-{i}"), "x")).collect();
    hub.publish(&many).await;
    let dirs = dirs();
    let agent = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    // A new agent starts from the snapshot pack: no index node is fetched.
    assert_eq!(agent.metrics().requests(RequestKind::SnapshotPack), 1);
    let first_nodes = agent.metrics().requests(RequestKind::Node);
    assert_eq!(first_nodes, 0);

    let changed = many.replace(
        "name: cm-42, namespace: app}\ndata: {v: 'x'}",
        "name: cm-42, namespace: app}\ndata: {v: 'z'}",
    );
    hub.publish(&changed).await;
    let before = counting.counts();
    let blobs = agent.metrics().requests(RequestKind::Blob);
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    let nodes = agent.metrics().requests(RequestKind::Node) - first_nodes;
    assert!(
        (1..=3).contains(&nodes),
        "{nodes} nodes fetched for one change"
    );
    assert_eq!(agent.metrics().requests(RequestKind::Blob) - blobs, 1);
    // head + snapshot + nodes + blob: the head names no pack from this base, so none is asked for
    let used = since(before, counting.counts());
    assert_eq!(used.gets, 2 + nodes + 1, "{used:?}");
    assert!(read(&cm_path(&dirs, "cm-42")).unwrap().contains("v: z"));
}

#[tokio::test]
async fn removed_objects_are_pruned_and_foreign_files_left_alone() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&format!("{}{}", cm("keep", "1"), cm("drop", "1")))
        .await;
    let dirs = dirs();
    std::fs::create_dir_all(dirs.out.join("app/ConfigMap")).unwrap();
    std::fs::write(dirs.out.join("app/ConfigMap/hand-made.yaml"), "mine").unwrap();
    let agent = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    assert!(cm_path(&dirs, "drop").exists());

    hub.publish(&cm("keep", "1")).await;
    let report = agent.run_once().await;
    assert_eq!(report.channels[0].counts.pruned, 1);
    assert!(!cm_path(&dirs, "drop").exists());
    assert!(cm_path(&dirs, "keep").exists());
    assert_eq!(
        read(&dirs.out.join("app/ConfigMap/hand-made.yaml")).unwrap(),
        "mine"
    );
    assert_eq!(agent.metrics().object_counts("prod").1, 1);
}

#[tokio::test]
async fn cluster_selectors_pick_objects_by_label() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    let eu = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: eu, namespace: app, annotations: {cairn.dev/cluster-selector: 'region=eu'}}\n---\n";
    hub.publish(&format!("{}{eu}", cm("all", "1"))).await;

    let us_dirs = dirs();
    let mut us = config(opened(&store), &["prod"], &us_dirs);
    us.labels.insert("region".into(), "us".into());
    let report = Agent::new(us).unwrap().run_once().await;
    assert_eq!(report.channels[0].counts.objects, 1);
    assert!(cm_path(&us_dirs, "all").exists());
    assert!(!cm_path(&us_dirs, "eu").exists());

    let eu_dirs = dirs();
    let mut eu_config = config(opened(&store), &["prod"], &eu_dirs);
    eu_config.cluster_id = "cluster-2".into();
    eu_config.labels.insert("region".into(), "eu".into());
    Agent::new(eu_config).unwrap().run_once().await;
    assert!(cm_path(&eu_dirs, "eu").exists());
}

#[tokio::test]
async fn a_later_wave_waits_for_an_earlier_one_to_land() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    let early = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: early, namespace: blocked, annotations: {cairn.dev/wave: '-1'}}\n---\n";
    hub.publish(&format!("{early}{}", cm("late", "1"))).await;
    let dirs = dirs();
    // A file the agent does not own sits where wave -1 needs a directory.
    std::fs::create_dir_all(&dirs.out).unwrap();
    std::fs::write(dirs.out.join("blocked"), "not a directory").unwrap();
    let agent = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(
        !cm_path(&dirs, "late").exists(),
        "wave 0 ran before wave -1 landed"
    );

    std::fs::remove_file(dirs.out.join("blocked")).unwrap();
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert!(dirs.out.join("blocked/ConfigMap/early.yaml").exists());
    assert!(cm_path(&dirs, "late").exists());
}

#[tokio::test]
async fn a_restarted_agent_neither_refetches_nor_reapplies() {
    let (store, counting) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&format!("{}{}", cm("a", "1"), cm("b", "1")))
        .await;
    let dirs = dirs();
    let first = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    assert_eq!(first.run_once().await.outcome, Outcome::Converged);
    drop(first);
    let written = std::fs::metadata(cm_path(&dirs, "a"))
        .unwrap()
        .modified()
        .unwrap();

    let restarted = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    let before = counting.counts();
    let report = restarted.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged);
    assert_eq!(restarted.metrics().object_counts("prod"), (0, 0, 0));
    let used = since(before, counting.counts());
    // One conditional poll, answered "not modified"; then the fresh status record.
    assert_eq!(used.gets, 1, "{used:?}");
    assert_eq!(restarted.metrics().not_modified("prod"), 1);
    assert_eq!(
        std::fs::metadata(cm_path(&dirs, "a"))
            .unwrap()
            .modified()
            .unwrap(),
        written
    );

    // A change after the restart comes as a delta against the persisted snapshot.
    hub.publish(&format!("{}{}", cm("a", "2"), cm("b", "1")))
        .await;
    let report = restarted.run_once().await;
    assert_eq!(report.channels[0].counts.applied, 1);
    assert_eq!(restarted.metrics().requests(RequestKind::Delta), 1);
    assert_eq!(restarted.metrics().requests(RequestKind::Blob), 0);

    // That change went to the state's journal; a second restart resumes from base + journal
    // at generation 2, again with one conditional poll and nothing rewritten.
    assert!(
        dirs.state
            .join("channels/prod/state.json.journal")
            .is_file()
    );
    drop(restarted);
    let again = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    let before = counting.counts();
    let report = again.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged);
    assert_eq!(report.channels[0].applied.as_ref().unwrap().generation, 2);
    assert_eq!(again.metrics().object_counts("prod"), (0, 0, 0));
    assert_eq!(since(before, counting.counts()).gets, 1);
}

/// Two agents sharing one [`Shared`], converged on generation 1, and generation 2 (one object
/// changed) published.
struct SharingAgents {
    store: cairn_store::Store,
    hub: Publisher,
    agents: [Agent; 2],
    dirs: [Dirs; 2],
}

async fn sharing_agents_one_change_behind() -> SharingAgents {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&format!("{}{}", cm("a", "1"), cm("b", "1")))
        .await;
    let shared = Arc::new(Shared::new());
    let dirs = [dirs(), dirs()];
    let agents = [
        Agent::with_shared(config(opened(&store), &["prod"], &dirs[0]), shared.clone()).unwrap(),
        Agent::with_shared(config(opened(&store), &["prod"], &dirs[1]), shared).unwrap(),
    ];
    for agent in &agents {
        assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    }
    hub.publish(&format!("{}{}", cm("a", "2"), cm("b", "1")))
        .await;
    SharingAgents {
        store,
        hub,
        agents,
        dirs,
    }
}

#[tokio::test]
async fn agents_sharing_caches_each_fetch_and_apply_their_own_change() {
    let SharingAgents {
        agents,
        dirs: [one, two],
        ..
    } = sharing_agents_one_change_behind().await;
    for (agent, dirs) in agents.iter().zip([&one, &two]) {
        let report = agent.run_once().await;
        assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
        assert_eq!(report.channels[0].counts.applied, 1);
        // Sharing verified snapshots saves work, not requests: each agent fetched its pack.
        assert_eq!(agent.metrics().requests(RequestKind::Delta), 1);
        assert!(read(&cm_path(dirs, "a")).unwrap().contains('2'));
    }
}

#[tokio::test]
async fn a_damaged_copy_of_a_pack_another_agent_checked_is_checked_again() {
    let SharingAgents {
        store,
        hub,
        agents,
        dirs: [_, two],
    } = sharing_agents_one_change_behind().await;
    // The first agent checks the good pack; then the store's copy is damaged.
    assert_eq!(agents[0].run_once().await.outcome, Outcome::Converged);
    let key = hub.last_delta_key();
    let pack = store.get(&key).await.unwrap().unwrap().bytes;
    let damaged: Vec<u8> = pack.iter().map(|b| b ^ 0x5a).collect();
    store.put(&key, damaged).await.unwrap();

    // The second agent's copy differs, so what the first one checked does not stand for it:
    // it refuses the pack and walks the index instead.
    let report = agents[1].run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    let status = &report.channels[0];
    assert!(refused_a_delta_pack(status), "{status:?}");
    // No snapshot root for the first apply (it started from the snapshot pack), one for the walk.
    assert_eq!(agents[1].metrics().requests(RequestKind::Snapshot), 1);
    assert!(read(&cm_path(&two, "a")).unwrap().contains('2'));
}

#[tokio::test]
async fn drift_is_found_and_corrected() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&format!("{}{}", cm("a", "1"), cm("b", "1")))
        .await;
    let dirs = dirs();
    let agent = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    agent.run_once().await;
    let good = read(&cm_path(&dirs, "a")).unwrap();
    std::fs::write(cm_path(&dirs, "a"), "edited by hand").unwrap();
    std::fs::remove_file(cm_path(&dirs, "b")).unwrap();

    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged);
    assert_eq!(report.channels[0].counts.drifted, 2);
    assert_eq!(read(&cm_path(&dirs, "a")).unwrap(), good);
    assert!(cm_path(&dirs, "b").exists());
}

#[tokio::test]
async fn a_file_store_works_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("file://{}", tmp.path().join("bucket").display());
    let store = cairn_store::Store::open(&url, &Default::default()).unwrap();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&cm("a", "1")).await;
    let dirs = dirs();
    let config = config(cairn_agent::StoreLocation::Url(url), &["prod"], &dirs);
    let report = cairn_agent::run_once(config.clone()).await.unwrap();
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    hub.publish(&cm("a", "2")).await;
    let report = cairn_agent::run_once(config).await.unwrap();
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '2'"));
}
