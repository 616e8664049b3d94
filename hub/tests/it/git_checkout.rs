//! Publishing from a Git work tree, through the real `cairn` and `git` binaries, as a CI runner
//! does: a fresh clone with nothing restored learns the unchanged files from Git's index (not
//! read) and parses only the changed ones; a file edited after the checkout, a racily clean
//! one, or one Git may store converted is read; a repository in SHA-256 format works the same.
//! Each publish gives the snapshot a full parse gives.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::publish_cache::{Tree, configmaps};

/// `m/` as the work tree of a repository that pushes to `remote.git` beside it.
struct Repo<'t> {
    tree: &'t Tree,
}

impl<'t> Repo<'t> {
    /// Twenty files in `m/`, committed and pushed, in a repository of `format` (`sha1`,
    /// `sha256`).
    fn new(tree: &'t Tree, format: &str) -> Repo<'t> {
        let repo = Repo { tree };
        let object_format = format!("--object-format={format}");
        repo.git(&["init", "-q", "--bare", &object_format, "remote.git"]);
        repo.git(&["init", "-q", &object_format, "m"]);
        for f in 0..20 {
            tree.write(&format!("f{f:02}.yaml"), &configmaps(f * 5..f * 5 + 5, "a"));
        }
        repo.commit_all();
        repo
    }

    fn git(&self, args: &[&str]) -> String {
        git_in(self.tree.path(), args)
    }

    fn git_m(&self, args: &[&str]) -> String {
        git_in(&self.tree.path().join("m"), args)
    }

    /// Commits everything in `m/` and pushes it.
    fn commit_all(&self) {
        self.git_m(&["add", "-A"]);
        self.git_m(&["commit", "-q", "--allow-empty", "-m", "change"]);
        self.git_m(&["push", "-q", "../remote.git", "HEAD:main"]);
    }

    /// Replaces `m/` with a fresh clone (every file written anew) and forgets the publish
    /// cache: a CI runner with nothing restored.
    fn fresh_clone(&self) {
        std::fs::remove_dir_all(self.tree.path().join("m")).unwrap();
        let _ = std::fs::remove_dir_all(self.tree.path().join("cache"));
        self.git(&["clone", "-q", "-b", "main", "remote.git", "m"]);
        // Files checked out in the timestamp tick the index was written in are racily clean,
        // and read; `git status` settles them (re-hashing them and writing the index again).
        std::thread::sleep(Duration::from_millis(20));
        self.git_m(&["status", "--porcelain"]);
    }
}

/// `git` in `dir`, without the user's or the system's configuration; its standard output.
fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "core.hooksPath=/dev/null",
            "-c",
            "commit.gpgSign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "cairn test")
        .env("GIT_AUTHOR_EMAIL", "test@cairn.invalid")
        .env("GIT_COMMITTER_NAME", "cairn test")
        .env("GIT_COMMITTER_EMAIL", "test@cairn.invalid")
        .output()
        .expect("these tests need `git` on PATH");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// How the publish found the files: parsed, unchanged by Git's index, by content (read).
fn found(published: &Value) -> (u64, u64, u64) {
    let files = &published["files"];
    assert_eq!(files["unchanged_by_stamp"], 0, "nothing was restored");
    let count = |field: &str| files[field].as_u64().unwrap();
    (
        count("parsed"),
        count("unchanged_by_git_index"),
        count("unchanged_by_content"),
    )
}

/// Asserts that `published` is the snapshot a publish without any cache gives.
fn as_a_full_parse(tree: &Tree, published: &Value, reference: &str) {
    let full = tree.publish(reference, &["--no-cache"]);
    assert_eq!(published["snapshot"], full["snapshot"]);
}

/// One edit of the work tree, and the files it leaves in it.
type Edit = (Box<dyn Fn(&Tree)>, u64);

fn fresh_clones_parse_only_changed_files(format: &str) {
    let tree = Tree::new();
    let repo = Repo::new(&tree, format);
    let first = tree.publish("store", &[]);
    assert_eq!(found(&first), (20, 0, 0));
    let edits: Vec<Edit> = vec![
        (
            Box::new(|t| t.write("f04.yaml", &configmaps(20..25, "b"))),
            20,
        ),
        (
            Box::new(|t| t.write("new.yaml", &configmaps(1000..1004, "n"))),
            21,
        ),
        (Box::new(|t| t.remove("f07.yaml")), 20),
    ];
    for (i, (edit, files)) in edits.iter().enumerate() {
        repo.fresh_clone();
        edit(&tree);
        repo.commit_all();
        let published = tree.publish("store", &[]);
        let parsed = u64::from(i != 2);
        assert_eq!(found(&published), (parsed, files - parsed, 0), "edit {i}");
        assert_eq!(published["incremental"], true, "edit {i}");
        as_a_full_parse(&tree, &published, &format!("reference-{i}"));
    }
}

#[test]
fn a_fresh_clone_with_nothing_restored_parses_only_changed_files() {
    fresh_clones_parse_only_changed_files("sha1");
}

#[test]
fn a_repository_in_sha256_format_is_used_the_same_way() {
    fresh_clones_parse_only_changed_files("sha256");
}

#[test]
fn a_file_edited_after_checkout_is_read_even_with_its_size_and_mtime_kept() {
    let tree = Tree::new();
    let repo = Repo::new(&tree, "sha1");
    tree.publish("store", &[]);
    repo.fresh_clone();
    // Same length, same modification time: only the change time (and the bytes) differ.
    let path = tree.path().join("m/f04.yaml");
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("v: a", "v: b");
    std::fs::write(&path, edited).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(before).unwrap();
    let published = tree.publish("store", &[]);
    assert_eq!(found(&published), (1, 19, 0));
    assert_eq!(published["changes"], 5);
    as_a_full_parse(&tree, &published, "reference");
}

#[test]
fn racily_clean_files_are_read() {
    let tree = Tree::new();
    let repo = Repo::new(&tree, "sha1");
    tree.publish("store", &[]);
    repo.fresh_clone();
    // The index said to be written when f10.yaml was: every file modified since (in the same
    // tick as the index, for Git) could have changed unseen, and is read.
    let m = tree.path().join("m");
    let modified = |name: &str| std::fs::metadata(m.join(name)).unwrap().modified().unwrap();
    let written = modified("f10.yaml");
    let index = std::fs::File::options()
        .write(true)
        .open(m.join(".git/index"))
        .unwrap();
    index.set_modified(written).unwrap();
    let racy = (0..20)
        .filter(|f| modified(&format!("f{f:02}.yaml")) >= written)
        .count() as u64;
    assert!(racy >= 1);
    let published = tree.publish("store", &[]);
    assert_eq!(found(&published), (0, 20 - racy, racy));
    assert_eq!(published["unchanged"], true);
}

#[test]
fn files_git_may_store_converted_are_read() {
    let tree = Tree::new();
    let repo = Repo::new(&tree, "sha1");
    tree.publish("store", &[]);
    // A filter (here without a driver, so Git converts nothing) or an encoding could turn the
    // stored bytes into others of the same size: such files are read.
    std::fs::write(
        tree.path().join("m/.gitattributes"),
        "f03.yaml filter=upper\nf05.yaml working-tree-encoding=UTF-8\n",
    )
    .unwrap();
    repo.commit_all();
    repo.fresh_clone();
    let published = tree.publish("store", &[]);
    assert_eq!(found(&published), (0, 18, 2));
    assert_eq!(published["files"]["parsed"], json!(0));
}
