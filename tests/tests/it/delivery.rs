//! Delivery controls end to end with the real binaries and many `dir`-target agents: rollout
//! cohorts, a watched rollout aborted, promotion with the identical digest, an expired
//! environment pruned by agents on their own, and a flag flip applied on the next poll.

use std::path::Path;
use std::time::Duration;

use cairn_tests::{
    Agent, agent_once, applied_generations, cairn, cairn_unchecked, publish, snapshot_of, total,
    wait_until,
};

const CLUSTERS: usize = 40;

fn setup(dir: &Path, color: &str) {
    if !dir.join("hub.key").exists() {
        cairn(dir, &["keygen", "--out", "hub.key"]);
    }
    let _ = std::fs::remove_dir_all(dir.join("m"));
    std::fs::create_dir_all(dir.join("m")).unwrap();
    let yaml = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web, namespace: app}}\ndata: {{color: {color}}}\n"
    );
    std::fs::write(dir.join("m/web.yaml"), yaml).unwrap();
}

fn color_of(dir: &Path, cluster: &str) -> Option<String> {
    let text =
        std::fs::read_to_string(dir.join(format!("target-{cluster}/app/ConfigMap/web.yaml")))
            .ok()?;
    text.lines()
        .find_map(|l| l.trim().strip_prefix("color: ").map(str::to_owned))
}

fn count_with(dir: &Path, color: &str) -> usize {
    (0..CLUSTERS)
        .filter(|i| color_of(dir, &format!("c{i}")).as_deref() == Some(color))
        .count()
}

fn run_fleet_once(dir: &Path, store: &str) {
    for i in 0..CLUSTERS {
        agent_once(dir, store, "prod", &format!("c{i}"));
    }
}

#[test]
fn a_three_step_rollout_opens_in_cohorts() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = (tmp.path(), tmp.path().join("store"));
    let store = store.to_str().unwrap();
    setup(dir, "blue");
    publish(dir, store, "prod", &[]);
    run_fleet_once(dir, store);
    assert_eq!(count_with(dir, "blue"), CLUSTERS);

    setup(dir, "green");
    // Later steps are an hour away: `rollout advance` opens each one, so what the agents see
    // depends on the steps alone, never on how long a fleet run took (step times are the
    // state-format's unit tests' business).
    publish(dir, store, "prod", &["--rollout", "25%:0s,50%:1h,100%:2h"]);
    run_fleet_once(dir, store);
    let first = count_with(dir, "green");
    advance(dir, store);
    run_fleet_once(dir, store);
    let second = count_with(dir, "green");
    advance(dir, store);
    run_fleet_once(dir, store);
    let third = count_with(dir, "green");
    // Cohorts are hashes of (cluster, channel): within three standard deviations of the share.
    let within = |n: usize, share: f64| {
        let mean = share * CLUSTERS as f64;
        let sd = (CLUSTERS as f64 * share * (1.0 - share)).sqrt();
        (n as f64 - mean).abs() <= 3.0 * sd
    };
    assert!(
        first > 0 && within(first, 0.25),
        "{first} of {CLUSTERS} at 25%"
    );
    assert!(
        second > first && within(second, 0.5),
        "{second} of {CLUSTERS} at 50%"
    );
    assert_eq!(third, CLUSTERS, "everyone at 100%");
    // Clusters not yet admitted kept (and reported) the previous content.
    let status = cairn(
        dir,
        &[
            "rollout",
            "status",
            "--store",
            store,
            "--channel",
            "prod",
            "--output",
            "json",
        ],
    );
    let progress: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(progress["on_new"], CLUSTERS as u64);
}

/// `cairn rollout advance` on `prod`: the next closed step opens now.
fn advance(dir: &Path, store: &str) {
    cairn(
        dir,
        &[
            "rollout",
            "advance",
            "--store",
            store,
            "--channel",
            "prod",
            "--key",
            "hub.key",
        ],
    );
}

#[test]
fn watch_aborts_a_failing_rollout_and_the_fleet_rolls_forward_to_the_old_content() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = (tmp.path(), tmp.path().join("store"));
    let store = store.to_str().unwrap();
    setup(dir, "blue");
    publish(dir, store, "prod", &[]);
    run_fleet_once(dir, store);
    let old = snapshot_of(dir, store, "prod");

    // The new content adds an object in namespace `broken`; every cluster's target has a file
    // where that namespace's directory must go, so applying it fails.
    setup(dir, "green");
    std::fs::write(
        dir.join("m/broken.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: broken}\n",
    )
    .unwrap();
    for i in 0..CLUSTERS {
        std::fs::write(dir.join(format!("target-c{i}/broken")), "in the way").unwrap();
    }
    publish(dir, store, "prod", &["--rollout", "20%:0s,100%:1h"]);
    run_fleet_once(dir, store);

    let watch = cairn_unchecked(
        dir,
        &[
            "rollout",
            "watch",
            "--store",
            store,
            "--channel",
            "prod",
            "--key",
            "hub.key",
            "--max-failed",
            "10%",
            "--every",
            "1s",
            "--timeout",
            "30s",
        ],
    );
    assert_eq!(
        watch.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&watch.stderr)
    );
    assert!(String::from_utf8_lossy(&watch.stderr).contains("failed"));

    run_fleet_once(dir, store);
    let generations = applied_generations(dir, store, "prod");
    let newest = cairn(
        dir,
        &[
            "history",
            "--store",
            store,
            "--channel",
            "prod",
            "--limit",
            "1",
            "--output",
            "json",
        ],
    );
    let newest: serde_json::Value = serde_json::from_slice(&newest.stdout).unwrap();
    let newest_generation = newest[0]["generation"].as_u64().unwrap();
    assert_eq!(
        newest[0]["snapshot"].as_str().unwrap(),
        old,
        "the abort published the old content"
    );
    assert!(newest_generation > 2, "as a new generation");
    assert_eq!(
        generations.get(&newest_generation.to_string()),
        Some(&(CLUSTERS as u64)),
        "{generations:?}"
    );
    assert_eq!(count_with(dir, "blue"), CLUSTERS);
}

#[test]
fn promote_carries_the_identical_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = (tmp.path(), tmp.path().join("store"));
    let store = store.to_str().unwrap();
    setup(dir, "blue");
    publish(dir, store, "staging", &[]);
    let refused = cairn_unchecked(
        dir,
        &[
            "promote",
            "--store",
            store,
            "--from",
            "staging",
            "--to",
            "prod",
            "--key",
            "hub.key",
            "--require-healthy",
            "90%",
        ],
    );
    assert_eq!(refused.status.code(), Some(6), "no cluster reports yet");
    let missing = cairn_unchecked(
        dir,
        &[
            "promote", "--store", store, "--from", "nope", "--to", "prod", "--key", "hub.key",
        ],
    );
    assert_eq!(missing.status.code(), Some(5));
    for i in 0..3 {
        agent_once(dir, store, "staging", &format!("s{i}"));
    }
    cairn(
        dir,
        &[
            "promote",
            "--store",
            store,
            "--from",
            "staging",
            "--to",
            "prod",
            "--key",
            "hub.key",
            "--require-healthy",
            "90%",
        ],
    );
    assert_eq!(
        snapshot_of(dir, store, "prod"),
        snapshot_of(dir, store, "staging")
    );
}

#[test]
fn an_expired_environment_is_pruned_by_agents_on_their_own() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = (tmp.path(), tmp.path().join("store"));
    let store = store.to_str().unwrap();
    setup(dir, "blue");
    // The TTL leaves a loaded machine ample time for the first agent run; the second runs once
    // it has passed for certain.
    cairn(
        dir,
        &[
            "env", "up", "pr-42", "--store", store, "--ttl", "10s", "--key", "hub.key", "m",
        ],
    );
    // The hub set the expiry before it returned: it has passed for certain by then.
    let expires = std::time::Instant::now() + Duration::from_secs(10);
    let bad = cairn_unchecked(
        dir,
        &[
            "env", "up", "PR_42", "--store", store, "--key", "hub.key", "m",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(agent_once(dir, store, "pr-*", "c0"), 0);
    assert_eq!(color_of(dir, "c0").as_deref(), Some("blue"));
    std::thread::sleep(
        expires.saturating_duration_since(std::time::Instant::now()) + Duration::from_secs(1),
    );
    agent_once(dir, store, "pr-*", "c0");
    assert_eq!(
        color_of(dir, "c0"),
        None,
        "pruned after the TTL, with no word from the hub"
    );
}

#[test]
fn a_flag_flip_reaches_every_agent_on_its_next_poll() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = (tmp.path(), tmp.path().join("store"));
    let store = store.to_str().unwrap();
    setup(dir, "blue");
    publish(dir, store, "prod", &[]);
    let set = |value: &str| {
        cairn(
            dir,
            &[
                "flag",
                "set",
                &format!("new-checkout={value}"),
                "--store",
                store,
                "--channel",
                "prod",
                "--key",
                "hub.key",
                "--owner",
                "shop",
                "--expires",
                "2099-01-01",
            ],
        );
    };
    set("false");
    let agents: Vec<Agent> = (0..4)
        .map(|i| {
            Agent::start(
                dir,
                store,
                "prod",
                &dir.join("hub.key.pub"),
                &format!("f{i}"),
                "1s",
            )
        })
        .collect();
    let flag_file = |a: &Agent| {
        std::fs::read_to_string(a.target.join("default/ConfigMap/feature-flags.yaml"))
            .unwrap_or_default()
    };
    wait_until(Duration::from_secs(60), "the flag on every agent", || {
        agents
            .iter()
            .all(|a| flag_file(a).contains("\"defaultVariant\": \"off\""))
    });

    let polls_before: Vec<f64> = agents
        .iter()
        .map(|a| total(&a.metrics(), "cairn_agent_polls_total"))
        .collect();
    set("true");
    wait_until(Duration::from_secs(60), "the flip on every agent", || {
        agents
            .iter()
            .all(|a| flag_file(a).contains("\"defaultVariant\": \"on\""))
    });
    for (agent, before) in agents.iter().zip(polls_before) {
        let polls = total(&agent.metrics(), "cairn_agent_polls_total") - before;
        // The flip is applied by the first poll after it (one more may have been in flight).
        assert!(polls <= 2.0, "{polls} polls to apply the flip");
    }
}
