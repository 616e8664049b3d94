//! The publish cache: what each manifest file held the last time it was read, by path, with the
//! file's stat data (like Git's index) and what its bytes were (sha256, length, Git blob id). A
//! later publish trusts a file whose size, mtime, ctime, inode and device are unchanged without
//! reading it, and the others by Git's index when they lie in a work tree (`scan/git/`);
//! it reads and hashes the rest, and parses only those whose bytes changed: a 10-file change in
//! 100,000 manifests parses 10 files, and so does a fresh checkout (every stamp new) with the
//! cache directory restored.
//!
//! One cache file per (store, channel, inputs), written atomically after a successful publish.
//! It also names the snapshot its records add up to: when that is still the channel's head, the
//! publish computes the new index from the changed files alone (`prepare`), and the source map
//! the store holds for it (`source_map`), so the next one is written as a patch. The cache is only
//! an accelerator: a missing, unreadable or foreign cache file means reading everything, and a
//! file modified within [`RACY_WINDOW`] of the scan that cached it is read again (a write in
//! the same timestamp tick as the stat would otherwise go unnoticed: Git's "racily clean").

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cairn_state_format::{BaseMap, Digest, FileContent, FileRecord};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::manifests::ReadOptions;
use super::records::reader;
use crate::error::Result;
use crate::files::cache::CacheKind;

/// Bumped whenever the file layout changes (what records mean is [`reader`]'s); 4: records
/// hold the length and Git blob id of the bytes.
const CACHE_VERSION: u32 = 4;
/// Publish cache files.
const PUBLISH_CACHE: CacheKind = CacheKind {
    name: "publish cache",
    without: "reading every file",
    magic: b"cairnpc\0",
};
/// Files modified this close to (or after) the start of the scan that cached them are re-read.
pub const RACY_WINDOW: Duration = Duration::from_secs(2);

/// A file's stat data: if none of it changed, neither did the file (short of deliberate effort:
/// ctime cannot be set back from user space).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub(crate) size: u64,
    pub(crate) mtime: (i64, u32),
    pub(crate) ctime: (i64, u32),
    pub(crate) inode: u64,
    pub(crate) device: u64,
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

/// What is known of a file before it is scanned.
#[derive(Debug)]
pub struct KnownFile {
    /// Its stat data when it was read (none when known from the store's source map).
    pub stamp: Option<Stamp>,
    /// What its bytes were.
    pub content: FileContent,
    /// Modified too close to the caching scan to be trusted by its stamp.
    pub racy: bool,
    /// One of its objects is a CustomResourceDefinition.
    pub defines_kinds: bool,
    /// Where its record is in [`Known`]'s bytes.
    pub record: RecordAt,
    /// Found again by a scan (set from any thread).
    found: AtomicBool,
}

impl KnownFile {
    /// Marks it found again by the scan: it is neither changed nor gone.
    pub fn found(&self) {
        self.found.store(true, Ordering::Relaxed);
    }

    /// Whether `stamp` proves the file unchanged without reading it.
    pub fn fresh(&self, stamp: &Stamp) -> bool {
        self.stamp.as_ref() == Some(stamp) && !self.racy
    }
}

/// Where a stored record is in [`Known`]'s bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordAt {
    start: usize,
    end: usize,
}

/// The source map the store holds for a snapshot: a patch of `base` (or `base` itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapState {
    /// The full map.
    pub base: BaseMap,
    /// How many files it lists.
    pub base_files: u64,
    /// The paths the patch adds, changes or removes (none: the map is the full one).
    pub patch: Vec<String>,
}

/// What is known of the input files before a scan, from the publish cache or from the store's
/// source map: each file's record, kept as stored (decoded only where needed).
#[derive(Debug, Default)]
pub struct Known {
    /// The snapshot whose entries are exactly the union of the files' records.
    pub snapshot: Option<Digest>,
    /// The source map the store holds for `snapshot`, as far as known.
    pub map: Option<MapState>,
    files: FxHashMap<String, KnownFile>,
    /// The bytes the records are in.
    bytes: Vec<u8>,
}

impl Known {
    /// What is known of `snapshot`: nothing yet, its source map in the store being `map`.
    pub fn new(snapshot: Digest, map: Option<MapState>) -> Known {
        Known {
            snapshot: Some(snapshot),
            map,
            ..Known::default()
        }
    }

    /// Adds a file known by its record (a copy of it is kept).
    pub fn add(&mut self, record: &FileRecord<'_>, stamp: Option<Stamp>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(record.as_bytes());
        let known = KnownFile {
            stamp,
            content: record.content,
            racy: false,
            defines_kinds: record.defines_kinds,
            record: RecordAt {
                start,
                end: self.bytes.len(),
            },
            found: AtomicBool::new(false),
        };
        self.files.insert(record.path.to_owned(), known);
    }

    /// The file at `path`.
    pub fn get(&self, path: &str) -> Option<&KnownFile> {
        self.files.get(path)
    }

    /// The files not found again by the scan ([`KnownFile::found`]): changed or gone.
    pub fn left(&self) -> impl Iterator<Item = (&str, &KnownFile)> {
        let left = self
            .files
            .iter()
            .filter(|(_, f)| !f.found.load(Ordering::Relaxed));
        left.map(|(p, f)| (p.as_str(), f))
    }

    /// The stored record of a file of this.
    pub fn record(&self, at: RecordAt) -> Option<FileRecord<'_>> {
        FileRecord::take(self.record_bytes(at))
            .ok()
            .map(|(record, _)| record)
    }

    /// The bytes of a stored record of a file of this (empty if `at` is not of this).
    pub fn record_bytes(&self, at: RecordAt) -> &[u8] {
        self.bytes.get(at.start..at.end).unwrap_or_default()
    }
}

/// Where one (store, channel, inputs) combination keeps its cache.
#[derive(Clone, Debug)]
pub struct CacheFile {
    path: PathBuf,
}

/// A scanned file, as the cache records it.
pub struct Scanned<'a> {
    /// Its stat data.
    pub stamp: Stamp,
    /// Its record, as stored.
    pub record: Cow<'a, [u8]>,
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

    /// Loads the cache for files read as `options` say. A missing file is an empty cache; an
    /// unreadable, damaged or foreign one is ignored with a warning (it only costs reading).
    pub fn load(&self, options: &ReadOptions) -> Known {
        PUBLISH_CACHE
            .load_owned(&self.path, |bytes, body_at| decode(bytes, body_at, options))
            .unwrap_or_default()
    }

    /// Replaces the cache atomically (a crash leaves the old file or the new one, never half of
    /// one): `files` add up to `snapshot`, whose source map in the store is `map`; `scan_start`
    /// is when the scan that stamped them began.
    pub fn save<'a>(
        &self,
        snapshot: Digest,
        map: Option<&MapState>,
        scan_start: SystemTime,
        options: &ReadOptions,
        files: impl Iterator<Item = Scanned<'a>>,
    ) -> Result<()> {
        let head = DiskHead {
            version: CACHE_VERSION,
            reader: *reader(options).as_bytes(),
            snapshot: *snapshot.as_bytes(),
            scan_start: since_epoch(scan_start),
            map: map.cloned(),
        };
        PUBLISH_CACHE.save_with(&self.path, |out| {
            let mut out = Hashing {
                out,
                sha256: Sha256::new(),
            };
            // Invariant: plain data with no maps or untagged enums always serializes.
            out.write_all(&postcard::to_stdvec(&head).expect("cache head serializes"))?;
            let mut count: u64 = 0;
            let mut stamp = [0; MAX_STAMP_BYTES];
            for file in files {
                let stamp = postcard::to_slice(&file.stamp, &mut stamp).expect("a stamp fits");
                out.write_all(stamp)?;
                out.write_all(&file.record)?;
                count += 1;
            }
            let sha256: [u8; 32] = out.sha256.finalize().into();
            out.out.write_all(&count.to_le_bytes())?;
            out.out.write_all(&sha256)
        })
    }
}

/// A writer that hashes what it writes.
struct Hashing<'w> {
    out: &'w mut dyn Write,
    sha256: Sha256,
}

impl Write for Hashing<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.out.write(bytes)?;
        self.sha256.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The longest encoded stamp: five 64-bit and two 32-bit varints.
const MAX_STAMP_BYTES: usize = 5 * 10 + 2 * 5;

/// Bytes after the records: their count (8 bytes, little-endian) and the sha256 of the head
/// and records.
const TRAILER: usize = 8 + 32;

fn decode(bytes: Vec<u8>, body_at: usize, options: &ReadOptions) -> Option<Known> {
    let end = bytes.len().checked_sub(TRAILER).filter(|e| *e >= body_at)?;
    let (count, sha256) = bytes[end..].split_at(8);
    // A damaged record is refused here, so later steps may trust every record to decode.
    if Sha256::digest(&bytes[body_at..end]).as_slice() != sha256 {
        return None;
    }
    let count = u64::from_le_bytes(count.try_into().ok()?);
    let (head, mut rest) = postcard::take_from_bytes::<DiskHead>(&bytes[body_at..end]).ok()?;
    if head.version != CACHE_VERSION || head.reader != *reader(options).as_bytes() {
        return None;
    }
    let mut files = FxHashMap::default();
    files.reserve(usize::try_from(count).ok()?.min(rest.len()));
    for _ in 0..count {
        let (stamp, after_stamp) = postcard::take_from_bytes::<Stamp>(rest).ok()?;
        let (record, after) = FileRecord::take(after_stamp).ok()?;
        let known = KnownFile {
            stamp: Some(stamp),
            content: record.content,
            racy: stamp.is_racy(head.scan_start, RACY_WINDOW),
            defines_kinds: record.defines_kinds,
            record: RecordAt {
                start: end - after_stamp.len(),
                end: end - after.len(),
            },
            found: AtomicBool::new(false),
        };
        files.insert(record.path.to_owned(), known);
        rest = after;
    }
    if !rest.is_empty() {
        return None;
    }
    Some(Known {
        snapshot: Some(Digest::from_bytes(head.snapshot)),
        map: head.map,
        files,
        bytes,
    })
}

// The on-disk form: a head, then per file its stamp and its record as the store's source map
// has it, then the trailer. Plain fields only, since postcard is not self-describing.

#[derive(Serialize, Deserialize)]
struct DiskHead {
    version: u32,
    reader: [u8; 32],
    snapshot: [u8; 32],
    scan_start: (i64, u32),
    map: Option<MapState>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::manifests::parse_file;
    use crate::publish::records::encode;

    #[test]
    fn records_stamps_and_contents_survive_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.yaml");
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n";
        std::fs::write(&file, text).unwrap();
        let options = ReadOptions {
            namespace: Some("shop".into()),
        };
        let parsed = parse_file("a.yaml", text, &options).ok().unwrap();
        let stamp = Stamp::of(&std::fs::metadata(&file).unwrap());
        let content = FileContent {
            sha256: Digest::of(text.as_bytes()),
            size: text.len() as u64,
            git: None,
        };
        let mut record = Vec::new();
        encode("a.yaml", &content, &parsed.file.manifests, &mut record);
        let inputs = std::slice::from_ref(&file);
        let cache = CacheFile::new(dir.path(), "memory://", "prod", inputs, Some("shop"));
        let other = CacheFile::new(dir.path(), "memory://", "prod", inputs, None);
        assert_ne!(cache.path(), other.path(), "--namespace is part of the key");
        let snapshot = Digest::of(b"snapshot");
        let map = MapState {
            base: BaseMap {
                snapshot,
                digest: Digest::of(b"stored"),
            },
            base_files: 1,
            patch: vec![],
        };
        let scanned = || {
            std::iter::once(Scanned {
                stamp,
                record: Cow::Borrowed(&record),
            })
        };
        let long_before = SystemTime::now() - Duration::from_secs(60);
        cache
            .save(snapshot, Some(&map), long_before, &options, scanned())
            .unwrap();
        let loaded = cache.load(&options);
        assert_eq!(loaded.snapshot, Some(snapshot));
        assert_eq!(loaded.map, Some(map));
        let known = loaded.get("a.yaml").unwrap();
        let stored = loaded.record(known.record).unwrap();
        assert_eq!(stored.as_bytes(), record);
        assert_eq!((known.stamp, known.content), (Some(stamp), content));
        assert!(known.racy, "a file changed after the scan began is racy");
        assert!(!known.fresh(&stamp));

        let long_after = SystemTime::now() + Duration::from_secs(60);
        cache
            .save(snapshot, None, long_after, &options, scanned())
            .unwrap();
        assert!(cache.load(&options).get("a.yaml").unwrap().fresh(&stamp));
        let elsewhere = ReadOptions::default();
        assert!(
            cache.load(&elsewhere).get("a.yaml").is_none(),
            "records read with another --namespace are not used"
        );
    }

    #[test]
    fn a_damaged_cache_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = CacheFile::new(dir.path(), "memory://", "prod", &[], None);
        let options = ReadOptions::default();
        std::fs::write(cache.path(), b"cairnpc\0\xff\xff\xff").unwrap();
        let loaded = cache.load(&options);
        assert!(loaded.snapshot.is_none() && loaded.left().next().is_none());
        std::fs::write(cache.path(), b"something else").unwrap();
        assert!(cache.load(&options).snapshot.is_none());
    }
}
