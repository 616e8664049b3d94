//! Cache files (the publish cache, the status cache): named by a digest of what they are for,
//! marked with a magic prefix, written whole, and only ever an accelerator: a missing,
//! unreadable or damaged file reads as nothing (with a warning for the last two), never as an
//! error.

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
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "{} unreadable; {}", self.name, self.without);
                return None;
            }
        };
        let decoded = bytes.strip_prefix(self.magic.as_slice()).and_then(decode);
        if decoded.is_none() {
            tracing::warn!(path = %path.display(), "{} damaged or from another version; {}", self.name, self.without);
        }
        decoded
    }

    /// Replaces the cache at `path` atomically with the magic prefix and `body`.
    pub fn save(&self, path: &Path, body: &[u8]) -> Result<()> {
        let mut bytes = self.magic.to_vec();
        bytes.extend_from_slice(body);
        atomic::write(path, &bytes)
    }
}
