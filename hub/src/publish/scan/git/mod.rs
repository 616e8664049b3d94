//! What Git knows of the inputs when they lie in a Git work tree: each tracked file's blob id,
//! from the index, for files whose stat data Git recorded and that have not changed since; and
//! the object format, to compute the blob id of a file the scan reads anyway.
//!
//! A fresh clone's index holds every file's stat data and blob id, so a publish from it learns
//! which files are unchanged since the head's source map without reading them, as `git add`
//! does. An id is used only where Git's own rules would use it and the file is known to be
//! stored as Git holds it ([`index`], [`attributes`]); anything else (no `git` on PATH, not a
//! work tree, an index that does not load, a file Git does not track) means reading the file.

mod attributes;
mod index;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use cairn_state_format::GitBlobId;

pub use self::index::Index;
use super::super::scan_cache::Stamp;

/// The work trees of a publish's inputs.
#[derive(Default)]
pub struct WorkTrees {
    /// Each input with its repository and its path in the work tree, if it lies in one.
    inputs: Vec<Input>,
    repositories: Vec<Repository>,
}

struct Input {
    path: PathBuf,
    /// Where the input itself is.
    place: Option<Place>,
}

/// A repository with a work tree, as `git rev-parse` describes it.
pub struct Repository {
    /// The top of the work tree, canonical.
    top: PathBuf,
    /// The index file (honouring `GIT_INDEX_FILE`).
    index: PathBuf,
    /// Files Git reads attributes from besides the work tree's `.gitattributes`:
    /// `info/attributes`, and the user's and the system's.
    attribute_files: Vec<PathBuf>,
    /// The object format.
    kind: gix_hash::Kind,
}

/// Where a file is in a work tree: its repository's place in [`WorkTrees::repositories`], and
/// the file's path from the top of the work tree, `/`-separated as Git's index spells it.
pub type Place = (usize, Vec<u8>);

impl WorkTrees {
    /// The work trees `inputs` lie in, found with `git` (none when it is not on PATH).
    pub fn discover(inputs: &[PathBuf]) -> WorkTrees {
        let mut trees = WorkTrees::default();
        for input in inputs.iter().filter(|p| p.as_os_str() != "-") {
            let place = trees.place_of(input);
            trees.inputs.push(Input {
                path: input.clone(),
                place,
            });
        }
        trees
    }

    fn place_of(&mut self, input: &Path) -> Option<Place> {
        let canonical = std::fs::canonicalize(input).ok()?;
        let dir = match canonical.is_dir() {
            true => canonical.as_path(),
            false => canonical.parent()?,
        };
        let repository = Repository::discover(dir)?;
        let from_top = canonical.strip_prefix(&repository.top).ok()?;
        let from_top = slash_separated(from_top)?;
        let at = match self
            .repositories
            .iter()
            .position(|r| r.top == repository.top)
        {
            Some(at) => at,
            None => {
                self.repositories.push(repository);
                self.repositories.len() - 1
            }
        };
        Some((at, from_top))
    }

    /// Whether any input lies in a work tree.
    pub fn any(&self) -> bool {
        !self.repositories.is_empty()
    }

    /// The repositories found.
    pub fn repositories(&self) -> &[Repository] {
        &self.repositories
    }

    /// Where the listed file `path` is, if its input lies in a work tree.
    pub fn place(&self, path: &Path) -> Option<Place> {
        self.inputs.iter().find_map(|input| {
            let (at, prefix) = input.place.as_ref()?;
            let rest = path.strip_prefix(&input.path).ok()?;
            let rest = slash_separated(rest)?;
            let joined = match (prefix.is_empty(), rest.is_empty()) {
                (true, _) => rest,
                (false, true) => prefix.clone(),
                (false, false) => [prefix.as_slice(), b"/", &rest].concat(),
            };
            Some((*at, joined))
        })
    }

    /// The blob id of `bytes`, read from `path`, in the object format of its repository (none
    /// outside a work tree).
    pub fn blob_id(&self, path: &Path, bytes: &[u8]) -> Option<GitBlobId> {
        let (at, _) = self.place(path)?;
        blob_id(self.repositories[at].kind, bytes)
    }
}

impl Repository {
    /// The repository whose work tree holds `dir`, or `None` (no `git`, not a work tree, a
    /// repository Git refuses, such as one owned by another user).
    fn discover(dir: &Path) -> Option<Repository> {
        let lines = git_lines(
            dir,
            &[
                "rev-parse",
                "--path-format=absolute",
                "--show-toplevel",
                "--git-path",
                "index",
                "--git-path",
                "info/attributes",
                "--show-object-format",
            ],
        )?;
        let [top, index, info_attributes, format] = lines.as_slice() else {
            return None;
        };
        let kind = match format.as_os_str().as_encoded_bytes() {
            b"sha1" => gix_hash::Kind::Sha1,
            b"sha256" => gix_hash::Kind::Sha256,
            _ => return None,
        };
        let mut attribute_files = vec![PathBuf::from(info_attributes)];
        for var in ["GIT_ATTR_GLOBAL", "GIT_ATTR_SYSTEM"] {
            if let Some(lines) = git_lines(dir, &["var", var]) {
                attribute_files.extend(lines);
            }
        }
        Some(Repository {
            top: std::fs::canonicalize(top).ok()?,
            index: PathBuf::from(index),
            attribute_files,
            kind,
        })
    }

    /// Loads the index (`None`, with the reason in the debug log, when it does not load).
    pub fn load_index(&self) -> Option<Index> {
        Index::load(&self.index, self.kind)
            .inspect_err(|error| {
                tracing::debug!(%error, index = %self.index.display(), "Git's index not used");
            })
            .ok()
    }

    /// Of `paths` (from the top), those Git may store otherwise than as the work tree has them:
    /// see [`attributes`]. Asks `git check-attr` only when some attribute file exists.
    pub fn converted(&self, index: &Index, paths: &[&[u8]]) -> Option<Vec<bool>> {
        let has_attributes =
            index.lists_attributes() || self.attribute_files.iter().any(|f| f.is_file());
        match has_attributes {
            false => Some(vec![false; paths.len()]),
            true => attributes::converted(&self.top, paths),
        }
    }
}

/// Git's blob id of `bytes` in the object format `kind`: the hash of `blob <length>` NUL and
/// the bytes. `None` for bytes SHA-1's collision detection flags as an attack (as Git refuses
/// them), with a warning.
pub fn blob_id(kind: gix_hash::Kind, bytes: &[u8]) -> Option<GitBlobId> {
    let mut hasher = gix_hash::hasher(kind);
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(bytes);
    match hasher.try_finalize() {
        Ok(id) => to_blob_id(&id),
        Err(error) => {
            tracing::warn!(%error, "a manifest file's Git blob id is not used");
            None
        }
    }
}

/// Our form of a Git object id.
fn to_blob_id(id: &gix_hash::ObjectId) -> Option<GitBlobId> {
    match id {
        gix_hash::ObjectId::Sha1(bytes) => Some(GitBlobId::Sha1(*bytes)),
        gix_hash::ObjectId::Sha256(bytes) => Some(GitBlobId::Sha256(*bytes)),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// The lines `git -C dir ARGS` prints, or `None` if it cannot run or fails.
fn git_lines(dir: &Path, args: &[&str]) -> Option<Vec<PathBuf>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = output.stdout.strip_suffix(b"\n")?;
    Some(text.split(|b| *b == b'\n').map(path_of_bytes).collect())
}

#[cfg(unix)]
fn path_of_bytes(bytes: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(not(unix))]
fn path_of_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(String::from_utf8_lossy(bytes).into_owned())
}

/// A relative path as Git's index spells it: components joined by `/` (`None` for a path Git
/// could not track, such as one with `..`).
fn slash_separated(path: &Path) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for component in path.components() {
        let std::path::Component::Normal(name) = component else {
            return None;
        };
        if !out.is_empty() {
            out.push(b'/');
        }
        out.extend_from_slice(name.as_encoded_bytes());
    }
    Some(out)
}

/// Whether `stamp` (the file now) is what Git recorded in an index entry's stat data: size,
/// modification and change times to the nanosecond, inode and device, as Git stores them
/// (32 bits each). Stricter than Git, which may ignore some of them by configuration.
#[cfg(unix)]
pub fn same_stat(stamp: &Stamp, stat: &gix_index::entry::Stat) -> bool {
    // Git keeps the low 32 bits of each (`fill_stat_data`).
    let low = |n: u64| n as u32;
    let time = |(secs, nanos): (i64, u32)| (secs as u32, nanos);
    low(stamp.size) == stat.size
        && time(stamp.mtime) == (stat.mtime.secs, stat.mtime.nsecs)
        && time(stamp.ctime) == (stat.ctime.secs, stat.ctime.nsecs)
        && low(stamp.inode) == stat.ino
        && low(stamp.device) == stat.dev
}

/// Off Unix, the stat data Git records is not comparable to ours: the index is not used.
#[cfg(not(unix))]
pub fn same_stat(_stamp: &Stamp, _stat: &gix_index::entry::Stat) -> bool {
    false
}
