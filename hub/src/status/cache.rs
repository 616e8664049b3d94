//! The status cache: the status records of one channel of one store as last read, each with the
//! version its listing gave, so the next read fetches only records whose version changed.
//!
//! Same rules as the publish cache (`publish::scan_cache`, both are [`CacheKind`]s): one file per (store, channel) under
//! `<cache dir>/status/`, written atomically (a crash leaves the old file or the new one), and
//! only an accelerator: a missing, unreadable, damaged or older-format file means every record is
//! fetched again, with a warning. Records are kept as the canonical bytes the agent wrote and
//! checked again by [`StatusRecord::decode`] on load, so the cache never widens what is trusted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_state_format::StatusRecord;
use cairn_store::{Listed, Version};
use chrono::{DateTime, Utc};
use rayon::iter::{IntoParallelIterator, ParallelIterator};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::files::cache::CacheKind;

/// Bumped whenever the file layout or the meaning of a record changes.
const CACHE_VERSION: u32 = 1;
/// Status cache files.
const STATUS_CACHE: CacheKind = CacheKind {
    name: "status cache",
    without: "reading every status record",
    magic: b"cairnsc\0",
};
/// Status records compress about tenfold (they share keys, labels and digests).
const ZSTD_LEVEL: i32 = 3;

/// What identifies one version of a listed object: its ETag and version id where the store
/// gives them, else its size and modification time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    etag: Option<String>,
    version: Option<String>,
    size: u64,
    modified: (i64, u32),
}

impl Stamp {
    /// The stamp of a listed object.
    pub fn of(listed: &Listed) -> Stamp {
        let Version { etag, version } = listed.version.clone();
        Stamp {
            etag,
            version,
            size: listed.size,
            modified: seconds_and_nanos(listed.last_modified),
        }
    }

    /// Whether `self` (from a listing now) names the same object version as `cached`. With an
    /// ETag or a version id, those decide (a store may touch times without changing content);
    /// without either, size and modification time must both match.
    pub fn unchanged_since(&self, cached: &Stamp) -> bool {
        if self.etag.is_some() || self.version.is_some() {
            return self.etag == cached.etag && self.version == cached.version;
        }
        self.size == cached.size && self.modified == cached.modified
    }
}

fn seconds_and_nanos(time: DateTime<Utc>) -> (i64, u32) {
    (time.timestamp(), time.timestamp_subsec_nanos())
}

/// One cached record: the stamp of the version it was read from, and the record.
#[derive(Clone, Debug)]
pub struct CachedRecord {
    /// The listing's stamp of the version read.
    pub stamp: Stamp,
    /// The record (shared with the views that show it).
    pub record: Arc<StatusRecord>,
}

/// Where one (store, channel) keeps its status cache.
#[derive(Clone, Debug)]
pub struct StatusCacheFile {
    path: PathBuf,
}

impl StatusCacheFile {
    /// The cache file in `dir` for `channel` of the store `store_url`.
    pub fn new(dir: &Path, store_url: &str, channel: &str) -> StatusCacheFile {
        let key = format!("{store_url}\0{channel}");
        StatusCacheFile {
            path: dir.join("status").join(STATUS_CACHE.file_name(&key)),
        }
    }

    /// Where the cache lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Loads the cached records by key. Missing: empty. Unreadable, damaged or from another
    /// version: empty, with a warning. A record that no longer decodes is left out (fetched again).
    pub fn load(&self) -> Vec<(String, CachedRecord)> {
        STATUS_CACHE.load(&self.path, decode).unwrap_or_default()
    }

    /// Replaces the cache atomically with `records`.
    pub fn save<'a>(
        &self,
        records: impl Iterator<Item = (&'a String, &'a CachedRecord)>,
    ) -> Result<()> {
        let disk = DiskCache {
            version: CACHE_VERSION,
            records: records
                .map(|(key, cached)| DiskRecord {
                    key: key.clone(),
                    stamp: cached.stamp.clone(),
                    bytes: cached.record.encode(),
                })
                .collect(),
        };
        // Invariant: plain data with no maps or skipped fields always serializes.
        let body = postcard::to_stdvec(&disk).expect("status cache serializes");
        // Compressed in one go, so the frame states its size: a stream of unknown length
        // would allocate the level's whole window at every save of a watch or a web view.
        let compressed =
            zstd::bulk::compress(&body, ZSTD_LEVEL).map_err(Error::io(self.path.display()))?;
        STATUS_CACHE.save(&self.path, &compressed)
    }
}

fn decode(compressed: &[u8]) -> Option<Vec<(String, CachedRecord)>> {
    let body = zstd::decode_all(compressed).ok()?;
    let disk: DiskCache = postcard::from_bytes(&body).ok()?;
    if disk.version != CACHE_VERSION {
        return None;
    }
    // Decoding is most of a look at 100,000 records: spread it over every core.
    let records = disk
        .records
        .into_par_iter()
        .filter_map(|r| {
            let record = StatusRecord::decode(&r.bytes, &r.key).ok()?;
            Some((
                r.key,
                CachedRecord {
                    stamp: r.stamp,
                    record: Arc::new(record),
                },
            ))
        })
        .collect();
    Some(records)
}

#[derive(Serialize, Deserialize)]
struct DiskCache {
    version: u32,
    records: Vec<DiskRecord>,
}

#[derive(Serialize, Deserialize)]
struct DiskRecord {
    key: String,
    stamp: Stamp,
    bytes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(etag: Option<&str>, size: u64, seconds: i64) -> Listed {
        Listed {
            key: "status/prod/c1".into(),
            size,
            last_modified: DateTime::from_timestamp(seconds, 0).unwrap(),
            version: Version {
                etag: etag.map(str::to_owned),
                version: None,
            },
        }
    }

    #[test]
    fn stamps_compare_by_etag_else_by_size_and_time() {
        let a = Stamp::of(&listed(Some("\"1\""), 10, 100));
        assert!(Stamp::of(&listed(Some("\"1\""), 10, 200)).unchanged_since(&a));
        assert!(!Stamp::of(&listed(Some("\"2\""), 10, 100)).unchanged_since(&a));
        let b = Stamp::of(&listed(None, 10, 100));
        assert!(Stamp::of(&listed(None, 10, 100)).unchanged_since(&b));
        assert!(!Stamp::of(&listed(None, 11, 100)).unchanged_since(&b));
        assert!(!Stamp::of(&listed(None, 10, 101)).unchanged_since(&b));
    }

    #[test]
    fn records_survive_a_round_trip_and_damage_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = StatusCacheFile::new(dir.path(), "memory://", "prod");
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let record = StatusRecord::new("c1", "prod", "cairn-agent 0.1.0", now);
        let cached = CachedRecord {
            stamp: Stamp::of(&listed(Some("\"1\""), 10, 100)),
            record: Arc::new(record.clone()),
        };
        let key = "status/prod/c1".to_owned();
        cache.save([(&key, &cached)].into_iter()).unwrap();
        let loaded = cache.load();
        assert_eq!(loaded.len(), 1);
        assert_eq!(*loaded[0].1.record, record);
        assert_eq!(loaded[0].1.stamp, cached.stamp);

        std::fs::write(cache.path(), b"cairnsc\0\x28\xb5\x2f\xfd garbage").unwrap();
        assert!(cache.load().is_empty());
        std::fs::write(cache.path(), b"something else").unwrap();
        assert!(cache.load().is_empty());
    }
}
