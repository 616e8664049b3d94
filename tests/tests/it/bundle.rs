//! `cairn export` / `cairn import` end to end (issue 15, air-gapped sites): a channel carried
//! as one file from a local store to S3 (moto) and back to another local store, with the same
//! signatures, and agents on the far side converge; importing twice or out of order never moves
//! a channel back; a damaged or foreign file is refused whole with nothing written.

use std::path::Path;

use cairn_env_vars::EnvVars;
use cairn_tests::{agent_once, cairn, cairn_unchecked, publish, snapshot_of};

fn manifests(dir: &Path, value: &str) {
    let _ = std::fs::remove_dir_all(dir.join("m"));
    std::fs::create_dir_all(dir.join("m")).unwrap();
    for name in ["web", "api", "jobs"] {
        let yaml = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: app}}\ndata: {{v: '{value}'}}\n"
        );
        std::fs::write(dir.join(format!("m/{name}.yaml")), yaml).unwrap();
    }
}

fn export(dir: &Path, store: &str, out: &str, extra: &[&str]) {
    let args = [
        &[
            "export",
            "--store",
            store,
            "--channel",
            "prod",
            "--out",
            out,
        ][..],
        extra,
    ];
    cairn(dir, &args.concat());
}

fn import(dir: &Path, store: &str, file: &str) -> std::process::Output {
    cairn_unchecked(
        dir,
        &[
            "import",
            file,
            "--store",
            store,
            "--trust",
            "hub.key.pub",
            "--output",
            "json",
        ],
    )
}

fn imported(dir: &Path, store: &str, file: &str) -> serde_json::Value {
    let out = import(dir, store, file);
    assert!(
        out.status.success(),
        "import {file} into {store}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn value_applied(dir: &Path, cluster: &str) -> String {
    std::fs::read_to_string(dir.join(format!("target-{cluster}/app/ConfigMap/web.yaml")))
        .unwrap_or_default()
}

/// A unique S3 prefix on the moto server the test command started, if any.
fn s3_store(name: &str) -> Option<String> {
    let Ok(url) = std::env::var(EnvVars::CAIRN_TEST_S3_MOTO) else {
        eprintln!(
            "skipped the S3 leg: CAIRN_TEST_S3_MOTO is not set (run the suite with scripts/test)"
        );
        return None;
    };
    let (base, query) = url.split_once('?').unwrap_or((&url, ""));
    let prefix = format!("{name}-{}", std::process::id());
    Some(format!("{}/{prefix}?{query}", base.trim_end_matches('/')))
}

#[test]
fn a_channel_travels_as_one_file_and_agents_there_converge() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let home = dir.join("home").display().to_string();
    cairn(dir, &["keygen", "--out", "hub.key"]);
    manifests(dir, "1");
    publish(dir, &home, "prod", &[]);
    export(dir, &home, "one.cairn", &[]);
    manifests(dir, "2");
    publish(dir, &home, "prod", &[]);
    export(dir, &home, "two.cairn", &[]);

    // Home → S3 (when the test command started moto) → a second local store, the far side.
    let far = dir.join("far").display().to_string();
    let middle = s3_store("bundle");
    let first_hop = middle.clone().unwrap_or_else(|| home.clone());
    if let Some(s3) = &middle {
        let done = imported(dir, s3, "two.cairn");
        assert_eq!(
            (done["head"].as_u64(), done["generations_written"].as_u64()),
            (Some(2), Some(2))
        );
        export(dir, s3, "hop.cairn", &[]);
    } else {
        export(dir, &home, "hop.cairn", &[]);
    }
    let done = imported(dir, &far, "hop.cairn");
    assert_eq!(done["head"].as_u64(), Some(2));
    assert_eq!(
        snapshot_of(dir, &far, "prod"),
        snapshot_of(dir, &home, "prod")
    );
    assert_eq!(
        snapshot_of(dir, &first_hop, "prod"),
        snapshot_of(dir, &home, "prod")
    );
    for (store, cluster) in [(&far, "far-1"), (&first_hop, "hop-1")] {
        assert_eq!(agent_once(dir, store, "prod", cluster), 0, "{store}");
        assert!(value_applied(dir, cluster).contains("v: '2'"), "{store}");
    }

    // Twice, and an older file after a newer one: nothing moves back.
    let again = imported(dir, &far, "two.cairn");
    assert_eq!(
        (
            again["head"].as_u64(),
            again["generations_written"].as_u64()
        ),
        (Some(2), Some(0))
    );
    let older = imported(dir, &far, "one.cairn");
    assert_eq!(older["head"].as_u64(), Some(2));
    assert_eq!(agent_once(dir, &far, "prod", "far-1"), 0);
    assert!(value_applied(dir, "far-1").contains("v: '2'"));

    // Out of order into a fresh store: the older file first, then the newer one.
    let late = dir.join("late").display().to_string();
    assert_eq!(imported(dir, &late, "one.cairn")["head"].as_u64(), Some(1));
    assert_eq!(imported(dir, &late, "two.cairn")["head"].as_u64(), Some(2));
    assert_eq!(agent_once(dir, &late, "prod", "late-1"), 0);
    assert!(value_applied(dir, "late-1").contains("v: '2'"));
}

#[test]
fn a_damaged_or_foreign_file_is_refused_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let home = dir.join("home").display().to_string();
    cairn(dir, &["keygen", "--out", "hub.key"]);
    manifests(dir, "1");
    publish(dir, &home, "prod", &[]);
    export(dir, &home, "good.cairn", &[]);
    let good = std::fs::read(dir.join("good.cairn")).unwrap();

    // One byte changed anywhere, or the file cut short: refused, nothing written.
    let empty = dir.join("empty");
    for (name, bytes) in [
        ("flipped.cairn", {
            let mut b = good.clone();
            let middle = b.len() / 2;
            b[middle] ^= 0x01;
            b
        }),
        ("cut.cairn", good[..good.len() * 2 / 3].to_vec()),
    ] {
        std::fs::write(dir.join(name), bytes).unwrap();
        let out = import(dir, empty.to_str().unwrap(), name);
        assert!(!out.status.success(), "{name} was imported");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(name),
            "the file is named: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !empty.join("channels").exists() && !empty.join("blobs").exists(),
            "{name}: something was written"
        );
    }

    // Another key signed it: refused before anything is written.
    cairn(dir, &["keygen", "--out", "other.key"]);
    let out = cairn_unchecked(
        dir,
        &[
            "import",
            "good.cairn",
            "--store",
            empty.to_str().unwrap(),
            "--trust",
            "other.key.pub",
        ],
    );
    assert!(!out.status.success());
    assert!(!empty.join("channels").exists());

    // A channel of the same name re-created elsewhere (another epoch): refused.
    let elsewhere = dir.join("elsewhere").display().to_string();
    manifests(dir, "other");
    publish(dir, &elsewhere, "prod", &[]);
    let before = snapshot_of(dir, &elsewhere, "prod");
    let out = import(dir, &elsewhere, "good.cairn");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("epoch"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(snapshot_of(dir, &elsewhere, "prod"), before);
}
