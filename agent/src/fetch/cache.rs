//! Blobs by digest: a small in-memory cache bounded by bytes (shareable between agents, see
//! [`crate::Shared`]), over a directory in the state dir.
//!
//! Blobs are immutable and named by their digest, so a cached blob is never stale. Bytes read
//! back from disk are verified again; a damaged file is deleted and treated as missing.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use cairn_state_format::Digest;
use moka::future::Cache;

use crate::fsutil::write_cached;

/// The blob cache of one agent: its own directory, and a memory tier it may share.
#[derive(Clone, Debug)]
pub struct BlobCache {
    memory: Cache<Digest, Bytes>,
    dir: PathBuf,
}

impl BlobCache {
    /// A cache keeping up to `memory_bytes` in memory and everything else under `dir`.
    #[cfg(test)]
    pub fn new(dir: &Path, memory_bytes: u64) -> BlobCache {
        BlobCache::with_memory(dir, crate::Shared::new().memory(memory_bytes))
    }

    /// A cache over `dir` whose memory tier is `memory` (which other caches may share: blobs are
    /// verified before they are kept, and named by their digest).
    pub fn with_memory(dir: &Path, memory: Cache<Digest, Bytes>) -> BlobCache {
        BlobCache {
            memory,
            dir: dir.to_owned(),
        }
    }

    fn path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.dir.join(&hex[..2]).join(hex)
    }

    /// The blob, if cached (in memory or on disk).
    pub async fn get(&self, digest: &Digest) -> Option<Bytes> {
        if let Some(bytes) = self.memory.get(digest).await {
            return Some(bytes);
        }
        let path = self.path(digest);
        let bytes = tokio::fs::read(&path).await.ok()?;
        if digest.verify("cached blob", &bytes).is_err() {
            tracing::warn!(%digest, path = %path.display(), "cached blob is damaged; removing it");
            let _ = tokio::fs::remove_file(&path).await;
            return None;
        }
        let bytes = Bytes::from(bytes);
        self.memory.insert(*digest, bytes.clone()).await;
        Some(bytes)
    }

    /// Whether the blob is cached, without reading it.
    pub async fn contains(&self, digest: &Digest) -> bool {
        self.memory.contains_key(digest)
            || tokio::fs::try_exists(self.path(digest))
                .await
                .unwrap_or(false)
    }

    /// Stores a verified blob. A disk that cannot be written only costs refetches later, so a
    /// failure is logged, not returned.
    pub async fn insert(&self, digest: Digest, bytes: Bytes) {
        self.insert_all(vec![(digest, bytes)]).await;
    }

    /// Stores verified blobs, as [`BlobCache::insert`] does, with one trip to a blocking thread.
    /// A blob already on disk is not written again (the directory may be shared).
    pub async fn insert_all(&self, blobs: Vec<(Digest, Bytes)>) {
        if blobs.is_empty() {
            return;
        }
        let on_disk: Vec<(PathBuf, Digest, Bytes)> = blobs
            .iter()
            .map(|(d, b)| (self.path(d), *d, b.clone()))
            .collect();
        let written = tokio::task::spawn_blocking(move || {
            for (path, digest, bytes) in on_disk {
                if path.exists() {
                    continue;
                }
                if let Err(e) = write_cached(&path, &bytes) {
                    tracing::debug!(%digest, error = %e, "blob not cached on disk");
                }
            }
        })
        .await;
        if let Err(e) = written {
            tracing::debug!(error = %e, "blobs not cached on disk");
        }
        for (digest, bytes) in blobs {
            self.memory.insert(digest, bytes).await;
        }
    }

    /// Removes blobs on disk that are not in `keep` and are older than `grace` (younger ones
    /// may belong to a reconcile in flight), and lets blobs idle too long leave memory even when
    /// nothing was fetched for a while. Returns how many were removed from disk.
    pub async fn sweep(&self, keep: HashSet<Digest>, grace: Duration) -> usize {
        self.memory.run_pending_tasks().await;
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || sweep_dir(&dir, &keep, grace))
            .await
            .unwrap_or(0)
    }
}

fn sweep_dir(dir: &Path, keep: &HashSet<Digest>, grace: Duration) -> usize {
    let now = SystemTime::now();
    let mut removed = 0;
    let Ok(shards) = std::fs::read_dir(dir) else {
        return 0;
    };
    for shard in shards.flatten() {
        let Ok(files) = std::fs::read_dir(shard.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let wanted = name
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
                .is_some_and(|d| keep.contains(&d));
            let young = file
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_none_or(|age| age < grace);
            if !wanted && !young && std::fs::remove_file(file.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blobs_survive_a_new_cache_and_damage_is_caught() {
        let dir = tempfile::tempdir().unwrap();
        let blob = Bytes::from_static(b"{\"a\":1}");
        let digest = Digest::of(&blob);
        BlobCache::new(dir.path(), 1024)
            .insert(digest, blob.clone())
            .await;

        let fresh = BlobCache::new(dir.path(), 1024);
        assert!(fresh.contains(&digest).await);
        assert_eq!(fresh.get(&digest).await, Some(blob));

        let path = fresh.path(&digest);
        std::fs::write(&path, b"tampered").unwrap();
        assert_eq!(BlobCache::new(dir.path(), 1024).get(&digest).await, None);
        assert!(!path.exists());
    }

    #[tokio::test]
    async fn memory_counts_what_each_blob_costs_not_only_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        // Room for 4 KiB of blob bytes: 4,096 one-byte blobs, if entries cost nothing.
        let cache = BlobCache::new(dir.path(), 4096);
        for i in 0..1000u32 {
            let blob = Bytes::from(i.to_le_bytes().to_vec());
            cache.memory.insert(Digest::of(&blob), blob).await;
        }
        cache.memory.run_pending_tasks().await;
        let kept = cache.memory.entry_count();
        assert!(kept > 0 && kept <= 4096 / 100, "{kept} entries kept");
    }

    #[tokio::test]
    async fn sweep_keeps_wanted_and_young_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlobCache::new(dir.path(), 1024);
        let (a, b) = (Bytes::from_static(b"a"), Bytes::from_static(b"b"));
        cache.insert(Digest::of(&a), a.clone()).await;
        cache.insert(Digest::of(&b), b).await;
        assert_eq!(
            cache.sweep(HashSet::new(), Duration::from_secs(60)).await,
            0
        );
        let keep = HashSet::from([Digest::of(&a)]);
        assert_eq!(cache.sweep(keep, Duration::ZERO).await, 1);
        assert!(cache.path(&Digest::of(&a)).exists());
    }
}
