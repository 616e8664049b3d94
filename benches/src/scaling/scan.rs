//! What a command wrote into a directory tree: files created or rewritten, and their bytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Every file under a directory with its size and modification time.
#[derive(Clone, Debug, Default)]
pub struct Tree(BTreeMap<PathBuf, (u64, SystemTime)>);

/// Files created or rewritten between two scans.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// Files that did not exist before.
    pub created: u64,
    /// Files that existed and changed size or modification time.
    pub rewritten: u64,
    /// Total size of the created and rewritten files.
    pub bytes: u64,
}

impl Tree {
    /// Scans `dir` recursively; a missing directory is an empty tree.
    pub fn scan(dir: &Path) -> Result<Tree> {
        let mut files = BTreeMap::new();
        if !dir.exists() {
            return Ok(Tree(files));
        }
        let mut pending = vec![dir.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for item in std::fs::read_dir(&dir).map_err(Error::io("listing", &dir))? {
                let item = item.map_err(Error::io("listing", &dir))?;
                let meta = item
                    .metadata()
                    .map_err(Error::io("inspecting", &item.path()))?;
                if meta.is_dir() {
                    pending.push(item.path());
                } else {
                    let modified = meta
                        .modified()
                        .map_err(Error::io("inspecting", &item.path()))?;
                    files.insert(item.path(), (meta.len(), modified));
                }
            }
        }
        Ok(Tree(files))
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// What was written between `self` (before) and `after`.
    pub fn written_until(&self, after: &Tree) -> Written {
        let mut written = Written::default();
        for (path, (size, modified)) in &after.0 {
            match self.0.get(path) {
                None => written.created += 1,
                Some(before) if before != &(*size, *modified) => written.rewritten += 1,
                Some(_) => continue,
            }
            written.bytes += size;
        }
        written
    }
}
