//! The publish scaling benchmark: how the real `cairn publish` of a few changes scales with the
//! snapshot size M, side by side with `git commit` and `git push` of the same change.
//!
//! For each M: write M manifest files, publish them once and commit them once (unmeasured set-up),
//! then, `repeat` times, change the same `changes` files to a new revision and measure
//!
//! * `cairn publish` of the change (wall, CPU, peak memory, objects and bytes written), with the
//!   publish cache as a workstation or a CI runner that keeps its cache has it;
//! * `cairn publish` of the same content again, which writes nothing: with the cache, the floor
//!   of stating every file; and again with `--no-cache`, the floor of a fresh checkout: reading,
//!   parsing and hashing every manifest and building the whole index;
//! * `git add -A && git commit` of the change, then `git push` to a local bare repository;
//! * from a fresh checkout ([`fresh`]): `cairn publish` of another change with the publish cache
//!   directory restored, and of a third with nothing restored (the head's source map from the
//!   store), each beside `git add -A && git commit && git push` in the same fresh clone.
//!
//! The tree is a Git work tree from the start (committed before the first publish, as a CI
//! runner's checkout is). It is written [`RACY_WAIT`] before the first publish, so its files are not
//! "racily clean" (re-read by every publish for a moment after they were written) when the
//! measured publishes run: as files in a real tree, written long before they are published.
//!
//! ```no_run
//! use cairn_benches::scaling::{Config, run};
//!
//! let report = run(&Config {
//!     cairn: "target/release/cairn".into(),
//!     sizes: vec![2_000, 20_000],
//!     ..Config::default()
//! })?;
//! println!("{}", cairn_benches::scaling::table::markdown(&report));
//! # Ok::<(), cairn_benches::Error>(())
//! ```

pub mod cairn;
pub mod fresh;
pub mod git;
pub mod scan;
pub mod table;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::manifests::{Manifest, manifest, spread};
use crate::measure::{Usage, median};
use cairn::{Cairn, FilesFound, Published};
use fresh::FreshSample;
use git::Git;
use scan::{Tree, Written};

/// Longer than cairn's racy window (2 s): files older than that are trusted by their stamps.
pub const RACY_WAIT: Duration = Duration::from_millis(2_500);

/// What to measure.
#[derive(Clone, Debug)]
pub struct Config {
    /// The `cairn` binary.
    pub cairn: PathBuf,
    /// Snapshot sizes M (objects).
    pub sizes: Vec<usize>,
    /// Objects changed per measured publish.
    pub changes: usize,
    /// Measurements per size; the report gives their median.
    pub repeat: usize,
    /// Where the temporary directories go (default: the system's).
    pub work_dir: Option<PathBuf>,
    /// `--delta-depth` for cairn, or `None` for its default.
    pub delta_depth: Option<usize>,
    /// Print progress on standard error.
    pub progress: bool,
}

impl Default for Config {
    /// `target/release/cairn`, M = 2,000 / 20,000 / 100,000, 10 changes, 3 repeats.
    fn default() -> Self {
        Config {
            cairn: PathBuf::from("target/release/cairn"),
            sizes: vec![2_000, 20_000, 100_000],
            changes: 10,
            repeat: 3,
            work_dir: None,
            delta_depth: None,
            progress: false,
        }
    }
}

/// Everything measured in one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// Objects changed per measured publish.
    pub changes: usize,
    /// Measurements per size.
    pub repeat: usize,
    /// The `cairn` binary measured.
    pub cairn: String,
    /// `git --version`.
    pub git: String,
    /// One entry per snapshot size.
    pub sizes: Vec<SizeReport>,
}

/// The measurements at one snapshot size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SizeReport {
    /// Snapshot size M (objects).
    pub objects: usize,
    /// The first, full publish (set-up, measured once).
    pub first_publish: Usage,
    /// The first `git add -A && git commit` and push of all M files (set-up, measured once).
    pub first_git: Usage,
    /// Every repetition.
    pub samples: Vec<Sample>,
    /// Field by field medians of the samples.
    pub median: Sample,
    /// Median over the samples of the publish's CPU time minus the unchanged publish's: what the
    /// O(changes) part (comparing, uploading, delta packs, commit) costs beyond the O(M) floor.
    pub upload_cpu_s: f64,
    /// Bytes of the full source map the first publish wrote.
    pub full_source_map_bytes: u64,
    /// The source maps in the store at the end (files and their bytes).
    pub source_maps_stored: Written,
}

/// One repetition: the same change published with cairn and committed and pushed with Git.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sample {
    /// `cairn publish` of the change.
    pub cairn_publish: Usage,
    /// What that publish reported.
    pub published: Published,
    /// Objects the publish wrote: blobs, nodes, delta packs, snapshot root, log entry and head.
    pub cairn_objects: u64,
    /// Files created and rewritten in the store directory, and their bytes.
    pub cairn_written: Written,
    /// `cairn publish` of the same content again, with the cache (writes nothing).
    pub cairn_unchanged: Usage,
    /// `cairn publish --no-cache` of the same content again (writes nothing: the O(M) floor of
    /// a fresh checkout).
    pub cairn_unchanged_uncached: Usage,
    /// `git add -A && git commit` of the change.
    pub git_commit: Usage,
    /// `git push` of that commit to a bare repository over `file://`.
    pub git_push: Usage,
    /// Files the commit changed.
    pub git_files: u64,
    /// Files the commit created under `.git/objects`, and their bytes.
    pub git_written: Written,
    /// The publishes from a fresh checkout, with Git beside them.
    pub fresh: FreshSample,
}

impl Sample {
    /// Git's commit and push together.
    pub fn git_total(&self) -> Usage {
        self.git_commit.then(self.git_push)
    }

    fn median(samples: &[Sample]) -> Sample {
        let usage =
            |f: fn(&Sample) -> Usage| Usage::median(&samples.iter().map(f).collect::<Vec<_>>());
        let count = |f: fn(&Sample) -> u64| median_count(samples, f);
        let written = |f: fn(&Sample) -> Written| Written {
            created: median_count(samples, |s| f(s).created),
            rewritten: median_count(samples, |s| f(s).rewritten),
            bytes: median_count(samples, |s| f(s).bytes),
        };
        Sample {
            cairn_publish: usage(|s| s.cairn_publish),
            published: Published {
                generation: count(|s| s.published.generation),
                unchanged: false,
                entries: count(|s| s.published.entries),
                changes: count(|s| s.published.changes),
                blobs_uploaded: count(|s| s.published.blobs_uploaded),
                nodes_uploaded: count(|s| s.published.nodes_uploaded),
                deltas_uploaded: count(|s| s.published.deltas_uploaded),
                bytes_uploaded: count(|s| s.published.bytes_uploaded),
                incremental: samples.iter().all(|s| s.published.incremental),
                source_map_bytes: count(|s| s.published.source_map_bytes),
                files: FilesFound {
                    parsed: count(|s| s.published.files.parsed),
                    unchanged_by_stamp: count(|s| s.published.files.unchanged_by_stamp),
                    unchanged_by_git_index: count(|s| s.published.files.unchanged_by_git_index),
                    unchanged_by_content: count(|s| s.published.files.unchanged_by_content),
                },
            },
            cairn_objects: count(|s| s.cairn_objects),
            cairn_written: written(|s| s.cairn_written),
            cairn_unchanged: usage(|s| s.cairn_unchanged),
            cairn_unchanged_uncached: usage(|s| s.cairn_unchanged_uncached),
            git_commit: usage(|s| s.git_commit),
            git_push: usage(|s| s.git_push),
            git_files: count(|s| s.git_files),
            git_written: written(|s| s.git_written),
            fresh: FreshSample::median(
                &samples.iter().map(|s| s.fresh.clone()).collect::<Vec<_>>(),
            ),
        }
    }
}

fn median_count(samples: &[Sample], f: impl Fn(&Sample) -> u64) -> u64 {
    median(&samples.iter().map(|s| f(s) as f64).collect::<Vec<_>>()).round() as u64
}

/// Runs the benchmark for every size in `config`.
pub fn run(config: &Config) -> Result<Report> {
    if !config.cairn.is_file() {
        return Err(Error::Io {
            what: format!("looking for the cairn binary at {}", config.cairn.display()),
            message:
                "not found (build it with `cargo build --release -p cairn-hub`, or pass --cairn)"
                    .to_owned(),
        });
    }
    let mut report = Report {
        changes: config.changes,
        repeat: config.repeat,
        cairn: config.cairn.display().to_string(),
        git: Git::version()?,
        sizes: Vec::new(),
    };
    for &m in &config.sizes {
        report.sizes.push(measure_size(config, m)?);
    }
    Ok(report)
}

/// Measures one snapshot size in a fresh temporary directory.
pub fn measure_size(config: &Config, m: usize) -> Result<SizeReport> {
    let parent = config.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    let tmp = tempfile::Builder::new()
        .prefix("cairn-publish-scaling-")
        .tempdir_in(&parent)
        .map_err(Error::io("creating a temporary directory in", &parent))?;
    let progress = |what: &str, since: Instant| {
        if config.progress {
            eprintln!("M={m}: {what} ({:.1} s)", since.elapsed().as_secs_f64());
        }
    };

    let started = Instant::now();
    let manifests = tmp.path().join("manifests");
    write_all(&manifests, (0..m).map(|i| manifest(i, 0)))?;
    progress("wrote the manifests", started);

    // The tree is a Git work tree from the start, as a CI runner's checkout is.
    let git = Git::init(&manifests, &tmp.path().join("remote.git"))?;
    let first_git = git.commit("initial")?.then(git.push()?);
    git.pack()?;
    progress("first git commit and push", started);

    let cairn = Cairn::new(&config.cairn, tmp.path(), config.delta_depth)?;
    std::thread::sleep(RACY_WAIT);
    let (first_publish, published) = cairn.publish(&manifests, true)?;
    expect(
        published.entries == m as u64 && !published.unchanged,
        "the first publish",
        || format!("expected a new generation of {m} objects, got {published:?}"),
    )?;
    progress("first publish", started);

    let changed = spread(m, config.changes);
    let mut samples = Vec::new();
    for r in 0..config.repeat {
        // Three changes per repetition: cached, fresh with the cache, fresh with nothing.
        let revision = 3 * r as u32 + 1;
        let changed_files: Vec<_> = changed.iter().map(|&i| manifest(i, revision)).collect();
        write_all(&manifests, changed_files)?;
        let mut sample = measure_change(&cairn, &git, &manifests, changed.len())?;
        let revisions = (revision + 1, revision + 2);
        sample.fresh = fresh::measure(&cairn, &git, &manifests, &changed, revisions)?;
        samples.push(sample);
        progress(&format!("repetition {}", r + 1), started);
    }
    let upload: Vec<f64> = samples
        .iter()
        .map(|s| s.cairn_publish.cpu_s() - s.cairn_unchanged.cpu_s())
        .collect();
    let source_maps_stored =
        Tree::default().written_until(&Tree::scan(&cairn.store.join("sources"))?);
    Ok(SizeReport {
        objects: m,
        first_publish,
        first_git,
        median: Sample::median(&samples),
        upload_cpu_s: median(&upload),
        samples,
        full_source_map_bytes: published.source_map_bytes,
        source_maps_stored,
    })
}

/// Measures publishing and committing one change of `changes` files already written.
fn measure_change(cairn: &Cairn, git: &Git, manifests: &Path, changes: usize) -> Result<Sample> {
    let before = Tree::scan(&cairn.store)?;
    let (cairn_publish, published) = cairn.publish(manifests, true)?;
    let cairn_written = before.written_until(&Tree::scan(&cairn.store)?);
    expect(
        !published.unchanged && published.changes == changes as u64,
        "cairn publish",
        || format!("expected {changes} changes, got {published:?}"),
    )?;
    let (cairn_unchanged, again) = cairn.publish(manifests, true)?;
    expect(
        again.unchanged,
        "cairn publish (same content again)",
        || format!("expected nothing to publish, got {again:?}"),
    )?;
    let (cairn_unchanged_uncached, again) = cairn.publish(manifests, false)?;
    expect(
        again.unchanged,
        "cairn publish --no-cache (same content again)",
        || format!("expected nothing to publish, got {again:?}"),
    )?;

    let objects = Tree::scan(&git.objects_dir())?;
    let git_commit = git.commit("change")?;
    let git_written = objects.written_until(&Tree::scan(&git.objects_dir())?);
    let git_files = git.files_in_last_commit()? as u64;
    let git_push = git.push()?;
    Ok(Sample {
        cairn_publish,
        cairn_objects: published.objects_written(),
        published,
        cairn_written,
        cairn_unchanged,
        cairn_unchanged_uncached,
        git_commit,
        git_push,
        git_files,
        git_written,
        fresh: FreshSample::default(),
    })
}

/// Writes `files` under `root`, creating directories as needed.
fn write_all(root: &Path, files: impl IntoIterator<Item = Manifest>) -> Result<()> {
    let mut made = BTreeSet::new();
    for file in files {
        let path = root.join(&file.path);
        if let Some(dir) = path.parent()
            && made.insert(dir.to_path_buf())
        {
            std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
        }
        std::fs::write(&path, &file.yaml).map_err(Error::io("writing", &path))?;
    }
    Ok(())
}

fn expect(ok: bool, command: &str, message: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Unexpected {
            command: command.to_owned(),
            message: message(),
        })
    }
}
