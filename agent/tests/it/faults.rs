//! Bad input and faults: in every case nothing unsigned is applied, the current state keeps being
//! served, the status record and metrics say what is wrong, and the agent recovers by itself.

use crate::support::*;
use cairn_agent::{Agent, Outcome, RequestKind};
use cairn_state_format::{
    Head, Phase, Rollout, RolloutStep, SecretKey, SignedHead, StatusRecord, cohort_position, layout,
};
use chrono::{Duration, Utc};

/// An agent that applied generation 1 (`a` = 1) of channel prod.
async fn applied_once() -> (cairn_store::Store, Publisher, Dirs, Agent) {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&cm("a", "1")).await;
    let dirs = dirs();
    let agent = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    (store, hub, dirs, agent)
}

async fn stored_status(store: &cairn_store::Store) -> StatusRecord {
    let fetched = store.get("status/prod/cluster-1").await.unwrap().unwrap();
    StatusRecord::decode(&fetched.bytes, "status").unwrap()
}

/// Checks that generation 1 is still what is served and that the agent says why.
async fn still_serving_generation_1(
    agent: &Agent,
    store: &cairn_store::Store,
    dirs: &Dirs,
    phase: Phase,
    reason: &str,
    class: &str,
) {
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    let status = &report.channels[0];
    assert_eq!(status.phase, phase, "{status:?}");
    let why = status.reason.clone().unwrap_or_default();
    assert!(why.contains(reason), "{why:?} does not mention {reason:?}");
    assert_eq!(status.applied.as_ref().unwrap().generation, 1);
    assert!(read(&cm_path(dirs, "a")).unwrap().contains("v: '1'"));
    assert_eq!(agent.metrics().applied_generation("prod"), 1);
    assert_eq!(agent.metrics().last_error("prod").as_deref(), Some(class));
    let stored = stored_status(store).await;
    assert_eq!(stored.phase, phase);
    assert!(stored.errors.iter().any(|e| e.class == class), "{stored:?}");
}

/// A good new head fixes everything.
async fn recovers(agent: &Agent, hub: &mut Publisher, dirs: &Dirs) {
    hub.generation = hub.generation.max(5);
    hub.publish(&cm("a", "fixed")).await;
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert!(read(&cm_path(dirs, "a")).unwrap().contains("v: fixed"));
    assert_eq!(agent.metrics().last_error("prod"), None);
}

fn head(hub: &Publisher, generation: u64) -> Head {
    let now = Utc::now();
    Head::new(
        "prod",
        hub.epoch,
        generation,
        hub.snapshot(),
        now,
        now + Duration::hours(1),
    )
}

#[tokio::test]
async fn a_tampered_head_is_refused() {
    let (store, mut hub, dirs, agent) = applied_once().await;
    hub.publish(&cm("a", "2")).await;
    let signed = String::from_utf8(SignedHead::sign(&head(&hub, 2), &[&hub.key])).unwrap();
    // Point the signed head at another snapshot: the signature no longer verifies.
    let other = hub.previous().to_string();
    let tampered = signed.replace(&hub.snapshot().to_string(), &other);
    hub.put_raw_head(tampered.into_bytes()).await;
    still_serving_generation_1(&agent, &store, &dirs, Phase::Frozen, "altered", "verify").await;
    recovers(&agent, &mut hub, &dirs).await;
}

#[tokio::test]
async fn an_unknown_key_or_no_signature_is_refused() {
    let (store, mut hub, dirs, agent) = applied_once().await;
    hub.publish(&cm("a", "2")).await;
    let stranger = SecretKey::from_seed([9; 32]);
    hub.put_raw_head(SignedHead::sign(&head(&hub, 2), &[&stranger]))
        .await;
    still_serving_generation_1(&agent, &store, &dirs, Phase::Frozen, "untrusted", "verify").await;
    hub.put_raw_head(SignedHead::sign(&head(&hub, 2), &[]))
        .await;
    still_serving_generation_1(&agent, &store, &dirs, Phase::Frozen, "unsigned", "verify").await;
    recovers(&agent, &mut hub, &dirs).await;
}

#[tokio::test]
async fn a_head_for_another_channel_is_refused() {
    let (store, mut hub, dirs, agent) = applied_once().await;
    let mut staging = Publisher::new(&store, "staging");
    staging.generation = 7;
    let head = staging.publish(&cm("a", "staging")).await;
    hub.put_raw_head(SignedHead::sign(&head, &[&hub.key])).await;
    still_serving_generation_1(&agent, &store, &dirs, Phase::Frozen, "staging", "verify").await;
    recovers(&agent, &mut hub, &dirs).await;
}

/// Issue 18 item 7: a channel deleted and published afresh (a new epoch) is not a rollback.
/// The agent says so in words and keeps serving until told to follow it; a replayed head of the
/// old channel stays a rollback, told or not.
#[tokio::test]
async fn a_recreated_channel_is_reported_and_followed_only_when_told() {
    let (store, mut hub, dirs, agent) = applied_once().await;
    hub.publish(&cm("a", "2")).await;
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    let (old_epoch, old_two) = (hub.epoch, store.get(&layout::log_key("prod", 2)).await);
    let old_two = old_two.unwrap().unwrap().bytes.to_vec();
    hub.recreate();
    hub.publish(&cm("a", "new-1")).await;
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Failed, "{report:?}");
    let status = &report.channels[0];
    assert_eq!(status.phase, Phase::Frozen, "{status:?}");
    let why = status.reason.clone().unwrap();
    let words = format!(
        "channel prod was re-created (epoch {old_epoch} → {}); this cluster applied generation 2 of the old channel",
        hub.epoch
    );
    assert!(why.contains(&words), "{why}");
    assert!(
        why.contains("--accept-new-epoch"),
        "says how to follow: {why}"
    );
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '2'"));

    // Told: the new channel's generation 1 is applied although 2 was applied before.
    let mut told = config(opened(&store), &["prod"], &dirs);
    told.accept_epochs = vec![hub.epoch];
    let told = Agent::new(told).unwrap();
    assert_eq!(told.run_once().await.outcome, Outcome::Converged);
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: new-1"));
    assert_eq!(told.metrics().applied_generation("prod"), 1);

    // The old channel's head put back: another epoch again, refused.
    hub.put_raw_head(old_two).await;
    let report = told.run_once().await;
    assert_eq!(report.channels[0].phase, Phase::Frozen, "{report:?}");
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: new-1"));
    // A replayed head of the new channel (its generation 1 after its 2) is a rollback.
    hub.publish(&cm("a", "new-2")).await;
    assert_eq!(told.run_once().await.outcome, Outcome::Converged);
    let new_one = store
        .get(&layout::log_key("prod", 1))
        .await
        .unwrap()
        .unwrap();
    hub.put_raw_head(new_one.bytes.to_vec()).await;
    let report = told.run_once().await;
    let why = report.channels[0].reason.clone().unwrap_or_default();
    assert!(
        why.contains("generation 1 is older than the applied generation 2"),
        "{why}"
    );
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: new-2"));
}

#[tokio::test]
async fn an_older_generation_is_a_refused_rollback() {
    let (store, mut hub, dirs, agent) = applied_once().await;
    // Generation 2 is applied, then someone puts generation 1's signed head back.
    hub.publish(&cm("a", "2")).await;
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    let old = store
        .get(&layout::log_key("prod", 1))
        .await
        .unwrap()
        .unwrap();
    hub.put_raw_head(old.bytes.to_vec()).await;
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Failed);
    let status = &report.channels[0];
    assert_eq!(status.phase, Phase::Frozen);
    // The refusal names the generation that is applied, not one before it.
    assert!(
        status
            .reason
            .as_deref()
            .unwrap()
            .contains("generation 1 is older than the applied generation 2"),
        "{status:?}"
    );
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '2'"));
    assert_eq!(agent.metrics().applied_generation("prod"), 2);

    // Nor after a restart: the persisted generation is the floor.
    let restarted = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    assert_eq!(restarted.run_once().await.channels[0].phase, Phase::Frozen);
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '2'"));
    recovers(&restarted, &mut hub, &dirs).await;
}

#[tokio::test]
async fn an_expired_head_freezes_the_applied_state() {
    let (store, mut hub, dirs, agent) = applied_once().await;
    let expired = Options {
        expires_at: Some(Utc::now() - Duration::seconds(5)),
        ..Options::default()
    };
    hub.publish_with(&cm("a", "2"), expired).await;
    still_serving_generation_1(&agent, &store, &dirs, Phase::Frozen, "expired", "verify").await;
    recovers(&agent, &mut hub, &dirs).await;
}

#[tokio::test]
async fn a_corrupt_or_truncated_delta_pack_falls_back_to_the_index() {
    for damage in ["truncate", "corrupt"] {
        let (store, mut hub, dirs, agent) = applied_once().await;
        hub.publish(&cm("a", "2")).await;
        let key = hub.last_delta_key();
        let pack = store.get(&key).await.unwrap().unwrap().bytes.to_vec();
        let damaged = match damage {
            "truncate" => pack[..pack.len() / 2].to_vec(),
            _ => pack.iter().map(|b| b ^ 0x5a).collect(),
        };
        store.put(&key, damaged).await.unwrap();

        let report = agent.run_once().await;
        assert_eq!(report.outcome, Outcome::Converged, "{damage}: {report:?}");
        assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '2'"));
        let status = &report.channels[0];
        assert!(refused_a_delta_pack(status), "{damage}: {status:?}");
        // The first apply started from the snapshot pack; the walk read the root.
        assert_eq!(
            agent.metrics().requests(RequestKind::Snapshot),
            1,
            "{damage}: walked"
        );
    }
}

#[tokio::test]
async fn a_tampered_blob_is_never_applied() {
    let (store, mut hub, dirs, agent) = applied_once().await;
    hub.deltas = false;
    hub.publish(&format!("{}{}", cm("a", "2"), cm("b", "1")))
        .await;
    let b = cairn_state_format::parse_documents("b", &cm("b", "1")).unwrap();
    let key = layout::blob_key(&b[0].digest);
    let good = store.get(&key).await.unwrap().unwrap().bytes;
    store.put(&key, cm("b", "evil").into_bytes()).await.unwrap();

    still_serving_generation_1(&agent, &store, &dirs, Phase::Failed, "corrupt", "fetch").await;
    assert!(!cm_path(&dirs, "b").exists());

    // The store is repaired: the agent recovers by itself, without a new head.
    store.put(&key, good).await.unwrap();
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert!(read(&cm_path(&dirs, "b")).is_some());
    assert_eq!(agent.metrics().applied_generation("prod"), 2);
}

#[tokio::test]
async fn an_unwritable_state_dir_is_reported_and_retried() {
    let (store, mut hub, dirs, agent) = applied_once().await;
    // A directory where the state's journal must go: every save fails, even as root.
    let blocker = dirs.state.join("channels/prod/state.json.journal");
    std::fs::create_dir_all(&blocker).unwrap();
    hub.publish(&cm("a", "2")).await;
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Failed);
    let status = &report.channels[0];
    assert_eq!(status.phase, Phase::Failed);
    assert!(
        status.reason.as_deref().unwrap().contains("state"),
        "{status:?}"
    );
    assert_eq!(agent.metrics().last_error("prod").as_deref(), Some("state"));
    assert_eq!(
        agent.metrics().applied_generation("prod"),
        1,
        "not recorded as applied"
    );

    std::fs::remove_dir(&blocker).unwrap();
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert_eq!(agent.metrics().applied_generation("prod"), 2);
    let restarted = Agent::new(config(opened(&store), &["prod"], &dirs)).unwrap();
    let report = restarted.run_once().await;
    assert_eq!(report.channels[0].applied.as_ref().unwrap().generation, 2);
}

#[tokio::test]
async fn a_target_write_failing_half_way_is_finished_later() {
    let (store, mut hub, dirs, agent) = applied_once().await;
    let other_ns = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: other}\n---\n";
    hub.publish(&format!("{}{}{other_ns}", cm("a", "2"), cm("b", "2")))
        .await;
    std::fs::write(dirs.out.join("other"), "a file where a directory must go").unwrap();

    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Failed);
    let status = &report.channels[0];
    assert_eq!(status.phase, Phase::Failed);
    assert_eq!(
        (status.counts.applied, status.counts.failed),
        (2, 1),
        "{status:?}"
    );
    assert_eq!(status.unhealthy, ["ConfigMap other/c"]);
    assert_eq!(agent.metrics().last_error("prod").as_deref(), Some("apply"));
    assert_eq!(agent.metrics().applied_generation("prod"), 1);
    assert_eq!(
        read(&dirs.out.join("other")).unwrap(),
        "a file where a directory must go"
    );

    std::fs::remove_file(dirs.out.join("other")).unwrap();
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert_eq!(
        report.channels[0].counts.applied, 1,
        "only the missing object is written"
    );
    assert!(dirs.out.join("other/ConfigMap/c.yaml").exists());
    assert_eq!(agent.metrics().applied_generation("prod"), 2);
    let _ = store;
}

#[tokio::test]
async fn a_rollout_step_that_has_not_opened_waits() {
    let (store, mut hub, dirs, _) = applied_once().await;
    // Pick a cluster outside the first 10 % of positions.
    let cluster = (0..)
        .map(|i| format!("cluster-{i}"))
        .find(|c| cohort_position(c, "prod") >= 1_000)
        .unwrap();
    let now = Utc::now();
    let rollout = Rollout {
        steps: vec![
            RolloutStep {
                percent: 10,
                not_before: now - Duration::minutes(1),
            },
            RolloutStep {
                percent: 100,
                not_before: now + Duration::hours(1),
            },
        ],
        paused_at: None,
    };
    hub.publish_with(
        &cm("a", "2"),
        Options {
            rollout: Some(rollout),
            ..Options::default()
        },
    )
    .await;
    let mut waiting = config(opened(&store), &["prod"], &dirs);
    waiting.cluster_id = cluster;
    let agent = Agent::new(waiting).unwrap();
    let report = agent.run_once().await;
    assert_eq!(report.outcome, Outcome::Waiting, "{report:?}");
    assert_eq!(report.channels[0].phase, Phase::Waiting);
    assert!(
        report.channels[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("rollout")
    );
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '1'"));

    // The hub advances the rollout with a new generation: now it applies.
    hub.publish(&cm("a", "3")).await;
    assert_eq!(agent.run_once().await.outcome, Outcome::Converged);
    assert!(read(&cm_path(&dirs, "a")).unwrap().contains("v: '3'"));
}
