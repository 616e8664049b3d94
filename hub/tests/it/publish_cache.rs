//! The publish cache, through the real `cairn` binary: whatever the cache holds, a publish gives
//! the snapshot a publish without it gives; unchanged files are not parsed again; and the new
//! index is computed from the changed files only when the cache describes the channel's head.

use cairn_env_vars::EnvVars;
use std::path::Path;
use std::process::Output;

use cairn_test_support::{cairn_command, publish_args};

use serde_json::Value;

/// A manifest tree `m/`, a key and publish caches in a temporary directory.
pub struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    pub fn new() -> Tree {
        let tree = Tree {
            dir: tempfile::tempdir().unwrap(),
        };
        let out = tree.cairn(&["keygen", "--out", "hub.key"], &[]);
        assert!(out.status.success());
        std::fs::create_dir_all(tree.path().join("m")).unwrap();
        tree
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn cairn(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        cairn_command(Path::new(env!("CARGO_BIN_EXE_cairn")), self.path())
            .args(args)
            .env(EnvVars::CAIRN_CACHE_DIR, self.path().join("cache"))
            .env(EnvVars::CAIRN_LOG, "cairn_hub=debug")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }

    /// `cairn publish` of `m/` to channel `prod` of the store `store` (a directory under the
    /// tree), signed with `hub.key`, with `extra` flags.
    pub fn publish_args<'a>(store: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut rest = extra.to_vec();
        rest.push("m");
        publish_args(store, "prod", "hub.key", &rest)
    }

    /// Publishes `m/` to `store` in text mode, whatever the outcome.
    pub fn publish_unchecked(&self) -> Output {
        self.cairn(&Tree::publish_args("store", &[]), &[])
    }

    /// Publishes `m/` to `store`; returns the JSON report.
    pub fn publish(&self, store: &str, extra: &[&str]) -> Value {
        let mut flags = vec!["--output", "json"];
        flags.extend_from_slice(extra);
        let out = self.cairn(&Tree::publish_args(store, &flags), &[]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.path().join("m").join(file), text).unwrap();
    }

    pub fn remove(&self, file: &str) {
        std::fs::remove_file(self.path().join("m").join(file)).unwrap();
    }
}

pub fn configmaps(names: std::ops::Range<usize>, value: &str) -> String {
    names
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: ns}}\ndata: {{v: {value}}}\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// Files written just now are "racily clean" for a cache written now (re-read by the next
/// publish whatever their stamps): back-date them, as files in real use mostly are.
pub fn age_files(tree: &Tree) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    for entry in std::fs::read_dir(tree.path().join("m")).unwrap() {
        let file = std::fs::File::options()
            .write(true)
            .open(entry.unwrap().path())
            .unwrap();
        file.set_modified(old).unwrap();
    }
}

/// One edit of the manifest tree.
type Step = Box<dyn Fn(&Tree)>;

#[test]
fn incremental_publishes_give_the_snapshot_a_full_build_gives() {
    let tree = Tree::new();
    // 40 files of 10: an index with branches, so changes cross leaf splits and collapses.
    for f in 0..40 {
        tree.write(
            &format!("f{f:02}.yaml"),
            &configmaps(f * 10..f * 10 + 10, "a"),
        );
    }
    age_files(&tree);
    let first = tree.publish("cached", &[]);
    assert_eq!(first["entries"], 400);
    assert_eq!(first["incremental"], false, "no cache yet");

    // Edits of every kind: change, add a file, delete a file, move a resource between files,
    // grow a file past a leaf, shrink another.
    let steps: Vec<Step> = vec![
        Box::new(|t| t.write("f03.yaml", &configmaps(30..40, "b"))),
        Box::new(|t| t.write("new.yaml", &configmaps(1000..1040, "n"))),
        Box::new(|t| t.remove("f07.yaml")),
        Box::new(|t| {
            t.write("f10.yaml", &configmaps(100..109, "a"));
            t.write("f11.yaml", &configmaps(109..120, "a"));
        }),
        Box::new(|t| t.write("f12.yaml", &configmaps(120..121, "a"))),
        Box::new(|_| {}),
    ];
    for (i, step) in steps.iter().enumerate() {
        step(&tree);
        let cached = tree.publish("cached", &[]);
        let full = tree.publish(&format!("full-{i}"), &["--no-cache"]);
        assert_eq!(cached["snapshot"], full["snapshot"], "step {i}");
        assert_eq!(cached["entries"], full["entries"], "step {i}");
        assert_eq!(
            cached["incremental"], true,
            "step {i}: the cache describes the head"
        );
        if i == steps.len() - 1 {
            assert_eq!(
                cached["unchanged"], true,
                "nothing changed in the last step"
            );
        }
    }
}

#[test]
fn unchanged_files_are_not_parsed_again() {
    let tree = Tree::new();
    for f in 0..20 {
        tree.write(&format!("f{f:02}.yaml"), &configmaps(f * 5..f * 5 + 5, "a"));
    }
    age_files(&tree);
    tree.publish("store", &[]);
    tree.write("f04.yaml", &configmaps(20..25, "b"));
    let out = tree.publish_unchecked();
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("parsed=1") && log.contains("unchanged_by_stamp=19"),
        "one file read, nineteen from the cache: {log}"
    );
}

#[test]
fn a_cache_behind_the_channel_gives_way_to_the_heads_source_map() {
    let tree = Tree::new();
    tree.write("a.yaml", &configmaps(0..30, "a"));
    tree.publish("store", &[]);
    // Another publisher (here: without the cache) moves the channel on.
    tree.write("a.yaml", &configmaps(0..30, "other"));
    tree.publish("store", &["--no-cache"]);
    tree.write("a.yaml", &configmaps(0..31, "c"));
    let cached = tree.publish("store", &[]);
    assert_eq!(
        cached["incremental"], true,
        "the head's source map describes the head"
    );
    let full = tree.publish("reference", &["--no-cache"]);
    assert_eq!(cached["snapshot"], full["snapshot"]);
    assert_eq!(cached["changes"], 31, "30 changed, one added");
}

#[test]
fn cached_files_still_pass_through_the_policy() {
    let tree = Tree::new();
    tree.write(
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {password: hunter2}\n",
    );
    age_files(&tree);
    tree.publish("store", &["--allow-secrets"]);
    let out = tree.publish_unchecked();
    assert_eq!(
        out.status.code(),
        Some(3),
        "refused without --allow-secrets"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-secrets"));
}

#[test]
fn a_same_size_rewrite_with_the_old_mtime_is_noticed() {
    let tree = Tree::new();
    tree.write("a.yaml", &configmaps(0..3, "a"));
    age_files(&tree);
    tree.publish("store", &[]);
    let path = tree.path().join("m/a.yaml");
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    tree.write("a.yaml", &configmaps(0..3, "b"));
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let cached = tree.publish("store", &[]);
    assert_eq!(cached["changes"], 3, "ctime gave the rewrite away");
}

#[test]
fn a_damaged_cache_only_costs_a_full_parse() {
    let tree = Tree::new();
    tree.write("a.yaml", &configmaps(0..10, "a"));
    tree.publish("store", &[]);
    for entry in std::fs::read_dir(tree.path().join("cache")).unwrap() {
        std::fs::write(entry.unwrap().path(), b"cairnpc\0garbage").unwrap();
    }
    tree.write("a.yaml", &configmaps(0..10, "b"));
    let cached = tree.publish("store", &[]);
    assert_eq!(cached["changes"], 10);
    assert_eq!(
        cached["snapshot"],
        tree.publish("reference", &["--no-cache"])["snapshot"]
    );
}
