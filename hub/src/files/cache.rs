//! Cache files (the publish cache, the status cache): named by a digest of what they are for,
//! marked with a magic prefix, written whole, and only ever an accelerator: a missing,
//! unreadable or damaged file reads as nothing (with a warning for the last two), never as an
//! error.

use std::io::{BufWriter, Write};
use std::path::Path;

use cairn_state_format::Digest;

use super::atomic;
use crate::error::Result;

/// One kind of cache file.
pub struct CacheKind {
    /// What it is, for warnings: `publish cache`.
    pub name: &'static str,
    /// What is done without it, for warnings: `parsing every file`.
    pub without: &'static str,
    /// The first bytes of every file of this kind.
    pub magic: &'static [u8; 8],
}

impl CacheKind {
    /// The file name of the cache for `key` (the store URL, channel and whatever else tells
    /// caches apart, joined).
    pub fn file_name(&self, key: &str) -> String {
        format!("{}.cache", &Digest::of(key.as_bytes()).hex()[..32])
    }

    /// Reads the cache at `path` and decodes what follows the magic prefix; `None` when the file
    /// is missing, unreadable or `decode` finds it damaged.
    pub fn load<T>(&self, path: &Path, decode: impl FnOnce(&[u8]) -> Option<T>) -> Option<T> {
        self.load_owned(path, |bytes, body_at| decode(&bytes[body_at..]))
    }

    /// [`CacheKind::load`], handing `decode` the whole file (so that what it decodes may keep
    /// it) and where the body starts.
    pub fn load_owned<T>(
        &self,
        path: &Path,
        decode: impl FnOnce(Vec<u8>, usize) -> Option<T>,
    ) -> Option<T> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "{} unreadable; {}", self.name, self.without);
                return None;
            }
        };
        let decoded = match bytes.starts_with(self.magic.as_slice()) {
            true => decode(bytes, self.magic.len()),
            false => None,
        };
        if decoded.is_none() {
            tracing::warn!(path = %path.display(), "{} damaged or from another version; {}", self.name, self.without);
        }
        decoded
    }

    /// Replaces the cache at `path` atomically with the magic prefix and `body`.
    pub fn save(&self, path: &Path, body: &[u8]) -> Result<()> {
        self.save_with(path, |out| out.write_all(body))
    }

    /// Replaces the cache at `path` atomically with the magic prefix and what `fill` writes
    /// (buffered), for a body too large to build in memory first.
    pub fn save_with(
        &self,
        path: &Path,
        fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<()> {
        atomic::write_creating_dir(path, |file| {
            let mut out = BufWriter::with_capacity(1 << 20, file);
            out.write_all(self.magic)?;
            fill(&mut out)?;
            out.flush()
        })
    }
}
