//! The publish cache: what each manifest file held the last time it was parsed, keyed by the
//! file's stat data, like Git's index. A later publish re-reads only files whose size, mtime,
//! ctime, inode or device changed, so a 10-file change in 100,000 manifests parses 10 files.
//!
//! One cache file per (store, channel, inputs), written atomically after a successful publish.
//! It also names the snapshot its records add up to: when that is still the channel's head, the
//! publish computes the new index from the changed files alone (`prepare`). The cache
//! is only an accelerator: a missing, unreadable or foreign cache file means a full parse, and a
//! file touched within [`RACY_WINDOW`] of the scan that cached it is re-read (a write in the same
//! timestamp tick as the stat would otherwise go unnoticed: Git's "racily clean" entries).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_state_format::{Digest, Entry, ResourceId};
use serde::{Deserialize, Serialize};

use super::kinds::{CustomKind, builtin};
use super::manifests::{FileManifests, Manifest};
use crate::error::Result;
use crate::files::cache::CacheKind;

/// Bumped whenever the file layout or the meaning of a record changes.
const CACHE_VERSION: u32 = 2;
/// Publish cache files.
const PUBLISH_CACHE: CacheKind = CacheKind {
    name: "publish cache",
    without: "parsing every file",
    magic: b"cairnpc\0",
};
/// Files modified this close to (or after) the start of the scan that cached them are re-read.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// A file's stat data: if none of it changed, neither did the file (short of deliberate effort:
/// ctime cannot be set back from user space).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    size: u64,
    mtime: (i64, u32),
    ctime: (i64, u32),
    inode: u64,
    device: u64,
}

impl Stamp {
    /// The stamp of `meta`.
    #[cfg(unix)]
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        Stamp {
            size: meta.size(),
            mtime: (meta.mtime(), clamp_nanos(meta.mtime_nsec())),
            ctime: (meta.ctime(), clamp_nanos(meta.ctime_nsec())),
            inode: meta.ino(),
            device: meta.dev(),
        }
    }

    /// The stamp of `meta` (size and mtime only off Unix).
    #[cfg(not(unix))]
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        let mtime = meta.modified().map(since_epoch).unwrap_or((0, 0));
        Stamp {
            size: meta.len(),
            mtime,
            ctime: mtime,
            inode: 0,
            device: 0,
        }
    }

    /// Whether the file was written within `window` before `scan_start`, or later. A write sets
    /// the mtime, so (as in Git) the mtime alone tells; ctime moves on metadata changes too.
    fn is_racy(&self, scan_start: (i64, u32), window: Duration) -> bool {
        let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
        self.mtime >= (scan_start.0.saturating_sub(window), scan_start.1)
    }
}

#[cfg(unix)]
fn clamp_nanos(nanos: i64) -> u32 {
    u32::try_from(nanos.clamp(0, 999_999_999)).unwrap_or(0)
}

/// Seconds and nanoseconds since the Unix epoch (0 for times before it).
pub fn since_epoch(time: SystemTime) -> (i64, u32) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    (
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        since.subsec_nanos(),
    )
}

/// A cached file: its stamp and its records.
#[derive(Clone, Debug)]
pub struct CachedFile {
    /// Stat data when it was read.
    pub stamp: Stamp,
    /// What it held.
    pub manifests: Vec<Manifest>,
    /// Modified too close to the caching scan to be trusted by its stamp.
    pub racy: bool,
}

/// What a cache file holds once loaded.
#[derive(Debug, Default)]
pub struct Cached {
    /// The snapshot whose entries are exactly the union of `files`.
    pub snapshot: Option<Digest>,
    /// Files by source path.
    pub files: HashMap<String, CachedFile>,
}

/// Where one (store, channel, inputs) combination keeps its cache.
#[derive(Clone, Debug)]
pub struct CacheFile {
    path: PathBuf,
}

impl CacheFile {
    /// The cache file in `dir` for publishing `inputs` to `channel` of the store `store_url`,
    /// read with `--namespace` `namespace` (which changes what files turn into). Inputs are
    /// made absolute so that the same tree published from another working directory finds the
    /// same cache.
    pub fn new(
        dir: &Path,
        store_url: &str,
        channel: &str,
        inputs: &[PathBuf],
        namespace: Option<&str>,
    ) -> CacheFile {
        let namespace = namespace.map_or_else(String::new, |ns| format!("namespace={ns}"));
        let mut key = format!("{store_url}\0{channel}\0{namespace}");
        for input in inputs {
            let absolute = std::path::absolute(input).unwrap_or_else(|_| input.clone());
            key.push('\0');
            key.push_str(&absolute.to_string_lossy());
        }
        CacheFile {
            path: dir.join(PUBLISH_CACHE.file_name(&key)),
        }
    }

    /// Where the cache lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the cache. A missing file is an empty cache; an unreadable, damaged or older-format
    /// one is ignored with a warning (it only costs a full parse).
    pub fn load(&self) -> Cached {
        PUBLISH_CACHE.load(&self.path, decode).unwrap_or_default()
    }

    /// Replaces the cache atomically (a crash leaves the old file or the new one, never half of
    /// one). `files` pairs each file's records with its stamp; `scan_start` is when the scan that
    /// stamped them began.
    pub fn save(
        &self,
        snapshot: Digest,
        scan_start: SystemTime,
        files: &[(&FileManifests, Stamp)],
    ) -> Result<()> {
        let disk = DiskCache {
            version: CACHE_VERSION,
            kinds: builtin_fingerprint(),
            snapshot: *snapshot.as_bytes(),
            scan_start: since_epoch(scan_start),
            files: files
                .iter()
                .map(|(file, stamp)| DiskFile {
                    source: file.source.clone(),
                    stamp: *stamp,
                    manifests: file.manifests.iter().map(DiskManifest::from).collect(),
                })
                .collect(),
        };
        // Invariant: plain data with no maps or untagged enums always serializes.
        let body = postcard::to_stdvec(&disk).expect("cache serializes");
        PUBLISH_CACHE.save(&self.path, &body)
    }
}

fn decode(body: &[u8]) -> Option<Cached> {
    let disk: DiskCache = postcard::from_bytes(body).ok()?;
    // Records depend on which kinds are built in (where `--namespace` puts objects).
    if disk.version != CACHE_VERSION || disk.kinds != builtin_fingerprint() {
        return None;
    }
    let mut files = HashMap::with_capacity(disk.files.len());
    for file in disk.files {
        let manifests = file
            .manifests
            .into_iter()
            .map(Manifest::try_from)
            .collect::<Result<Vec<_>, ()>>()
            .ok()?;
        let racy = file.stamp.is_racy(disk.scan_start, RACY_WINDOW);
        files.insert(
            file.source,
            CachedFile {
                stamp: file.stamp,
                manifests,
                racy,
            },
        );
    }
    Some(Cached {
        snapshot: Some(Digest::from_bytes(disk.snapshot)),
        files,
    })
}

/// A digest of the built-in kinds table: a cairn built with other kinds reads files anew.
fn builtin_fingerprint() -> [u8; 32] {
    let mut text = String::new();
    for k in builtin::all() {
        text.push_str(&format!("{}\0{}\0{:?}\n", k.group, k.kind, k.scope));
    }
    *Digest::of(text.as_bytes()).as_bytes()
}

// The on-disk form: plain fields only, since postcard is not self-describing (no skipped
// fields, no untagged data).

#[derive(Serialize, Deserialize)]
struct DiskCache {
    version: u32,
    kinds: [u8; 32],
    snapshot: [u8; 32],
    scan_start: (i64, u32),
    files: Vec<DiskFile>,
}

#[derive(Serialize, Deserialize)]
struct DiskFile {
    source: String,
    stamp: Stamp,
    manifests: Vec<DiskManifest>,
}

#[derive(Serialize, Deserialize)]
struct DiskManifest {
    entry: DiskEntry,
    document: u32,
    item: Option<u32>,
    plain_secret: bool,
    in_namespace: Option<DiskEntry>,
    defines: Option<CustomKind>,
}

#[derive(Serialize, Deserialize)]
struct DiskEntry {
    group: String,
    kind: String,
    namespace: String,
    name: String,
    blob: [u8; 32],
    size: u64,
    selector: Option<String>,
    wave: Option<i32>,
}

impl From<&Manifest> for DiskManifest {
    fn from(m: &Manifest) -> Self {
        DiskManifest {
            entry: DiskEntry::from(&m.entry),
            document: m.document,
            item: m.item,
            plain_secret: m.plain_secret,
            in_namespace: m.in_namespace.as_ref().map(DiskEntry::from),
            defines: m.defines.clone(),
        }
    }
}

impl TryFrom<DiskManifest> for Manifest {
    type Error = ();

    fn try_from(d: DiskManifest) -> Result<Self, ()> {
        Ok(Manifest {
            entry: d.entry.try_into()?,
            document: d.document,
            item: d.item,
            plain_secret: d.plain_secret,
            in_namespace: d.in_namespace.map(Entry::try_from).transpose()?,
            defines: d.defines,
        })
    }
}

impl From<&Entry> for DiskEntry {
    fn from(e: &Entry) -> Self {
        DiskEntry {
            group: e.id.group.clone(),
            kind: e.id.kind.clone(),
            namespace: e.id.namespace.clone(),
            name: e.id.name.clone(),
            blob: *e.blob.as_bytes(),
            size: e.size,
            selector: e.selector.as_ref().map(ToString::to_string),
            wave: e.wave,
        }
    }
}

impl TryFrom<DiskEntry> for Entry {
    type Error = ();

    fn try_from(d: DiskEntry) -> Result<Self, ()> {
        let selector = d
            .selector
            .map(|text| text.parse().map_err(|_| ()))
            .transpose()?;
        Ok(Entry {
            id: ResourceId {
                group: d.group,
                kind: d.kind,
                namespace: d.namespace,
                name: d.name,
            },
            blob: Digest::from_bytes(d.blob),
            size: d.size,
            selector,
            wave: d.wave,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::manifests::{ReadOptions, parse_file};

    #[test]
    fn records_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        std::fs::write(
            &file,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  annotations: {cairn.dev/cluster-selector: 'env=prod', cairn.dev/wave: '2'}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: dg==}\n---\napiVersion: example.com/v1\nkind: WidgetList\nitems:\n- {apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec: {group: example.com, scope: Namespaced, names: {kind: Widget, plural: widgets}}\n",
        )
        .unwrap();
        let options = ReadOptions {
            namespace: Some("shop".into()),
        };
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = parse_file("a.yaml", &text, &options).ok().unwrap();
        assert!(
            parsed
                .file
                .manifests
                .iter()
                .any(|m| m.in_namespace.is_some())
        );
        let stamp = Stamp::of(&std::fs::metadata(&file).unwrap());
        let inputs = std::slice::from_ref(&file);
        let cache = CacheFile::new(dir.path(), "memory://", "prod", inputs, Some("shop"));
        let other = CacheFile::new(dir.path(), "memory://", "prod", inputs, None);
        assert_ne!(cache.path(), other.path(), "--namespace is part of the key");
        let snapshot = Digest::of(b"snapshot");
        let long_before = SystemTime::now() - Duration::from_secs(60);
        cache
            .save(snapshot, long_before, &[(&parsed.file, stamp)])
            .unwrap();
        let loaded = cache.load();
        assert_eq!(loaded.snapshot, Some(snapshot));
        let cached = &loaded.files["a.yaml"];
        assert_eq!(cached.manifests, parsed.file.manifests);
        assert_eq!(cached.stamp, stamp);
        assert!(cached.racy, "a file changed after the scan began is racy");

        let long_after = SystemTime::now() + Duration::from_secs(60);
        cache
            .save(snapshot, long_after, &[(&parsed.file, stamp)])
            .unwrap();
        assert!(!cache.load().files["a.yaml"].racy);
    }

    #[test]
    fn a_damaged_cache_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheFile::new(dir.path(), "memory://", "prod", &[], None);
        std::fs::write(cache.path(), b"cairnpc\0\xff\xff\xff").unwrap();
        let loaded = cache.load();
        assert!(loaded.snapshot.is_none() && loaded.files.is_empty());
        std::fs::write(cache.path(), b"something else").unwrap();
        assert!(cache.load().snapshot.is_none());
    }
}
