//! Driving the real `cairn` binary: a key, and measured publishes to a local store.

use cairn_env_vars::EnvVars;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::measure::{Usage, describe, run};

/// The channel every benchmark publishes to.
pub const CHANNEL: &str = "bench";

/// What `cairn publish --output json` reports (the fields the benchmark uses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// The generation published (or the newest one, if unchanged).
    pub generation: u64,
    /// Whether nothing was published because the content is unchanged.
    pub unchanged: bool,
    /// Objects in the snapshot.
    pub entries: u64,
    /// Changes against the previous generation.
    pub changes: u64,
    /// Blobs uploaded.
    pub blobs_uploaded: u64,
    /// Index nodes uploaded.
    pub nodes_uploaded: u64,
    /// Delta packs uploaded.
    pub deltas_uploaded: u64,
    /// Bytes of blobs, nodes, snapshot root and delta packs uploaded.
    pub bytes_uploaded: u64,
    /// Whether the new index was computed from the changed files alone (publish cache).
    #[serde(default)]
    pub incremental: bool,
    /// Bytes of the source map written after the commit (0: none).
    #[serde(default)]
    pub source_map_bytes: u64,
    /// How the publish found the input files.
    #[serde(default)]
    pub files: FilesFound,
}

/// How a publish found its input files (`files` in `cairn publish --output json`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesFound {
    /// Read and parsed.
    pub parsed: u64,
    /// Known unchanged by their stat data (the publish cache), not read.
    pub unchanged_by_stamp: u64,
    /// Known unchanged by the blob id Git's index holds for them, not read.
    #[serde(default)]
    pub unchanged_by_git_index: u64,
    /// Read, and known unchanged by the sha256 of their bytes.
    pub unchanged_by_content: u64,
}

impl Published {
    /// Objects a publish writes: blobs, index nodes, delta packs, plus the snapshot root, the
    /// log entry, the head and the source map (not counting the store probe's short-lived test
    /// object).
    pub fn objects_written(&self) -> u64 {
        if self.unchanged {
            return 0;
        }
        let map = u64::from(self.source_map_bytes > 0);
        self.blobs_uploaded + self.nodes_uploaded + self.deltas_uploaded + 3 + map
    }
}

/// A `cairn` binary publishing one manifest directory to one local store.
#[derive(Clone, Debug)]
pub struct Cairn {
    /// The binary.
    pub binary: PathBuf,
    /// The store: a directory, or a store URL (`cairn-fleet --store`).
    pub store: PathBuf,
    /// The signing key.
    pub key: PathBuf,
    /// The publish cache directory.
    pub cache: PathBuf,
    /// Delta depth to pass, or `None` for cairn's default.
    pub delta_depth: Option<usize>,
    /// Whether every command that publishes promises to be the only publisher (for stores
    /// without conditional writes, such as Garage).
    pub single_publisher: bool,
}

impl Cairn {
    /// A `cairn` command, with `CAIRN_SINGLE_PUBLISHER` set when asked for.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        if self.single_publisher {
            command.env(EnvVars::CAIRN_SINGLE_PUBLISHER, "true");
        }
        command
    }

    /// Creates a key pair in `dir` and a store path beside it.
    pub fn new(binary: &Path, dir: &Path, delta_depth: Option<usize>) -> Result<Cairn> {
        let cairn = Cairn {
            binary: binary.to_path_buf(),
            store: dir.join("store"),
            key: dir.join("hub.key"),
            cache: dir.join("cache"),
            delta_depth,
            single_publisher: false,
        };
        run(Command::new(&cairn.binary)
            .arg("keygen")
            .arg("--out")
            .arg(&cairn.key))?;
        Ok(cairn)
    }

    /// Removes the publish cache directory: a runner with nothing restored.
    pub fn forget_cache(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.cache) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(Error::io("removing", &self.cache)(e))
            }
            _ => Ok(()),
        }
    }

    /// Publishes the manifests under `dir` and measures the process; `cached` publishes use
    /// (and update) the publish cache, others read every file as a fresh checkout would.
    pub fn publish(&self, dir: &Path, cached: bool) -> Result<(Usage, Published)> {
        let mut command = self.command();
        command
            .args([
                "publish",
                "--channel",
                CHANNEL,
                "--output",
                "json",
                "--store",
            ])
            .arg(&self.store)
            .arg("--key")
            .arg(&self.key)
            .env(EnvVars::CAIRN_CACHE_DIR, &self.cache)
            .env_remove(EnvVars::CAIRN_NO_CACHE)
            .env_remove(EnvVars::CAIRN_LOG);
        if !cached {
            command.arg("--no-cache");
        }
        if let Some(depth) = self.delta_depth {
            command.arg("--delta-depth").arg(depth.to_string());
        }
        command.arg(dir);
        let (usage, stdout) = run(&mut command)?;
        let published = serde_json::from_slice(&stdout).map_err(|e| Error::Unexpected {
            command: describe(&command),
            message: format!(
                "its JSON output does not parse ({e}): {}",
                String::from_utf8_lossy(&stdout)
            ),
        })?;
        Ok((usage, published))
    }
}
