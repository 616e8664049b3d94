//! The publish cache found by content and the store's source maps, through the real `cairn`
//! binary, as CI runners use them: a fresh checkout (every file's stat data new) with the cache
//! directory restored, or with nothing restored, parses only the files whose bytes changed and
//! publishes the snapshot a full parse gives; a source map signed by another key, or damaged,
//! is not used.

use cairn_test_support::publish_args;
use serde_json::Value;

use crate::publish_cache::{Tree, age_files, configmaps};

/// Publishes `m/` to `store` with `key`; the JSON report and the log.
fn publish_with(tree: &Tree, store: &str, key: &str, extra: &[&str]) -> (Value, String) {
    let mut rest = vec!["--output", "json"];
    rest.extend_from_slice(extra);
    rest.push("m");
    let args = publish_args(store, "prod", key, &rest);
    let out = tree.cairn(&args, &[]);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    (serde_json::from_slice(&out.stdout).unwrap(), log)
}

/// Rewrites every file of `m/` with the bytes it has: what a fresh checkout looks like.
fn check_out_again(tree: &Tree) {
    for entry in std::fs::read_dir(tree.path().join("m")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
}

fn forget_the_cache(tree: &Tree) {
    let _ = std::fs::remove_dir_all(tree.path().join("cache"));
}

/// The files found each way, from the publish's debug log.
fn found(log: &str) -> (usize, usize, usize) {
    let count = |field: &str| -> usize {
        let at = log.find(&format!("{field}=")).expect(field) + field.len() + 1;
        let digits: String = log[at..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().unwrap()
    };
    (
        count("parsed"),
        count("unchanged_by_stamp"),
        count("unchanged_by_content"),
    )
}

/// One edit of the manifest tree.
type Edit = Box<dyn Fn(&Tree)>;

fn twenty_files(tree: &Tree) {
    for f in 0..20 {
        tree.write(&format!("f{f:02}.yaml"), &configmaps(f * 5..f * 5 + 5, "a"));
    }
    age_files(tree);
}

#[test]
fn a_fresh_checkout_with_the_cache_restored_parses_only_changed_files() {
    let tree = Tree::new();
    twenty_files(&tree);
    tree.publish("store", &[]);
    check_out_again(&tree);
    tree.write("f04.yaml", &configmaps(20..25, "b"));
    let (published, log) = publish_with(&tree, "store", "hub.key", &[]);
    assert_eq!(found(&log), (1, 0, 19), "{log}");
    assert_eq!(published["incremental"], true);
    let reference = tree.publish("reference", &["--no-cache"]);
    assert_eq!(published["snapshot"], reference["snapshot"]);
}

#[test]
fn a_runner_with_nothing_restored_parses_only_changed_files() {
    let tree = Tree::new();
    twenty_files(&tree);
    let (first, _) = publish_with(&tree, "store", "hub.key", &[]);
    assert!(first["source_map_bytes"].as_u64().unwrap() > 0);
    // Every kind of edit, each on a fresh runner: change, add, remove, move objects between
    // files (and change them, or the snapshot would be the same).
    let steps: Vec<Edit> = vec![
        Box::new(|t| t.write("f04.yaml", &configmaps(20..25, "b"))),
        Box::new(|t| t.write("new.yaml", &configmaps(1000..1004, "n"))),
        Box::new(|t| t.remove("f07.yaml")),
        Box::new(|t| {
            t.write("f10.yaml", &configmaps(50..54, "a"));
            t.write("f11.yaml", &configmaps(54..60, "m"));
        }),
    ];
    for (i, step) in steps.iter().enumerate() {
        forget_the_cache(&tree);
        check_out_again(&tree);
        step(&tree);
        let (published, log) = publish_with(&tree, "store", "hub.key", &[]);
        let (parsed, by_stamp, by_content) = found(&log);
        assert!(
            parsed <= 2 && by_stamp == 0 && by_content >= 17,
            "step {i}: {log}"
        );
        assert_eq!(published["incremental"], true, "step {i}");
        let reference = tree.publish(&format!("reference-{i}"), &["--no-cache"]);
        assert_eq!(published["snapshot"], reference["snapshot"], "step {i}");
    }
    let maps = std::fs::read_dir(tree.path().join("store/sources/prod")).unwrap();
    assert_eq!(
        maps.count(),
        1 + steps.len(),
        "one source map per generation"
    );
}

#[test]
fn a_source_map_signed_by_another_key_is_not_used() {
    let tree = Tree::new();
    let out = tree.cairn(&["keygen", "--out", "other.key"], &[]);
    assert!(out.status.success());
    twenty_files(&tree);
    tree.publish("store", &[]);
    forget_the_cache(&tree);
    tree.write("f04.yaml", &configmaps(20..25, "b"));
    let (published, log) = publish_with(&tree, "store", "other.key", &[]);
    assert!(log.contains("source map not used"), "{log}");
    assert_eq!(found(&log), (20, 0, 0), "every file parsed");
    let reference = tree.publish("reference", &["--no-cache"]);
    assert_eq!(published["snapshot"], reference["snapshot"]);
}

#[test]
fn a_damaged_source_map_costs_a_full_parse() {
    let tree = Tree::new();
    twenty_files(&tree);
    tree.publish("store", &[]);
    for entry in std::fs::read_dir(tree.path().join("store/sources/prod")).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
    }
    forget_the_cache(&tree);
    tree.write("f04.yaml", &configmaps(20..25, "b"));
    let (published, log) = publish_with(&tree, "store", "hub.key", &[]);
    assert!(log.contains("source map not used"), "{log}");
    assert_eq!(found(&log), (20, 0, 0), "every file parsed");
    assert_eq!(published["changes"], 5);
}
