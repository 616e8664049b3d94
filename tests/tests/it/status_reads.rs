//! `cairn status` through its cache, with the real binary: a second look sees what changed (and
//! only that is fetched: `status_scale` in benches counts it), a damaged cache is ignored with a
//! warning, `--no-cache` reads everything, `--watch` refreshes until stopped; and completion
//! scripts for every shell name the real subcommands and flags.

use cairn_env_vars::EnvVars;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use cairn_state_format::{Phase, StatusRecord, layout};
use cairn_tests::simulated::write_mid_rollout;
use cairn_tests::{binary, cairn, cairn_unchecked};

fn status_json(dir: &Path, store: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "status",
        "--store",
        store,
        "--channel",
        "prod",
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_slice(&cairn(dir, &args).stdout).expect("status JSON")
}

fn fail_cluster(store: &Path, cluster: &str) {
    let path = store.join(layout::status_key("prod", cluster));
    let mut record = StatusRecord::decode(&std::fs::read(&path).unwrap(), cluster).unwrap();
    record.phase = Phase::Failed;
    record.reason = Some("the last apply failed".into());
    record.updated_at = chrono::Utc::now();
    std::fs::write(&path, record.encode()).unwrap();
}

#[test]
fn status_reads_through_its_cache_and_sees_every_change() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store_dir = dir.join("store");
    let store = store_dir.to_str().unwrap();
    let generation = |g: u64| (g, cairn_state_format::Digest::of(g.to_string().as_bytes()));
    let expected = write_mid_rollout(&store_dir, "prod", 120, 50, (generation(1), generation(2)));

    let first = status_json(dir, store, &[]);
    assert_eq!(first[0]["clusters"], 120);
    assert_eq!(
        first[0]["problems"].as_array().unwrap().len(),
        expected.problems.len()
    );
    let cache = dir.join(".cairn-cache/status");
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "one cache file per store and channel"
    );

    // A cluster that was fine fails: the cached look must not hide it.
    let healthy = (0..120)
        .map(|i| format!("cluster-{i:04}"))
        .find(|c| !expected.problems.contains_key(c))
        .unwrap();
    fail_cluster(&store_dir, &healthy);
    let second = status_json(dir, store, &[]);
    assert_eq!(
        second[0]["problems"].as_array().unwrap().len(),
        expected.problems.len() + 1
    );
    assert!(second.to_string().contains(&healthy));

    // A damaged cache costs a full read and a warning, never a wrong answer.
    for file in std::fs::read_dir(&cache).unwrap() {
        std::fs::write(file.unwrap().path(), b"cairnsc\0 not zstd").unwrap();
    }
    let out = cairn_unchecked(
        dir,
        &[
            "status",
            "--store",
            store,
            "--channel",
            "prod",
            "--output",
            "json",
        ],
    );
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("status cache damaged"));
    let repaired: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(repaired[0]["problems"], second[0]["problems"]);
    assert_eq!(
        status_json(dir, store, &["--no-cache"])[0]["by_phase"],
        second[0]["by_phase"]
    );
}

#[test]
fn status_watch_refreshes_until_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let store_dir = dir.join("store");
    let generation = |g: u64| (g, cairn_state_format::Digest::of(g.to_string().as_bytes()));
    write_mid_rollout(&store_dir, "prod", 30, 100, (generation(1), generation(2)));
    let mut child = Command::new(binary("cairn"))
        .args([
            "status",
            "--watch",
            "--every",
            "1s",
            "--channel",
            "prod",
            "--store",
        ])
        .arg(&store_dir)
        .env(EnvVars::CAIRN_CACHE_DIR, dir.join(".cairn-cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut looks = 0;
    // Bounded: three looks at one a second, or the read times out with the child killed below.
    let reader = std::thread::spawn(move || {
        while looks < 3 {
            match lines.next() {
                Some(Ok(line)) if line.starts_with("channel prod:") => looks += 1,
                Some(Ok(_)) => {}
                _ => break,
            }
        }
        looks
    });
    let start = std::time::Instant::now();
    while !reader.is_finished() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(reader.join().unwrap(), 3, "three looks, one per refresh");
}

#[test]
fn completion_scripts_name_the_real_commands() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = cairn(tmp.path(), &["completion", shell]);
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["publish", "rollout", "require-healthy", "ui", "stale-after"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(binary("cairn-agent"))
            .args(["completion", shell])
            .output()
            .expect("cairn-agent runs");
        assert!(out.status.success(), "cairn-agent completion {shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        for word in ["run", "trust", "leader-elect", "kube-qps", "once"] {
            assert!(
                script.contains(word),
                "{shell} agent completion lacks {word}"
            );
        }
    }
    let out = cairn_unchecked(tmp.path(), &["completion", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an unknown shell is a usage error"
    );
}
