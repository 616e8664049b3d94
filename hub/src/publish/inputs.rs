//! Listing a publish's input files: each file once, however it was reached.
//!
//! A directory and one of its subdirectories (a common way to list CRDs first), a file named
//! both on its own and inside a directory, a symlink to a file or directory already listed, a
//! hard link: each is the same file, read once under the first path that reached it, so a
//! duplicate identity always names two different files. Symlink loops end too.

use std::fs::Metadata;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashSet;

use super::scan_cache::Stamp;
use crate::error::{Error, Result};

/// The manifest files named by `paths`, each with its stat data: files as given, directories
/// searched recursively for `.yaml`, `.yml` and `.json` (hidden entries skipped, entries in name
/// order, each directory's files sorted by path), every file and directory once. `-` (standard
/// input) is left out.
pub fn list_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Stamp)>> {
    let mut seen = Seen::default();
    let mut files = Vec::new();
    for path in paths.iter().filter(|p| p.as_os_str() != "-") {
        let meta = std::fs::metadata(path).map_err(Error::io(path.display()))?;
        if meta.is_dir() {
            files.extend(manifest_files(path, &meta, &mut seen)?);
        } else if seen.first(path, &meta) {
            files.push((path.clone(), Stamp::of(&meta)));
        }
    }
    Ok(files)
}

fn manifest_files(
    root: &Path,
    root_meta: &Metadata,
    seen: &mut Seen,
) -> Result<Vec<(PathBuf, Stamp)>> {
    let mut out = Vec::new();
    if !seen.first(root, root_meta) {
        return Ok(out);
    }
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let mut entries = Vec::new();
        for item in std::fs::read_dir(&dir).map_err(Error::io(dir.display()))? {
            let item = item.map_err(Error::io(dir.display()))?;
            let name = item.file_name();
            if !name.as_encoded_bytes().starts_with(b".") {
                entries.push((name, item));
            }
        }
        // Name order, so that which of two paths to one file is kept does not depend on the
        // order the file system lists them in (names in a directory are unique).
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut subdirectories = Vec::new();
        for (_, item) in entries {
            let path = item.path();
            // Stat through the directory (no path walk from the root), following symlinks.
            let meta = match item.metadata().map_err(Error::io(path.display()))? {
                meta if meta.is_symlink() => {
                    std::fs::metadata(&path).map_err(Error::io(path.display()))?
                }
                meta => meta,
            };
            if meta.is_dir() {
                if seen.first(&path, &meta) {
                    subdirectories.push(path);
                }
            } else if is_manifest(&path) && seen.first(&path, &meta) {
                out.push((path, Stamp::of(&meta)));
            }
        }
        pending.extend(subdirectories.into_iter().rev());
    }
    // Byte order of the whole path: as reproducible as component order, and much cheaper.
    out.sort_unstable_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    Ok(out)
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The files and directories met so far, by identity: device and inode on Unix, the canonical
/// path elsewhere.
#[derive(Default)]
struct Seen(FxHashSet<FileKey>);

#[cfg(unix)]
type FileKey = (u64, u64);
#[cfg(not(unix))]
type FileKey = PathBuf;

impl Seen {
    /// Records `path`; whether it was met for the first time.
    #[cfg(unix)]
    fn first(&mut self, _path: &Path, meta: &Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.0.insert((meta.dev(), meta.ino()))
    }

    /// Records `path`; whether it was met for the first time.
    #[cfg(not(unix))]
    fn first(&mut self, path: &Path, _meta: &Metadata) -> bool {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        self.0.insert(key)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn names(files: &[(PathBuf, Stamp)], root: &Path) -> Vec<String> {
        files
            .iter()
            .map(|(p, _)| p.strip_prefix(root).unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn overlapping_paths_and_links_list_each_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("m/crds")).unwrap();
        std::fs::write(root.join("m/app.yaml"), "").unwrap();
        std::fs::write(root.join("m/crds/crd.yaml"), "").unwrap();
        std::fs::write(root.join("m/notes.txt"), "").unwrap();
        std::os::unix::fs::symlink(root.join("m/app.yaml"), root.join("m/alias.yaml")).unwrap();
        std::os::unix::fs::symlink(root.join("m/crds"), root.join("m/crds/loop")).unwrap();
        std::fs::hard_link(root.join("m/app.yaml"), root.join("hard.yaml")).unwrap();

        let inputs = [root.join("m/crds"), root.join("m"), root.join("hard.yaml")];
        let files = list_files(&inputs).unwrap();
        // The CRD directory first (as given), then the rest of m/; `alias.yaml` sorts before
        // `app.yaml` and is the path kept; the loop and the hard link add nothing.
        assert_eq!(names(&files, root), ["m/crds/crd.yaml", "m/alias.yaml"]);
    }
}
